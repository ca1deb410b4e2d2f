"""Orientation of the superlattice peak in one GISAXS frame (angles in deg in outputs).

Computed from the frame's pixels (their q, chi, q_xy, q_z from :func:`gixs.geometry.gi.pixel_q`
and the corrected intensity ``data / (solid angle x polarization)``), at the
first-order position q* and width FWHM found by :mod:`gixs.superlattice.ordering`:

* **chi profile at q*** : ``I_peak(chi)`` = mean intensity of the ring through the
  measured peak in |q|, ``|q - Q| <= FWHM/2`` minus the mean of the two side bands
  ``FWHM <= |q - Q| <= 1.5 FWHM``, in 5 deg chi bins. Q is measured on |q|
  (:func:`ring_q`: the maximum of the frame's own I(|q|) near the first guess
  ``sqrt(q*^2 + q_z^2)``, q_z of the in-plane band's centre, or q* for an I(|q|)
  profile); ``q_ring`` and ``q_ring_method`` say which. chi is measured from the
  surface normal (0 = along q_z, +-90 = in the film plane). In GISAXS only the part
  of the ring above the sample horizon is seen: ``chi_coverage_deg`` says which.
* ``in_plane_fraction`` : share of ``I_peak |sin chi|`` at |chi| >= 45 deg.
* ``hermans_f = <P2(cos chi)> = (3 <cos^2 chi> - 1) / 2`` (fibre symmetry about the
  surface normal: +1 = scattering vectors along the normal, -0.5 = all in plane, 0 =
  random). The chi profile is folded onto |chi| (0-90 deg) and fitted, weighted by its
  errors, with an even Legendre series ``I(chi) = sum_{l=0,2,4,6} a_l P_l(cos chi)``; with
  the ``sin chi`` solid-angle weight the orthogonality of the P_l gives
  ``<P2> = a_2 / (5 a_0)`` over the whole hemisphere, so the missing wedge about q_z and
  the range below the sample horizon are filled by that fit (the extrapolation approach
  of Baker et al., Langmuir 26, 9146 (2010)). ``hermans_coverage`` is the covered
  share of the hemisphere's weight ``int sin chi dchi``; below
  :data:`MIN_COVERAGE` (0.6), or when the peak is rod-like (a rod is not a ring; see
  ``rod_index``), ``hermans_f`` is None and ``hermans_refused`` says why.
* No six-fold metric: in-plane six-fold order lives in the azimuth about the surface
  normal, which one grazing-incidence frame does not sample (a 2D powder of hexagonal
  domains and a random ring alike would give a six-fold harmonic of the chi profile
  that measures the geometry, not the order).
* **rod vs ring** : what one frame can show about 2D (in-plane) order. A 2D lattice of
  dots scatters into rods at fixed |q_xy| = q* for every q_z; a 3D powder into a ring
  at |q| = const. The one classifier, :func:`gixs.superlattice.classify.classify_peak`
  (its result is passed in by :func:`gixs.superlattice.ordering.measure_frame`, or run
  here on the given pixels), says which: ``rod_index`` is its ``rod_fraction`` (1 for
  rods, 0 for rings), ``rod_like`` its type (rod, or mixed with rod fraction >= 0.5);
  Hermans f is refused for rods and for mixed films (the rods cross the ring's chi
  profile).
* **hexagonal order indicator** (``hexagonal_order``): true when the higher orders
  found match 2D hexagonal ratios 1 : sqrt3 : 2 : sqrt7 (at least one, none
  unexplained) and the peak is rod-like; each part is reported.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

UNITS = {"orientation.chi_deg": "deg", "orientation.q_ring_guess": "A^-1",
         "orientation.chi_coverage_deg": "deg", "orientation.in_plane_fraction": "1",
         "orientation.hermans_f": "1", "orientation.hermans_coverage": "1",
         "orientation.rod_width_qxy": "A^-1", "orientation.q_ring": "A^-1",
         "orientation.rod_index": "1"}


#: Minimum covered share of the hemisphere's sin(chi) weight for a Hermans f.
MIN_COVERAGE = 0.6
#: Legendre orders of the I(chi) fit that fills the missing wedge and horizon.
LEGENDRE_ORDERS = (0, 2, 4, 6)


def hermans_from_profile(chi_deg, intensity, sigma=None, *, min_coverage=MIN_COVERAGE,
                         orders=LEGENDRE_ORDERS):
    """Hermans f = <P2(cos chi)> from a partial chi profile, gaps filled by a Legendre fit.

    Parameters
    ----------
    chi_deg, intensity : array
        chi from the surface normal (deg, any sign; folded onto |chi|) and I(chi); NaN
        where not measured.
    sigma : array, optional
        Standard errors of I (uniform weights when None).
    min_coverage : float
        Refuse (f None) when the measured bins cover less of the hemisphere's
        ``int_0^90 sin chi dchi`` than this.
    orders : tuple of int
        Even Legendre orders fitted (l = 0 must be first).

    Returns
    -------
    dict
        ``hermans_f`` (None when refused), ``coverage``, ``coefficients`` ({l: a_l}),
        ``refused`` (reason or None), ``method`` (text).

    Examples
    --------
    >>> import numpy as np
    >>> chi = np.arange(2.5, 60, 5.0)         # only 0..60 deg seen
    >>> c = np.cos(np.radians(chi))
    >>> out = hermans_from_profile(chi, 1 + 0.5 * (3 * c**2 - 1) / 2, min_coverage=0.4)
    >>> round(out["hermans_f"], 3)            # a_2 / (5 a_0) = 0.5 / 5
    0.1
    """
    from numpy.polynomial import legendre

    chi = np.abs(np.asarray(chi_deg, float))
    chi = np.where(chi > 90, 180 - chi, chi)
    y = np.asarray(intensity, float)
    sg = None if sigma is None else np.asarray(sigma, float)
    ok = np.isfinite(y) & np.isfinite(chi)
    if sg is not None:
        ok &= np.isfinite(sg) & (sg > 0)
    method = ("I(chi) folded onto |chi| and fitted by sum a_l P_l(cos chi), l = " +
              ", ".join(map(str, orders)) + "; f = a_2 / (5 a_0) over the hemisphere "
              "(missing wedge and horizon filled by the fit; Baker et al. 2010)")
    out = {"hermans_f": None, "coverage": 0.0, "coefficients": {}, "refused": None,
           "method": method}
    if ok.sum() < len(orders) + 1:
        out["refused"] = f"{int(ok.sum())} chi bins measured: too few for the fit"
        return out
    # coverage: union of measured 1-deg cells, weighted by sin chi
    cells = np.arange(0.5, 90.0, 1.0)
    step = np.median(np.diff(np.unique(chi[ok]))) if ok.sum() > 1 else 5.0
    seen = np.zeros(cells.size, bool)
    for c0 in chi[ok]:
        seen |= np.abs(cells - c0) <= step / 2
    w = np.sin(np.radians(cells))
    out["coverage"] = float(w[seen].sum() / w.sum())
    x = np.cos(np.radians(chi[ok]))
    basis = np.stack([legendre.legval(x, np.eye(max(orders) + 1)[l]) for l in orders], axis=1)
    ww = 1.0 / sg[ok] if sg is not None else np.ones(x.size)
    coef, *_ = np.linalg.lstsq(basis * ww[:, None], y[ok] * ww, rcond=None)
    out["coefficients"] = {int(l): float(a) for l, a in zip(orders, coef)}
    if out["coverage"] < min_coverage:
        out["refused"] = (f"chi coverage {out['coverage']:.2f} of the hemisphere below "
                          f"{min_coverage:.2f}")
        return out
    if not coef[0] > 0:
        out["refused"] = "fitted isotropic part a_0 <= 0 (no ring signal)"
        return out
    out["hermans_f"] = float(coef[orders.index(2)] / (5 * coef[0]))
    return out


@njit(inline="always")
def _sees_film(value, exit_angle):
    """The film-pixel rule: a finite count above the sample horizon (only those pixels
    see the film's scattering). The one copy, used by :func:`_film_pixels` and inside
    the band pass (:func:`_band_bins` with ``film=True``)."""
    return exit_angle >= 0 and np.isfinite(value)


@njit(cache=True, nogil=True)
def _nb_film_mask(data, valid, exit_angle):
    out = np.empty(data.size, np.bool_)
    for i in range(data.size):
        out[i] = valid[i] and _sees_film(data[i], exit_angle[i])
    return out


def _film_pixels(data, valid, pq):
    """(data, valid) flattened; valid only for the pixels that see the film
    (:func:`_sees_film`)."""
    data = np.ascontiguousarray(data, float).ravel()
    valid = _nb_film_mask(data, np.ascontiguousarray(valid, bool).ravel(),
                          np.ascontiguousarray(pq.exit_angle, float).ravel())
    return data, valid


def pole_figure(data, valid, norm, pq, q, width, *, chi_step_deg=2.0):
    """Pole figure of a reflection: I(chi) at |q| (1/A), band +-width/2, background removed.

    Returns (chi centres deg, I, sigma), NaN where no pixel; chi from the surface normal.
    Hand it to :func:`hermans_from_profile` (same wedge handling) or :func:`mosaicity`.

    Examples
    --------
    An isotropic ring at |q| = 0.1 1/A (height 100 on a background of 10) on a 80x160
    generic detector: the frame sees chi up to +-77 deg, and the background-free ring
    height is recovered within the band's averaging:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> ones = np.ones(data.size)
    >>> chi, ipk, sig = pole_figure(data, ones > 0, ones, pq, 0.1, 0.006)
    >>> ok = np.isfinite(ipk)
    >>> float(chi[ok].min()), float(chi[ok].max()), bool(np.all((ipk[ok] > 60) & (ipk[ok] < 100)))
    (-77.0, 77.0, True)
    """
    data, valid = _film_pixels(data, valid, pq)
    return chi_profile(data, valid, np.asarray(norm, float).ravel(), pq, q, width,
                       chi_step_deg=chi_step_deg)


def mosaicity(chi_deg, intensity, *, centre_deg=None):
    """Orientation-distribution width (deg FWHM) of a textured reflection's I(chi).

    The FWHM of a Gaussian plus constant fitted about the profile's maximum (chi in deg);
    with ``centre_deg`` the fit starts there and a dict ``{"fwhm_deg", "centre_deg"}``
    is returned.

    Examples
    --------
    >>> import numpy as np
    >>> chi = np.arange(-80, 80, 1.0)
    >>> round(mosaicity(chi, 1 + 10 * np.exp(-4 * np.log(2) * (chi - 10) ** 2 / 12 ** 2)), 1)
    12.0
    """
    from scipy.optimize import curve_fit

    chi = np.asarray(chi_deg, float)
    y = np.asarray(intensity, float)
    ok = np.isfinite(y)
    chi, y = chi[ok], y[ok]
    if chi.size < 5:
        raise ValueError(f"{chi.size} chi bins measured: too few for a mosaicity fit")
    i0 = int(np.argmax(y)) if centre_deg is None else int(np.argmin(np.abs(chi - centre_deg)))

    def g(x, a, c, f, b):
        return a * np.exp(-4 * np.log(2) * (x - c) ** 2 / f ** 2) + b

    p0 = [y[i0] - np.min(y), chi[i0], 10.0, np.min(y)]
    popt, _ = curve_fit(g, chi, y, p0=p0, maxfev=20000)
    if centre_deg is None:
        return float(abs(popt[2]))
    return {"fwhm_deg": float(abs(popt[2])), "centre_deg": float(popt[1])}


def ring_q(data, valid, norm, pq, q_guess, fwhm):
    """|q| (1/A) of the ring through a peak, measured on the frame's I(|q|); and how.

    The pixels' mean corrected intensity in 41 |q| bins over ``q_guess +- 2.5 FWHM``, a
    straight background through the bins at ``|q - q_guess| >= 1.5 FWHM``; Q is the
    excess-weighted mean |q| of the bins above half the maximum excess. The guess is
    kept (and the method says so) when the excess has no maximum within 1 FWHM of it.

    Examples
    --------
    A ring at |q| = 0.1 1/A found from a guess 2% high:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> ones = np.ones(data.size)
    >>> q, how = ring_q(data.ravel(), ones > 0, ones, pq, 0.102, 0.006)
    >>> round(q, 3), how.startswith("maximum")
    (0.1, True)
    """
    edges = np.linspace(q_guess - 2.5 * fwhm, q_guess + 2.5 * fwhm, 42)
    prof = _band_bins(pq, "q", data, norm, valid, q_guess, 0.0, 2.5 * fwhm, edges)[0]
    c = (edges[:-1] + edges[1:]) / 2
    ok = np.isfinite(prof)
    outer = ok & (np.abs(c - q_guess) >= 1.5 * fwhm)
    if outer.sum() >= 4 and ok.sum() >= 20:
        exc = prof - np.polyval(np.polyfit(c[outer], prof[outer], 1), c)
        inner = ok & (np.abs(c - q_guess) < 1.5 * fwhm)
        if inner.any() and np.nanmax(np.where(inner, exc, np.nan)) > 0:
            top = inner & (exc >= 0.5 * np.nanmax(np.where(inner, exc, np.nan)))
            qr = float(np.sum(c[top] * exc[top]) / np.sum(exc[top]))
            if abs(qr - q_guess) <= fwhm:
                return qr, ("maximum of the frame's I(|q|) near the guess (half-maximum "
                            "centroid above a linear background)")
    return float(q_guess), "the guess (no clear I(|q|) maximum within 1 FWHM of it)"


def reflection_texture(data, valid, norm, pq, q, width, *, chi_step_deg=2.0,
                       chi_expected_deg=None, window_deg=30.0):
    """Pole figure, Hermans f and mosaicity of one reflection at |q| (1/A).

    The pole figure I(chi) is :func:`pole_figure` (band ``|q - Q| <= width/2``,
    side bands removed, pixels above the horizon); Hermans f of the reflection's plane
    normal is :func:`hermans_from_profile` (the same Legendre wedge/horizon filling and
    coverage refusal as for superlattice rings); the mosaicity is :func:`mosaicity`
    about the expected chi (deg; the profile's maximum when None) within
    ``+-window_deg``, chi folded onto |chi| (fibre symmetry).

    Returns
    -------
    dict
        ``q``, ``chi_deg``, ``intensity``, ``sigma``, ``chi_coverage_deg``,
        ``hermans_f`` (None when refused), ``hermans_coverage``, ``hermans_refused``,
        ``mosaicity_deg`` (None when not fitted), ``mosaicity_note``, ``chi_peak_deg``.

    Examples
    --------
    A textured reflection at |q| = 0.1 1/A whose poles sit at chi = +-30 deg with a
    Gaussian spread of 5 deg (FWHM 11.8 deg):

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> chi = np.degrees(pq.chi)
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2
    ...                          - 0.5 * ((np.abs(chi) - 30) / 5) ** 2)
    >>> ones = np.ones(data.size)
    >>> t = reflection_texture(data, ones > 0, ones, pq, 0.1, 0.006)
    >>> round(t["chi_peak_deg"]), round(t["mosaicity_deg"]), t["chi_coverage_deg"]
    (30, 12, [-77.0, 77.0])
    """
    chi, y, sg = pole_figure(data, valid, norm, pq, q, width, chi_step_deg=chi_step_deg)
    ok = np.isfinite(y)
    herm = hermans_from_profile(chi, y, sg)
    out = {"q": float(q), "band_width": float(width), "chi_deg": chi[ok].tolist(),
           "intensity": y[ok].tolist(), "sigma": sg[ok].tolist(),
           "chi_coverage_deg": [float(chi[ok].min()), float(chi[ok].max())]
           if ok.any() else None, "hermans_f": herm["hermans_f"],
           "hermans_coverage": herm["coverage"], "hermans_refused": herm["refused"],
           "hermans_method": herm["method"], "mosaicity_deg": None, "mosaicity_note": None,
           "chi_peak_deg": None}
    # fold onto |chi|: pixel-count-free mean of the two sides where both are measured
    a = np.abs(chi)
    grid = np.unique(np.round(a[ok], 6))
    fy = np.array([np.nanmean(y[ok][np.isclose(a[ok], g)]) for g in grid])
    if grid.size < 5:
        out["mosaicity_note"] = f"{grid.size} chi bins measured: too few"
        return out
    c0 = float(grid[int(np.argmax(fy))]) if chi_expected_deg is None else \
        abs(float(chi_expected_deg))
    sel = np.abs(grid - c0) <= window_deg
    try:
        m = mosaicity(grid[sel], fy[sel], centre_deg=c0)
    except (ValueError, RuntimeError) as exc:
        out["mosaicity_note"] = f"not fitted: {exc}"
        return out
    out["mosaicity_deg"], out["chi_peak_deg"] = m["fwhm_deg"], m["centre_deg"]
    out["mosaicity_note"] = (f"FWHM of a Gaussian + constant fitted to I(|chi|) within "
                             f"{c0:.1f} +- {window_deg:g} deg")
    if m["fwhm_deg"] > 2 * window_deg:
        out["mosaicity_deg"] = None
        out["mosaicity_note"] += (f"; fitted FWHM {m['fwhm_deg']:.0f} deg exceeds the window"
                                  ": no textured peak (random or broad orientation)")
    return out


def radial_peak(data, valid, norm, pq, q, fwhm_guess, *, chi_deg=None, half_sector_deg=4.0):
    """Radial profile I(|q|) of a reflection and its line-shape fit (:func:`gixs.peaks.fit_peak`).

    The pixels (above the horizon) within ``q +- 3 fwhm_guess`` (1/A) and, for a spot,
    within ``chi_deg +- half_sector_deg`` (deg from the surface normal, either side of
    the beam), binned in 61 |q| bins; the fit (Gaussian, Lorentzian or pseudo-Voigt
    plus linear background, by BIC) is the one :mod:`gixs.superlattice.ordering` uses.
    :func:`radial_profiles` gives the profiles of many reflections in one pass.

    Returns
    -------
    (x, y, sigma, PeakFit)
        The profile (1/A, corrected intensity, standard error) and the fit; raises
        ValueError when too few bins are measured.

    Examples
    --------
    A Gaussian ring at |q| = 0.1 1/A, FWHM 2.355 x 0.0025 = 0.0059 1/A:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> ones = np.ones(data.size)
    >>> x, y, sigma, fit = radial_peak(data, ones > 0, ones, pq, 0.1, 0.006)
    >>> fit.shape, round(fit.values["centre"], 4), round(fit.values["fwhm"], 4)
    ('gaussian', 0.1, 0.0059)
    """
    prof = radial_profiles(data, valid, norm, pq, [q], [fwhm_guess], [chi_deg],
                           half_sector_deg=half_sector_deg)[0]
    fit = radial_fit(prof, q, fwhm_guess)
    return (*prof, fit)


def radial_profiles(data, valid, norm, pq, qs, fwhm_guesses, chis_deg, *,
                    half_sector_deg=4.0):
    """The radial profiles of :func:`radial_peak` of many reflections, in one pass over
    the pixels: one ``(x, y, sigma)`` per reflection (|q| in 1/A, corrected intensity,
    standard error; the bins with pixels only), or the ValueError saying too few bins
    were measured. ``chis_deg``: the spot's chi (deg) or None for a ring, per reflection.

    Examples
    --------
    Two rings (|q| = 0.1 and 0.13 1/A) on the detector of :func:`radial_peak`'s example,
    the second in the sector chi = 60 +- 4 deg:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> ones = np.ones(data.size)
    >>> a, b = radial_profiles(data, ones > 0, ones, pq, [0.1, 0.13], [0.006, 0.006],
    ...                        [None, 60.0])
    >>> len(a[0]), round(float(a[0][np.argmax(a[1])]), 3), len(b[0]) > 20
    (61, 0.1, True)
    """
    qs, f0 = np.asarray(qs, float), np.asarray(fwhm_guesses, float)
    edges = np.linspace(qs - 3 * f0, qs + 3 * f0, 62, axis=1)
    sectors = [(0.0, -1.0) if c is None else (c, half_sector_deg) for c in chis_deg]
    y, w, v = _band_bins(pq, "q", data, norm, valid, qs, np.zeros_like(qs), 3 * f0, edges,
                         film=True, chi_sector=sectors)
    out = []
    for k, q in enumerate(qs):
        x = (edges[k, :-1] + edges[k, 1:]) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            sig = np.sqrt(np.clip(v[k], 0, None) / w[k])
        ok = np.isfinite(y[k]) & np.isfinite(sig) & (sig > 0)
        if ok.sum() < 20:
            out.append(ValueError(f"{int(ok.sum())} |q| bins measured about {q:.4f} A^-1: "
                                  "too few for a radial fit"))
        else:
            out.append((x[ok], y[k][ok], sig[ok]))
    return out


def radial_fit(profile, q, fwhm_guess):
    """The line-shape fit of :func:`radial_peak` on one of :func:`radial_profiles`'
    profiles (raises its ValueError when the profile is one).

    Examples
    --------
    >>> x = np.linspace(0.08, 0.12, 61)
    >>> y = 10 + 100 * np.exp(-0.5 * ((x - 0.1) / 0.0025) ** 2)
    >>> fit = radial_fit((x, y, np.sqrt(y)), 0.1, 0.006)
    >>> round(fit.values["centre"], 4), round(fit.values["fwhm"], 4)
    (0.1, 0.0059)
    >>> radial_fit(ValueError("3 |q| bins measured"), 0.1, 0.006)
    Traceback (most recent call last):
    ...
    ValueError: 3 |q| bins measured
    """
    from gixs.peaks import fit_peak

    if isinstance(profile, ValueError):
        raise profile
    x, y, sig = profile
    return fit_peak(x, y, sig, centre=q, fwhm=fwhm_guess, backgrounds=("linear",))


@njit(cache=True, nogil=True)
def _nb_band_sums(q, coord, scale, data, norm, valid, exit_angle, film, chi, sectors,
                  q0, d_lo, d_hi, edges, order, lo_sorted, width):
    """Sums of every band ``k`` (``d_lo[k] <= |q - q0[k]| <= d_hi[k]``, chi sector
    ``sectors[k]``, bins ``edges[k]``) in one pass over the pixels. ``order`` lists the
    bands by their lower |q| limit ``lo_sorted`` (ascending); ``width`` is the widest
    band's |q| span: a pixel is tested only against the bands whose lower limit lies in
    ``[q - width, q]``."""
    nband, n = edges.shape[0], edges.shape[1] - 1
    s = np.zeros((nband, n))
    w = np.zeros((nband, n))
    v = np.zeros((nband, n))
    for i in range(q.size):
        if not valid[i]:
            continue
        val = np.float64(data[i])
        if film and not _sees_film(val, exit_angle[i]):
            continue
        qi = q[i]
        j = np.searchsorted(lo_sorted, qi, side="right") - 1
        while j >= 0 and lo_sorted[j] >= qi - width:
            k = order[j]
            j -= 1
            d = abs(qi - q0[k])
            if d < d_lo[k] or d > d_hi[k]:
                continue
            c0, half = sectors[k, 0], sectors[k, 1]
            if half >= 0 and not abs(abs(chi[i] * (180.0 / np.pi)) - c0) <= half:
                continue
            x = coord[i] * scale
            if not x == x:
                continue
            b = np.searchsorted(edges[k], x, side="right") - 1  # np.digitize's bin
            if b < 0 or b >= n:
                continue
            s[k, b] += val
            w[k, b] += norm[i]
            v[k, b] += max(val, 0.0)
    return s, w, v


def _band_bins(pq, by, data, norm, valid, q0, d_lo, d_hi, edges, *, film=False,
               chi_sector=None):
    """Mean corrected intensity per bin of the valid pixels with ``d_lo <= |q - q0| <=
    d_hi`` (1/A), binned by ``by`` ("q": |q| in 1/A, "chi": chi in deg) on ``edges``
    (bins ``edges[i] <= x < edges[i+1]``, as np.digitize): (mean, sum of norm, mean of
    the counts clipped at 0), NaN where no pixel is.

    ``film``: only pixels above the horizon with finite counts (those of
    :func:`_sees_film`); ``chi_sector`` (deg, deg): only pixels with
    ``| |chi| - c | <= half``. One pass over the flat per-pixel arrays, compiled: no
    per-pixel temporaries. Several bands at once: ``q0``, ``d_lo``, ``d_hi`` sequences
    of one length, ``edges`` one row per band (the same number of bins), ``chi_sector``
    None or one (c, half) per band; then each output has one row per band."""
    many = np.ndim(q0) > 0
    q0, d_lo, d_hi = (np.atleast_1d(np.asarray(v, float)) for v in (q0, d_lo, d_hi))
    edges = np.atleast_2d(np.asarray(edges, float))
    nband = q0.size
    if not (d_lo.size == d_hi.size == edges.shape[0] == nband):
        raise ValueError(f"_band_bins: {nband} bands but {d_lo.size} d_lo, {d_hi.size} "
                         f"d_hi and {edges.shape[0]} rows of edges")
    coord, scale = (pq.q, 1.0) if by == "q" else (pq.chi, 180.0 / math.pi)
    sectors = np.tile([0.0, -1.0], (nband, 1))
    if chi_sector is not None:
        sec = np.asarray(chi_sector, float).reshape(-1, 2)
        sectors = np.column_stack([np.abs(sec[:, 0]), sec[:, 1]]) * np.ones((nband, 1))
    lo = q0 - d_hi
    order = np.argsort(lo, kind="stable")

    def flat(a, dtype=None):
        return np.ascontiguousarray(a, dtype).ravel()

    none = np.zeros(0)
    s, w, v = _nb_band_sums(flat(pq.q, float), flat(coord, float), float(scale),
                            flat(data), flat(norm, float), flat(valid, bool),
                            flat(pq.exit_angle, float) if film else none, bool(film),
                            none if chi_sector is None else flat(pq.chi, float), sectors,
                            q0, d_lo, d_hi, edges, order, lo[order],
                            float(np.max(2 * d_hi)) + 1e-9)  # + 1e-9: no rounding loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(w > 0, s / w, np.nan), w, np.where(w > 0, v / w, np.nan)
    return out if many else tuple(a[0] for a in out)


def chi_profile(data, valid, norm, pq, q_star, fwhm, chi_step_deg=5.0):
    """Background-subtracted peak intensity versus chi (deg) at q* (see module doc).

    ``data``, ``valid``, ``norm`` are flat per-pixel arrays; ``pq`` a PixelQ of the frame.
    Returns (chi centres deg, I_peak, sigma) with NaN where no pixel is.

    Examples
    --------
    An isotropic ring at |q| = 0.1 1/A on a 80x160 generic detector (beam centred on
    the columns): the profile is symmetric in chi and positive wherever pixels are:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> data = 10 + 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> ones = np.ones(data.size)
    >>> chi, ipk, sig = chi_profile(data.ravel(), ones > 0, ones, pq, 0.1, 0.006)
    >>> ok = np.isfinite(ipk)
    >>> float(chi[ok].min()), float(chi[ok].max()), bool(np.allclose(ipk[ok], ipk[ok][::-1]))
    (-107.5, 107.5, True)
    >>> bool(np.all(ipk[ok] > 50))
    True
    """
    edges = np.arange(-180.0, 180.0 + chi_step_deg / 2, chi_step_deg)
    # the ring (|q - q*| <= FWHM/2) and its side bands (FWHM..1.5 FWHM) in one pass
    i, w, v = _band_bins(pq, "chi", data, norm, valid, [q_star, q_star], [0.0, fwhm],
                         [fwhm / 2, 1.5 * fwhm], [edges, edges])
    with np.errstate(invalid="ignore", divide="ignore"):
        sig = np.sqrt(np.clip(v[0], 0, None) / w[0])
    return (edges[:-1] + edges[1:]) / 2, i[0] - i[1], sig


def orientation_metrics(data, valid, norm, pq, q_star, fwhm, orders_hex_fit=None,
                        qz_ring=0.0, scattering=None):
    """Orientation metrics of the peak at ``q_star`` (1/A) of width ``fwhm`` (1/A).

    Parameters
    ----------
    data, valid, norm : ndarray
        Per-pixel counts, validity and (solid angle x polarization), any shape.
    pq : PixelQ
        The frame's scattering coordinates.
    orders_hex_fit : bool or None
        Whether the higher orders match 2D hexagonal ratios (from the ordering fit).
    qz_ring : float
        q_z (1/A) at which the peak was measured (centre of the in-plane band): the
        ring's |q| is looked for near ``sqrt(q*^2 + qz_ring^2)`` (:func:`ring_q`).
    scattering : dict, optional
        :func:`gixs.superlattice.classify.classify_peak` of this peak; run here on
        ``valid`` when None.

    Returns
    -------
    dict
        See module docstring; JSON-ready.

    Examples
    --------
    Rings at |q| = 0.1 1/A on a 80x160 generic detector, on a background of 10: an
    isotropic ring gives f = 0; ``I ~ sin^4 chi`` (scattering vectors towards the film
    plane) gives ``f = (3 <cos^2 chi> - 1) / 2 = -2/7``, with ``<cos^2 chi> = 1/7`` over
    the hemisphere, although the frame sees chi only up to +-77.5 deg:

    >>> import json
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.geometry.gi import pixel_q
    >>> g = DetectorGeometry(1.0, 0.005, 0.04, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 5e-4, "pixel2": 5e-4,
    ...                                  "max_shape": [80, 160]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(0.2))
    >>> ring = 100 * np.exp(-0.5 * ((pq.q - 0.1) / 0.0025) ** 2)
    >>> valid, norm = np.ones(ring.shape, bool), np.ones(ring.shape)
    >>> m = orientation_metrics(10 + ring, valid, norm, pq, 0.1, 0.006)
    >>> m["scattering_type"], round(m["hermans_f"], 2), m["chi_coverage_deg"]
    ('ring', -0.0, [-77.5, 77.5])
    >>> m = orientation_metrics(10 + ring * np.sin(pq.chi) ** 4, valid, norm, pq, 0.1, 0.006)
    >>> round(m["hermans_f"], 2), round(-2 / 7, 2), m["in_plane_fraction"] > 0.9
    (-0.29, -0.29, True)
    """

    data, valid = _film_pixels(data, valid, pq)
    norm = np.asarray(norm, float).ravel()
    q_guess = math.hypot(q_star, qz_ring)
    q_ring, q_how = ring_q(data, valid, norm, pq, q_guess, fwhm)
    chi, ipk, sig = chi_profile(data, valid, norm, pq, q_ring, fwhm)
    cov = np.isfinite(ipk)
    out = {"q_ring": q_ring, "q_ring_guess": q_guess, "q_ring_method": q_how,
           "chi_deg": chi[cov].tolist(), "intensity": ipk[cov].tolist(),
           "sigma": sig[cov].tolist(),
           "chi_coverage_deg": [float(chi[cov].min()), float(chi[cov].max())]
           if cov.any() else None}
    if cov.sum() >= 3:
        c = np.radians(chi[cov])
        ws = np.clip(ipk[cov], 0, None) * np.abs(np.sin(c))
        if ws.sum() > 0:
            out["in_plane_fraction"] = float(ws[np.abs(chi[cov]) >= 45].sum() / ws.sum())
    herm = hermans_from_profile(chi, ipk, sig)
    if scattering is None:
        from gixs.superlattice.classify import classify_peak

        qz_b = qz_ring if qz_ring > 0 else float(np.min(pq.qz.ravel()[valid])) \
            if valid.any() else 0.0
        scattering = classify_peak(data, valid, norm, pq,
                                   q_xy=math.sqrt(max(q_ring ** 2 - qz_b ** 2, 0.0)),
                                   qz_base=qz_b, fwhm=fwhm, q_ring=q_ring)
    kind = scattering.get("scattering_type")
    rod = scattering.get("rod_fraction")
    out["rod_index"] = rod
    out["scattering_type"] = kind
    rod_like = None if kind is None else bool(
        kind == "rod" or (kind == "mixed" and (rod or 0) >= 0.5))
    out["rod_like"] = rod_like
    if rod_like:
        herm["hermans_f"] = None
        herm["refused"] = "rod-like peak (in-plane order): Hermans f of a ring does not apply"
        out["rod_width_qxy"] = float(fwhm)
    elif kind == "mixed":
        herm["hermans_f"] = None
        herm["refused"] = "mixed rods and ring: the rods cross the ring's chi profile"
    out["hermans_f"] = herm["hermans_f"]
    out["hermans_coverage"] = herm["coverage"]
    out["hermans_refused"] = herm["refused"]
    out["hermans_method"] = herm["method"]
    out["hexagonal_order"] = {
        "higher_orders_match_hex2d": orders_hex_fit, "rod_like": rod_like,
        "indicator": bool(orders_hex_fit and rod_like),
        "definition": "higher orders at 1:sqrt3:2:sqrt7 (>= 1 found, none unexplained) "
                      "AND rod-like peak (classify_peak: rod, or mixed with rod "
                      "fraction >= 0.5)"}
    parts = []
    if out["hermans_f"] is not None:
        parts.append(f"Hermans f = {out['hermans_f']:.2f} (normal axis, Legendre-filled), "
                     f"chi coverage {out['hermans_coverage']:.2f}")
    else:
        parts.append(f"Hermans f refused ({out['hermans_refused']})")
    parts.append("rod index " + ("n/a" if rod is None else f"{rod:.2f}") +
                 f"; hexagonal-order indicator {out['hexagonal_order']['indicator']}")
    out["summary"] = "; ".join(parts)
    out["units"] = dict(UNITS)
    return out
