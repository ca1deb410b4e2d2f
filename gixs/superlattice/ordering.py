"""Superlattice metrics of a quantum-dot film from one GISAXS profile.

Definitions (science.md, "Superlattice metrics"); q in 1/A, film lengths in nm:

* ``q_star``: centre of the first-order peak from a fit of peak shape + background
  (:func:`gixs.peaks.fit_peak`, model chosen by BIC), standard error from the
  covariance (x sqrt(reduced chi2) when > 1). ``d_spacing = 2 pi / q_star``.
* ``nn_distance``: centre-to-centre distance under ``lattice_model``:
  hex2d (10): a = 2 d / sqrt3; fcc (111) and bcc (110): sqrt(3/2) d; sc (100): d.
  ``lattice="auto"`` compares the higher orders found with the peak ratios of the
  models the profile can show: in-plane ratios for rods (q_xy: hex2d 1:sqrt3:2:sqrt7:3),
  powder ratios for rings (|q|: fcc 1:2/sqrt3:sqrt(8/3):sqrt(11/3):2, bcc
  1:sqrt2:sqrt3:2:sqrt5:sqrt6:sqrt7, sc the same up to sqrt6 then sqrt8, so bcc and sc
  are told apart at sqrt7 when that order is in range) and lists the models that
  explain every order found; with no order found it assumes hex2d (rods) or fcc
  (rings), and says so. The first in-plane peak of a (111)-oriented fcc/hcp film is the
  hexagonal (10) rod: ``lattice="fcc"`` on a q_xy profile gives nn = 2 d / sqrt3.
  With a fitted form factor, d there is ``d_spacing_structure`` (the lattice's), not the
  observed peak.
* ``fwhm`` of the fitted peak; ``coherence_length = 2 pi K / fwhm`` (Scherrer, K = 0.9
  by default) using the width corrected for the instrument when ``instrument_fwhm`` is
  given (a width, or a :class:`gixs.superlattice.widths.Instrument`: resolution model
  and footprint): Voigt deconvolution, Lorentzian parts linearly, Gaussian parts in
  quadrature (:mod:`gixs.superlattice.widths`). ``coherence_is_lower_bound`` is true
  when the FWHM is within its error of the instrument width.
* ``paracrystal_g = sqrt(fwhm * d) / (2 pi)`` with fwhm in 1/A and d in A (dimensionless;
  equal to sqrt(fwhm / (2 pi q_star)), the single-peak estimate of Rivnay et al.,
  Phys. Rev. B 84, 045203 (2011)), from the corrected width.
* ``peak_height``: fitted height above the fitted background at q*; ``peak_area``:
  integral of the fitted line shape (intensity x 1/A).
* ``peak_to_valley`` (difference) and ``peak_to_valley_ratio``: peak value = fitted
  peak + background at q*; valley (default ``"low"``) = minimum of the profile,
  lightly smoothed (Gaussian, sigma = FWHM/8), between the low-q end of the analysed
  range and q*; ``"high"`` uses q* .. second order (or 1.5 q* when none is found).
* ``form_factor`` (optional, :mod:`gixs.superlattice.formfactor`): the profile
  around the first order is fitted as A P(q) S(q) + background, P the dots'
  polydisperse sphere form factor and S a structure-factor peak or Percus-Yevick (both
  from sasmodels). ``q_star_structure`` / ``d_spacing_structure`` = the
  structure-factor peak (the lattice); ``q_star`` / ``d_spacing`` stay the observed
  peak read from the data's top (pulled low by a steep P): a cubic on the top, a
  parabola through its three highest bins where it has fewer than 7 points, the
  fitted line shape's maximum under 1.5 bins (``q_star_method`` says which; the
  model's maximum is ``form_factor["q_profile_maximum"]``, which a Born P of the spheres biases near the
  horizon); ``q_star_centre`` stays the plain
  line-shape centre; ``form_factor`` = {model, radius_nm, sigma,
  radius_err_nm, sigma_err, fitted, ...}.
* Intensities (height, area, valley, difference) are divided by ``normalization``
  (exposure x monitor x thickness, as the caller chooses) so that films compare.

A profile with no significant peak raises :class:`gixs.errors.NoPeakError`: a
candidate must stand ``min_snr`` sigma above the noise in the curvature detector, and
the fit must beat background alone by an F-test (p < 1e-4) with a height at least
5 standard errors.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np
from scipy import ndimage

from gixs.errors import GixsWarning, NoPeakError
from gixs.io.jsonout import to_jsonable
from gixs.peaks import fit_peak, find_peaks
from gixs.results import Profile
from gixs.superlattice.ffspec import parse_form_factor
from gixs.superlattice.formfactor import FormFactorError, fit_form_factor
from gixs.superlattice.widths import corrected_width

#: Peak positions relative to the first order of each lattice model (lowest first).
LATTICE_RATIOS = {
    "hex2d": (1.0, math.sqrt(3), 2.0, math.sqrt(7), 3.0),
    "fcc": (1.0, 2 / math.sqrt(3), math.sqrt(8 / 3), math.sqrt(11 / 3), 2.0),
    "bcc": (1.0, math.sqrt(2), math.sqrt(3), 2.0, math.sqrt(5), math.sqrt(6), math.sqrt(7)),
    "sc": (1.0, math.sqrt(2), math.sqrt(3), 2.0, math.sqrt(5), math.sqrt(6), math.sqrt(8)),
}
#: Reflection of each model's first order and labels of its orders.
LATTICE_LABELS = {
    "hex2d": ("10", "11", "20", "21", "30"),
    "fcc": ("111", "200", "220", "311", "222"),
    "bcc": ("110", "200", "211", "220", "310", "222", "321"),
    "sc": ("100", "110", "111", "200", "210", "211", "220"),
}
#: nn distance / d of the first order.
NN_FACTOR = {"hex2d": 2 / math.sqrt(3), "fcc": math.sqrt(1.5), "bcc": math.sqrt(1.5),
             "sc": 1.0}
#: Models whose ratios a profile can test: in-plane (rods, q_xy) or powder (rings, |q|).
MODELS_BY_AXIS = {"qxy": ("hex2d",), "q": ("fcc", "bcc", "sc")}

UNITS = {
    "q_star": "A^-1", "q_star_err": "A^-1", "q_star_centre": "A^-1",
    "q_star_centre_err": "A^-1", "d_spacing": "nm", "d_spacing_err": "nm",
    "nn_distance": "nm", "nn_distance_err": "nm", "fwhm": "A^-1", "fwhm_err": "A^-1",
    "instrument_fwhm": "A^-1", "fwhm_corrected": "A^-1", "coherence_length": "nm",
    "coherence_length_err": "nm", "coherence_is_lower_bound": "1", "scherrer_K": "1", "paracrystal_g": "1",
    "paracrystal_g_err": "1", "peak_height": "intensity/normalization (a.u.)",
    "peak_height_err": "intensity/normalization (a.u.)",
    "peak_area": "intensity/normalization x A^-1", "peak_area_err":
    "intensity/normalization x A^-1", "peak_value": "intensity/normalization (a.u.)",
    "valley": "intensity/normalization (a.u.)", "valley_q": "A^-1",
    "peak_to_valley": "intensity/normalization (a.u.)", "peak_to_valley_ratio": "1",
    "snr": "1", "q_range": "A^-1", "orders.q": "A^-1", "orders.ratio": "1",
    "orders.height": "intensity/normalization (a.u.)", "orders.fwhm": "A^-1",
    "profile.q": "A^-1", "profile.intensity": "a.u. (not normalised)",
    "instrument_widths": "A^-1 (FWHMs at q*)",
    "q_star_structure": "A^-1", "q_star_structure_err": "A^-1", "d_spacing_structure": "nm",
    "d_spacing_structure_err": "nm", "form_factor.radius_nm": "nm",
    "form_factor.radius_err_nm": "nm", "form_factor.sigma": "1 (relative)",
    "form_factor.sigma_err": "1 (relative)",
}


@dataclasses.dataclass(frozen=True)
class OrderingResult:
    """Superlattice metrics of one profile (see module docstring for definitions).

    q in 1/A, lengths in nm, intensities in the profile's unit divided by
    ``normalization``. ``to_dict()`` gives the JSON form with a ``units`` object.

    Examples
    --------
    Made by :func:`measure`; here from a noise-free in-plane profile of a 12.5 nm
    hexagonal lattice (first order at 2 pi / 12.5 nm on a 1/q background):

    >>> q = np.linspace(0.02, 0.2, 400)
    >>> qs = 2 * math.pi / 125.0
    >>> y = 50 / q + 2000 * np.exp(-0.5 * ((q - qs) / 0.002) ** 2)
    >>> p = Profile("ip", "qxy", q, y, 0.05 * np.sqrt(y) + 1, np.full(q.size, 100))
    >>> res = measure(p, lattice="hex2d")
    >>> round(res.d_spacing, 2), res.lattice_model
    (12.51, 'hex2d')
    >>> d = res.to_dict(include_profile=False)
    >>> d["units"]["d_spacing"], d["units"]["q_star"], "profile" in d
    ('nm', 'A^-1', False)
    """

    q_star: float
    q_star_err: float
    d_spacing: float
    d_spacing_err: float
    nn_distance: float
    nn_distance_err: float
    lattice_model: str
    lattice_basis: str
    lattice_fits: tuple
    fwhm: float
    fwhm_err: float
    instrument_fwhm: float | None
    instrument_correction: str
    fwhm_corrected: float
    coherence_length: float
    coherence_length_err: float
    scherrer_K: float
    paracrystal_g: float
    paracrystal_g_err: float
    peak_height: float
    peak_height_err: float
    peak_area: float
    peak_area_err: float
    peak_value: float
    valley: float
    valley_q: float
    valley_definition: str
    peak_to_valley: float
    peak_to_valley_ratio: float
    normalization: float
    snr: float
    orders: tuple
    fit: dict
    profile_name: str
    q_range: tuple
    orientation: dict | None = None
    source: str = ""
    q_star_centre: float = float("nan")
    q_star_centre_err: float = float("nan")
    q_star_axis: str = ""
    q_star_method: str = ""
    scattering_type: str | None = None
    scattering_evidence: dict | None = None
    profile_choice: dict | None = None
    warnings: tuple = ()
    #: True when the FWHM is within its error of the instrument width: the width used
    #: is an upper bound and ``coherence_length`` a lower bound.
    coherence_is_lower_bound: bool = False
    #: Instrument FWHMs removed at q* (1/A): gaussian, lorentzian, footprint, total.
    instrument_widths: dict | None = None
    q_star_structure: float = float("nan")
    q_star_structure_err: float = float("nan")
    d_spacing_structure: float = float("nan")
    d_spacing_structure_err: float = float("nan")
    form_factor: dict | None = None
    profile_x: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    profile_y: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)
    profile_sigma: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)

    def fit_curve(self, x=None):
        """(x, peak + background) of the fit over its window (1/A, profile unit)."""
        from gixs.peaks import PeakFit
        pf = PeakFit(**{k: (tuple(v) if k == "window" else v) for k, v in self.fit.items()
                        if k in PeakFit.__dataclass_fields__})
        if x is None:
            x = np.linspace(pf.window[0], pf.window[1], 400)
        return x, pf(x), pf.baseline(x)

    def to_dict(self, include_profile=True) -> dict:
        """JSON-ready dict with a ``units`` object (q "A^-1", lengths "nm")."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("profile_") and f.name != "profile_name":
                continue
            v = getattr(self, f.name)
            out[f.name] = to_jsonable(v)
        if include_profile and self.profile_x is not None:
            out["profile"] = {"q": self.profile_x.tolist(), "intensity": self.profile_y.tolist(),
                              "sigma": self.profile_sigma.tolist()}
        out["units"] = dict(UNITS)
        if self.orientation:
            out["units"].update(self.orientation.get("units", {}))
        return out

    def summary(self) -> str:
        """A few lines for people, every number with its unit."""
        lines = [
            f"first-order peak ({self.profile_name}, on {self.q_star_axis or '?'}; "
            f"scattering type {self.scattering_type or 'not measured'}): q* = "
            f"{self.q_star:.5f} +- {self.q_star_err:.5f} A^-1 (profile maximum; line-shape "
            f"centre {self.q_star_centre:.5f} A^-1)  (SNR {self.snr:.0f}, fit "
            f"{self.fit['model']}, reduced chi2 {self.fit['redchi']:.2f})",
            f"d = 2pi/q* = {self.d_spacing:.3f} +- {self.d_spacing_err:.3f} nm;  "
            f"nn distance ({self.lattice_model}, {self.lattice_basis}) = "
            f"{self.nn_distance:.3f} +- {self.nn_distance_err:.3f} nm",
            f"FWHM = {self.fwhm:.5f} A^-1; coherence length (K={self.scherrer_K:g}) = "
            f"{self.coherence_length:.1f} nm" +
            (" (lower bound: FWHM within its error of the instrument width)"
             if self.coherence_is_lower_bound else "") + f"; paracrystal g = {self.paracrystal_g:.3f}",
            f"peak height = {self.peak_height:.4g} +- {self.peak_height_err:.2g}; area = "
            f"{self.peak_area:.4g} A^-1 x int.; peak-to-valley = {self.peak_to_valley:.4g} "
            f"(ratio {self.peak_to_valley_ratio:.3f}, {self.valley_definition} valley at "
            f"q = {self.valley_q:.4f} A^-1); normalization {self.normalization:g}",
        ]
        if self.orders:
            lines.append("higher orders: " + ", ".join(
                f"q = {o['q']:.4f} A^-1 (x{o['ratio']:.3f}" +
                (f", {o['label']}" if o.get("label") else "") + ")" for o in self.orders))
        else:
            lines.append("higher orders: none found")
        if self.form_factor:
            ff = self.form_factor
            rad = (f"R = {ff['radius_nm']:.3f} +- {ff['radius_err_nm']:.3f} nm, sigma = "
                   f"{ff['sigma']:.3f} +- {ff['sigma_err']:.3f} (fitted)" if ff["fitted"] else
                   f"R = {ff['radius_nm']:g} nm, sigma = {ff['sigma']:g} (given)")
            peak = (ff["refused"] if ff.get("refused") else
                    f"structure-factor peak q = {self.q_star_structure:.5f} +- "
                    f"{self.q_star_structure_err:.5f} A^-1, d = "
                    f"{self.d_spacing_structure:.3f} +- {self.d_spacing_structure_err:.3f} nm")
            lines.append(f"form factor {ff['model']} ({ff['distribution']}), {rad}; S(q) "
                         f"{ff['structure_factor']}: {peak} (reduced chi2 {ff['redchi']:.2f})")
        if self.orientation:
            o = self.orientation
            lines.append(f"orientation: {o.get('summary', '')}")
        return "\n".join(lines)


