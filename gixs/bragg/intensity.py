"""Predicted Bragg intensities per measuring geometry, and their agreement with observed ones.

Structure factors come from :meth:`gixs.bragg.lattice.Phase.structure_factor2` (xraydb
f0 + f' + i f'' at the beam energy, Debye-Waller optional); this module adds what the
geometry does to them. Every factor is for **integrated** intensities (peak areas) in
the units gixs measures them: 2D spot areas on a q_xy/q_z map, 1D peak areas on a q
axis.

Geometries (``geometry=``):

``"gi_fibre"``
    A fibre-textured film (random rotation about the surface normal) seen in a
    solid-angle and polarization corrected q_xy/q_z map (:func:`gixs.reduce.frame.reduce_frame`).
    The scattering density is axially symmetric, so a reflection of |F|^2 spreads over a
    ring of circumference ``2 pi q_xy`` and its spot area on the map is
    ``sum |F|^2 / (2 pi q_xy)`` (sum over the reflections on that spot: the fibre
    multiplicity). Lorentz factor ``1 / q_xy``; spots on the q_z axis (``q_xy`` -> 0)
    lie in the missing wedge and get none (NaN).
``"powder_2d"``
    Random powder rings of a polarization-corrected 2D map (its chi-median profile, or a
    pyFAI ``integrate1d`` with polarization correction): the density ``m |F|^2`` spreads
    over a sphere of area ``4 pi q^2``, so a ring's area on the q axis is
    ``m |F|^2 / q^2``.
``"bragg_brentano"``
    Lab 1D diffractometer with an unpolarized tube (no monochromator): the classic
    Lorentz-polarization ``(1 + cos^2 2theta) / (sin^2 theta cos theta)`` for areas on a
    2theta axis; gixs reads 2theta patterns onto q with the counts unchanged, so peak areas
    on that q axis carry ``(1 + cos^2 2theta) / sin^2 theta`` (``axis="q"``, default).

Not modelled (stated in every report): absorption, the DWBA transmission functions of
grazing incidence (the Yoneda enhancement of in-plane spots, the reflected channel's
weight), extinction.

Texture of a powder: March-Dollase, ``P(alpha) = (r^2 cos^2 alpha + sin^2 alpha / r)^(-3/2)``
averaged over the members of each family, alpha the angle between the reflection and the
preferred axis (W. A. Dollase, J. Appl. Cryst. 19, 267 (1986)); r = 1 is random, r < 1
plates with the axis along the sample normal (Bragg-Brentano).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gixs.bragg.lattice import Phase, Reflections, predict_gi_spots

#: Geometries whose Lorentz-polarization factor :func:`lorentz_polarization` knows.
GEOMETRIES = ("gi_fibre", "powder_2d", "bragg_brentano")


def lorentz_polarization(q, *, geometry: str, qxy=None, wavelength_a: float | None = None,
                         axis: str = "q") -> np.ndarray:
    """Geometry factor multiplying ``|F|^2`` (times multiplicity) for integrated
    intensities (relative; see the module text for each ``geometry``).

    Parameters
    ----------
    q : array_like
        |G| (1/A).
    geometry : {"gi_fibre", "powder_2d", "bragg_brentano"}
    qxy : array_like, optional
        In-plane component (1/A), needed by "gi_fibre".
    wavelength_a : float, optional
        Wavelength (A), needed by "bragg_brentano" (NaN beyond 2theta = 180 deg).
    axis : {"q", "2theta"}
        Axis on which the 1D peak areas are measured ("bragg_brentano").

    Examples
    --------
    >>> [round(float(v), 3) for v in lorentz_polarization([1.0, 2.0], geometry="powder_2d")]
    [1.0, 0.25]
    >>> float(lorentz_polarization(2.0, geometry="gi_fibre", qxy=0.5))
    2.0
    """
    q = np.asarray(q, float)
    if geometry == "gi_fibre":
        if qxy is None:
            raise ValueError("geometry 'gi_fibre' needs qxy (1/A)")
        qxy = np.asarray(qxy, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(qxy > 1e-3, 1.0 / qxy, np.nan)
    if geometry == "powder_2d":
        with np.errstate(divide="ignore"):
            return np.where(q > 0, 1.0 / q ** 2, np.nan)
    if geometry == "bragg_brentano":
        if wavelength_a is None or not wavelength_a > 0:
            raise ValueError("geometry 'bragg_brentano' needs wavelength_a (A)")
        if axis not in ("q", "2theta"):
            raise ValueError(f"axis must be 'q' or '2theta', got {axis!r}")
        sin_t = q * wavelength_a / (4 * math.pi)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos_t = np.sqrt(1 - sin_t ** 2)
            cos_2t = 1 - 2 * sin_t ** 2
            lp = (1 + cos_2t ** 2) / sin_t ** 2
            if axis == "2theta":
                lp = lp / cos_t
        return np.where((sin_t > 0) & (sin_t < 1), lp, np.nan)
    raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")


def _family(phase, hkl):
    """Symmetry-equivalent (h, k, l) of one reflection (Laue group), as an (m, 3) array."""
    out = set()
    for op in phase.sg.operations():
        rot = np.array(op.rot, np.int64) // op.DEN
        for sign in (1, -1):
            out.add(tuple(int(v) for v in sign * (np.asarray(hkl, np.int64) @ rot)))
    return np.array(sorted(out), float)


def march_dollase_rows(phase: Phase, hkl, preferred_hkl, r: float) -> np.ndarray:
    """March-Dollase factor ``(r^2 cos^2 a + sin^2 a / r)^(-3/2)`` of each single
    reflection ``hkl`` (n, 3), ``a`` its angle to the preferred axis (no family average:
    summing it with |F|^2 over all members of a ring gives the ring's factor).

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> [round(float(v), 3) for v in march_dollase_rows(builtin_phase("Si"),
    ...                                                  [[0, 0, 4], [4, 0, 0]], (0, 0, 1), 0.8)]
    [1.953, 0.716]
    """
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"March-Dollase r must be > 0, got {r!r}")
    b = phase.reciprocal_matrix()
    axis = np.asarray(preferred_hkl, float) @ b
    if not np.linalg.norm(axis) > 0:
        raise ValueError(f"preferred axis must be a nonzero (h k l), got {preferred_hkl}")
    g = np.atleast_2d(np.asarray(hkl, float)) @ b
    cos2 = (g @ axis / np.linalg.norm(axis) / np.linalg.norm(g, axis=1)) ** 2
    return (r * r * cos2 + (1 - cos2) / r) ** -1.5


def march_dollase(phase: Phase, hkl, preferred_hkl, r: float) -> np.ndarray:
    """March-Dollase texture factor of each reflection family ``hkl`` (n, 3) for a
    preferred axis ``preferred_hkl`` and parameter ``r`` (> 0; 1 = random), averaged over
    the family's members (normalised so that a random powder gives 1).

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> p = builtin_phase("PbI2")
    >>> f = march_dollase(p, [[0, 0, 1], [1, 0, 0]], (0, 0, 1), 0.7)
    >>> bool(f[0] > 1 > f[1])  # plates: (00l) enhanced, (h00) weakened
    True
    """
    return np.array([float(np.mean(march_dollase_rows(phase, _family(phase, h),
                                                      preferred_hkl, r)))
                     for h in np.atleast_2d(np.asarray(hkl))])


def powder_intensities(phase: Phase, q_max: float, *, geometry: str = "powder_2d",
                       energy_kev: float | None = None, wavelength_a: float | None = None,
                       debye_waller: bool = True, axis: str = "q", texture=None,
                       min_rel_intensity: float = 0.0) -> Reflections:
    """Powder rings of ``phase`` up to ``q_max`` (1/A) with predicted integrated
    intensities ``m |F|^2 x LP (x March-Dollase)`` for ``geometry`` ("powder_2d" or
    "bragg_brentano"); |F|^2 at the beam energy (``energy_kev`` or ``wavelength_a``).

    ``texture`` = ((h, k, l), r) applies March-Dollase preferred orientation.

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> r = powder_intensities(builtin_phase("Si"), 4.0, geometry="bragg_brentano",
    ...                        wavelength_a=1.5406)
    >>> [tuple(int(v) for v in h) for h in r.hkl[:3]]
    [(1, 1, 1), (2, 2, 0), (3, 1, 1)]
    >>> bool(r.intensity[0] == r.intensity.max())  # Si (111) strongest with Cu K-alpha
    True
    """
    if geometry not in ("powder_2d", "bragg_brentano"):
        raise ValueError(f"powder geometry must be 'powder_2d' or 'bragg_brentano', got "
                         f"{geometry!r}")
    refl = phase.reflections(q_max, energy_kev=energy_kev, wavelength_a=wavelength_a,
                             debye_waller=debye_waller)
    lam = wavelength_a if wavelength_a is not None else (
        None if energy_kev is None else 12.398419843320026 / energy_kev)
    lp = lorentz_polarization(refl.q, geometry=geometry, wavelength_a=lam, axis=axis)
    inten = refl.intensity * lp
    if texture is not None:
        pref, r = texture
        inten = inten * march_dollase(phase, refl.hkl, pref, r) if len(refl) else inten
    out = dataclasses.replace(refl, intensity=inten)
    if min_rel_intensity > 0 and len(out):
        keep = out.intensity >= min_rel_intensity * np.nanmax(out.intensity)
        out = Reflections(*(v[keep] for v in dataclasses.astuple(out)))
    return out


def fibre_intensities(phase: Phase, normal_hkl, q_max: float, *,
                      energy_kev: float | None = None, wavelength_a: float | None = None,
                      debye_waller: bool = True, min_rel_intensity: float = 1e-3):
    """Fibre-texture spots (:func:`gixs.bragg.lattice.predict_gi_spots`) with predicted
    map-area intensities ``sum |F|^2 / q_xy`` ("gi_fibre"); spots on the q_z axis get
    NaN (missing wedge).

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> s = fibre_intensities(builtin_phase("CsPbBr3"), (0, 0, 1), 2.5, energy_kev=12.0)
    >>> i = {tuple(int(v) for v in h): x for h, x in zip(s.hkl, s.intensity)}
    >>> bool(np.isnan(i[(0, 0, 1)])), bool(i[(1, 0, 0)] > 0)
    (True, True)
    """
    spots = predict_gi_spots(phase, normal_hkl, q_max, energy_kev=energy_kev,
                             wavelength_a=wavelength_a, debye_waller=debye_waller,
                             min_rel_intensity=min_rel_intensity)
    lp = lorentz_polarization(spots.q, geometry="gi_fibre", qxy=spots.qxy)
    return dataclasses.replace(spots, intensity=spots.intensity * lp)


def average_ranks(a) -> np.ndarray:
    """Ranks 1..n of ``a``, ties given the mean of the ranks they share (the ranks of
    Spearman's correlation, which is the Pearson correlation of these; tested equal to
    ``scipy.stats.spearmanr``, whose import costs ~0.4 s).

    Examples
    --------
    >>> average_ranks([3.0, 1.0, 3.0, 2.0]).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    a = np.asarray(a, float)
    order = np.argsort(a, kind="stable")
    s = a[order]
    first = np.concatenate(([True], s[1:] != s[:-1]))  # starts of the runs of equal values
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], s.size)
    out = np.empty(a.size)
    out[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    return out


def agreement(observed, predicted) -> dict:
    """Agreement of observed and predicted integrated intensities (same peaks, any
    units): one scale ``k`` fitted by least squares (``sum o p / sum p^2``), the R factor
    ``sum |o - k p| / sum o``, Spearman's rank correlation (None below 3 peaks) and n.

    Examples
    --------
    >>> a = agreement([2.0, 4.0, 6.1], [1.0, 2.0, 3.0])
    >>> round(a["scale"], 3), round(a["spearman"], 3), a["n"]
    (2.021, 1.0, 3)
    """
    o = np.asarray(observed, float)
    p = np.asarray(predicted, float)
    ok = np.isfinite(o) & np.isfinite(p) & (p > 0)
    o, p = o[ok], p[ok]
    n = int(o.size)
    if n == 0 or not (p @ p) > 0:
        return {"scale": None, "r_factor": None, "spearman": None, "n": n}
    k = float(o @ p / (p @ p))
    r = float(np.abs(o - k * p).sum() / np.abs(o).sum()) if np.abs(o).sum() > 0 else None
    rho = None
    if n >= 3 and np.ptp(o) > 0 and np.ptp(p) > 0:
        rho = float(np.corrcoef(average_ranks(o), average_ranks(p))[0, 1])
    return {"scale": k, "r_factor": r, "spearman": rho, "n": n}


def contradicts(observed, predicted_scaled, predicted_max, *, weak=0.05, strong=0.2,
                ratio=5.0) -> np.ndarray:
    """True where an observed intensity contradicts the structure: the peak is strong
    (>= ``strong`` x the strongest observed) and at least ``ratio`` x its scaled
    prediction, which is very weak (<= ``weak`` x ``predicted_max``, the strongest
    scaled prediction of the phase in range; a predicted-extinct reflection is 0).

    Examples
    --------
    >>> contradicts([100.0, 90.0], [95.0, 1.0], 100.0).tolist()
    [False, True]
    """
    o = np.asarray(observed, float)
    p = np.asarray(predicted_scaled, float)
    if o.size == 0 or not np.isfinite(o).any():
        return np.zeros(o.shape, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((o >= strong * np.nanmax(o)) & (p <= weak * predicted_max)
                & (o >= ratio * p)) & np.isfinite(o) & np.isfinite(p)
