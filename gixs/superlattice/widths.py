"""Peak widths corrected for the instrument: Voigt deconvolution (widths in 1/A).

A measured peak is taken as a Voigt profile, the convolution of a Lorentzian (FWHM f_L)
and a Gaussian (FWHM f_G). Convolving Lorentzians adds their widths linearly, Gaussians
in quadrature, so with a Gaussian instrument f_G,i, a Lorentzian instrument part f_L,i
and the grazing-incidence footprint term f_fp (treated as Gaussian, see
:func:`footprint_fwhm`)::

    f_L,sample = f_L - f_L,i
    f_G,sample = sqrt(f_G^2 - f_G,i^2 - f_fp^2)

The total FWHM of a Voigt follows Olivero & Longbothum, J. Quant. Spectrosc. Radiat.
Transfer 17, 233 (1977) (accuracy 0.02%)::

    f_V = 0.5346 f_L + sqrt(0.2166 f_L^2 + f_G^2)

When the selected shape is not a pure Gaussian and the profile is at hand, f_L and f_G are
fitted directly (:func:`fit_voigt`: a true Voigt, ``scipy.special.voigt_profile``, whose
widths are the instrument's plus sample parts >= 0, plus a linear residual background,
on the profile minus the fitted background, over the fit's window), since a pseudo-Voigt's eta does not pin f_L down well when the Gaussian
dominates (f_L/f_G = 0.3 comes out +39% through the eta route, within 2% by the Voigt
fit). Otherwise a pseudo-Voigt fit (FWHM F, Lorentzian fraction eta) is split into f_L and f_G by
inverting Thompson, Cox & Hastings, J. Appl. Cryst. 20, 79 (1987)
(eta = 1.36603 r - 0.47719 r^2 + 0.11116 r^3, r = f_L / F) for r, then f_G from
Olivero-Longbothum with f_V = F. A Gaussian fit is (0, F), a Lorentzian fit (F, 0).

**Resolution-limited**: when the measured FWHM exceeds the instrument's total width
(its Voigt of f_L,i and sqrt(f_G,i^2 + f_fp^2)) by no more than the FWHM's standard
error, the sample width is not resolved. The width reported is then the deconvolution
of (instrument width + error), an upper bound, so the coherence length computed from it
is a lower bound, and the description says so.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from gixs.errors import GixsWarning

__all__ = ["olivero_longbothum", "voigt_components", "fit_voigt", "footprint_fwhm",
           "footprint_length_m", "Instrument", "instrument_at_incidence", "deconvolve",
           "corrected_width", "scherrer_size"]

_OL_A, _OL_B = 0.5346, 0.2166


def olivero_longbothum(f_lorentz, f_gauss):
    """Voigt FWHM from its Lorentzian and Gaussian FWHMs (Olivero-Longbothum 1977).

    Examples
    --------
    >>> round(olivero_longbothum(1.0, 0.0), 4), round(olivero_longbothum(0.0, 1.0), 4)
    (1.0, 1.0)
    """
    return _OL_A * f_lorentz + math.sqrt(_OL_B * f_lorentz ** 2 + f_gauss ** 2)


def _tch_eta(r):
    return 1.36603 * r - 0.47719 * r ** 2 + 0.11116 * r ** 3


def voigt_components(fwhm, shape, eta=0.0):
    """(f_L, f_G) of a fitted peak of total ``fwhm`` (see module doc).

    Parameters
    ----------
    fwhm : float
        Fitted FWHM (1/A).
    shape : {"gaussian", "lorentzian", "pseudo_voigt"}
    eta : float
        Lorentzian fraction of a pseudo-Voigt fit, 0-1.

    Examples
    --------
    >>> fl, fg = voigt_components(1.0, "pseudo_voigt", eta=0.5)
    >>> round(olivero_longbothum(fl, fg), 6)
    1.0
    """
    if shape == "gaussian":
        return 0.0, float(fwhm)
    if shape == "lorentzian":
        return float(fwhm), 0.0
    eta = min(max(float(eta), 0.0), 1.0)
    lo, hi = 0.0, 1.0  # _tch_eta is increasing on [0, 1], from 0 to 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _tch_eta(mid) < eta else (lo, mid)
    f_l = 0.5 * (lo + hi) * fwhm
    g2 = (fwhm - _OL_A * f_l) ** 2 - _OL_B * f_l ** 2
    return f_l, math.sqrt(max(g2, 0.0))


def fit_voigt(x, y, sigma=None, *, centre, fwhm, window=None, lorentzian_floor=0.0,
              gaussian_floor=0.0):
    """Fit a Voigt plus linear background; (f_L, f_G, err_L, err_G, cov) in x's unit.

    With floors (the instrument's Lorentzian and Gaussian FWHMs) the fit is of the
    sample widths a, b >= 0 in f_L = floor_L + a and f_G = sqrt(floor_G^2 + b^2): a peak
    cannot be narrower than the instrument's.

    Parameters
    ----------
    x, y, sigma : array
        Profile (q in 1/A) and standard errors (uniform when None).
    centre, fwhm : float
        Starting values (from the pseudo-Voigt fit).
    window : (float, float), optional
        x range fitted; ``centre +- 2.5 fwhm`` by default.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import voigt_profile
    >>> x = np.linspace(-1, 1, 401)
    >>> y = voigt_profile(x, 0.1 / 2.3548, 0.1 / 2) + 0.1
    >>> fl, fg = fit_voigt(x, y, centre=0.0, fwhm=0.15)[:2]
    >>> round(fl, 3), round(fg, 3)
    (0.1, 0.1)
    """
    from scipy.optimize import curve_fit
    from scipy.special import voigt_profile

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    lo, hi = window if window is not None else (centre - 2.5 * fwhm, centre + 2.5 * fwhm)
    sel = (x >= lo) & (x <= hi) & np.isfinite(y)
    sg = None
    if sigma is not None:
        sg = np.asarray(sigma, float)[sel]
        if not np.all(np.isfinite(sg) & (sg > 0)):
            sg = None
    xs, ys = x[sel], y[sel]
    if xs.size < 8:
        raise ValueError(f"{xs.size} points in the window {lo:.5f}..{hi:.5f}: too few for a "
                         "Voigt fit")
    c2 = 2 * math.sqrt(2 * math.log(2))

    def widths(a, b):
        return lorentzian_floor + a, math.sqrt(gaussian_floor ** 2 + b ** 2)

    def model(xx, area, c, a, b, b0, b1):
        fl, fg = widths(a, b)
        return area * voigt_profile(xx - c, max(fg, 1e-12) / c2, max(fl, 1e-12) / 2) + \
            b0 + b1 * (xx - centre)

    b1 = (ys[-1] - ys[0]) / (xs[-1] - xs[0])
    b0 = float(np.min(ys))
    height = float(np.max(ys) - b0)
    p0 = [height * fwhm * 1.3, centre, fwhm / 2, fwhm / 2, b0, b1]
    bounds = ([0, lo, 0, 0, -np.inf, -np.inf], [np.inf, hi, 5 * fwhm, 5 * fwhm, np.inf, np.inf])
    popt, pcov = curve_fit(model, xs, ys, p0=p0, sigma=sg, absolute_sigma=sg is not None,
                           bounds=bounds, maxfev=20000)
    err = np.sqrt(np.clip(np.diag(pcov), 0, None))
    fl, fg = widths(popt[2], popt[3])
    # errors of f_L, f_G from those of a, b (d f_G / d b = b / f_G)
    e_fg = err[3] * popt[3] / fg if fg > 0 else err[3]
    return float(fl), float(fg), float(err[2]), float(e_fg), pcov[2:4, 2:4]


def footprint_fwhm(q, *, sample_length_m, distance_m, wavelength_a):
    """q-width (1/A) from the beam footprint along the sample (Smilgies 2009).

    A beam lighting a length L of the sample seen from distance D spreads 2theta by
    Delta(2theta) ~ L sin(2theta) / D (D.-M. Smilgies, J. Appl. Cryst. 42, 1030 (2009));
    in q, Delta q = (2 pi / lambda) cos(theta) Delta(2theta). L is the footprint length
    (beam height / sin a_i, at most the sample length). Treated as Gaussian.

    Examples
    --------
    >>> round(footprint_fwhm(1.0, sample_length_m=0.01, distance_m=0.175, wavelength_a=1.0), 4)
    0.0568
    """
    s = q * wavelength_a / (4 * math.pi)
    if not 0 <= s < 1:
        raise ValueError(f"q = {q} 1/A is beyond 4 pi / lambda for lambda = {wavelength_a} A")
    theta = math.asin(s)
    d2t = sample_length_m * math.sin(2 * theta) / distance_m
    return 2 * math.pi / wavelength_a * math.cos(theta) * d2t


def footprint_length_m(*, beam_size_mm=None, sample_length_mm=None, incidence_deg=None):
    """Illuminated length (m) along the beam: min(beam height / sin a_i, sample length).

    Parameters
    ----------
    beam_size_mm : float, optional
        Beam height (FWHM, mm) in the plane of incidence; needs ``incidence_deg``.
    sample_length_mm : float, optional
        Sample length along the beam (mm): the footprint cannot be longer.
    incidence_deg : float, optional
        Incidence angle a_i (deg).

    Returns
    -------
    (float, str)
        The length (m) and how it was set.

    Examples
    --------
    >>> round(footprint_length_m(beam_size_mm=0.05, incidence_deg=0.3)[0] * 1e3, 2)
    9.55
    >>> footprint_length_m(beam_size_mm=0.05, sample_length_mm=5, incidence_deg=0.3)[1]
    'sample length 5 mm (shorter than beam 0.05 mm / sin 0.3 deg = 9.55 mm)'
    """
    for name, v in (("beam_size_mm", beam_size_mm), ("sample_length_mm", sample_length_mm)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a length > 0 (mm), got {v!r}")
    lit = None
    if beam_size_mm is not None:
        if incidence_deg is None or not incidence_deg > 0:
            raise ValueError("a beam size needs the incidence angle (deg, > 0) for the "
                             f"footprint beam / sin a_i, got {incidence_deg!r}")
        lit = beam_size_mm / math.sin(math.radians(incidence_deg))
    if lit is None and sample_length_mm is None:
        raise ValueError("the footprint needs beam_size_mm (with incidence_deg) or "
                         "sample_length_mm")
    if lit is None:
        return sample_length_mm * 1e-3, (f"sample length {sample_length_mm:g} mm (beam size "
                                         "not given: the whole sample lit, an upper bound)")
    beam = f"beam {beam_size_mm:g} mm / sin {incidence_deg:g} deg = {lit:.2f} mm"
    if sample_length_mm is not None and sample_length_mm < lit:
        return sample_length_mm * 1e-3, (f"sample length {sample_length_mm:g} mm (shorter "
                                         f"than {beam})")
    return lit * 1e-3, beam


@dataclasses.dataclass(frozen=True)
class Instrument:
    """Instrument widths as a function of q, for :func:`corrected_width` (1/A).

    The Gaussian instrument FWHM is ``gaussian_fwhm`` (constant) or, when ``resolution``
    is given, ``resolution.fwhm_q(q)`` (a :class:`gixs.calibrate.resolution.ResolutionModel`
    or anything with that method and ``to_dict()``); ``lorentzian_fwhm`` is a
    constant Lorentzian part; with ``footprint_m`` (illuminated length, see
    :func:`footprint_length_m`), ``distance_m`` and ``wavelength_a`` the footprint
    width :func:`footprint_fwhm` is added in quadrature to the Gaussian.

    Examples
    --------
    >>> inst = Instrument(gaussian_fwhm=0.003, footprint_m=0.01, distance_m=0.175,
    ...                   wavelength_a=1.0)
    >>> w = inst.widths(1.0)
    >>> round(w["gaussian"], 4), round(w["footprint"], 4)
    (0.003, 0.0568)
    """

    gaussian_fwhm: float | None = None
    resolution: object = None
    lorentzian_fwhm: float = 0.0
    footprint_m: float | None = None
    distance_m: float | None = None
    wavelength_a: float | None = None
    footprint_basis: str = ""
    source: str = ""

    def __post_init__(self):
        if self.gaussian_fwhm is not None and self.resolution is not None:
            raise ValueError("give a constant gaussian_fwhm or a resolution model, not both")
        if self.footprint_m is not None and not (self.distance_m and self.wavelength_a):
            raise ValueError("the footprint term needs distance_m and wavelength_a")

    def widths(self, q):
        """{"gaussian", "lorentzian", "footprint", "total"}: FWHMs (1/A) at q (1/A)."""
        if self.resolution is not None:
            g = float(self.resolution.fwhm_q(q))
        else:
            g = float(self.gaussian_fwhm or 0.0)
        fp = 0.0
        if self.footprint_m is not None:
            fp = footprint_fwhm(q, sample_length_m=self.footprint_m, distance_m=self.distance_m,
                                wavelength_a=self.wavelength_a)
        lo = float(self.lorentzian_fwhm)
        return {"gaussian": g, "lorentzian": lo, "footprint": fp,
                "total": olivero_longbothum(lo, math.hypot(g, fp))}

    def to_dict(self, q=None):
        """JSON provenance (widths at ``q`` 1/A when given)."""
        out = {"gaussian_fwhm": self.gaussian_fwhm,
               "resolution": None if self.resolution is None else self.resolution.to_dict(),
               "lorentzian_fwhm": self.lorentzian_fwhm,
               "footprint_length_mm": None if self.footprint_m is None else
               self.footprint_m * 1e3, "footprint_basis": self.footprint_basis or None,
               "distance_mm": None if self.distance_m is None else self.distance_m * 1e3,
               "wavelength_A": self.wavelength_a, "source": self.source,
               "footprint_relation": "Delta(2theta) = L sin(2theta) / D, Gaussian "
                                     "(Smilgies 2009)" if self.footprint_m else None}
        if q is not None:
            out["at_q"] = dict(self.widths(q), q=float(q))
        return out


def instrument_at_incidence(base=None, *, beam_size_mm=None, sample_length_mm=None,
                            incidence_deg=None, distance_m=None, wavelength_a=None):
    """The :class:`Instrument` of one frame: ``base``'s widths plus this incidence's footprint.

    The footprint length (:func:`footprint_length_m`, beam height / sin a_i at most the
    sample length) changes with a_i, so an incidence scan needs one per frame.

    Parameters
    ----------
    base : Instrument, optional
        Resolution model or constant widths (no footprint); None = none.
    beam_size_mm, sample_length_mm : float, optional
        Beam height and sample length (mm); neither = no footprint term (``base``
        returned, or None).
    incidence_deg : float, optional
        This frame's incidence a_i (deg), needed with ``beam_size_mm``.
    distance_m, wavelength_a : float, optional
        Sample-detector distance (m) and wavelength (A) of the footprint width.

    Examples
    --------
    >>> base = Instrument(gaussian_fwhm=0.002, source="--instrument-fwhm")
    >>> [round(instrument_at_incidence(base, beam_size_mm=0.05, incidence_deg=a,
    ...        distance_m=0.3, wavelength_a=1.0).footprint_m * 1e3, 2) for a in (0.2, 0.4)]
    [14.32, 7.16]
    >>> instrument_at_incidence(base) is base
    True
    """
    if beam_size_mm is None and sample_length_mm is None:
        return base
    fp_m, basis = footprint_length_m(beam_size_mm=beam_size_mm,
                                     sample_length_mm=sample_length_mm,
                                     incidence_deg=incidence_deg)
    base = base if base is not None else Instrument()
    return dataclasses.replace(base, footprint_m=fp_m, distance_m=distance_m,
                               wavelength_a=wavelength_a, footprint_basis=basis)


def _sample(f_l, f_g, inst_l, inst_g2, err=(0.0, 0.0)):
    sl = f_l - inst_l
    sg2 = f_g ** 2 - inst_g2
    # a part within one standard error of the instrument's is unresolved: 0
    if abs(sl) <= err[0] and sg2 > 0:
        sl = 0.0
    if abs(sg2) <= 2 * f_g * err[1] and sl > 0:
        sg2 = 0.0
    if sl < 0 and sg2 < 0:
        return float("nan"), sl, sg2
    return olivero_longbothum(max(sl, 0.0), math.sqrt(max(sg2, 0.0))), sl, sg2


def deconvolve(fwhm, *, shape, eta=0.0, fwhm_err=None, instrument_gaussian=0.0,
               instrument_lorentzian=0.0, footprint=0.0, components=None,
               components_err=None):
    """Sample FWHM (1/A) of a peak with the instrument and footprint widths removed.

    Parameters
    ----------
    fwhm : float
        Fitted total FWHM (1/A).
    shape, eta :
        Fitted line shape (see :func:`voigt_components`).
    fwhm_err : float, optional
        Standard error of ``fwhm`` (1/A), for the resolution-limited test.
    instrument_gaussian, instrument_lorentzian, footprint : float
        Instrument Gaussian and Lorentzian FWHMs and the footprint FWHM at this q (1/A).
    components : (float, float), optional
        Measured (f_L, f_G) from :func:`fit_voigt`; from ``shape``/``eta`` when None.
    components_err : (float, float), optional
        Their standard errors: a sample part within one error of zero (f_L - f_L,i, or
        f_G^2 - f_G,i^2 - f_fp^2 within 2 f_G err_G) is taken as 0 (unresolved), so
        that the quadrature does not turn noise into width.

    Returns
    -------
    dict
        ``sample_fwhm`` (Voigt FWHM of the sample part, 1/A; an upper bound when
        ``resolution_limited``), ``sample_lorentzian``, ``sample_gaussian``,
        ``measured_lorentzian``, ``measured_gaussian``, ``instrument_fwhm`` (total, 1/A),
        ``resolution_limited`` (bool), ``lower_bound`` (the coherence length from
        ``sample_fwhm`` is a lower bound) and ``relation`` (text).

    Examples
    --------
    >>> r = deconvolve(0.05, shape="gaussian", instrument_gaussian=0.03)
    >>> round(r["sample_fwhm"], 4)
    0.04
    """
    for name, v in (("fwhm", fwhm), ("instrument_gaussian", instrument_gaussian),
                    ("instrument_lorentzian", instrument_lorentzian), ("footprint", footprint)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a width >= 0 in 1/A, got {v!r}")
    f_l, f_g = components if components is not None else voigt_components(fwhm, shape, eta)
    inst_g2 = instrument_gaussian ** 2 + footprint ** 2
    inst_total = olivero_longbothum(instrument_lorentzian, math.sqrt(inst_g2))
    cerr = tuple(components_err) if components_err is not None else (0.0, 0.0)
    width, sl, sg2 = _sample(f_l, f_g, instrument_lorentzian, inst_g2, cerr)
    err = float(fwhm_err) if fwhm_err is not None and math.isfinite(fwhm_err) else 0.0
    limited = fwhm - inst_total <= err if inst_total > 0 else False
    lower = False
    if limited:
        # upper bound on the sample width: deconvolve (instrument width + error)
        top = max(fwhm, inst_total) + err
        scale = top / olivero_longbothum(f_l, f_g) if olivero_longbothum(f_l, f_g) > 0 else 1
        fl2, fg2 = (f_l * scale, f_g * scale) if components is not None else \
            voigt_components(top, shape, eta)
        width, _, _ = _sample(fl2, fg2, instrument_lorentzian, inst_g2, cerr)
        lower = math.isfinite(width) and width > 0
    relation = ("Voigt: f_L,s = f_L - f_L,i (linear), f_G,s = sqrt(f_G^2 - f_G,i^2 - f_fp^2) "
                "(quadrature), f_V = 0.5346 f_L + sqrt(0.2166 f_L^2 + f_G^2) "
                "(Olivero-Longbothum 1977)")
    if components is not None:
        relation += f"; f_L = {f_l:.5f}, f_G = {f_g:.5f} A^-1 from a Voigt fit"
    elif shape == "pseudo_voigt":
        relation += f"; f_L/F from eta = {eta:.3f} (Thompson-Cox-Hastings 1987)"
    if limited:
        relation += ("; resolution-limited: measured FWHM within its error of the "
                     f"instrument width {inst_total:.5f} A^-1, sample width is an upper "
                     "bound and the coherence length a lower bound")
    elif sl < 0 or sg2 < 0:
        relation += ("; the measured " + ("Lorentzian" if sl < 0 else "Gaussian") +
                     " part is narrower than the instrument's (set to 0)")
    return {"sample_fwhm": width, "sample_lorentzian": max(sl, 0.0),
            "sample_gaussian": math.sqrt(max(sg2, 0.0)), "measured_lorentzian": f_l,
            "measured_gaussian": f_g, "instrument_fwhm": inst_total,
            "resolution_limited": bool(limited), "lower_bound": bool(lower),
            "relation": relation}


def corrected_width(fit, fwhm, instrument_fwhm, *, instrument_lorentzian=0.0, footprint=0.0,
                    x=None, y=None, sigma=None, details=False):
    """(sample FWHM, description) of a fitted peak for the ordering metrics.

    ``fit`` is a :meth:`gixs.peaks.PeakFit.to_dict`; ``instrument_fwhm`` the Gaussian
    instrument FWHM at the peak (1/A), an :class:`Instrument` (its widths at the fitted
    centre are used: resolution model, Lorentzian part and footprint), or None (no
    correction). For a pseudo-Voigt or Lorentzian fit
    with the profile (``x``, ``y``, ``sigma``) given, the measured f_L, f_G come from
    :func:`fit_voigt` over the fit's window; otherwise from the fitted shape. See :func:`deconvolve`.
    With ``details`` a third item is returned: the :func:`deconvolve` dict (None without
    correction) with ``instrument`` (the widths used, 1/A).

    Examples
    --------
    >>> fit = {"shape": "lorentzian", "values": {}, "errors": {"fwhm": 0.001}}
    >>> w, how = corrected_width(fit, 0.05, None)
    >>> w, how
    (0.05, 'none')
    >>> fit = {"shape": "gaussian", "values": {"centre": 1.0}, "errors": {"fwhm": 1e-4}}
    >>> inst = Instrument(gaussian_fwhm=0.03, footprint_m=0.0, distance_m=0.2,
    ...                   wavelength_a=1.0)
    >>> w, how, r = corrected_width(fit, 0.05, inst, details=True)
    >>> round(w, 4), r["lower_bound"]
    (0.04, False)
    """
    used = None
    if isinstance(instrument_fwhm, Instrument):
        centre = fit.get("values", {}).get("centre")
        if centre is None or not math.isfinite(centre):
            raise ValueError("an Instrument needs the fitted centre (fit['values']['centre'])")
        used = instrument_fwhm.widths(float(centre))
        instrument_fwhm, instrument_lorentzian, footprint = (
            used["gaussian"], used["lorentzian"], used["footprint"])
    if instrument_fwhm is None and not footprint and not instrument_lorentzian:
        return (fwhm, "none", None) if details else (fwhm, "none")
    fi = 0.0 if instrument_fwhm is None else float(instrument_fwhm)
    if not (math.isfinite(fi) and fi >= 0):
        raise ValueError(f"instrument_fwhm must be a width >= 0 in 1/A, got {instrument_fwhm!r}")
    comps = comps_err = None
    if x is not None and y is not None and fit["shape"] != "gaussian":
        from gixs.peaks import _BG_PARAMS, background

        vals = fit.get("values", {})
        bg = background(fit["background"], np.asarray(x, float),
                        [vals[n] for n in _BG_PARAMS[fit["background"]]], fit["x0"])
        fl, fg, efl, efg, _ = fit_voigt(x, np.asarray(y, float) - bg, sigma,
                                        centre=vals.get("centre"), fwhm=fwhm,
                                        window=fit.get("window"),
                                        lorentzian_floor=instrument_lorentzian,
                                        gaussian_floor=math.hypot(fi, footprint))
        comps, comps_err = (fl, fg), (efl, efg)
    r = deconvolve(fwhm, shape=fit["shape"], eta=fit.get("values", {}).get("eta", 0.0),
                   fwhm_err=fit.get("errors", {}).get("fwhm"), instrument_gaussian=fi,
                   instrument_lorentzian=instrument_lorentzian, footprint=footprint,
                   components=comps, components_err=comps_err)
    r["instrument"] = used or {"gaussian": fi, "lorentzian": float(instrument_lorentzian),
                               "footprint": float(footprint), "total": r["instrument_fwhm"]}
    if footprint:
        r["relation"] += f"; footprint FWHM {footprint:.5f} A^-1 (in quadrature)"
    if not math.isfinite(r["sample_fwhm"]):
        warnings.warn(f"peak FWHM {fwhm:.5f} A^-1 is not larger than the instrument width "
                      f"{r['instrument_fwhm']:.5f} A^-1: coherence length not resolved",
                      GixsWarning, stacklevel=3)
    return (r["sample_fwhm"], r["relation"], r) if details else (r["sample_fwhm"],
                                                                 r["relation"])


def scherrer_size(fit, instrument=None, *, K=0.9, x=None, y=None, sigma=None):
    """Crystallite size (nm) 2 pi K / FWHM of a fitted Bragg peak (a PeakFit dict).

    The FWHM is the fitted one with the :class:`Instrument`'s widths at the fitted centre
    removed by :func:`corrected_width` (the path of the superlattice coherence length).

    Returns
    -------
    dict
        ``fwhm``, ``fwhm_err``, ``fwhm_corrected`` (1/A; NaN when not resolved),
        ``size_nm``, ``size_is_lower_bound`` (FWHM within its error of the instrument
        width), ``scherrer_K``, ``instrument`` (widths at q, 1/A, or None), ``relation``.

    Examples
    --------
    >>> fit = {"shape": "gaussian", "values": {"centre": 1.0, "fwhm": 0.05},
    ...        "errors": {"fwhm": 1e-4}}
    >>> r = scherrer_size(fit, Instrument(gaussian_fwhm=0.03))
    >>> round(r["fwhm_corrected"], 4), round(r["size_nm"], 2)
    (0.04, 14.14)
    """
    fwhm = float(fit["values"]["fwhm"])
    if not (math.isfinite(fwhm) and fwhm > 0):
        raise ValueError(f"fwhm must be a width > 0 in 1/A, got {fwhm!r}")
    fc, rel, r = corrected_width(fit, fwhm, instrument, x=x, y=y, sigma=sigma, details=True)
    size = 2 * math.pi * K / fc / 10.0 if math.isfinite(fc) and fc > 0 else float("nan")
    return {"fwhm": fwhm, "fwhm_err": float(fit.get("errors", {}).get("fwhm", float("nan"))),
            "fwhm_corrected": float(fc), "size_nm": size,
            "size_is_lower_bound": bool(r and r["lower_bound"]), "scherrer_K": float(K),
            "instrument": None if r is None else r["instrument"], "relation": rel}