# -- profile preparation ----------------------------------------------------------------
def fold_profile(profile: Profile) -> Profile:
    """An I(q_xy) profile folded onto |q_xy| (both sides of the beam merged).

    Bins of the side with fewer valid bins are put into the nearest bin of the other
    side (at most half a bin away); where both have data the intensities are averaged
    with the pixel counts as weights. Profiles with one side only are just mirrored.

    Parameters
    ----------
    profile : Profile
        I(q_xy) profile with signed q_xy (1/A).

    Returns
    -------
    Profile
        The folded profile on |q_xy| (1/A), increasing.

    Examples
    --------
    >>> x = np.array([-0.06, -0.05, -0.04, 0.04, 0.05])
    >>> p = Profile("ip", "qxy", x, np.array([1.0, 2.0, 3.0, 5.0, 4.0]), np.full(5, 0.1),
    ...             np.ones(5, int))
    >>> f = fold_profile(p)
    >>> f.x.tolist(), f.intensity.tolist(), f.count.tolist()
    ([0.04, 0.05, 0.06], [4.0, 3.0, 1.0], [2, 2, 1])
    """
    p = profile.valid()
    neg, pos = p.x < 0, p.x > 0
    if neg.sum() > pos.sum():
        main, other = neg, pos
    else:
        main, other = pos, neg
    x = np.abs(p.x[main])
    inten, sig, cnt = p.intensity[main].copy(), p.sigma[main].copy(), p.count[main].astype(float)
    order = np.argsort(x)
    x, inten, sig, cnt = x[order], inten[order], sig[order], cnt[order]
    if other.any() and x.size > 1:
        dx = float(np.median(np.diff(x)))
        xo = np.abs(p.x[other])
        j = np.searchsorted(x, xo)
        j = np.clip(j, 1, x.size - 1)
        j = np.where(np.abs(x[j - 1] - xo) < np.abs(x[j] - xo), j - 1, j)
        ok = np.abs(x[j] - xo) <= dx / 2
        io, so, co = p.intensity[other][ok], p.sigma[other][ok], p.count[other][ok].astype(float)
        j = j[ok]
        s_w = cnt * inten
        v_w = (cnt * sig) ** 2
        np.add.at(s_w, j, co * io)
        np.add.at(v_w, j, (co * so) ** 2)
        np.add.at(cnt, j, co)
        inten = s_w / cnt
        sig = np.sqrt(v_w) / cnt
    band = dict(p.band, folded="|q_xy|, both sides merged (pixel-count weights)")
    return Profile(p.name, p.axis, x, inten, sig, cnt.astype(np.int64), band)


def _prepare(profile, q_range):
    if not isinstance(profile, Profile):
        raise TypeError(f"profile must be a gixs Profile, got {type(profile).__name__}")
    if profile.axis == "chi":
        raise ValueError("profile must have a q axis (q, qxy or qz), got a chi profile")
    p = fold_profile(profile) if profile.axis == "qxy" else profile.valid()
    x, y, s = p.x, p.intensity, p.sigma
    keep = x > 0
    if q_range is not None:
        lo, hi = (float(v) for v in q_range)
        if not (0 <= lo < hi):
            raise ValueError(f"q_range must be (low, high) in 1/A with 0 <= low < high, "
                             f"got {q_range}")
        keep &= (x >= lo) & (x <= hi)
    x, y, s = x[keep], y[keep], s[keep]
    order = np.argsort(x)
    return p.name, x[order], y[order], s[order]


# -- lattice models ---------------------------------------------------------------------
def match_lattice(orders, tolerance=0.025, models=None):
    """Which lattice models explain the higher orders (each with ``ratio``, ``ratio_err``).

    Returns a list of dicts (model, matched, unexplained, max_deviation), best first;
    a model fits when it explains every order and at least one. ``models`` limits the
    models tested (default all).

    Parameters
    ----------
    orders : list of dict
        Higher orders, each with ``ratio`` (q / q*, dimensionless) and optionally its
        standard error ``ratio_err``.
    tolerance : float
        Relative deviation accepted between a measured and a model ratio.
    models : sequence of str, optional
        Models of :data:`LATTICE_RATIOS` to test.

    Examples
    --------
    Orders at sqrt3 and 2 times q* are hexagonal (10)-(11)-(20) on q_xy; on |q| they
    fit bcc and sc but not fcc:

    >>> orders = [{"ratio": 1.733, "ratio_err": 0.002}, {"ratio": 2.001, "ratio_err": 0.002}]
    >>> [(m["model"], m["fits"]) for m in match_lattice(orders)]
    [('hex2d', True), ('bcc', True), ('sc', True), ('fcc', False)]
    >>> match_lattice(orders, models=("fcc",))[0]["unexplained"]
    1
    """
    out = []
    for model, ratios in LATTICE_RATIOS.items():
        if models is not None and model not in models:
            continue
        matched, unexplained, dev = 0, 0, 0.0
        for o in orders:
            tol = max(tolerance, 2 * o.get("ratio_err", 0.0) / o["ratio"])
            rel = [abs(o["ratio"] / r - 1) for r in ratios[1:]]
            best = min(rel)
            if best <= tol:
                matched += 1
                dev = max(dev, best)
            else:
                unexplained += 1
        out.append({"model": model, "matched": matched, "unexplained": unexplained,
                    "max_deviation": dev, "fits": matched > 0 and unexplained == 0})
    out.sort(key=lambda d: (not d["fits"], -d["matched"], d["unexplained"],
                            d["max_deviation"]))
    return out


def _label(model, ratio, tolerance=0.025):
    for r, lab in zip(LATTICE_RATIOS[model], LATTICE_LABELS[model]):
        if abs(ratio / r - 1) <= tolerance:
            return lab
    return ""


