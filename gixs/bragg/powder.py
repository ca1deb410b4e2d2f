"""Lab powder XRD (Bragg-Brentano 2theta scans): K-alpha doublets, zero shift and
sample displacement.

A laboratory tube emits K-alpha1 and K-alpha2 (intensity ratio about 0.5); each
reflection is a doublet, resolved at high 2theta and blended at low 2theta, where one
wavelength biases d by up to the doublet's relative splitting (0.25 % for Cu; 0.08 % is
typical after a centroid correction). Here each found peak is fitted as a doublet whose
K-alpha2 line sits where Bragg's law puts it for ``lambda2`` (same width, intensity
``ratio`` x K-alpha1), so every peak gives a K-alpha1 position and its standard error.

Instrument terms (2theta in deg; Klug & Alexander, *X-ray diffraction procedures*, 2nd
ed. (1974), ch. 5):

* zero shift: ``2theta_obs = 2theta + zero``;
* sample displacement ``s`` (mm) on a goniometer of radius ``R`` (mm):
  ``delta 2theta = -2 s cos(theta) / R`` (rad), so ``s > 0`` (surface below the axis)
  moves peaks to lower 2theta.

:func:`index_doublet_pattern` assigns the K-alpha1 positions with :func:`gixs.bragg.index.assign`
(phases, guard rails and figures of merit as there) and then refines the free lattice
constants of every refined phase together with the zero shift and/or displacement on
the 2theta residuals.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from gixs.errors import IndexingError

#: K-alpha1, K-alpha2 wavelengths (A) by anode: Cu from Hoelzer et al., Phys. Rev. A 56,
#: 4554 (1997) (peak wavelengths); Co, Mo, Ag from Bearden, Rev. Mod. Phys. 39, 78
#: (1967) (A*, within 5 ppm of A). Both as listed in International Tables for
#: Crystallography Vol. C, Table 4.2.2.1.
K_ALPHA = {
    "Cu": (1.5405929, 1.5444274, "Hoelzer et al., Phys. Rev. A 56, 4554 (1997)"),
    "Co": (1.788965, 1.792850, "Bearden, Rev. Mod. Phys. 39, 78 (1967)"),
    "Mo": (0.709300, 0.713590, "Bearden, Rev. Mod. Phys. 39, 78 (1967)"),
    "Ag": (0.5594075, 0.563798, "Bearden, Rev. Mod. Phys. 39, 78 (1967)"),
}

_FWHM = 2 * math.sqrt(2 * math.log(2))


@dataclasses.dataclass(frozen=True)
class Source:
    """A lab X-ray source: K-alpha1 and K-alpha2 wavelengths (A), K-alpha2/K-alpha1
    intensity ratio, and where the wavelengths come from.

    Examples
    --------
    >>> cu = Source("Cu", 1.5405929, 1.5444274)
    >>> q = 2 * math.pi / 3.1356  # Si (111), d = 3.1356 A
    >>> [round(float(cu.two_theta(q, line)), 3) for line in (1, 2)]
    [28.442, 28.514]
    >>> round(float(cu.q(cu.two_theta(q))), 6) == round(q, 6)
    True
    >>> bool(np.isnan(cu.two_theta(9.0)))  # beyond 4 pi / lambda
    True
    """

    name: str
    lambda1: float
    lambda2: float
    ratio: float = 0.5
    reference: str = ""

    def two_theta(self, q, line=1):
        """2theta (deg) of |q| (1/A) for K-alpha1 (``line=1``) or K-alpha2; NaN beyond
        the Ewald limit."""
        lam = self.lambda1 if line == 1 else self.lambda2
        s = np.asarray(q, float) * lam / (4 * math.pi)
        with np.errstate(invalid="ignore"):
            return np.degrees(2 * np.arcsin(np.where(s <= 1, s, np.nan)))

    def q(self, two_theta_deg):
        """|q| (1/A) of a K-alpha1 2theta (deg)."""
        from gixs.units import two_theta_deg_to_q

        return two_theta_deg_to_q(two_theta_deg, self.lambda1)


def source(name, ratio=0.5) -> Source:
    """The K-alpha doublet of an anode by name ("Cu", "Co", "Mo", "Ag").

    Examples
    --------
    >>> s = source("Cu")
    >>> s.lambda1, s.lambda2, s.ratio
    (1.5405929, 1.5444274, 0.5)
    >>> round(float(s.two_theta(2 * 3.14159265 / 3.1356)), 3)  # Si (111), d = 3.1356 A
    28.442
    """
    key = str(name).strip().capitalize()
    if key.endswith("ka") or key.endswith("kalpha"):
        key = key[:2]
    if key not in K_ALPHA:
        raise ValueError(f"source must be one of {', '.join(K_ALPHA)} (K-alpha), got "
                         f"{name!r}")
    if not 0 <= ratio <= 1:
        raise ValueError(f"K-alpha2/K-alpha1 ratio must lie within 0-1, got {ratio}")
    l1, l2, ref = K_ALPHA[key]
    return Source(key, l1, l2, float(ratio), ref)


def instrument_shift(two_theta_deg, zero_deg=0.0, displacement_mm=0.0,
                     radius_mm=None):
    """2theta offset (deg) of zero shift and sample displacement at true 2theta (deg).

    Examples
    --------
    >>> round(float(instrument_shift(30.0, 0.0, 0.1, 240.0)), 5)  # 100 um on 240 mm
    -0.04612
    """
    t = np.radians(np.asarray(two_theta_deg, float)) / 2
    shift = np.full(t.shape, float(zero_deg))
    if displacement_mm:
        if not radius_mm or radius_mm <= 0:
            raise ValueError("a sample displacement needs the goniometer radius (mm)")
        shift = shift + np.degrees(-2 * displacement_mm * np.cos(t) / radius_mm)
    return shift


def kalpha2_position(two_theta1_deg, src: Source):
    """2theta (deg) of the K-alpha2 line of a reflection whose K-alpha1 is at 2theta1.

    Parameters
    ----------
    two_theta1_deg : float or array_like
        K-alpha1 position (deg).
    src : Source
        The tube's doublet.

    Returns
    -------
    ndarray
        K-alpha2 position (deg); NaN beyond 180 deg.

    Examples
    --------
    The doublet splits with 2theta (Cu: 0.07 deg at 28 deg, 0.25 deg at 88 deg):

    >>> np.round(kalpha2_position([28.442, 88.0], source("Cu")), 4).tolist()
    [28.5143, 88.2758]
    """
    s = np.sin(np.radians(np.asarray(two_theta1_deg, float)) / 2) * src.lambda2 / src.lambda1
    with np.errstate(invalid="ignore"):
        return np.degrees(2 * np.arcsin(np.where(s <= 1, s, np.nan)))


@dataclasses.dataclass(frozen=True)
class Doublet:
    """A K-alpha doublet fitted in a 2theta scan: K-alpha1 position and its standard
    error (deg), K-alpha1 height above background, FWHM of each line (deg), area of
    both lines (deg x intensity), significance of the found peak.

    Examples
    --------
    >>> d = Doublet(two_theta=28.442, sigma=0.0004, height=1000.0, fwhm=0.08, area=128.0,
    ...             snr=70.0)
    >>> d.two_theta, d.fwhm
    (28.442, 0.08)
    """

    two_theta: float
    sigma: float
    height: float
    fwhm: float
    area: float
    snr: float


def fit_doublets(two_theta, intensity, src: Source, *, fwhm=None, min_snr=5.0):
    """Find peaks in a 2theta scan and fit each as a K-alpha doublet.

    Peaks are found with :func:`gixs.bragg.spots.detect_peaks_1d`; a found peak sitting
    where another's K-alpha2 line falls (within half a FWHM, lower) is that doublet's
    second line, not a reflection. Each doublet is fitted on
    ``[2th1 - 2 FWHM, 2th2 + 2 FWHM]`` with two Gaussians of one width, the second at
    :func:`kalpha2_position` with ``src.ratio`` of the first's height, on a linear
    background. Returns Doublets sorted by 2theta.

    Parameters
    ----------
    two_theta : array_like
        Scan abscissa (deg).
    intensity : array_like
        Counts per step.
    src : Source
        The tube's K-alpha doublet.
    fwhm : float, optional
        Line FWHM (deg); the median of the found peaks' widths when omitted.
    min_snr : float
        Detection threshold (sigma).

    Returns
    -------
    list of Doublet
        Sorted by K-alpha1 2theta (deg).

    Examples
    --------
    A Poisson scan of three Cu doublets (K-alpha2 at half height, 0.08 deg FWHM):

    >>> cu = source("Cu")
    >>> x = np.arange(25.0, 95.0, 0.01)
    >>> def line(c, h):
    ...     return h * np.exp(-0.5 * ((x - c) / (0.08 / _FWHM)) ** 2)
    >>> y = 20.0 + sum(line(c, h) + line(float(kalpha2_position(c, cu)), 0.5 * h)
    ...                for c, h in ((28.442, 1000), (47.303, 600), (88.03, 300)))
    >>> y = np.random.default_rng(0).poisson(y).astype(float)
    >>> found = fit_doublets(x, y, cu)
    >>> [round(d.two_theta, 2) for d in found], all(d.sigma < 0.001 for d in found)
    ([28.44, 47.3, 88.03], True)
    >>> [round(d.fwhm, 2) for d in found]
    [0.08, 0.08, 0.08]
    """

    from gixs.bragg.spots import detect_peaks_1d

    x = np.asarray(two_theta, float)
    y = np.asarray(intensity, float)
    found = detect_peaks_1d(x, y, fwhm=fwhm, min_snr=min_snr)
    if not found:
        return []
    width = float(np.median([p.fwhm for p in found])) if fwhm is None else float(fwhm)
    found = sorted(found, key=lambda p: p.x)
    second = set()
    for i, p in enumerate(found):
        if i in second:
            continue
        x2 = float(kalpha2_position(p.x, src))
        for j in range(i + 1, len(found)):
            o = found[j]
            if abs(o.x - x2) < width / 2 and o.height < p.height:
                second.add(j)
    out = []
    for i, p in enumerate(found):
        if i in second:
            continue
        d = _fit_doublet(x, y, p, src, width)
        if d is not None:
            out.append(d)
    return sorted(out, key=lambda d: d.two_theta)


def _fit_doublet(x, y, peak, src, width):
    split = float(kalpha2_position(peak.x, src)) - peak.x
    if not np.isfinite(split):
        return None
    # a blended peak's centre sits near the doublet's centroid: start K-alpha1 below it
    c0 = peak.x - (src.ratio / (1 + src.ratio)) * split * (1 if split < peak.fwhm else 0)
    sel = (x >= c0 - 2 * width) & (x <= c0 + split + 2 * width) & np.isfinite(y)
    if sel.sum() < 7:
        return None
    xs, ys = x[sel], y[sel]
    s0 = max(width, 1e-6) / _FWHM

    def model(p):
        c2 = kalpha2_position(p[1], src)
        g1 = np.exp(-0.5 * ((xs - p[1]) / p[2]) ** 2)
        g2 = np.exp(-0.5 * ((xs - c2) / p[2]) ** 2)
        return p[0] * (g1 + src.ratio * g2) + p[3] + p[4] * (xs - c0)
    base = float(np.median(ys[:3])) if len(ys) >= 3 else 0.0
    p0 = [max(peak.height, 1e-12), c0, s0, base, 0.0]
    lo = [0, xs[0], s0 / 10, -np.inf, -np.inf]
    hi = [np.inf, xs[-1], s0 * 5, np.inf, np.inf]
    from gixs.bragg.spots import lm_fit

    fit = lm_fit(lambda p: model(p) - ys, p0, lo, hi, abs_index=(2,))
    if fit is None:
        return None
    p = fit.x
    if not p[0] > 0:
        return None
    dof = max(len(ys) - len(p), 1)
    try:
        cov = np.linalg.inv(fit.jac.T @ fit.jac) * float(fit.fun @ fit.fun) / dof
        sigma = float(math.sqrt(cov[1, 1])) if cov[1, 1] >= 0 else float("nan")
    except np.linalg.LinAlgError:
        sigma = float("nan")
    area = p[0] * p[2] * math.sqrt(2 * math.pi) * (1 + src.ratio)
    return Doublet(float(p[1]), sigma, float(p[0]), float(p[2] * _FWHM), float(area),
                   float(peak.snr))


def index_doublet_pattern(two_theta, intensity, phases, src: Source, *, refine=True,
                  refine_zero=True, refine_displacement=False, radius_mm=None,
                  zero_deg=0.0, displacement_mm=0.0, fwhm=None, min_snr=5.0, tol=None,
                  scale_range=0.05, iterations=3):
    """Index a lab 2theta scan: K-alpha doublets, lattices, zero shift, displacement.

    Parameters
    ----------
    two_theta, intensity : array_like
        The scan (2theta in deg, increasing).
    phases : sequence
        As for :func:`gixs.bragg.index.assign` (random powders).
    src : Source
        The tube's K-alpha doublet (:func:`source`).
    refine : bool
        Refine the lattices (and the instrument terms asked for).
    refine_zero, refine_displacement : bool
        Refine the zero shift (deg) and/or the sample displacement (mm; needs
        ``radius_mm``, the goniometer radius).
    zero_deg, displacement_mm : float
        Start (or fixed) values.
    fwhm : float, optional
        Expected line FWHM (deg); default from the found peaks.

    Returns
    -------
    (IndexResult, dict)
        The assignment (q of the K-alpha1 positions corrected for the refined instrument
        terms; lattices from the joint refinement) and the instrument terms:
        ``zero_deg``, ``displacement_mm`` with ``*_error``, wavelengths, ratio, notes.

    Examples
    --------
    >>> import numpy as np
    >>> from gixs.bragg.phases import builtin_phase
    >>> si, cu = builtin_phase("Si"), source("Cu")
    >>> tt = np.arange(20, 120, 0.01)
    >>> r = si.reflections(cu.q(118.0))
    >>> y = 5.0 + sum(1000 * (np.exp(-0.5 * ((tt - t1 - 0.03) / 0.04) ** 2)
    ...                      + 0.5 * np.exp(-0.5 * ((tt - kalpha2_position(t1, cu) - 0.03)
    ...                                              / 0.04) ** 2))
    ...               for t1 in cu.two_theta(r.q))
    >>> res, inst = index_doublet_pattern(tt, y, [si], cu)
    >>> round(inst["zero_deg"], 3), abs(res.phases[0]["lattice"]["a"] - si.a) < 1e-4
    (0.03, True)
    """
    from gixs.bragg.index import PhaseModel, as_models, assign

    if refine_displacement and not (radius_mm and radius_mm > 0):
        raise ValueError("refining the sample displacement needs the goniometer radius "
                         "(radius_mm > 0)")
    doublets = fit_doublets(two_theta, intensity, src, fwhm=fwhm, min_snr=min_snr)
    if not doublets:
        raise IndexingError(f"no peak above min_snr {min_snr} in the 2theta scan")
    # a lab scan is a random powder: the models' texture (if any) does not apply
    models = [dataclasses.replace(m, orientation=None) for m in as_models(phases)]
    t_obs = np.array([d.two_theta for d in doublets])
    t_sig = np.array([d.sigma for d in doublets])
    t_sig = np.where(np.isfinite(t_sig) & (t_sig > 0), t_sig, np.nanmedian(t_sig))
    t_sig = np.maximum(np.nan_to_num(t_sig, nan=1e-3), 1e-5)
    zero, disp = float(zero_deg), float(displacement_mm)
    inst_err = {}
    notes = [f"source {src.name} K-alpha1 {src.lambda1} A, K-alpha2 {src.lambda2} A, "
             f"ratio {src.ratio:g} ({src.reference})"]
    n_inst = int(refine and refine_zero) + int(refine and refine_displacement)
    lattices = [m.phase for m in models]
    result, joint, errs = None, False, {}
    for it in range(iterations):
        rows = _peak_rows(t_obs, t_sig, doublets, src, zero, disp, radius_mm)
        start = [PhaseModel(lat, None, refine=m.refine) for lat, m in zip(lattices, models)]
        result = assign(rows, start if it else models, refine=refine and it == 0, tol=tol,
                        scale_range=scale_range, wavelength_a=src.lambda1,
                        powder_geometry="bragg_brentano")
        if it == 0:
            first = result  # the refined assignment: its guard rails and warnings
        if not refine:
            break
        lattices = [m[0] for m in result.models]
        fit, why_not = _joint_fit(result, [bool(p.get("refined")) for p in first.phases],
                                  models, lattices, t_obs, t_sig, src, zero, disp, radius_mm,
                                  refine_zero, refine_displacement)
        if fit is None:
            if why_not:
                result = dataclasses.replace(result, notes=result.notes + (why_not,))
            break
        lattices, zero, disp, errs, inst_err = fit
        joint = True
    if joint:
        rows = _peak_rows(t_obs, t_sig, doublets, src, zero, disp, radius_mm)
        result = assign(rows, [PhaseModel(lat, None, refine=False) for lat in lattices],
                        refine=False, tol=tol, scale_range=scale_range,
                        wavelength_a=src.lambda1, powder_geometry="bragg_brentano")
        phases = []
        for k, ph in enumerate(result.phases):
            old = first.phases[k]
            refined = bool(old.get("refined")) and models[k].refine
            phases.append(dict(ph, initial=models[k].phase.constants,
                               warnings=list(old.get("warnings", [])), refined=refined,
                               errors=errs.get(k, {}) if refined else {},
                               fit={"n_residuals": len(t_obs), "free_instrument_terms": n_inst,
                                    "position_errors": "doublet fits (2theta)"}))
        result = dataclasses.replace(result, phases=phases, notes=tuple(
            n for n in first.notes if n.startswith("WARNING")
            or n.startswith("instrument")) + result.notes)
    result = dataclasses.replace(result, notes=tuple(notes) + result.notes)
    inst = {"source": src.name, "lambda1_A": src.lambda1, "lambda2_A": src.lambda2,
            "ka2_ratio": src.ratio, "reference": src.reference, "zero_deg": zero,
            "zero_deg_error": inst_err.get("zero"), "displacement_mm": disp,
            "displacement_mm_error": inst_err.get("displacement"),
            "goniometer_radius_mm": radius_mm,
            "doublets": [dataclasses.asdict(d) for d in doublets]}
    return result, inst


def _peak_rows(t_obs, t_sig, doublets, src, zero, disp, radius_mm):
    """K-alpha1 positions as |q| peaks (1/A) after removing the instrument terms."""
    true = t_obs - instrument_shift(t_obs, zero, disp, radius_mm)
    q = src.q(true)
    dq_dt = 4 * math.pi * np.cos(np.radians(true) / 2) / src.lambda1 * math.radians(1) / 2
    fw = np.array([d.fwhm for d in doublets]) * dq_dt
    return [{"q": float(qq), "sigma_q": float(s * g), "fwhm": float(f),
             "intensity": float(d.area), "two_theta": float(t)}
            for qq, s, g, f, d, t in zip(q, t_sig, dq_dt, fw, doublets, t_obs)]


def _joint_fit(result, refined, models, lattices, t_obs, t_sig, src, zero, disp, radius_mm,
               refine_zero, refine_displacement):
    """Least squares of every refined phase's free constants + instrument terms on the
    K-alpha1 2theta residuals (deg / sigma): (fit, None), or (None, why) when too few
    peaks for the terms (why is None when no instrument term is asked)."""
    names = {p["name"]: k for k, p in enumerate(result.phases)}
    rows = []
    for p in result.peaks:
        if p["ambiguous"] and any(a["phase"] != p["phase"] for a in p["alternatives"]):
            continue
        rows.append((p["index"], names[p["phase"]], tuple(p["hkl"])))
    layout = []
    for k, (m, lat) in enumerate(zip(models, lattices)):
        if m.refine and refined[k]:
            layout += [(k, f) for f in lat.free_parameters]
    inst = (["zero"] if refine_zero else []) + (["displacement"] if refine_displacement
                                                 else [])
    n_free = len(layout) + len(inst)
    if not inst or len(rows) < n_free + 2:
        return None, (f"instrument terms not refined: {len(rows)} assigned peaks for "
                      f"{n_free} free parameters (needs >= {n_free + 2})" if inst else None)
    idx = np.array([r[0] for r in rows])
    ph_of = np.array([r[1] for r in rows])
    hkl = np.array([r[2] for r in rows], int)
    groups = [(k, np.nonzero(ph_of == k)[0]) for k in sorted(set(ph_of.tolist()))]

    def unpack(v):
        lats = list(lattices)
        per = {}
        for (k, f), val in zip(layout, v):
            per.setdefault(k, {})[f] = val
        for k, vals in per.items():
            lats[k] = lattices[k].with_parameters(**vals)
        z = v[len(layout)] if refine_zero else zero
        s = v[-1] if refine_displacement else disp
        return lats, z, s

    def resid(v):
        lats, z, s = unpack(v)
        q = np.empty(len(rows))
        for k, sel in groups:
            q[sel] = lats[k].q_of(hkl[sel])
        t = src.two_theta(q)
        return (t_obs[idx] - t - instrument_shift(t, z, s, radius_mm)) / t_sig[idx]
    x0 = [getattr(lattices[k], f) for k, f in layout]
    x0 += ([zero] if refine_zero else []) + ([disp] if refine_displacement else [])
    x0 = np.array(x0, float)
    # soft-L1 beyond 3 sigma: a blended or misread line weighs less (as in assign)
    fit = optimize.least_squares(resid, x0, x_scale=np.r_[np.abs(x0[:len(layout)]) * 1e-3
                                                          + 1e-4, [0.01] * len(inst)],
                                 loss="soft_l1", f_scale=3.0)
    dof = max(len(rows) - n_free, 1)
    s2 = max(1.0, float(fit.fun @ fit.fun) / dof)
    cov = np.linalg.pinv(fit.jac.T @ fit.jac) * s2
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    lats, z, s = unpack(fit.x)
    errs = {}
    for (k, f), e in zip(layout, err):
        errs.setdefault(k, {})[f] = float(e)
    inst_err = {}
    if refine_zero:
        inst_err["zero"] = float(err[len(layout)])
    if refine_displacement:
        inst_err["displacement"] = float(err[-1])
    return (lats, float(z), float(s), errs, inst_err), None
