"""Find and fit peaks on 1D profiles (q in 1/A, or any abscissa).

Two steps, usable on their own (superlattice metrics in :mod:`gixs.superlattice.ordering`, Bragg
indexing later):

* :func:`find_peaks` finds local maxima of the (scale-normalised) negative curvature
  of the profile over a range of smoothing scales. Straight, power-law and flat
  backgrounds have no such interior maximum; a peak has one even when it shows only
  as a shoulder on a steep low-q slope. Each candidate gets a significance: the
  response divided by its noise propagated from the profile's sigma.
* :func:`fit_peak` fits peak shape + background in a window, trying every pair of
  shape (``gaussian``, ``lorentzian``, ``pseudo_voigt``) and background (``linear``,
  ``powerlaw``, ``powerlaw_const``) and keeping the one with the lowest BIC (AIC is
  reported too). Standard errors come from the covariance matrix (weights 1/sigma^2),
  multiplied by sqrt(reduced chi2) when that exceeds 1 (the data scatter more than
  the stated sigma). The peak is tested against the background-only model by an
  F-test; its p-value is part of the result.

Line shapes are parameterised by ``height`` (above background), ``centre`` and
``fwhm`` (same unit as x); the pseudo-Voigt also by ``eta`` (Lorentzian fraction, 0-1).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from scipy import optimize, signal, stats

SHAPES = ("gaussian", "lorentzian", "pseudo_voigt")
BACKGROUNDS = ("linear", "powerlaw", "powerlaw_const")
_GAUSS_AREA = math.sqrt(math.pi / (4 * math.log(2)))  # area / (height * fwhm)
_LOR_AREA = math.pi / 2


# -- line shapes (pure functions) ---------------------------------------------------
def gaussian(x, height, centre, fwhm):
    """Gaussian of peak ``height`` at ``centre`` with full width at half maximum ``fwhm``."""
    return height * np.exp(-4 * math.log(2) * ((x - centre) / fwhm) ** 2)


def lorentzian(x, height, centre, fwhm):
    """Lorentzian (Cauchy) of peak ``height`` at ``centre`` and FWHM ``fwhm``."""
    return height / (1 + 4 * ((x - centre) / fwhm) ** 2)


def pseudo_voigt(x, height, centre, fwhm, eta):
    """Pseudo-Voigt ``eta * Lorentzian + (1 - eta) * Gaussian``, same height and FWHM."""
    return eta * lorentzian(x, height, centre, fwhm) + (1 - eta) * gaussian(x, height, centre,
                                                                             fwhm)


def shape_area(shape, height, fwhm, eta=0.0):
    """Integrated area of a line shape (height x fwhm x shape factor)."""
    if shape == "gaussian":
        return height * fwhm * _GAUSS_AREA
    if shape == "lorentzian":
        return height * fwhm * _LOR_AREA
    return height * fwhm * ((1 - eta) * _GAUSS_AREA + eta * _LOR_AREA)


_SHAPE_FUNCS = {"gaussian": gaussian, "lorentzian": lorentzian, "pseudo_voigt": pseudo_voigt}
_SHAPE_PARAMS = {"gaussian": ("height", "centre", "fwhm"),
                 "lorentzian": ("height", "centre", "fwhm"),
                 "pseudo_voigt": ("height", "centre", "fwhm", "eta")}
_BG_PARAMS = {"linear": ("bg0", "bg1"), "powerlaw": ("bg_amp", "bg_exp"),
              "powerlaw_const": ("bg_amp", "bg_exp", "bg_const")}


def background(kind, x, params, x0):
    """Background ``kind`` at x; ``x0`` is the reference abscissa (the peak guess).

    ``linear``: bg0 + bg1 (x - x0); ``powerlaw``: bg_amp (x / x0)^-bg_exp;
    ``powerlaw_const``: bg_amp (x / x0)^-bg_exp + bg_const.
    """
    if kind == "linear":
        return params[0] + params[1] * (x - x0)
    val = params[0] * (np.abs(x) / x0) ** (-params[1])
    return val + params[2] if kind == "powerlaw_const" else val


# -- results ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PeakCandidate:
    """A local excess over the smooth background found by :func:`find_peaks`.

    Attributes
    ----------
    x : float
        Position (unit of the profile's x).
    height : float
        Estimated height above the local background (intensity unit), from the
        curvature response (exact for a Gaussian detected at its own scale).
    baseline : float
        Profile value at ``x`` minus ``height``.
    fwhm : float
        Width estimate, 2.355 x the best detection scale (x unit).
    snr : float
        Curvature response over its propagated noise at that scale.
    index : int
        Index of ``x`` among the finite points of the profile, sorted by x.
    """

    x: float
    height: float
    baseline: float
    fwhm: float
    snr: float
    index: int


@dataclasses.dataclass(frozen=True)
class PeakFit:
    """One fitted peak (the model with the lowest BIC among those tried).

    Attributes
    ----------
    model : str
        ``"<shape>+<background>"``, e.g. ``"gaussian+powerlaw"``.
    shape, background : str
        The parts of ``model``.
    values, errors : dict
        Fitted parameters and standard errors: ``height``, ``centre``, ``fwhm``
        (``eta``), background parameters, and derived ``area``.
    x0 : float
        Reference abscissa of the background formula.
    chi2, redchi : float
        Chi-square and reduced chi-square of the fit.
    dof : int
        Degrees of freedom.
    aic, bic : float
        Akaike and Bayesian information criteria (Gaussian likelihood, up to a constant).
    error_scale : float
        Factor applied to the covariance errors: sqrt(redchi) when redchi > 1, else 1.
    f_test_p : float
        p-value of the F-test of this model against background alone (small = real peak).
    window : (float, float)
        x range of the fitted points.
    candidates : tuple of dict
        Every model tried, with its chi2, AIC and BIC, best first.
    """

    model: str
    shape: str
    background: str
    values: dict
    errors: dict
    x0: float
    chi2: float
    redchi: float
    dof: int
    aic: float
    bic: float
    error_scale: float
    f_test_p: float
    window: tuple
    candidates: tuple = ()

    def peak(self, x):
        """The fitted line shape alone (no background) at ``x``."""
        p = [self.values[k] for k in _SHAPE_PARAMS[self.shape]]
        return _SHAPE_FUNCS[self.shape](np.asarray(x, float), *p)

    def baseline(self, x):
        """The fitted background alone at ``x``."""
        p = [self.values[k] for k in _BG_PARAMS[self.background]]
        return background(self.background, np.asarray(x, float), p, self.x0)

    def __call__(self, x):
        """Peak plus background at ``x``."""
        return self.peak(x) + self.baseline(x)

    @property
    def significance(self) -> float:
        """Fitted height over its standard error."""
        err = self.errors.get("height", float("nan"))
        return self.values["height"] / err if err > 0 else float("inf")

    def to_dict(self) -> dict:
        return {"model": self.model, "shape": self.shape, "background": self.background,
                "values": dict(self.values), "errors": dict(self.errors), "x0": self.x0,
                "chi2": self.chi2, "redchi": self.redchi, "dof": self.dof, "aic": self.aic,
                "bic": self.bic, "error_scale": self.error_scale, "f_test_p": self.f_test_p,
                "window": list(self.window), "models_tried": list(self.candidates)}


# -- finding ------------------------------------------------------------------------
def _arrays(profile_or_x, y, sigma):
    if y is None:
        if not hasattr(profile_or_x, "valid"):
            raise TypeError("give a Profile, or the arrays x and y")
        prof = profile_or_x.valid()
        x, y, sigma = prof.x, prof.intensity, prof.sigma
    else:
        x = profile_or_x
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    sigma = None if sigma is None else np.asarray(sigma, float)
    if x.shape != y.shape or (sigma is not None and sigma.shape != x.shape):
        raise ValueError(f"x, y and sigma must have the same shape, got {x.shape}, "
                         f"{y.shape}, {None if sigma is None else sigma.shape}")
    return x, y, sigma


def noise_level(y, sigma=None):
    """Per-point noise: the stated sigma, raised to the scatter of y about a 3-point
    running mean (robust, from the median absolute deviation) when the data scatter
    clearly more (> 1.5x) than stated; that scatter alone when no sigma is given."""
    resid = y[1:-1] - (y[:-2] + y[1:-1] + y[2:]) / 3
    # Var(y_i - mean3) = (2/3) s^2 for white noise of s per point.
    emp = 1.4826 * np.median(np.abs(resid - np.median(resid))) / math.sqrt(2 / 3) \
        if resid.size >= 5 else 0.0
    if sigma is None:
        return np.full_like(y, max(emp, 1e-300))
    good = np.isfinite(sigma) & (sigma > 0)
    med = float(np.median(sigma[good])) if good.any() else emp
    sig = np.where(good, sigma, med)
    return sig * (emp / med if med > 0 and emp > 1.5 * med else 1.0)


def _pad_linear(y, npad, nfit):
    """y extended by ``npad`` points at each end along a straight line fitted to the
    ``nfit`` end points (so a slope at the data edge adds no curvature)."""
    n = y.size
    nfit = int(min(max(nfit, 2), n))
    k = np.arange(nfit)
    lo = np.polyfit(k, y[:nfit], 1)
    hi = np.polyfit(k, y[-nfit:], 1)
    left = np.polyval(lo, np.arange(-npad, 0))
    right = np.polyval(hi, np.arange(nfit, nfit + npad))
    return np.concatenate([left, y, right])


def curvature_response(y, noise, scale):
    """Scale-normalised negative curvature ``-s^2 d2/dk2 (G_s * y)`` and its noise.

    ``scale`` is the Gaussian sigma in bins. For a Gaussian peak of height H and
    sigma s (bins) the response at its centre is H / (2 sqrt 2); a straight line gives 0.
    """
    s = float(scale)
    half = int(math.ceil(4 * s))
    k = np.arange(-half, half + 1, dtype=float)
    g = np.exp(-0.5 * (k / s) ** 2) / (math.sqrt(2 * math.pi) * s)
    kern = -(s * s) * (k * k / s ** 4 - 1 / s ** 2) * g
    kern -= kern.mean()  # exact zero response to a constant
    kern -= k * (k @ kern) / (k @ k)  # and to a slope
    yp = _pad_linear(y, half, max(3, int(s)))
    resp = np.convolve(yp, kern, mode="same")[half:-half]
    vp = np.concatenate([np.full(half, noise[0] ** 2), noise ** 2, np.full(half, noise[-1] ** 2)])
    var = np.convolve(vp, kern ** 2, mode="same")[half:-half]
    return resp, np.sqrt(var)


def find_peaks(profile_or_x, y=None, sigma=None, *, x_range=None, min_snr=5.0,
               min_scale=1.0, max_scale=None, edge_bins=3):
    """Candidate peaks of a profile, most significant first.

    A scale-space detector: the profile is convolved with scale-normalised second
    derivatives of Gaussians (sigma from ``min_scale`` bins up to ``max_scale``);
    a peak is a local maximum of the negative curvature at some scale. Smooth
    backgrounds (straight, power-law, a knee with its top beyond the data edge)
    give no interior maximum. Significance = response / its propagated noise, at the
    scale where it is highest; that scale gives the width estimate (FWHM = 2.355 s).

    Parameters
    ----------
    profile_or_x : Profile or array
        A :class:`gixs.results.Profile` (its valid bins are used), or the abscissa
        (regularly spaced, e.g. bin centres).
    y, sigma : array, optional
        Intensity and its standard error when ``profile_or_x`` is an array.
    x_range : (float, float), optional
        Only report maxima in this range (the whole profile is filtered).
    min_snr : float
        Keep candidates at least this many sigma above noise.
    min_scale, max_scale : float
        Smallest and largest Gaussian sigma tried (bins); default largest = n/8.
    edge_bins : int
        Ignore maxima closer than this (or than one scale) to the data ends.

    Returns
    -------
    list of PeakCandidate
    """
    x, y, sigma = _arrays(profile_or_x, y, sigma)
    order = np.argsort(x)
    x, y = x[order], y[order]
    sigma = None if sigma is None else sigma[order]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    sigma = None if sigma is None else sigma[keep]
    n = x.size
    if n < 2 * edge_bins + 8:
        return []
    noise = noise_level(y, sigma)
    dx = float(np.median(np.diff(x)))
    max_scale = max_scale or max(n / 8.0, min_scale)
    scales = []
    s = float(min_scale)
    while s <= max_scale:
        scales.append(s)
        s *= 1.25
    found = []
    for s in scales:
        resp, rnoise = curvature_response(y, noise, s)
        snr = resp / np.maximum(rnoise, 1e-300)
        margin = max(edge_bins, int(math.ceil(1.5 * s)))
        idx, _ = signal.find_peaks(resp)
        for i in idx:
            if i < margin or i >= n - margin or snr[i] < min_snr:
                continue
            if x_range is not None and not x_range[0] <= x[i] <= x_range[1]:
                continue
            found.append((float(snr[i]), int(i), s, float(resp[i])))
    found.sort(key=lambda t: -t[0])
    out = []
    for snr_i, i, s, r in found:
        fwhm = 2.3548 * s * dx
        if any(abs(x[i] - c.x) < 0.75 * max(c.fwhm, fwhm) for c in out):
            continue
        height = 2 * math.sqrt(2) * r
        out.append(PeakCandidate(float(x[i]), float(height), float(y[i] - height), fwhm,
                                 snr_i, int(i)))
    return out


# -- fitting ------------------------------------------------------------------------
def _fit_one(shape, bg, x, y, w_sigma, guess, x0, numeric_jac=False):
    names = _SHAPE_PARAMS[shape] + _BG_PARAMS[bg]
    h, c, f = guess["height"], guess["centre"], guess["fwhm"]
    span = x[-1] - x[0]
    dx = float(np.median(np.diff(x))) if x.size > 1 else span
    p0 = [h, c, f] + ([0.3] if shape == "pseudo_voigt" else [])
    lo = [0.0, x[0], dx * 0.3] + ([0.0] if shape == "pseudo_voigt" else [])
    hi = [np.inf, x[-1], span * 2] + ([1.0] if shape == "pseudo_voigt" else [])
    bgp, bglo, bghi = _bg_guess(bg, x, y, guess, x0)
    p0, lo, hi = p0 + bgp, lo + bglo, hi + bghi
    p0 = _inside(p0, lo, hi)
    popt, pcov, chi2 = _least_squares(_model(shape, bg, x0), _model_jacobian(shape, bg, x0),
                                      x, y, w_sigma, p0, lo, hi, numeric_jac)
    return names, popt, pcov, chi2


def _bg_guess(bg, x, y, guess, x0):
    c, f = guess["centre"], guess["fwhm"]
    out = np.abs(x - c) > f
    xs, ys = (x[out], y[out]) if out.sum() >= 4 else (x, y)
    if bg == "linear":
        b1, b0 = np.polyfit(xs - x0, ys, 1)
        return [float(b0), float(b1)], [-np.inf, -np.inf], [np.inf, np.inf]
    pos = ys > 0
    if pos.sum() >= 2:
        slope, icpt = np.polyfit(np.log(xs[pos] / x0), np.log(ys[pos]), 1)
        amp, ex = float(np.exp(icpt)), float(-slope)
    else:
        amp, ex = float(max(np.median(ys), 1e-12)), 1.0
    ex = float(np.clip(ex, -5.9, 7.9))
    if bg == "powerlaw":
        return [amp, ex], [0.0, -6.0], [np.inf, 8.0]
    return [amp * 0.8, max(ex, 0.5), amp * 0.2], [0.0, -6.0, -np.inf], [np.inf, 8.0, np.inf]


def _inside(p0, lo, hi):
    """Starting values moved strictly inside finite bounds."""
    p0, lo, hi = (np.asarray(v, float) for v in (p0, lo, hi))
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    lo_in = np.where(np.isfinite(lo), lo + 1e-9 * span, -np.inf)
    hi_in = np.where(np.isfinite(hi), hi - 1e-9 * span, np.inf)
    return np.clip(p0, lo_in, hi_in)


def _model(shape, bg, x0):
    f = _SHAPE_FUNCS[shape]
    n = len(_SHAPE_PARAMS[shape])

    def func(x, *p):
        return f(x, *p[:n]) + background(bg, x, p[n:], x0)
    return func


def shape_jacobian(shape, x, height, centre, fwhm, eta=0.0):
    """Analytic partial derivatives of a line shape, one column per parameter.

    Columns in the order of the shape's parameters: ``height``, ``centre``, ``fwhm``
    (and ``eta`` for the pseudo-Voigt); rows follow ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> j = shape_jacobian("gaussian", np.array([0.0, 0.5]), 2.0, 0.0, 1.0)
    >>> np.round(j[:, 0], 6).tolist()  # d/d height = the unit-height shape
    [1.0, 0.5]
    """
    u = (x - centre) / fwhm
    cols = []
    if shape in ("gaussian", "pseudo_voigt"):
        a = 4 * math.log(2)
        e = np.exp(-a * u * u)
        g = np.stack([e, height * e * 2 * a * u / fwhm, height * e * 2 * a * u * u / fwhm],
                     axis=1)
        cols.append(g)
    if shape in ("lorentzian", "pseudo_voigt"):
        d = 1.0 / (1 + 4 * u * u)
        t = height * 8 * u * d * d / fwhm
        cols.append(np.stack([d, t, t * u], axis=1))
    if shape != "pseudo_voigt":
        return cols[0]
    g, lor = cols
    jac = np.empty((x.size, 4))
    jac[:, :3] = eta * lor + (1 - eta) * g
    jac[:, 3] = height * (lor[:, 0] - g[:, 0])
    return jac


def background_jacobian(kind, x, params, x0):
    """Analytic partial derivatives of :func:`background` (one column per parameter)."""
    if kind == "linear":
        return np.stack([np.ones_like(x), x - x0], axis=1)
    ratio = np.abs(x) / x0
    base = ratio ** (-params[1])
    cols = [base, -params[0] * base * np.log(ratio)]
    if kind == "powerlaw_const":
        cols.append(np.ones_like(x))
    return np.stack(cols, axis=1)


def _model_jacobian(shape, bg, x0):
    n = len(_SHAPE_PARAMS[shape])

    def jac(x, *p):
        return np.concatenate([shape_jacobian(shape, x, *p[:n]),
                               background_jacobian(bg, x, p[n:], x0)], axis=1)
    return jac


def _bg_only(bg, x, y, w_sigma, guess, x0, numeric_jac=False):
    p0, lo, hi = _bg_guess(bg, x, y, guess, x0)
    p0 = _inside(p0, lo, hi)

    def func(xx, *p):
        return background(bg, xx, p, x0)

    def jac(xx, *p):
        return background_jacobian(bg, xx, p, x0)
    return _least_squares(func, jac, x, y, w_sigma, p0, lo, hi, numeric_jac)[2]


def _least_squares(func, jac, x, y, w_sigma, p0, lo, hi, numeric=False):
    """(popt, pcov, chi2) of the weighted fit of ``func`` within bounds [lo, hi].

    ``numeric``: scipy's ``curve_fit`` (trust-region reflective, finite-difference
    Jacobian: the reference). Otherwise a Levenberg-Marquardt with the analytic ``jac``,
    Marquardt scaling and bounds by projection (a parameter at a bound that the step
    pushes outwards is held there for that step): the same minimum in a few
    milliseconds. A fit that ends on a bound (where a projected step can stall) or does
    not converge in 2000 evaluations is redone by scipy's reflective solver with the
    analytic Jacobian. Covariance ``(J^T W J)^-1`` at the minimum from the SVD (singular
    values below ``eps * n * s_max`` dropped, as ``curve_fit`` does); stops on scipy's
    tolerances (1e-8 on chi2, step and gradient).
    """
    if numeric:
        return _trf(func, "2-point", x, y, w_sigma, p0, lo, hi)
    try:
        p, pcov, chi2 = _lm(func, jac, x, y, w_sigma, p0, lo, hi)
    except RuntimeError:
        return _trf(func, jac, x, y, w_sigma, p0, lo, hi)
    if np.any((p <= np.asarray(lo, float)) | (p >= np.asarray(hi, float))):
        # ended on a bound: the projected step may be stuck there; the reflective
        # trust-region solver (scipy) decides, with the analytic Jacobian
        return _trf(func, jac, x, y, w_sigma, p0, lo, hi)
    return p, pcov, chi2


def _trf(func, jac, x, y, w_sigma, p0, lo, hi):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        popt, pcov = optimize.curve_fit(func, x, y, p0=p0, sigma=w_sigma,
                                        absolute_sigma=True, bounds=(lo, hi),
                                        method="trf", max_nfev=2000, x_scale="jac", jac=jac)
    return popt, pcov, float(np.sum(((y - func(x, *popt)) / w_sigma) ** 2))


def _lm(func, jac, x, y, w_sigma, p0, lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    w = 1.0 / np.asarray(w_sigma, float)
    p = np.asarray(p0, float).copy()

    def resid(q):
        with np.errstate(all="ignore"):
            return (func(x, *q) - y) * w

    r = resid(p)
    chi2 = float(r @ r)
    if not np.isfinite(chi2):
        raise RuntimeError("model not finite at the starting values")
    lam = 1e-3
    converged = False
    nfev = 1
    while nfev < 2000 and not converged:
        with np.errstate(all="ignore"):
            jm = jac(x, *p) * w[:, None]
        g = jm.T @ r
        a = jm.T @ jm
        d = np.maximum(np.diag(a), 1e-300)
        # hold parameters at a bound the descent direction -g points out of
        held = ((p <= lo) & (g > 0)) | ((p >= hi) & (g < 0))
        free = ~held
        if not free.any() or np.max(np.abs(g[free]) / np.sqrt(d[free])) <= 1e-8 * np.sqrt(
                max(chi2, 1e-300)):
            break  # gradient test (scipy's gtol)
        af, gf, df = a[free][:, free], g[free], d[free]
        while nfev < 2000:
            step = np.zeros_like(p)
            try:
                step[free] = -np.linalg.solve(af + lam * np.diag(df), gf)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            trial = np.clip(p + step, lo, hi)
            r_t = resid(trial)
            nfev += 1
            chi2_t = float(r_t @ r_t)
            if np.isfinite(chi2_t) and chi2_t <= chi2:
                # scipy's ftol / xtol tests (1e-8), trusted only for a near Gauss-Newton
                # step: a heavily damped step is small without being at the minimum
                converged = lam <= 1e-2 and (
                    chi2 - chi2_t <= 1e-8 * chi2
                    or np.linalg.norm(trial - p) <= 1e-8 * (1e-8 + np.linalg.norm(p)))
                p, r, chi2 = trial, r_t, chi2_t
                lam = max(lam / 10, 1e-12)
                break
            lam *= 10
            if lam > 1e16:  # no step lowers chi2: at the minimum within precision
                converged = True
                break
    if not converged and nfev >= 2000:
        raise RuntimeError("peak fit did not converge in 2000 evaluations")
    with np.errstate(all="ignore"):
        jm = jac(x, *p) * w[:, None]
    _, sv, vt = np.linalg.svd(jm, full_matrices=False)
    keep = sv > np.finfo(float).eps * max(jm.shape) * sv[0]
    vt = vt[keep] / sv[keep, None]
    return p, vt.T @ vt, chi2


def fit_peak(x, y, sigma=None, *, centre, fwhm, height=None, window=None,
             shapes=SHAPES, backgrounds=("linear", "powerlaw"), criterion="bic",
             jacobian="analytic"):
    """Fit one peak plus background and select the model by information criterion.

    Parameters
    ----------
    x, y : array
        Profile (any unit; q in 1/A for gixs profiles).
    sigma : array, optional
        Standard errors of y; uniform weights (errors then scaled by the scatter) if None.
    centre, fwhm : float
        Starting position and width of the peak (from :func:`find_peaks`).
    height : float, optional
        Starting height above background.
    window : (float, float), optional
        x range to fit; default ``centre +- 2.5 fwhm``.
    shapes, backgrounds : sequence of str
        Models to try (see :data:`SHAPES`, :data:`BACKGROUNDS`).
    criterion : {"bic", "aic"}
        Model selection criterion (lowest wins).
    jacobian : {"analytic", "numeric"}
        Derivatives for the least-squares solver: exact ones (:func:`shape_jacobian`,
        :func:`background_jacobian`; the default, 3-5x faster) or scipy's finite
        differences (the reference they are tested against).

    Returns
    -------
    PeakFit

    Raises
    ------
    ValueError
        Too few points in the window, unknown model names or criterion.
    """
    x, y, sigma = _arrays(x, y, sigma)
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}")
    if jacobian not in ("analytic", "numeric"):
        raise ValueError(f"jacobian must be 'analytic' or 'numeric', got {jacobian!r}")
    numeric = jacobian == "numeric"
    for s in shapes:
        if s not in _SHAPE_FUNCS:
            raise ValueError(f"unknown peak shape {s!r}; choose from {SHAPES}")
    for b in backgrounds:
        if b not in _BG_PARAMS:
            raise ValueError(f"unknown background {b!r}; choose from {BACKGROUNDS}")
    if not (np.isfinite(centre) and np.isfinite(fwhm) and fwhm > 0):
        raise ValueError(f"centre and fwhm must be finite with fwhm > 0, got {centre}, {fwhm}")
    window = window or (centre - 2.5 * fwhm, centre + 2.5 * fwhm)
    sel = np.isfinite(x) & np.isfinite(y) & (x >= window[0]) & (x <= window[1])
    if sigma is not None:
        sel &= np.isfinite(sigma) & (sigma > 0)
    xs, ys = x[sel], y[sel]
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    ws = sigma[sel][order] if sigma is not None else np.ones_like(ys)
    if xs.size < 8:
        raise ValueError(f"only {xs.size} valid points in the fit window "
                         f"{window[0]:.5g}..{window[1]:.5g}; need >= 8")
    x0 = float(centre)
    if height is None:
        near = np.abs(xs - centre) <= fwhm / 2
        height = float(np.max(ys[near]) - np.min(ys)) if near.any() else float(np.ptp(ys))
    guess = {"height": max(height, 1e-12), "centre": centre, "fwhm": fwhm}
    n = xs.size
    tried = []
    for shape in shapes:
        for bg in backgrounds:
            try:
                names, popt, pcov, chi2 = _fit_one(shape, bg, xs, ys, ws, guess, x0, numeric)
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                continue
            k = len(names)
            aic = chi2 + 2 * k
            bic = chi2 + k * math.log(n)
            tried.append({"model": f"{shape}+{bg}", "shape": shape, "background": bg,
                          "names": names, "popt": popt, "pcov": pcov, "chi2": chi2,
                          "aic": aic, "bic": bic, "k": k})
    if not tried:
        raise ValueError("no peak model could be fitted in the window "
                         f"{window[0]:.5g}..{window[1]:.5g}")
    tried.sort(key=lambda d: d[criterion])
    best = tried[0]
    dof = max(n - best["k"], 1)
    redchi = best["chi2"] / dof
    scale = math.sqrt(redchi) if (sigma is None or redchi > 1) else 1.0
    if sigma is None:
        scale = math.sqrt(redchi)
    perr = np.sqrt(np.clip(np.diag(best["pcov"]), 0, None)) * scale
    values = {k: float(v) for k, v in zip(best["names"], best["popt"])}
    errors = {k: float(e) for k, e in zip(best["names"], perr)}
    # area and its error by linear propagation through (height, fwhm[, eta])
    cov = best["pcov"] * scale ** 2
    eta = values.get("eta", 0.0)
    values["area"] = float(shape_area(best["shape"], values["height"], values["fwhm"], eta))
    grad = np.zeros(len(best["names"]))
    eps = 1e-6
    for i, name in enumerate(best["names"]):
        if name in ("height", "fwhm", "eta"):
            v2 = dict(values)
            step = eps * max(abs(values[name]), 1e-12)
            v2[name] += step
            grad[i] = (shape_area(best["shape"], v2["height"], v2["fwhm"],
                                  v2.get("eta", 0.0)) - values["area"]) / step
    errors["area"] = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
    # F-test against the background alone (same background kind)
    try:
        chi2_bg = _bg_only(best["background"], xs, ys, ws, guess, x0, numeric)
        k_bg = len(_BG_PARAMS[best["background"]])
        dk = best["k"] - k_bg
        fstat = ((chi2_bg - best["chi2"]) / dk) / (best["chi2"] / dof)
        f_p = float(stats.f.sf(fstat, dk, dof)) if fstat > 0 else 1.0
    except (RuntimeError, ValueError):
        f_p = float("nan")
    table = tuple({"model": d["model"], "chi2": d["chi2"], "aic": d["aic"], "bic": d["bic"],
                   "n_params": d["k"]} for d in tried)
    return PeakFit(model=best["model"], shape=best["shape"], background=best["background"],
                   values=values, errors=errors, x0=x0, chi2=best["chi2"], redchi=redchi,
                   dof=dof, aic=best["aic"], bic=best["bic"], error_scale=scale,
                   f_test_p=f_p, window=(float(xs[0]), float(xs[-1])), candidates=table)