# -- main entry -------------------------------------------------------------------------
def _top_window(fit):
    """Where :func:`profile_maximum` searches (1/A): centre +- FWHM, within the fit
    window."""
    c, f = fit.values["centre"], fit.values["fwhm"]
    return max(c - f, fit.window[0]), min(c + f, fit.window[1])


def profile_maximum(fit) -> float:
    """Abscissa (1/A) of the maximum of the fitted profile (line shape + background).

    Searched within centre +- FWHM on a grid of FWHM/2000, refined by a parabola; this
    is the observed peak position ``q_star``, distinct from the line-shape centre when
    the background slopes under the peak.
    """
    lo, hi = _top_window(fit)
    xs = np.linspace(lo, hi, 4001)
    ys = fit(xs)
    k = int(np.argmax(ys))
    if 0 < k < xs.size - 1:
        a, b, cc = ys[k - 1], ys[k], ys[k + 1]
        den = a - 2 * b + cc
        if den < 0:
            return float(xs[k] + 0.5 * (a - cc) / den * (xs[1] - xs[0]))
    return float(xs[k])


#: A measured peak narrower than this (FWHM, detector pixels) is reported as
#: under-sampled (measure_frame's warning).
UNDERSAMPLED_FWHM_PIXELS = 3.0

#: Sampling error (fraction of a profile bin) of the top of a peak narrower than
#: :data:`SUBBIN_FWHM` bins, added to the fit's error of q*: where in its bin the top of
#: an asymmetric peak lies is unknown (a uniform place in the bin has a standard
#: deviation of 0.29 bin; rods 1.2-1.8 bins wide whose high-q side is 1.6 times the
#: wider came out +0.9 to +1.4% from their maximum, about 0.3 bin).
SAMPLING_BINS = 0.3

#: Peaks narrower than this many profile bins (FWHM) get the sampling error above.
SUBBIN_FWHM = 2.0

#: Peaks narrower than this many profile bins (FWHM) are read from the fitted line shape
#: (all the peak's points), not from a parabola through three bins that reach its tails.
LINE_SHAPE_FWHM = 1.5

#: Fewest profile points within +-FWHM/2 of the top for the cubic of observed_maximum.
MIN_TOP_POINTS = 7
#: ``q_star_method`` of an observed peak read from the data's top (see observed_maximum).
CUBIC_TOP = "maximum of a cubic fitted within +-FWHM/2 of the peak top"
#: ... and of a peak with fewer than 7 profile points there.
PARABOLA_TOP = "maximum of the parabola through the highest bin and its two neighbours"
#: ... and where the top's points have no maximum (none in the fitted profile either
#: within a FWHM: refused, a shoulder).
LINE_SHAPE_FALLBACK = ("maximum of the fitted line shape + background (no maximum of a "
                       "polynomial on the top's points)")
#: ... and of a peak narrower than :data:`LINE_SHAPE_FWHM` bins.
LINE_SHAPE_TOP = ("maximum of the fitted line shape + background (a peak narrower than "
                  "1.5 bins: a parabola through three bins reaches its tails)")


#: Profiles redrawn by :func:`_parabola_spread` (fixed seed: the same error every run).
PARABOLA_DRAWS = 400


def _parabola_spread(x, y, s, c0, f):
    """Standard deviation (1/A) of the vertex of the parabola through the highest bin
    within +-``f`` of ``c0`` and its two neighbours, over :data:`PARABOLA_DRAWS` profiles
    redrawn within their errors ``s`` (the highest bin chosen again in each): the error of
    that estimate, which the parabola's own covariance misses on a flat, noisy top."""
    near = np.flatnonzero(np.abs(x - c0) <= f)
    if near.size < 3:
        return 0.0
    xs, ys, ss = x[near], y[near], np.where(s[near] > 0, s[near], 0.0)
    draws = ys + np.random.default_rng(0).standard_normal((PARABOLA_DRAWS, ys.size)) * ss
    k = np.clip(np.argmax(draws, axis=1), 1, ys.size - 2)
    rows = np.arange(PARABOLA_DRAWS)
    x1, x2, x3 = xs[k - 1], xs[k], xs[k + 1]
    y1, y2, y3 = draws[rows, k - 1], draws[rows, k], draws[rows, k + 1]
    num = (x2 - x1) ** 2 * (y2 - y3) - (x2 - x3) ** 2 * (y2 - y1)
    den = (x2 - x1) * (y2 - y3) - (x2 - x3) * (y2 - y1)
    ok = den != 0
    top = x2[ok] - 0.5 * num[ok] / den[ok]
    top = top[(top >= x1[ok]) & (top <= x3[ok])]  # a vertex between its outer bins
    return float(np.std(top)) if top.size > 1 else 0.0


def _bin_width(x):
    """Median bin width of the regular abscissa ``x`` (its unit; 0 for one point)."""
    return float(np.median(np.diff(x))) if np.size(x) > 1 else 0.0


def sampling_error(x, fwhm, pixel=None):
    """Sampling error (unit of ``x``) of the top of a peak ``fwhm`` wide on the regular
    bins ``x``: :data:`SAMPLING_BINS` of a bin when the peak is narrower than
    :data:`SUBBIN_FWHM` bins, else 0. With ``pixel`` (one detector pixel's size, unit
    of ``x``) larger than a bin, the pixel is the unit: bins finer than the pixels do
    not place an asymmetric top better than the pixels that fill them (a sasmodels ring
    1.2 pixels wide on bins of a third of a pixel came out 0.3 pixel low).

    Examples
    --------
    >>> sampling_error(np.arange(10.0), 1.2), sampling_error(np.arange(10.0), 4.0)
    (0.3, 0.0)
    """
    step = max(_bin_width(x), float(pixel or 0.0))
    return SAMPLING_BINS * step if fwhm < SUBBIN_FWHM * step else 0.0


def observed_maximum(x, y, s, fit, pixel=None):
    """Observed peak position (1/A), its standard error and how it was found.

    A cubic is fitted (weights 1/sigma) to the profile within +-FWHM/2 of the fitted
    profile's maximum (:func:`profile_maximum`); its maximum inside that window is the
    observed peak, which follows an asymmetric top (a powder ring's, or one on a steep
    form factor) that the symmetric line shape misses by up to ~0.7%. With fewer than 7
    points in the window (a peak under ~7 profile bins wide) it is the vertex of the
    parabola through the highest bin within +-FWHM and its two neighbours. The error comes
    from the polynomial's covariance (dx = -dp'(x)/p''(x)), scaled by sqrt(reduced chi2)
    when > 1; for the parabola at least the spread of its vertex over profiles redrawn
    within their errors (:func:`_parabola_spread`: which bin is highest is noisy too).
    Where the polynomial has no maximum inside its points, the fitted profile's maximum is
    used with the line-shape centre's error, and the method says so. A peak narrower
    than :data:`LINE_SHAPE_FWHM` bins is read from the fitted profile's maximum (its
    three highest bins reach the tails: rods 0.9-1.4 bins wide, Gaussian, Lorentzian or
    both, came out +0.1..+1.1% off with the parabola, within 0.2% with the line shape).
    A peak narrower than :data:`SUBBIN_FWHM` bins (or pixels, ``pixel`` in 1/A when larger
    than a bin) adds its :func:`sampling_error` in quadrature.
    """
    c0 = profile_maximum(fit)
    f = fit.values["fwhm"]
    ce = fit.errors.get("centre", float("nan"))
    samp = sampling_error(x, f, pixel)
    if f < LINE_SHAPE_FWHM * _bin_width(x):
        return c0, math.hypot(ce, samp), LINE_SHAPE_TOP
    sel = np.abs(x - c0) <= f / 2
    deg, method = 3, CUBIC_TOP
    if sel.sum() < MIN_TOP_POINTS:
        deg, method = 2, PARABOLA_TOP
        near = np.flatnonzero(np.abs(x - c0) <= f)
        sel = np.zeros(x.size, bool)
        if near.size:
            k = int(near[np.argmax(y[near])])
            sel[max(k - 1, 0):k + 2] = True
    if sel.sum() >= deg + 1:
        u = (x[sel] - c0) / f
        w = 1.0 / np.where(s[sel] > 0, s[sel], np.nan)
        if np.all(np.isfinite(w)):
            try:
                p, cov = np.polyfit(u, y[sel], deg, w=w, cov="unscaled")
                chi2 = float(np.sum(((np.polyval(p, u) - y[sel]) * w) ** 2))
                red = chi2 / max(sel.sum() - deg - 1, 1)
                uu = np.linspace(u.min(), u.max(), 4001)
                k = int(np.argmax(np.polyval(p, uu)))
                um = float(uu[k])
                d2 = float(np.polyval(np.polyder(p, 2), um))
                if 0 < k < uu.size - 1 and d2 < 0:
                    # d p'(um) / d(coefficients), highest power first
                    g = np.array([(deg - i) * um ** max(deg - i - 1, 0) for i in range(deg + 1)])
                    var = float(g @ cov @ g) * max(red, 1.0)
                    err = math.sqrt(max(var, 0.0)) / abs(d2) * f
                    if method == PARABOLA_TOP:  # which bin is highest is noisy too
                        err = max(err, _parabola_spread(x, y, s, c0, f))
                    return c0 + um * f, math.hypot(err, samp), method
            except (np.linalg.LinAlgError, ValueError):
                pass
    lo, hi = _top_window(fit)
    if not lo < c0 < hi:
        # the fitted profile's highest point within a FWHM is that range's edge: the
        # background stands above the peak's top, a shoulder (11 nm dots, 20% wide, high
        # in q_z: that edge, 36% below the peak, was reported with an error of 0.7%)
        raise NoPeakError(
            f"the peak at {fit.values['centre']:.4f} A^-1 (FWHM {f:.4f} A^-1) is a shoulder: "
            "neither the "
            "profile's top points nor the fitted line shape + background have a "
            "maximum within a FWHM of it, so the observed peak is not defined; measure "
            "where the peak stands out (a lower in-plane band, a smaller incidence)")
    return c0, math.hypot(ce, samp), LINE_SHAPE_FALLBACK


def _window(q, fwhm, x, upper_limit=None):
    lo = max(q - 2.0 * fwhm, 0.5 * q, x[0])
    hi = min(q + 2.0 * fwhm, upper_limit or 1.45 * q, x[-1])
    return lo, hi


#: The window-setting first fit of a candidate (:func:`_fit_candidate`): the pseudo-Voigt,
#: whose limits are the Gaussian and the Lorentzian, on both backgrounds.
WINDOW_FIT = {"shapes": ("pseudo_voigt",), "backgrounds": ("linear", "powerlaw")}


def _fit_candidate(x, y, s, cand, upper_limit=None):
    """The peak fit of a candidate: a first fit in a window of +-1.5 times the candidate's
    width gives the centre and FWHM whose window (+-2 FWHM) the fit of every model is
    made in. The first fit, which only places that window, is the pseudo-Voigt alone
    (:data:`WINDOW_FIT`: 2 models instead of 6). Measured against every model in the
    first fit: the window moves by 0-9 bins of ~120, the centre by < 0.2 of its standard
    error (noisy peaks of each shape); the d of 12 simulated rod frames (5-15 nm) and of
    the BornAgain dot films of the tests unchanged to 5 digits. Where the first fit
    fails, or the window it places is not usable, the first fit is that of every model,
    and its own window (when usable) is the second one."""
    w = _window(cand.x, cand.fwhm * 0.75, x, upper_limit)
    start = dict(centre=cand.x, fwhm=cand.fwhm / 1.5, height=cand.height, window=w)
    try:
        fit = fit_peak(x, y, s, **WINDOW_FIT, **start)
    except ValueError:
        fit = None
    second = None if fit is None else _refit(x, y, s, fit, upper_limit)
    if second is not None:
        return second
    full = fit_peak(x, y, s, **start)
    return _refit(x, y, s, full, upper_limit) or full


def _refit(x, y, s, fit, upper_limit):
    """Every model fitted in the window +-2 FWHM of ``fit``; None where that window is
    not usable (centre outside the profile, fewer than 12 points)."""
    c, f = fit.values["centre"], fit.values["fwhm"]
    if np.isfinite(c) and f > 0 and x[0] < c < x[-1]:
        w2 = _window(c, f, x, upper_limit)
        if np.sum((x >= w2[0]) & (x <= w2[1])) >= 12:
            return fit_peak(x, y, s, centre=c, fwhm=f, height=fit.values["height"], window=w2)
    return None


#: A peak narrower than this many profile bins (FWHM) is significant by its area: the
#: bins do not measure its height, which trades with its width (a Lorentzian rod 0.6
#: bins wide, 40 sigma above its background in its bin, was fitted 340 +- 182 high,
#: area 1.70 +- 0.33).
UNRESOLVED_BINS = 2.0


def _significant(fit, p_max=1e-4, min_sigma=5.0, step=0.0):
    """None when ``fit`` is a peak, else why not; ``step`` is the profile's bin (1/A)."""
    c = fit.values["centre"]
    if not (fit.window[0] < c < fit.window[1]):
        return f"fitted centre {c:.5f} A^-1 left the fit window"
    if not (fit.f_test_p < p_max):
        return f"F-test against background alone p = {fit.f_test_p:.2g} (need < {p_max:g})"
    area_err = fit.errors.get("area", float("nan"))
    if fit.values["fwhm"] < UNRESOLVED_BINS * step and area_err > 0:
        sig = fit.values["area"] / area_err
        if not sig >= min_sigma:
            return (f"fitted area (a peak narrower than {UNRESOLVED_BINS:g} bins) only "
                    f"{sig:.1f} standard errors above the background (need {min_sigma:g})")
    elif not fit.significance >= min_sigma:
        return (f"fitted height only {fit.significance:.1f} standard errors above the "
                f"background (need {min_sigma:g})")
    if fit.values["fwhm"] > 0.8 * c:
        return f"fitted FWHM {fit.values['fwhm']:.4f} A^-1 is wider than 0.8 q*"
    return None


#: A significant peak below the strongest is taken as the first order when its relative
#: width (FWHM / q) is at most this many times the strongest's (see first_order).
LOWER_ORDER_WIDTH = 2.0


def first_order(profile, *, q_range=None, min_snr=5.0, near=None):
    """Detect and fit the first-order peak of a profile (no higher orders, no metrics).

    ``near`` (low, high), 1/A: only candidates there (the whole profile is searched
    for them, as without it, so each keeps its width and significance).

    Returns (name, x, y, sigma, q range, candidates, PeakFit, its candidate); raises
    :class:`NoPeakError` like :func:`measure`, which uses it. The candidates of the
    rods/rings decision are fitted with every model too: a single Gaussian put a blended
    ring 3% off and 3x too wide, and the decision then took a 6 nm ring for rods.
    """
    name, x, y, s = _prepare(profile, q_range)
    if x.size < 20:
        raise NoPeakError(f"no superlattice peak found: only {x.size} valid points in the "
                          f"{name} profile" + (f" within q_range {tuple(q_range)}"
                                                if q_range is not None else ""))
    rng = (float(x[0]), float(x[-1]))
    step = _bin_width(x)
    cands = find_peaks(x, y, s, min_snr=min_snr, x_range=near)
    if not cands:
        raise NoPeakError(f"no superlattice peak found: no local maximum of curvature "
                          f"stands {min_snr:g} sigma above the noise in q = {rng[0]:.4f}.."
                          f"{rng[1]:.4f} A^-1 of the {name} profile")
    reasons = []
    fit = first = None
    for cand in cands[:3]:  # most significant first
        try:
            f = _fit_candidate(x, y, s, cand)
        except ValueError as exc:
            reasons.append(f"q = {cand.x:.4f}: {exc}")
            continue
        why = _significant(f, step=step)
        if why is None:
            fit, first = f, cand
            break
        reasons.append(f"q = {cand.x:.4f}: {why}")
    if fit is None:
        raise NoPeakError("no superlattice peak found: candidates rejected (" +
                          "; ".join(reasons) + ")")
    # the first order is the lowest significant peak, not the strongest one (a steep form
    # factor can make the second order the stronger), unless it is relatively far broader
    # than the strongest: an order's relative width falls with q (paracrystal) or grows
    # as 1/q at most (a constant instrument width), and a form-factor knee is broad (the
    # Guinier fall of 11 nm dots: 0.37 q* wide at 0.012 A^-1, taken as the first order
    # below their 12.5 nm lattice's peak, 0.09 q* wide at 0.050 A^-1)
    rel = fit.values["fwhm"] / fit.values["centre"]
    for cand in sorted((c for c in cands if c.x < 0.92 * first.x), key=lambda c: c.x)[:4]:
        try:
            f = _fit_candidate(x, y, s, cand)
        except ValueError:
            continue
        if (_significant(f, step=step) is None
                and f.values["centre"] < 0.92 * fit.values["centre"]
                and f.values["fwhm"] / f.values["centre"] <= LOWER_ORDER_WIDTH * rel):
            fit, first = f, cand
            break
    return name, x, y, s, rng, cands, fit, first


#: A higher order is at most this many times ratio^2 x the first order's FWHM wide (a
#: paracrystal's n-th order broadens as n^2): a hump 15 times as wide as the first order
#: at 1.9 q* (a form-factor lobe of BornAgain dots) was taken for an order, and the
#: form-factor fit, which leaves the orders out, lost its whole window.
ORDER_WIDTH_FACTOR = 2.0


def measure(profile: Profile, *, lattice="auto", q_range=None, instrument_fwhm=None,
            normalization=1.0, K=0.9, valley="low", min_snr=5.0, source="",
            form_factor=None, pixel_q=None) -> OrderingResult:
    """Superlattice metrics of one profile.

    Parameters
    ----------
    profile : Profile
        ``"ip"`` (I(q_xy), folded onto |q_xy|) or ``"iq"`` (azimuthal I(|q|)); q in 1/A.
    lattice : {"auto", "hex2d", "fcc", "bcc", "sc"}
        Lattice model for the nn distance; "auto" tests the higher-order ratios.
    q_range : (float, float), optional
        |q| range analysed (1/A); the whole profile when None.
    instrument_fwhm : float or gixs.superlattice.widths.Instrument, optional
        Gaussian instrument FWHM (1/A), or an ``Instrument`` (q-dependent resolution
        model, footprint term), removed from the FWHM before coherence length and g
        (:func:`gixs.superlattice.widths.corrected_width`).
    normalization : float
        Divides every intensity metric (exposure x monitor x thickness...).
    K : float
        Scherrer constant.
    valley : {"low", "high"}
        Which valley the peak-to-valley metrics use.
    min_snr : float
        Detection threshold (sigma) of the first-order candidate.
    source : str
        Recorded in the result.
    form_factor : str or FormFactorSpec, optional
        ``"sphere:R=5.5,sigma=0.1"`` (R in nm, sigma relative) or ``"auto"``: fit
        A P(q) S(q) + background around the first order
        (:func:`gixs.superlattice.formfactor.fit_form_factor`) and report the
        structure-factor peak (``q_star_structure``, ``d_spacing_structure``) and the
        ``form_factor`` dict (model, radius_nm, sigma, their errors, fitted); ``q_star``
        stays the observed peak.
    pixel_q : float, optional
        One detector pixel's size in q (1/A), when the profile's bins are finer: the
        sampling error of a peak narrower than 2 pixels is 0.3 pixel
        (:func:`sampling_error`); default the bin.

    Raises
    ------
    NoPeakError
        No significant peak in the range; the message says why.
    FormFactorError
        The form factor asked for cannot be fitted (``auto`` on an in-plane cut, or on a
        profile that does not reach past the first form-factor minimum...); the message
        says why.

    Examples
    --------
    A noise-free in-plane profile of a 12.5 nm hexagonal lattice, orders at 1, sqrt3
    and 2 times q* = 2 pi / 12.5 nm on a 1/q background:

    >>> q = np.linspace(0.02, 0.2, 400)
    >>> qs = 2 * math.pi / 125.0
    >>> y = (50 / q + 2000 * np.exp(-0.5 * ((q - qs) / 0.002) ** 2)
    ...      + 600 * np.exp(-0.5 * ((q - math.sqrt(3) * qs) / 0.0025) ** 2)
    ...      + 300 * np.exp(-0.5 * ((q - 2 * qs) / 0.0025) ** 2))
    >>> p = Profile("ip", "qxy", q, y, 0.05 * np.sqrt(y) + 1, np.full(q.size, 100))
    >>> res = measure(p)
    >>> round(res.d_spacing, 2), res.lattice_model, [round(o["ratio"], 2) for o in res.orders]
    (12.51, 'hex2d', [1.73, 2.0])
    >>> round(res.nn_distance / res.d_spacing, 4), round(2 / math.sqrt(3), 4)
    (1.1547, 1.1547)
    >>> round(res.fwhm, 4), round(2 * math.sqrt(2 * math.log(2)) * 0.002, 4)
    (0.0047, 0.0047)
    >>> measure(Profile("ip", "qxy", q, 50 / q, np.full(q.size, 1.0), np.ones(q.size, int)))
    Traceback (most recent call last):
    ...
    gixs.errors.NoPeakError: no superlattice peak found: ...
    """

    if lattice not in ("auto",) + tuple(LATTICE_RATIOS):
        raise ValueError(f"lattice must be one of auto, {', '.join(LATTICE_RATIOS)}; "
                         f"got {lattice!r}")
    if valley not in ("low", "high"):
        raise ValueError(f"valley must be 'low' or 'high', got {valley!r}")
    if not (np.isfinite(normalization) and normalization > 0):
        raise ValueError(f"normalization must be a positive number, got {normalization!r}")
    if not (np.isfinite(K) and K > 0):
        raise ValueError(f"K (Scherrer constant) must be > 0, got {K!r}")
    ff_spec = parse_form_factor(form_factor)
    name, x, y, s, rng, cands, fit, first = first_order(profile, q_range=q_range,
                                                        min_snr=min_snr)
    v, e = fit.values, fit.errors
    qc, qe = v["centre"], e["centre"]
    step = _bin_width(x)
    q, q_obs_err, q_method = observed_maximum(x, y, s, fit, pixel_q)
    # read from the data's top (or, under 1.5 bins, the line shape through its points)
    top_sampled = q_method in (CUBIC_TOP, PARABOLA_TOP, LINE_SHAPE_TOP)
    qe_obs = q_obs_err if math.isfinite(q_obs_err) and q_obs_err > 0 else qe
    # higher orders
    orders = []
    for cand in cands:
        if cand is first or cand.x < 1.08 * qc:
            continue
        try:
            f = _fit_candidate(x, y, s, cand, upper_limit=cand.x * 1.25)
        except ValueError:
            continue
        if _significant(f, p_max=1e-3, min_sigma=3.0, step=step) is not None:
            continue
        qo, qoe = f.values["centre"], f.errors["centre"]
        if not qo >= 1.08 * qc:  # the fit slid back onto the first order's flank
            continue
        ratio = qo / qc
        if f.values["fwhm"] > ORDER_WIDTH_FACTOR * ratio ** 2 * v["fwhm"]:
            continue  # far wider than an order of this peak: a form-factor lobe
        if any(abs(qo - o["q"]) < 0.5 * f.values["fwhm"] for o in orders):
            continue
        orders.append({"q": qo, "q_err": qoe, "ratio": ratio,
                       "ratio_err": ratio * math.hypot(qoe / qo, qe / qc),
                       "fwhm": f.values["fwhm"], "height": f.values["height"] / normalization,
                       "snr": cand.snr, "model": f.model})
    orders.sort(key=lambda o: o["q"])
    axis = profile.axis
    models = MODELS_BY_AXIS.get(axis, tuple(LATTICE_RATIOS))
    fits = match_lattice(orders, models=models)
    kind = "in-plane (rods, q_xy)" if axis == "qxy" else "powder (rings, |q|)"
    if lattice == "auto":
        good = [d["model"] for d in fits if d["fits"]]
        if good:
            best = fits[0]
            model = best["model"]
            same = [d["model"] for d in fits if d["fits"] and d["matched"] == best["matched"]]
            basis = (f"auto, {kind} ratios: {best['matched']} higher order(s) match; "
                     f"models that fit: "
                     f"{', '.join(good)}" + (" (indistinguishable: " + ", ".join(same) + ")"
                                             if len(same) > 1 else ""))
        else:
            model = models[0]
            basis = (f"auto, {kind} ratios: " + ("no higher order found" if not orders else
                                                 "no model explains the higher orders") +
                     ("; hex2d assumed (2D hexagonal in-plane order)" if axis == "qxy" else
                      f"; {model} assumed (dense packing)"))
    else:
        model, basis = lattice, "given"
        if axis == "qxy" and lattice in ("bcc", "sc"):
            raise ValueError(f"lattice {lattice!r} has no single in-plane first order: its "
                             "rods depend on the texture; measure rings (--profile iq) or use "
                             "hex2d / fcc for a rod profile")
    label_model = "hex2d" if axis == "qxy" else model
    for o in orders:
        o["label"] = _label(label_model, o["ratio"])
    ff_out = {}
    if ff_spec is not None:
        ff_out = _form_factor_fit(x, y, s, ff_spec, profile, qc, v["fwhm"], orders)
        if not top_sampled and ff_out["form_factor"]["refused"] is None:
            # no polynomial maximum on the top: the best fitted profile (now A P S +
            # background) stands in for the data, as the line shape did above
            q = ff_out["form_factor"]["q_profile_maximum"]
            qe_obs = ff_out["form_factor"]["q_profile_maximum_err"]
            q_method = ("maximum of the fitted A P(q) S(q) + background (form factor on; "
                        "no maximum of a polynomial on the top's points)")
    d = 2 * math.pi / q / 10.0
    de = d * qe_obs / q
    if axis == "qxy" and model == "fcc":
        # the first in-plane peak of a (111)-oriented fcc/hcp film is the hexagonal (10) rod
        nn_factor = NN_FACTOR["hex2d"]
        basis += "; (111)-oriented fcc/hcp: the first in-plane peak is the hexagonal (10) rod"
    else:
        nn_factor = NN_FACTOR[model]
    # the lattice's spacing is the structure-factor peak when the form factor was fitted
    # (the observed maximum is pulled low by a steep P(q)), else the observed peak
    d_lat, d_lat_err = d, de
    if math.isfinite(ff_out.get("d_spacing_structure", float("nan"))):
        d_lat, d_lat_err = ff_out["d_spacing_structure"], ff_out["d_spacing_structure_err"]
    nn = nn_factor * d_lat
    # width, coherence, paracrystallinity
    fw, fwe = v["fwhm"], e["fwhm"]
    fc, how, dec = corrected_width(fit.to_dict(), fw, instrument_fwhm, x=x, y=y, sigma=s,
                                   details=True)
    fc_e = fwe * fw / fc if fc and math.isfinite(fc) and fc > 0 else float("nan")
    xi = 2 * math.pi * K / fc / 10.0 if fc > 0 else float("nan")
    xie = xi * fc_e / fc if fc > 0 else float("nan")
    g = math.sqrt(fc * d * 10.0) / (2 * math.pi) if fc > 0 else float("nan")
    ge = g * 0.5 * math.hypot(fc_e / fc, de / d) if fc > 0 else float("nan")
    # peak-to-valley
    peak_value = float(fit(np.array([q]))[0])
    dx = float(np.median(np.diff(x)))
    ys = ndimage.gaussian_filter1d(y, max(1.0, fw / 8 / dx))
    hi = orders[0]["q"] if orders else 1.5 * q

    def _valley(kind):
        # the valley must lie at least FWHM/2 from q* and below the peak value
        if kind == "low":
            sel = (x >= x[0]) & (x <= q - fw / 2)
            text = ("low: minimum of the smoothed profile (Gaussian sigma FWHM/8) between "
                    f"the low-q end {x[0]:.4f} A^-1 and q* - FWHM/2")
        else:
            sel = (x >= q + fw / 2) & (x <= hi)
            text = ("high: minimum of the smoothed profile (Gaussian sigma FWHM/8) between "
                    f"q* + FWHM/2 and {'the second order' if orders else '1.5 q*'} "
                    f"({hi:.4f} A^-1)")
        if not sel.any():
            return None, f"{kind}: no profile point at least FWHM/2 from q*"
        k = int(np.argmin(np.where(sel, ys, np.inf)))
        if not ys[k] < peak_value:
            return None, (f"{kind}: the smoothed profile's minimum {ys[k]:.4g} is not below "
                          f"the peak value {peak_value:.4g} (a dip, e.g. dark columns?)")
        return (float(ys[k]), float(x[k])), text

    got, vdef = _valley(valley)
    if got is None:
        other = "high" if valley == "low" else "low"
        got2, vdef2 = _valley(other)
        if got2 is not None:
            got, vdef = got2, f"{vdef2} (fallback: {vdef})"
            warnings.warn(f"peak-to-valley: the {valley} valley is unusable ({vdef}); used "
                          f"the {other} one", GixsWarning, stacklevel=2)
        else:
            vdef = f"none: {vdef}; {vdef2}"
            warnings.warn(f"peak-to-valley not measured: {vdef}", GixsWarning, stacklevel=2)
    vval, vq = got if got is not None else (float("nan"), float("nan"))
    n = float(normalization)
    return OrderingResult(**ff_out,
        q_star=q, q_star_err=qe_obs, d_spacing=d, d_spacing_err=de, nn_distance=nn,
        nn_distance_err=nn_factor * d_lat_err, lattice_model=model, lattice_basis=basis,
        lattice_fits=tuple(fits), fwhm=fw, fwhm_err=fwe,
        instrument_fwhm=None if dec is None else dec["instrument"]["gaussian"],
        coherence_is_lower_bound=bool(dec and dec["lower_bound"]),
        instrument_widths=None if dec is None else dict(dec["instrument"]),
        instrument_correction=how, fwhm_corrected=fc, coherence_length=xi,
        coherence_length_err=xie, scherrer_K=float(K), paracrystal_g=g, paracrystal_g_err=ge,
        peak_height=v["height"] / n, peak_height_err=e["height"] / n,
        peak_area=v["area"] / n, peak_area_err=e["area"] / n, peak_value=peak_value / n,
        valley=vval / n, valley_q=vq, valley_definition=vdef,
        peak_to_valley=(peak_value - vval) / n,
        peak_to_valley_ratio=peak_value / vval if vval > 0 else float("nan"),
        normalization=n, snr=first.snr, orders=tuple(orders), fit=fit.to_dict(),
        profile_name=name, q_range=rng, source=os.fspath(source),
        q_star_centre=qc, q_star_centre_err=qe, q_star_method=q_method,
        q_star_axis={"qxy": "qxy", "q": "q"}.get(profile.axis, profile.axis),
        profile_x=x, profile_y=y, profile_sigma=s)


def _form_factor_fit(x, y, s, spec, profile, qc, fw, orders):
    """OrderingResult fields of the joint P(q) S(q) fit (see :func:`measure`)."""
    band = (profile.band or {}).get("qz_A^-1") if profile.axis == "qxy" else None
    qz = 0.0
    if band is not None:
        a, b = (abs(float(v)) for v in band)
        qz = math.sqrt((a * a + a * b + b * b) / 3.0)  # rms q_z of the band
    if spec.fitted and qz > 0:
        raise FormFactorError(
            "form factor auto: the dots' radius and polydispersity are not fitted from an "
            f"in-plane cut (q_z {band[0]:.4f}..{band[1]:.4f} A^-1): its q_xy decay is the "
            "distorted-wave form factor, not the Born P(q) at one q_z (BornAgain "
            "paracrystals of 5.5 nm spheres, sigma 0.1, 13-17 keV: fitted R 4.89 +- 0.01, "
            "5.21 +- 0.47 and 7.23 +- 0.34 nm); give --form-factor sphere:R=..,sigma=.. "
            "(from TEM or SAXS), or fit it on a ring profile (--profile iq)")
    excl = [(o["q"] - o["fwhm"], o["q"] + o["fwhm"]) for o in orders]
    ff = fit_form_factor(x, y, s, spec, q_star=qc, fwhm=fw, qz=qz, exclude=excl)
    if ff.redchi > 3:
        warnings.warn(f"form factor: reduced chi2 {ff.redchi:.1f} of the P(q) S(q) fit "
                      f"({spec.describe()}): the model does not describe the profile well; "
                      "q_star_structure may be biased (try the other sq=)", GixsWarning,
                      stacklevel=3)
    qs, qse = ff.q_star_structure, ff.q_star_structure_err
    out = ff.as_dict()
    x_peak = ff.radius_nm * 10.0 * math.hypot(qs, qz)
    if qz > 0 and x_peak > BORN_QR_LIMIT:
        # the Born P(q) at the band's one q_z stands in for the distorted-wave intensity,
        # whose terms sample q_z = k_f,z +- k_i,z: near P's first minimum (q R = 4.49)
        # it varies by orders of magnitude with q_z and that stand-in fails (BornAgain
        # paracrystals: q R <= 3.6 at the peak: structure peak within 0.45%; q R >=
        # 4.0: 1-2.6% off with a good chi2)
        why = (f"structure-factor peak refused: at the cut's rms q_z {qz:.4f} A^-1 the "
               f"peak's |q| R = {x_peak:.2f} is near the form factor's first minimum "
               f"(q R = 4.49; limit {BORN_QR_LIMIT:g}), where the Born P(q) at one q_z "
               "does not describe grazing-incidence scattering; measure at a smaller "
               "incidence angle (a lower in-plane band) or use a ring profile")
        warnings.warn(f"form factor: {why}", GixsWarning, stacklevel=3)
        out["refused"] = why
        nan = float("nan")
        return {"q_star_structure": nan, "q_star_structure_err": nan,
                "d_spacing_structure": nan, "d_spacing_structure_err": nan,
                "form_factor": out}
    out["refused"] = None
    ds = 2 * math.pi / qs / 10.0
    return {"q_star_structure": qs, "q_star_structure_err": qse, "d_spacing_structure": ds,
            "d_spacing_structure_err": ds * qse / qs, "form_factor": out}


# -- from a frame ---------------------------------------------------------------------
PROFILES = ("auto", "ip", "iq")
#: Default profile bins per pixel of the larger image dimension (see measure_frame).
BINS_PER_PIXEL = 3
#: Height of the rod cut (q_z band) as a fraction of q*, and at least this many pixels.
ROD_BAND_FRACTION = 0.3
ROD_BAND_PIXELS = 4
#: Largest |q| R (mean radius R) at the structure-factor peak of an in-plane cut for
#: which the joint Born P(q) S(q) fit is trusted (the sphere's first minimum: 4.49).
BORN_QR_LIMIT = 3.8
#: Most q_z slices of an in-plane cut (slices are about one pixel tall up to this many).
MAX_CUT_SLICES = 64


def _as_frame(frame_or_path, frame_index):
    from gixs.io.frames import Frame, read_frame

    if isinstance(frame_or_path, (str, os.PathLike)):
        return read_frame(frame_or_path, frame_index)
    if isinstance(frame_or_path, Frame):
        return frame_or_path
    arr = np.asarray(frame_or_path, np.float32)
    if arr.ndim != 2:
        raise ValueError(f"frame must be a 2D image, got shape {arr.shape}")
    return Frame(arr, ~np.isfinite(arr), "", 0)


class _Candidate:
    """First-order candidate of a profile: centre, FWHM (1/A) and SNR."""

    def __init__(self, fit, cand):
        self.q_star_centre = fit.values["centre"]
        self.fwhm = fit.values["fwhm"]
        self.snr = cand.snr


def _check_first_ring(res, prof, plan, frame, valid, pq, qz_floor, px_qz, region, dark,
                      flat, kw, diag):
    """Refuse (NoPeakError) a ring that may not be the first order
    (:mod:`gixs.superlattice.firstring`): a lower ring shows just above the horizon, or
    no pixel above the horizon reaches half its |q| and no higher order found with it
    stands at a first-order ratio."""
    from gixs.superlattice.firstring import first_order_ratio, horizon_slab

    q, fwhm = res.q_star, res.fwhm
    slab, q_on, slab_qz = horizon_slab(plan, frame.data, valid, pq, qz_floor, px_qz,
                                       region["specular_halfwidth_A^-1"], dark=dark,
                                       flat=flat)
    seen = prof.valid().x
    q_film = 1.02 * float(seen[0]) if seen.size else np.inf  # the ring profile's start
    diag["profiles"]["I(|q|) just above the horizon"] = slab
    where = (f"just above the horizon (q_z {slab_qz[0]:.4f}..{slab_qz[1]:.4f} A^-1, "
             f"exit angles below the film pixels' {region['exit_angle_floor_deg']:.3f} deg)")
    if q - 2 * fwhm > q_on:
        low, _ = _try_measure(slab, q_range=(q_on, q - 2 * fwhm), **kw)
        if low is not None:
            raise NoPeakError(
                f"the first-order ring is not measurable: {where} a ring shows at |q| "
                f"{low.q_star_centre:.4f} A^-1 (SNR {low.snr:.0f}), below the ring the film "
                f"pixels show at {q:.4f} A^-1, which is then a higher order; the film "
                "pixels miss the lower ring at this incidence: measure at a smaller "
                "incidence or a higher energy")
    if min(q_on, q_film) > q / 2 and first_order_ratio(res.orders) is None:
        raise NoPeakError(
            f"the ring at |q| {q:.4f} A^-1 is not shown to be the first order: no pixel "
            f"above the horizon sees |q| below {min(q_on, q_film):.4f} A^-1 (the film "
            f"pixels start at {q_film:.4f} A^-1; {where}), more than half "
            "of it, where the first order of a film whose visible ring were a higher order "
            "would lie, and no higher order found with it stands at a first-order ratio of "
            "a common lattice (1.155, 1.414, 1.633, 1.732, 2); measure at a smaller "
            "incidence or a higher energy, or give --q-range around the ring if it is the "
            "first order")


def _try_measure(prof, *, q_range=None, min_snr=5.0, near=None, **_):
    try:
        out = first_order(prof, q_range=q_range, min_snr=min_snr, near=near)
    except NoPeakError as exc:
        return None, str(exc)
    return _Candidate(out[6], out[7]), None


def measure_frame(frame_or_path, geometry, gi, *, profile="auto", mask=None, frame_index=0,
                  lattice="auto", q_range=None, instrument_fwhm=None, normalization=1.0,
                  K=0.9, valley="low", min_snr=5.0, npt_q=None, ip_band=None,
                  orientation=True, settings=None, dark=None, flat=None,
                  form_factor=None) -> OrderingResult:
    """Reduce one frame, tell rods from rings, and measure the superlattice peak.

    A failure raises :class:`NoPeakError` whose ``details`` attribute holds what was
    looked at (``profiles``: the Profiles reduced, ``candidates``: the candidates and
    why each was rejected, ``scattering_evidence``), so that callers can still write
    their JSON and figure.

    The one measurement path of ``gixs spacing``, ``gixs batch`` metrics and the API.

    1. The film pixels (:func:`gixs.superlattice.classify.film_region`): above the
       horizon and the Yoneda band, off the specular rod, out of shadows
       (:func:`gixs.superlattice.classify.shadow_mask`) and hot pixels. One cached plan
       per geometry and mask bins every pixel on |q| and q_xy; each profile below is a
       pixel subset of this frame on its bins
       (:func:`gixs.superlattice.pixelprofile.subset_profile`), not a plan of its own.
    2. A first candidate on each profile: the in-plane cut I(|q_xy|) in a thin band
       just above the Yoneda, and I(|q|) of the film pixels.
    3. Rods or rings from the frame (:func:`gixs.superlattice.classify.classify_peak`).
    4. The measurement on the profile that fits: rods on |q_xy| from a cut of height
       0.3 q* (>= 4 pixels) starting above the Yoneda band (``q_star_axis = "qxy"``);
       rings on |q| of the film pixels with the specular rod widened to 0.15 q*
       (``q_star_axis = "q"``). ``profile="ip"``/``"iq"`` forces the choice; one that
       contradicts the measured type warns.

    Parameters not listed here are those of :func:`measure`.

    Parameters
    ----------
    frame_or_path : Frame, ndarray or path
        The GISAXS frame (a path is read with :func:`gixs.io.frames.read_frame`).
    geometry : DetectorGeometry
    gi : GIGeometry
    profile : {"auto", "ip", "iq"}
        "auto" (default) measures rods on q_xy and rings on |q|, as the frame says.
    mask : ndarray of bool, optional
        True = masked (beamstop...).
    npt_q : int, optional
        Profile bins; default :data:`BINS_PER_PIXEL` x the larger image dimension (about
        a third of a pixel per bin: a ring's pixels sample |q| at every sub-pixel phase,
        so a ring 3 pixels wide still has ~10 bins across its FWHM; with one pixel per
        bin the fit of such a peak came out 0.5% low). In-plane cuts, whose few rows
        repeat their columns' q_xy, merge them back to about one pixel per bin.
    ip_band : (float, float), optional
        q_z band (1/A) of the in-plane cut; default set from the peak (see above).
    orientation : bool
        Also compute :func:`gixs.superlattice.orientation.orientation_metrics`.
    settings : ReduceSettings, optional
        Corrections (solid angle, polarization); bins and bands are set here.
    dark, flat : ndarray, optional
        Dark frame (subtracted) and flat field (divided), as in reduce_frame.
    form_factor : str or FormFactorSpec, optional
        Joint P(q) S(q) fit on the measured profile, as in :func:`measure`.

    Raises
    ------
    NoPeakError
        No significant peak on either profile, or rods and rings cannot be told apart
        under ``profile="auto"``; the message says why.

    Examples
    --------
    >>> import math
    >>> from gixs import simulate
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> g = DetectorGeometry(dist_m=3.0, poni1_m=60 * 172e-6, poni2_m=490 * 172e-6,
    ...                      rot1=0, rot2=0, rot3=0, wavelength_m=1.0332e-10,
    ...                      detector="Pilatus1M")
    >>> gi = GIGeometry.from_degrees(0.3)
    >>> img, mask = simulate.hex_superlattice(g, gi, 12.5, rng=1, return_mask=True)
    >>> res = measure_frame(img, g, gi, mask=mask, orientation=False)
    >>> res.scattering_type, res.q_star_axis, round(res.d_spacing, 1)
    ('rod', 'qxy', 12.5)
    """
    diag = {"profiles": {}, "candidates": {}, "scattering_evidence": None}
    try:
        return _measure_frame(frame_or_path, geometry, gi, diag, profile=profile, mask=mask,
                              frame_index=frame_index, lattice=lattice, q_range=q_range,
                              instrument_fwhm=instrument_fwhm, normalization=normalization,
                              K=K, valley=valley, min_snr=min_snr, npt_q=npt_q,
                              ip_band=ip_band, orientation=orientation, settings=settings,
                              dark=dark, flat=flat,
                              form_factor=parse_form_factor(form_factor))
    except NoPeakError as exc:
        exc.details = diag
        raise


def _measure_frame(frame_or_path, geometry, gi, diag, *, profile, mask, frame_index,
                   lattice, q_range, instrument_fwhm, normalization, K, valley, min_snr,
                   npt_q, ip_band, orientation, settings, dark, flat, form_factor=None):
    from gixs.io.validate import check_corrections
    from gixs.reduce.frame import ReduceSettings, get_plan
    from gixs.reduce.orientation_check import check_orientation
    from gixs.superlattice.classify import (_in_band, band_rows, classify_peak, exit_floor,
                                            film_region, pixel_q, shadow_mask,
                                            yoneda_angle)
    from gixs.superlattice.hotpixels import hot_pixels
    from gixs.superlattice.orientation import orientation_metrics
    from gixs.superlattice.pixelprofile import subset_profile

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    frame = _as_frame(frame_or_path, frame_index)
    shape = frame.data.shape
    mask, dark, flat = check_corrections(mask, dark, flat, shape)
    npt = int(npt_q or BINS_PER_PIXEL * max(shape))
    ip_merge = 1 if npt_q else BINS_PER_PIXEL  # in-plane cuts keep one bin per pixel
    corr = {} if settings is None else {"solid_angle": settings.solid_angle,
                                        "polarization_factor": settings.polarization_factor}
    # one plan per geometry and user mask: |q| and q_xy blocks holding every pixel; the
    # subsets (bands, film pixels, hot pixels) are per-frame selections on its bins
    k0 = 2 * math.pi / geometry.wavelength_a
    base = ReduceSettings(npt_q=npt, maps=False, ip_band=(-2.5 * k0, 2.5 * k0),
                          oop_band=(-1e-9, 1e-9), **corr)
    plan = get_plan(geometry, gi, shape, base, mask)
    geom = plan.geometry
    pq = plan.pq
    valid0 = plan.static_valid & ~frame.invalid & np.isfinite(frame.data)
    hot, hot_info = hot_pixels(frame.data, valid0,
                               count_cutoff=(frame.metadata or {}).get("count_cutoff"))
    valid = valid0 & ~hot if hot.any() else valid0
    norm = plan.norm.reshape(shape)
    yoneda = yoneda_angle(frame.data, valid, norm, pq, gi, geom)
    shadow, shadow_info = shadow_mask(frame.data, valid, norm, pq,
                                      floor=exit_floor(yoneda[0], geom))
    if shadow.any():
        valid = valid & ~shadow
    notes = []
    check = check_orientation(frame.data, geom, gi, invalid=frame.invalid, warn=False,
                              mask=hot if mask is None else (mask | hot) if hot.any() else mask,
                              source=frame.source, plan=plan)
    if check["ok"] is False:
        notes.append(check["message"])
        warnings.warn(check["message"], GixsWarning, stacklevel=2)
    keep, region = film_region(frame.data, valid, norm, pq, gi, geom, yoneda=yoneda)
    keep_qz = (region.pop("_keep_qz_min"), region.pop("_keep_pixels"))
    if keep_qz[1] < 100:
        raise NoPeakError("no superlattice peak found: fewer than 100 pixels see the film "
                          f"above the horizon and the Yoneda band ({region['yoneda_source']}"
                          f"; exit-angle floor {region['exit_angle_floor_deg']:.3f} deg)")
    qz_floor = region.pop("_rod_qz_floor")
    region.pop("_rod_keep", None)
    px_qz = pixel_q(geom)
    kw = dict(lattice=lattice, instrument_fwhm=instrument_fwhm, normalization=normalization,
              K=K, valley=valley, min_snr=min_snr)

    def cut(band, sliced=False):
        rows = band_rows(pq, band[0], band[1])  # the band's pixels lie in these rows
        sel = _in_band(valid[rows[0]:rows[1]], pq.qz[rows[0]:rows[1]], band[0], band[1])
        # the measured cut (sliced): the mean of q_z slices about one pixel tall, so that
        # every q_z of the band weighs the same in every q_xy bin (see
        # pixelprofile.slice_mean); the candidate cuts pool each bin's pixels (their
        # counts weigh the rods/rings decision)
        n_slices = int(min(MAX_CUT_SLICES, max(1, round((band[1] - band[0]) / px_qz))))
        return subset_profile(plan, "ip", sel, frame.data, dark=dark, flat=flat,
                              band={"qz_A^-1": [float(band[0]), float(band[1])]},
                              merge=ip_merge, rows=rows,
                              qz_slices=(band[0], band[1], n_slices) if sliced else None)

    # first candidates on both profiles
    band0 = tuple(ip_band) if ip_band else (qz_floor, qz_floor + max(
        k0 * math.sin(math.radians(0.2)), ROD_BAND_PIXELS * px_qz))
    prof_r = cut(band0)
    rod_c, rod_why = _try_measure(prof_r, q_range=q_range, **kw)
    diag["profiles"]["in-plane cut near the horizon (q_xy)"] = prof_r
    diag["candidates"]["in-plane cut"] = rod_why or {"q": rod_c.q_star_centre,
                                                    "snr": rod_c.snr}
    prof_g = subset_profile(plan, "iq", keep, frame.data, dark=dark, flat=flat,
                            band={"pixels": region["definition"]})
    ring_c, ring_why = _try_measure(prof_g, q_range=q_range, **kw)
    diag["profiles"]["I(|q|) of the film pixels"] = prof_g
    diag["candidates"]["I(|q|)"] = ring_why or {"q": ring_c.q_star_centre, "snr": ring_c.snr}
    if rod_c is None and ring_c is None:
        raise NoPeakError(f"{rod_why} [in-plane cut, q_z {band0[0]:.4f}..{band0[1]:.4f} "
                          f"A^-1]; and {ring_why.replace('no superlattice peak found: ', '')}"
                          " [I(|q|) of the film pixels]")
    qz_b = float(np.mean(band0))
    if rod_c is not None and (ring_c is None or rod_c.snr >= ring_c.snr):
        seed, q_xy, fwhm = "in-plane cut", rod_c.q_star_centre, rod_c.fwhm
    else:
        big = ring_c.q_star_centre
        seed, fwhm = "I(|q|)", ring_c.fwhm
        qz_b = keep_qz[0]  # the lowest q_z of the film pixels
        q_xy = math.sqrt(max(big ** 2 - qz_b ** 2, 0.0))
    big_q = math.hypot(q_xy, qz_b)
    clean_band = None
    if rod_c is not None and ring_c is not None:
        # the profile of the wrong kind smears the peak: the sharper width is the peak's;
        # each hypothesis is tested where its own profile puts it
        fwhm = min(rod_c.fwhm, ring_c.fwhm)
        q_xy, qz_b = rod_c.q_star_centre, float(np.mean(band0))
        big_q = ring_c.q_star_centre
        # near the horizon a ring's q_xy and a rod blend in the cut: where is the rod
        # above the ring's top (q_z > Q + FWHM), if there is one?
        hi_band = (big_q + ring_c.fwhm, big_q + ring_c.fwhm + max(
            ROD_BAND_FRACTION * big_q, ROD_BAND_PIXELS * px_qz))
        if not ip_band and hi_band[0] > band0[1]:
            try:
                # the rod asked about: candidates within 2 FWHM of the horizon cut's
                # peak (a peak elsewhere up there is not the same rod)
                rod_h, _ = _try_measure(cut(hi_band), q_range=q_range,
                                        near=(q_xy - 2 * fwhm, q_xy + 2 * fwhm), **kw)
            except ValueError:
                rod_h = None
            # the same rod only: near the horizon cut's peak (which a ring blending in can
            # pull by up to ~FWHM), and vertical: the two halves of the band put it at the
            # same q_xy (within FWHM/4), where the arc of a higher ring, or another order's
            # arc, moves with q_z
            if rod_h is not None and abs(rod_h.q_star_centre - q_xy) <= 2 * fwhm:
                mid = 0.5 * (hi_band[0] + hi_band[1])
                # the rod asked about: candidates within a FWHM of it (the halves' own
                # lowest peaks, if elsewhere, fail the test anyway)
                near = (rod_h.q_star_centre - rod_h.fwhm, rod_h.q_star_centre + rod_h.fwhm)
                halves = []
                for part in ((hi_band[0], mid), (mid, hi_band[1])):
                    try:
                        halves.append(_try_measure(cut(part), q_range=q_range, near=near,
                                                   **kw)[0])
                    except ValueError:
                        halves.append(None)
                vertical = all(h is not None for h in halves) and abs(
                    halves[0].q_star_centre - halves[1].q_star_centre) <= 0.25 * rod_h.fwhm
                if not vertical:
                    rod_h = None
            if rod_h is not None:
                q_xy, seed = rod_h.q_star_centre, "in-plane cut above the ring's top"
                clean_band = hi_band
                fwhm = min(fwhm, rod_h.fwhm)
    keep2, region2 = film_region(frame.data, valid, norm, pq, gi, geom, q_star=big_q,
                                 yoneda=yoneda)
    rod_keep = region2.pop("_rod_keep")
    region2.pop("_rod_qz_floor", None)
    keep2_qz = (region2.pop("_keep_qz_min"), region2.pop("_keep_pixels"))
    ev = classify_peak(frame.data, rod_keep, norm, pq, q_xy=q_xy, qz_base=qz_b, fwhm=fwhm,
                       q_ring=big_q, pixel_q=px_qz)
    ev["seed"] = seed
    diag["scattering_evidence"] = ev
    ev["candidates"] = {
        "in-plane cut": None if rod_c is None else {"q": rod_c.q_star_centre,
                                                    "fwhm": rod_c.fwhm, "snr": rod_c.snr},
        "I(|q|)": None if ring_c is None else {"q": ring_c.q_star_centre,
                                               "fwhm": ring_c.fwhm, "snr": ring_c.snr},
        "rejected": {k: v for k, v in (("in-plane cut", rod_why), ("I(|q|)", ring_why)) if v}}
    kind = ev["scattering_type"]
    if profile == "auto":
        if kind is None:
            raise NoPeakError(f"cannot tell rods from rings for the peak at q_xy = {q_xy:.4f}"
                              f" A^-1: {ev['reason']}; give --profile ip (rods, q_xy) or iq "
                              "(rings, |q|)")
        use = "ip" if kind == "rod" or (kind == "mixed" and ev["rod_fraction"] >= 0.5) else "iq"
        if kind == "mixed":
            notes.append(f"mixed rods and rings (rod fraction {ev['rod_fraction']:.2f}): "
                         f"measured the {'rods on q_xy' if use == 'ip' else 'ring on |q|'}")
            warnings.warn(notes[-1], GixsWarning, stacklevel=2)
    else:
        use = profile
        if (use == "ip" and kind == "ring") or (use == "iq" and kind == "rod"):
            notes.append(f"--profile {use} ({'in-plane q_xy' if use == 'ip' else '|q|'}) "
                         f"contradicts the frame: the peak is measured to be a {kind} (rod "
                         f"fraction {ev['rod_fraction']:.2f}); "
                         f"{'iq' if kind == 'ring' else 'ip'} (or auto) measures it")
            warnings.warn(notes[-1], GixsWarning, stacklevel=2)
    if use == "ip":
        if ip_band:
            band = tuple(ip_band)
            how = "given"
        elif kind == "mixed" and clean_band is not None:
            band = clean_band
            how = ("mixed film: the rods measured in a band above the ring's top "
                   "(q_z > Q + FWHM), where no ring pixel blends in")
        else:
            band = (qz_floor, qz_floor + max(ROD_BAND_FRACTION * q_xy, ROD_BAND_PIXELS * px_qz))
            how = (f"from the peak: q_z from exit angle {region2['rod_floor_deg']:.3f} deg "
                   f"({region2['rod_definition']}) up by max(0.3 q*, {ROD_BAND_PIXELS} pixels)")
        prof = cut(band, sliced=True)
        pvalid = valid
        choice = {"requested": profile, "used": "ip", "axis": "qxy",
                  "band_qz_A^-1": list(band), "band": how}
    else:
        prof = subset_profile(plan, "iq", keep2, frame.data, dark=dark, flat=flat,
                              band={"pixels": region2["definition"]})
        pvalid = keep2
        choice = {"requested": profile, "used": "iq", "axis": "q",
                  "pixels": region2["definition"]}
    # (a mixed film too: its "rods" may be the ring's arcs when the first ring is hidden)
    if (use == "iq" or kind == "mixed") and rod_c is not None and ring_c is not None:
        # the first-order ring may lie in the horizon/Yoneda band the ring profile leaves
        # out; the in-plane cut near the horizon then shows it below what I(|q|) found
        q_low = math.hypot(rod_c.q_star_centre, float(np.mean(band0)))
        q_first = ring_c.q_star_centre
        # a ring |q| < this has no film pixel
        qz_film = keep2_qz[0] if keep2_qz[1] else float(pq.qz[keep2].min())  # (none: raises)
        if not q_first < 1.3 * q_low or q_low < qz_film:
            seen = (f"the in-plane cut near the horizon shows a peak at |q| ~ {q_low:.4f} "
                    f"A^-1, below what I(|q|) of the film pixels finds ({q_first:.4f} A^-1;"
                    f" the film pixels start at q_z {qz_film:.4f} A^-1)")
            hidden = (f"the first ring lies in the horizon/Yoneda band (exit angle < "
                      f"{region2['exit_angle_floor_deg']:.3f} deg) that a ring measurement "
                      "must leave out")
            if kind == "mixed":
                # rods and a ring elsewhere: which one is the first order, the frame
                # alone does not say
                q_peak = math.hypot(q_xy, qz_b)
                where = (f"{(q_first - q_peak) / fwhm:.1f} FWHM beyond" if q_first > q_peak
                         else f"{(q_peak - q_first) / fwhm:.1f} FWHM below")
                raise NoPeakError(
                    f"the first-order ring is not measurable, and rods are not told from "
                    f"its arcs: {seen}; the frame has rods at q_xy {q_xy:.4f} A^-1 and a "
                    f"ring at |q| {q_first:.4f} A^-1, {where} the peak's |q| "
                    f"({q_peak:.4f} A^-1; rod fraction {ev['rod_fraction']:.2f}). Either "
                    f"{hidden} and the rods are its arcs, or the ring is another feature "
                    "next to 2D rods (a higher order, or a lobe of the dots' form factor, "
                    "which is isotropic); one frame does not tell which: measure at a "
                    "smaller incidence or a higher energy")
            raise NoPeakError(
                f"the first-order ring is not measurable: {seen}; at this incidence "
                f"{hidden}; measure at a smaller incidence or a higher energy")
    choice["film_region"] = region2
    choice["hot_pixels"] = hot_info
    choice["shadow"] = shadow_info
    choice["orientation_check"] = check
    choice["reduction"] = ("one cached plan (|q| and q_xy bins of every pixel); each "
                           "profile is a pixel subset of this frame on its bins")
    diag["profiles"][f"measured: {choice['used']}"] = prof
    res = measure(prof, q_range=q_range, source=frame.source, form_factor=form_factor,
                  pixel_q=px_qz, **kw)
    if profile == "auto":
        # the rods/rings test looked at one peak: the measurement must be of that peak
        at = ev["q_ring"] if use == "iq" else ev["q_xy"]
        if abs(res.q_star_centre - at) > max(fwhm, res.fwhm):
            raise NoPeakError(
                f"the peak measured on {'|q|' if use == 'iq' else 'q_xy'} "
                f"({res.q_star_centre:.4f} A^-1) is not the one the rods/rings test "
                f"classified ({at:.4f} A^-1, FWHM {fwhm:.4f} A^-1): the {choice['used']} "
                "profile of the pixels measured has its first order elsewhere; give "
                "--profile ip (rods, q_xy) or iq (rings, |q|) and --q-range around the "
                "first order")
    if use == "iq" and q_range is None:
        _check_first_ring(res, prof, plan, frame, valid, pq, qz_floor, px_qz, region2, dark,
                          flat, kw, diag)
    width_px = res.fwhm / px_qz
    if width_px < UNDERSAMPLED_FWHM_PIXELS:
        # sasmodels paracrystal rings 1.6-2.0 pixels wide (0.3-0.5 m): the parabola
        # through the top three bins sat 0.17-0.20% below the curve's maximum (the
        # symmetric line shape's maximum, used before, 0.53-0.72%); the FWHM is then
        # mostly the pixel's own width. Rods 0.9-1.4 bins wide: the line shape's
        # maximum (observed_maximum); an asymmetric top's place in its bin is unknown:
        # that sampling limit is in the errors
        rel = sampling_error(prof.valid().x, res.fwhm, px_qz) / res.q_star  # in q_star_err
        where = (f", which places a peak narrower than {SUBBIN_FWHM:g} bins or pixels to "
                 f"about {SAMPLING_BINS:g} of one ({100 * rel:.2f}% of q* here, in "
                 "q_star_err and d_spacing_err)") if rel else ""
        how = ("the fitted line shape's maximum (narrower than 1.5 bins)"
               if res.q_star_method == LINE_SHAPE_TOP else
               "a parabola through its top three bins (0.2% low on simulated rings 1.6-2 "
               "pixels wide)" if res.q_star_method == PARABOLA_TOP else res.q_star_method)
        notes.append(f"the peak is {width_px:.1f} pixels wide (FWHM): q* is read from "
                     f"{how}{where}, and the FWHM is mostly the pixel's width "
                     "(give the instrument width for the coherence length); a longer "
                     "detector distance resolves the peak")
        warnings.warn(notes[-1], GixsWarning, stacklevel=2)
    orient = None
    if orientation:
        hexfit = next((d["fits"] for d in res.lattice_fits if d["model"] == "hex2d"), None)
        qz_c = float(np.mean(prof.band["qz_A^-1"])) if use == "ip" else 0.0
        orient = orientation_metrics(frame.data, pvalid, plan.norm, pq, res.q_star,
                                     res.fwhm, orders_hex_fit=hexfit, qz_ring=qz_c,
                                     scattering=ev)
    src = frame.source + (f"#{frame.index}" if frame.index else "")
    return dataclasses.replace(res, orientation=orient, source=src, scattering_type=kind,
                               scattering_evidence=ev, profile_choice=choice,
                               warnings=tuple(notes))
