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
import functools
import math
import warnings

import numpy as np
from numba import njit
from scipy import special

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
    # least-squares line through (k, y_k), k = 0..nfit-1, in closed form (centred k)
    kc = np.arange(nfit) - (nfit - 1) / 2
    kk = kc @ kc
    ends = np.stack([y[:nfit], y[-nfit:]])
    slope = ends @ kc / kk
    mid = ends.mean(axis=1)
    left = mid[0] + slope[0] * (np.arange(-npad, 0) - (nfit - 1) / 2)
    right = mid[1] + slope[1] * (np.arange(nfit, nfit + npad) - (nfit - 1) / 2)
    return np.concatenate([left, y, right])


def curvature_response(y, noise, scale):
    """Scale-normalised negative curvature ``-s^2 d2/dk2 (G_s * y)`` and its noise.

    ``scale`` is the Gaussian sigma in bins. For a Gaussian peak of height H and
    sigma s (bins) the response at its centre is H / (2 sqrt 2); a straight line gives 0.
    The response is one row of :func:`curvature_responses`, the noise
    :func:`response_noise` at every bin.

    Examples
    --------
    >>> k = np.arange(400.0)
    >>> r, _ = curvature_response(10 * np.exp(-0.5 * ((k - 200) / 6) ** 2), np.ones(400), 6.0)
    >>> round(float(2 * math.sqrt(2) * r[200]), 1)
    10.0
    """
    y = np.asarray(y, float)
    resp = curvature_responses(y, (float(scale),))[0]
    return resp, response_noise(noise, float(scale), np.arange(y.size))


@functools.lru_cache(maxsize=64)
def _curvature_kernel(s):
    """(half width in bins, kernel) of :func:`curvature_response` at sigma ``s`` (bins):
    the scale-normalised negative second derivative of a Gaussian, made blind to a
    constant and to a slope."""
    half = int(math.ceil(4 * s))
    k = np.arange(-half, half + 1, dtype=float)
    g = np.exp(-0.5 * (k / s) ** 2) / (math.sqrt(2 * math.pi) * s)
    kern = -(s * s) * (k * k / s ** 4 - 1 / s ** 2) * g
    kern -= kern.mean()  # exact zero response to a constant
    kern -= k * (k @ kern) / (k @ k)  # and to a slope
    kern.flags.writeable = False
    return half, kern


@functools.lru_cache(maxsize=16)
def _kernel_spectra(scales, nfft):
    """Real FFTs (length ``nfft``) of the kernels of ``scales``, one row each."""
    k = np.zeros((len(scales), nfft))
    for j, s in enumerate(scales):
        kern = _curvature_kernel(s)[1]
        k[j, :kern.size] = kern
    out = np.fft.rfft(k, axis=1)
    out.flags.writeable = False
    return out


def curvature_responses(y, scales):
    """The response of :func:`curvature_response` at every scale: an array (scales, n).

    Each scale's profile is extended at both ends along a straight line fitted to its
    end points (so a slope at an edge adds no curvature), and the scales are convolved
    in batches of FFTs, one batch per FFT length (the scales whose kernels need the same
    power of two: a wide kernel does not lengthen the FFTs of the narrow ones); the sums
    of ``np.convolve``, rounded to ~1e-16 of the largest term.

    Examples
    --------
    >>> r = curvature_responses(3.0 + 0.7 * np.arange(200), (2.0, 4.0))
    >>> r.shape, bool(np.max(np.abs(r)) < 1e-9)
    ((2, 200), True)
    """
    y = np.asarray(y, float)
    scales = tuple(float(s) for s in scales)
    n = y.size
    halves = [_curvature_kernel(s)[0] for s in scales]
    out = np.empty((len(scales), n))
    groups = {}
    for j, half in enumerate(halves):
        # the full convolution of the extended profile (n + 2 half) with the kernel
        # (2 half + 1) has n + 4 half points: the FFT length is the next power of two
        groups.setdefault((n + 4 * half).bit_length(), []).append(j)
    for bits, rows in groups.items():
        sc = tuple(scales[j] for j in rows)
        hs = np.array([halves[j] for j in rows])
        hmax = int(hs.max())
        width = n + 2 * hmax
        ys = np.zeros((len(rows), width))
        for r, (s, half) in enumerate(zip(sc, hs)):
            o = hmax - half
            ys[r, o:o + n + 2 * half] = _pad_linear(y, half, max(3, int(s)))
        nfft = 1 << bits
        full = np.fft.irfft(np.fft.rfft(ys, nfft, axis=1) * _kernel_spectra(sc, nfft), nfft,
                            axis=1)
        # row r of the "same" response to its extended profile starts at hmax + half_r
        out[rows] = np.take_along_axis(full, (hmax + hs)[:, None] + np.arange(n)[None, :],
                                       axis=1)
    return out


def response_noise(noise, scale, idx):
    """Standard error of the curvature response at bins ``idx`` (sigma ``scale`` bins).

    sqrt(sum of kernel^2 x noise^2) over the kernel's reach, the noise held at its end
    values beyond the profile's ends; computed only where asked (peak detection needs
    it at the local maxima alone).

    Examples
    --------
    >>> float(response_noise(np.ones(100), 3.0, np.array([50]))[0]) > 0
    True
    """
    var = np.asarray(noise, float) ** 2
    half, kern = _curvature_kernel(float(scale))
    vp = np.concatenate([np.full(half, var[0]), var, np.full(half, var[-1])])
    win = np.lib.stride_tricks.sliding_window_view(vp, 2 * half + 1)[np.asarray(idx)]
    return np.sqrt(np.maximum(win @ (kern[::-1] ** 2), 0.0))


def local_maxima(a):
    """Indices of the local maxima of ``a``: samples (or runs of equal samples) with a
    smaller sample on both sides; a run gives its middle index (rounded down). The
    definition of ``scipy.signal.find_peaks`` without conditions (tested equal), without
    importing scipy.signal (0.4 s).

    Examples
    --------
    >>> local_maxima(np.array([0.0, 2, 1, 3, 3, 3, 0, 5])).tolist()
    [1, 4]
    """
    a = np.asarray(a, float)
    if a.size < 3:
        return np.zeros(0, np.intp)
    change = np.flatnonzero(a[1:] != a[:-1]) + 1  # starts of the runs after the first
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change - 1, [a.size - 1]))
    v = a[starts]
    run = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1
    return (starts[run] + ends[run]) // 2


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
    for s, resp in zip(scales, curvature_responses(y, scales)):
        margin = max(edge_bins, int(math.ceil(1.5 * s)))
        idx = local_maxima(resp)
        idx = idx[(idx >= margin) & (idx < n - margin)]
        if x_range is not None:
            idx = idx[(x_range[0] <= x[idx]) & (x[idx] <= x_range[1])]
        snr = resp[idx] / np.maximum(response_noise(noise, s, idx), 1e-300)
        keep = snr >= min_snr
        idx, snr = idx[keep], snr[keep]
        found.extend(zip(snr.tolist(), idx.tolist(), [s] * idx.size, resp[idx].tolist()))
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
def _fit_one(shape, bg, x, y, w_sigma, guess, x0, numeric_jac=False, memo=None,
             deferred=False):
    """(names, popt, pcov, chi2) of one model; ``memo`` (a dict, one per window) keeps
    what every model of the window shares (bin step, background starts).

    ``deferred`` (analytic Jacobian only): return ``(names, popt, Lazy, chi2)`` where
    the covariance is computed on demand (see :class:`_Lazy`)."""
    memo = {} if memo is None else memo
    names = _SHAPE_PARAMS[shape] + _BG_PARAMS[bg]
    h, c, f = guess["height"], guess["centre"], guess["fwhm"]
    span = x[-1] - x[0]
    if "dx" not in memo:
        memo["dx"] = float(np.median(np.diff(x))) if x.size > 1 else span
    dx = memo["dx"]
    p0 = [h, c, f] + ([0.3] if shape == "pseudo_voigt" else [])
    lo = [0.0, x[0], dx * 0.3] + ([0.0] if shape == "pseudo_voigt" else [])
    hi = [np.inf, x[-1], span * 2] + ([1.0] if shape == "pseudo_voigt" else [])
    bgp, bglo, bghi = _bg_start(bg, x, y, guess, x0, memo)
    p0, lo, hi = p0 + bgp, lo + bglo, hi + bghi
    p0 = _inside(p0, lo, hi)
    if deferred and not numeric_jac:
        lazy = _Lazy(shape, bg, x0, x, y, w_sigma, p0, lo, hi)
        return names, lazy.p, lazy, lazy.chi2
    popt, pcov, chi2 = _least_squares(shape, bg, x0, x, y, w_sigma, p0, lo, hi, numeric_jac)
    return names, popt, pcov, chi2


def _bg_start(bg, x, y, guess, x0, memo):
    """:func:`_bg_guess`, computed once per background kind and window (``memo``)."""
    key = ("bg", bg)
    if key not in memo:
        memo[key] = _bg_guess(bg, x, y, guess, x0)
    return tuple(list(v) for v in memo[key])


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


def _bg_only(bg, x, y, w_sigma, guess, x0, numeric_jac=False, memo=None):
    p0, lo, hi = _bg_start(bg, x, y, guess, x0, {} if memo is None else memo)
    p0 = _inside(p0, lo, hi)
    if numeric_jac:
        return _least_squares(None, bg, x0, x, y, w_sigma, p0, lo, hi, True)[2]
    return _Lazy(None, bg, x0, x, y, w_sigma, p0, lo, hi).chi2  # no covariance needed


# -- compiled Levenberg-Marquardt (the default solver; see _least_squares) -------------
_SHAPE_CODE = {"gaussian": 0, "lorentzian": 1, "pseudo_voigt": 2, "spot2d": 3}
_BG_CODE = {"linear": 0, "powerlaw": 1, "powerlaw_const": 2, "constant": 3}
_NEG_4LN2 = -4 * math.log(2)  # the exponent factor of :func:`gaussian`
_4LN2 = 4 * math.log(2)  # that of :func:`shape_jacobian`


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_eval(shape, bg, x, x2, p, x0, f, jac, want_jac):
    """Model ``shape`` (code; -1: no peak) + background ``bg`` at x into ``f`` and, with
    ``want_jac``, its Jacobian into ``jac``: the formulas of :func:`gaussian`,
    :func:`lorentzian`, :func:`pseudo_voigt`, :func:`background`, :func:`shape_jacobian`
    and :func:`background_jacobian`, written in the same order of operations.

    Shape 3 (``spot2d``, with background 3, a constant) is a 2D Gaussian at the points
    ``(x, x2)``: ``p[0] exp(-((x - p[1]) / p[3])^2 / 2 - ((x2 - p[2]) / p[4])^2 / 2) +
    p[5]`` (:mod:`gixs.bragg.spots`' spot model; x2 is empty for the 1D shapes)."""
    ns = 0 if shape < 0 else (4 if shape == 2 else (5 if shape == 3 else 3))
    for i in range(x.size):
        xi = x[i]
        val = 0.0
        if shape == 3:
            a, su, sv = p[0], p[3], p[4]
            uu, vv = (xi - p[1]) / su, (x2[i] - p[2]) / sv
            g = math.exp(-0.5 * (uu * uu + vv * vv))
            val = a * g
            if want_jac:
                ag = a * g
                jac[i, 0], jac[i, 1], jac[i, 2] = g, ag * uu / su, ag * vv / sv
                jac[i, 3], jac[i, 4] = ag * uu * uu / su, ag * vv * vv / sv
        elif shape >= 0:
            h, c, fw = p[0], p[1], p[2]
            u = (xi - c) / fw
            # each shape computes only its own terms (same expressions as before)
            gv = h * math.exp(_NEG_4LN2 * (u * u)) if shape != 1 else 0.0
            lv = h / (1 + 4 * (u * u)) if shape != 0 else 0.0
            if shape == 0:
                val = gv
            elif shape == 1:
                val = lv
            else:
                eta = p[3]
                val = eta * lv + (1 - eta) * gv
            if want_jac:
                g0 = g1 = g2 = l0 = l1 = l2 = 0.0
                if shape != 1:
                    e = math.exp(-_4LN2 * u * u)
                    g0, g1, g2 = e, h * e * 2 * _4LN2 * u / fw, h * e * 2 * _4LN2 * u * u / fw
                if shape != 0:
                    d = 1.0 / (1 + 4 * u * u)
                    t = h * 8 * u * d * d / fw
                    l0, l1, l2 = d, t, t * u
                if shape == 0:
                    jac[i, 0], jac[i, 1], jac[i, 2] = g0, g1, g2
                elif shape == 1:
                    jac[i, 0], jac[i, 1], jac[i, 2] = l0, l1, l2
                else:
                    eta = p[3]
                    jac[i, 0] = eta * l0 + (1 - eta) * g0
                    jac[i, 1] = eta * l1 + (1 - eta) * g1
                    jac[i, 2] = eta * l2 + (1 - eta) * g2
                    jac[i, 3] = h * (l0 - g0)
        if bg == 0:
            b = p[ns] + p[ns + 1] * (xi - x0)
            if want_jac:
                jac[i, ns], jac[i, ns + 1] = 1.0, xi - x0
        elif bg == 3:
            b = p[ns]
            if want_jac:
                jac[i, ns] = 1.0
        else:
            ratio = abs(xi) / x0
            base = ratio ** (-p[ns + 1])
            b = p[ns] * base
            if bg == 2:
                b = b + p[ns + 2]
            if want_jac:
                jac[i, ns] = base
                jac[i, ns + 1] = -p[ns] * base * math.log(ratio)
                if bg == 2:
                    jac[i, ns + 2] = 1.0
        f[i] = val + b


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_solve(a, b):
    """x of a x = b by Gaussian elimination with partial pivoting (LAPACK gesv's method);
    ok False on an exactly zero pivot (where numpy raises LinAlgError)."""
    n = b.size
    m = a.copy()
    x = b.copy()
    for k in range(n):
        piv = k
        big = abs(m[k, k])
        for r in range(k + 1, n):
            if abs(m[r, k]) > big:
                big, piv = abs(m[r, k]), r
        if m[piv, k] == 0.0:
            return x, False
        if piv != k:
            for cc in range(n):
                m[k, cc], m[piv, cc] = m[piv, cc], m[k, cc]
            x[k], x[piv] = x[piv], x[k]
        for r in range(k + 1, n):
            fac = m[r, k] / m[k, k]
            for cc in range(k + 1, n):
                m[r, cc] -= fac * m[k, cc]
            x[r] -= fac * x[k]
    for k in range(n - 1, -1, -1):
        s = x[k]
        for cc in range(k + 1, n):
            s -= m[k, cc] * x[cc]
        x[k] = s / m[k, k]
    return x, True


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_lm(shape, bg, x, x2, y, w, p0, lo, hi, x0):
    """The Levenberg-Marquardt of :func:`_lm` on the model codes of :func:`_nb_eval`.

    Returns (p, chi2, weighted Jacobian at p, status): 0 converged, 1 model not finite
    at the start, 2 no convergence in 2000 evaluations."""
    n, k = x.size, p0.size
    p = p0.copy()
    f = np.empty(n)
    jac = np.empty((n, k))
    r = np.empty(n)
    r_t = np.empty(n)
    _nb_eval(shape, bg, x, x2, p, x0, f, jac, False)
    chi2 = 0.0
    for i in range(n):
        r[i] = (f[i] - y[i]) * w[i]
        chi2 += r[i] * r[i]
    if not np.isfinite(chi2):
        return p, chi2, jac, 1
    lam = 1e-3
    converged = False
    nfev = 1
    g = np.empty(k)
    a = np.empty((k, k))
    trial = np.empty(k)
    while nfev < 2000 and not converged:
        _nb_eval(shape, bg, x, x2, p, x0, f, jac, True)
        for i in range(n):
            for j in range(k):
                jac[i, j] *= w[i]
        for j in range(k):
            s = 0.0
            for i in range(n):
                s += jac[i, j] * r[i]
            g[j] = s
            for l in range(k):
                s = 0.0
                for i in range(n):
                    s += jac[i, j] * jac[i, l]
                a[j, l] = s
        free = np.empty(k, np.bool_)
        nfree = 0
        gmax = 0.0
        for j in range(k):
            held = (p[j] <= lo[j] and g[j] > 0) or (p[j] >= hi[j] and g[j] < 0)
            free[j] = not held
            if free[j]:
                nfree += 1
                gt = abs(g[j]) / math.sqrt(max(a[j, j], 1e-300))
                if gt > gmax:
                    gmax = gt
        if nfree == 0 or gmax <= 1e-8 * math.sqrt(max(chi2, 1e-300)):
            break  # gradient test (scipy's gtol)
        idx = np.flatnonzero(free)
        af = np.empty((nfree, nfree))
        gf = np.empty(nfree)
        for u in range(nfree):
            gf[u] = g[idx[u]]
            for v in range(nfree):
                af[u, v] = a[idx[u], idx[v]]
        while nfev < 2000:
            m = af.copy()
            for u in range(nfree):
                m[u, u] = af[u, u] + lam * max(a[idx[u], idx[u]], 1e-300)
            sol, ok = _nb_solve(m, gf)
            if not ok:
                lam *= 10
                continue
            dnorm = 0.0
            pnorm = 0.0
            for j in range(k):
                trial[j] = p[j]
            for u in range(nfree):
                trial[idx[u]] = p[idx[u]] - sol[u]
            for j in range(k):
                if trial[j] < lo[j]:
                    trial[j] = lo[j]
                if trial[j] > hi[j]:
                    trial[j] = hi[j]
                dnorm += (trial[j] - p[j]) ** 2
                pnorm += p[j] ** 2
            _nb_eval(shape, bg, x, x2, trial, x0, f, jac, False)
            nfev += 1
            chi2_t = 0.0
            for i in range(n):
                r_t[i] = (f[i] - y[i]) * w[i]
                chi2_t += r_t[i] * r_t[i]
            if np.isfinite(chi2_t) and chi2_t <= chi2:
                converged = lam <= 1e-2 and (
                    chi2 - chi2_t <= 1e-8 * chi2
                    or math.sqrt(dnorm) <= 1e-8 * (1e-8 + math.sqrt(pnorm)))
                p = trial.copy()
                r[:] = r_t
                chi2 = chi2_t
                lam = max(lam / 10, 1e-12)
                break
            lam *= 10
            if lam > 1e16:  # no step lowers chi2: at the minimum within precision
                converged = True
                break
    if not converged and nfev >= 2000:
        return p, chi2, jac, 2
    _nb_eval(shape, bg, x, x2, p, x0, f, jac, True)
    for i in range(n):
        for j in range(k):
            jac[i, j] *= w[i]
    return p, chi2, jac, 0


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_feasible(x, lb, ub, rstep):
    """scipy's ``make_strictly_feasible`` (optimize._lsq.common)."""
    n = x.size
    out = x.copy()
    for i in range(n):
        act = 0
        if rstep == 0:
            if x[i] <= lb[i]:
                act = -1
            if x[i] >= ub[i]:
                act = 1
        else:
            ld, ud = x[i] - lb[i], ub[i] - x[i]
            lt = rstep * max(1.0, abs(lb[i]))
            ut = rstep * max(1.0, abs(ub[i]))
            if np.isfinite(lb[i]) and ld <= min(ud, lt):
                act = -1
            if np.isfinite(ub[i]) and ud <= min(ld, ut):
                act = 1
        if act == -1:
            out[i] = np.nextafter(lb[i], ub[i]) if rstep == 0 else \
                lb[i] + rstep * max(1.0, abs(lb[i]))
        elif act == 1:
            out[i] = np.nextafter(ub[i], lb[i]) if rstep == 0 else \
                ub[i] - rstep * max(1.0, abs(ub[i]))
        if out[i] < lb[i] or out[i] > ub[i]:
            out[i] = 0.5 * (lb[i] + ub[i])
    return out


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_resid(shape, bg, x, y, w, p, x0, f, jac, want_jac):
    _nb_eval(shape, bg, x, x[:0], p, x0, f, jac, want_jac)
    for i in range(x.size):
        f[i] = w[i] * (f[i] - y[i])
        if want_jac:
            for j in range(p.size):
                jac[i, j] = w[i] * jac[i, j]


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_cl(xv, gv, lb, ub, v, dv):
    """scipy's ``CL_scaling_vector`` (Coleman-Li) into v, dv."""
    for j in range(xv.size):
        v[j], dv[j] = 1.0, 0.0
        if gv[j] < 0 and np.isfinite(ub[j]):
            v[j], dv[j] = ub[j] - xv[j], -1.0
        if gv[j] > 0 and np.isfinite(lb[j]):
            v[j], dv[j] = xv[j] - lb[j], 1.0


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_step_to_bound(x, s, lb, ub, hits):
    """scipy's ``step_size_to_bound``: the step and, in ``hits``, which bound is hit."""
    n = x.size
    steps = np.full(n, np.inf)
    for i in range(n):
        if s[i] != 0:
            steps[i] = max((lb[i] - x[i]) / s[i], (ub[i] - x[i]) / s[i])
    mn = steps.min()
    for i in range(n):
        hits[i] = (1 if s[i] > 0 else -1 if s[i] < 0 else 0) if steps[i] == mn else 0
    return mn


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_quad(jh, gh, s, diag):
    """scipy's ``evaluate_quadratic`` for one step."""
    js = np.dot(jh, s)
    q = np.dot(js, js) + np.dot(s * diag, s)
    return 0.5 * q + np.dot(s, gh)


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_min_quad_1d(a, b, lo, hi, c):
    """scipy's ``minimize_quadratic_1d``."""
    t0, y0 = lo, lo * (a * lo + b) + c
    t1, y1 = hi, hi * (a * hi + b) + c
    best_t, best_y = t0, y0
    if y1 < best_y:
        best_t, best_y = t1, y1
    if a != 0:
        ext = -0.5 * b / a
        if lo < ext < hi:
            ye = ext * (a * ext + b) + c
            if ye < best_y:
                best_t, best_y = ext, ye
    return best_t, best_y


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _nb_trf(shape, bg, x, y, w, p0, lb, ub, x0):
    """scipy's trust-region reflective least squares (``least_squares(method="trf",
    x_scale="jac", tr_solver="exact", ftol=xtol=gtol=1e-8, max_nfev=2000)`` as
    ``curve_fit`` calls it: ``trf_bounds`` with its helpers from optimize._lsq), on the
    model codes of :func:`_nb_eval`, step for step.

    Returns (p, weighted Jacobian at p, status): scipy's termination status (1-4
    success, 0 evaluations exhausted), -10 residuals not finite at the start, -11 a
    Jacobian with infs or NaNs (scipy's SVD refuses it), -12 a zero reflected step."""
    eps = 2.220446049250313e-16
    ftol = xtol = gtol = 1e-8
    max_nfev = 2000
    m, n = x.size, p0.size
    xk = _nb_feasible(p0, lb, ub, 1e-10)
    f = np.empty(m)
    jac = np.empty((m, n))
    _nb_resid(shape, bg, x, y, w, xk, x0, f, jac, True)
    if not np.all(np.isfinite(f)):
        return xk, jac, -10
    nfev = 1
    cost = 0.5 * np.dot(f, f)
    g = np.dot(jac.T, f)
    scale_inv = np.sqrt(np.sum(jac ** 2, axis=0))
    for j in range(n):
        if scale_inv[j] == 0:
            scale_inv[j] = 1.0
    scale = 1 / scale_inv
    v = np.ones(n)
    dv = np.zeros(n)
    _nb_cl(xk, g, lb, ub, v, dv)
    for j in range(n):
        if dv[j] != 0:
            v[j] *= scale_inv[j]
    Delta = np.linalg.norm(xk * scale_inv / np.sqrt(v))
    if Delta == 0:
        Delta = 1.0
    f_aug = np.zeros(m + n)
    j_aug = np.zeros((m + n, n))
    alpha = 0.0
    status = -1  # None
    f_new = np.empty(m)
    hits = np.zeros(n, np.int64)
    hits2 = np.zeros(n, np.int64)
    x_new = xk.copy()
    cost_new = cost
    while True:
        _nb_cl(xk, g, lb, ub, v, dv)
        g_norm = np.max(np.abs(g * v))
        if g_norm < gtol:
            status = 1
        if status != -1 or nfev == max_nfev:
            break
        for j in range(n):
            if dv[j] != 0:
                v[j] *= scale_inv[j]
        d = np.sqrt(v) * scale
        diag_h = g * dv * scale
        g_h = d * g
        f_aug[:m] = f
        for i in range(m):
            for j in range(n):
                j_aug[i, j] = jac[i, j] * d[j]
        for i in range(n):
            for j in range(n):
                j_aug[m + i, j] = 0.0
            j_aug[m + i, i] = math.sqrt(diag_h[i])
        if not np.all(np.isfinite(j_aug)):
            return xk, jac, -11
        u_, s, vt = np.linalg.svd(j_aug, full_matrices=False)
        vmat = vt.T.copy()
        uf = np.dot(u_.T.copy(), f_aug)
        jh = j_aug[:m].copy()
        theta = max(0.995, 1 - g_norm)
        actual_reduction = -1.0
        while actual_reduction <= 0 and nfev < max_nfev:
            # solve_lsq_trust_region(n, m, uf, s, V, Delta, initial_alpha=alpha)
            suf = s * uf
            full_rank = s[-1] > eps * m * s[0] if m >= n else False
            p_h = np.empty(n)
            done = False
            if full_rank:
                p_h = -np.dot(vmat, uf / s)
                if np.linalg.norm(p_h) <= Delta:
                    alpha_it = 0.0
                    done = True
            if not done:
                alpha_upper = np.linalg.norm(suf) / Delta
                if full_rank:
                    den = s ** 2 + 0.0
                    pn = np.linalg.norm(suf / den)
                    phi = pn - Delta
                    phi_prime = -np.sum(suf ** 2 / den ** 3) / pn
                    alpha_lower = -phi / phi_prime
                else:
                    alpha_lower = 0.0
                if not full_rank and alpha == 0:
                    alpha_it = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
                else:
                    alpha_it = alpha
                for _ in range(10):
                    if alpha_it < alpha_lower or alpha_it > alpha_upper:
                        alpha_it = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
                    den = s ** 2 + alpha_it
                    pn = np.linalg.norm(suf / den)
                    phi = pn - Delta
                    phi_prime = -np.sum(suf ** 2 / den ** 3) / pn
                    if phi < 0:
                        alpha_upper = alpha_it
                    ratio = phi / phi_prime
                    alpha_lower = max(alpha_lower, alpha_it - ratio)
                    alpha_it -= (phi + Delta) * ratio / Delta
                    if np.abs(phi) < 0.01 * Delta:
                        break
                p_h = -np.dot(vmat, suf / (s ** 2 + alpha_it))
                p_h *= Delta / np.linalg.norm(p_h)
            alpha = alpha_it
            p = d * p_h
            # select_step(x, J_h, diag_h, g_h, p, p_h, d, Delta, lb, ub, theta)
            xp = xk + p
            if np.all((xp >= lb) & (xp <= ub)):
                step, step_h = p, p_h
                pred = -_nb_quad(jh, g_h, p_h, diag_h)
            else:
                p_stride = _nb_step_to_bound(xk, p, lb, ub, hits)
                r_h = p_h.copy()
                for j in range(n):
                    if hits[j] != 0:
                        r_h[j] *= -1
                r = d * r_h
                p = p * p_stride
                p_h = p_h * p_stride
                x_on = xk + p
                # intersect_trust_region(p_h, r_h, Delta): the positive root
                qa = np.dot(r_h, r_h)
                if qa == 0:
                    return xk, jac, -12
                qb = np.dot(p_h, r_h)
                qc = np.dot(p_h, p_h) - Delta ** 2
                if qc > 0:
                    return xk, jac, -12
                qd = np.sqrt(qb * qb - qa * qc)
                qq = -(qb + math.copysign(qd, qb))
                t1, t2 = qq / qa, qc / qq
                to_tr = t2 if t1 < t2 else t1
                to_bound = _nb_step_to_bound(x_on, r, lb, ub, hits2)
                r_stride = min(to_bound, to_tr)
                if r_stride > 0:
                    r_l = (1 - theta) * p_stride / r_stride
                    r_u = theta * to_bound if r_stride == to_bound else to_tr
                else:
                    r_l, r_u = 0.0, -1.0
                if r_l <= r_u:
                    # build_quadratic_1d(J_h, g_h, r_h, s0=p_h, diag=diag_h)
                    vv = np.dot(jh, r_h)
                    qa2 = np.dot(vv, vv)
                    qa2 += np.dot(r_h * diag_h, r_h)
                    qa2 *= 0.5
                    qb2 = np.dot(g_h, r_h)
                    uu = np.dot(jh, p_h)
                    qb2 += np.dot(uu, vv)
                    qc2 = 0.5 * np.dot(uu, uu) + np.dot(g_h, p_h)
                    qb2 += np.dot(p_h * diag_h, r_h)
                    qc2 += 0.5 * np.dot(p_h * diag_h, p_h)
                    rs, r_value = _nb_min_quad_1d(qa2, qb2, r_l, r_u, qc2)
                    r_h = r_h * rs
                    r_h += p_h
                    r = r_h * d
                else:
                    r_value = np.inf
                p = p * theta
                p_h = p_h * theta
                p_value = _nb_quad(jh, g_h, p_h, diag_h)
                ag_h = -g_h
                ag = d * ag_h
                to_tr2 = Delta / np.linalg.norm(ag_h)
                to_b2 = _nb_step_to_bound(xk, ag, lb, ub, hits2)
                ag_stride = theta * to_b2 if to_b2 < to_tr2 else to_tr2
                vv = np.dot(jh, ag_h)
                qa3 = np.dot(vv, vv)
                qa3 += np.dot(ag_h * diag_h, ag_h)
                qa3 *= 0.5
                qb3 = np.dot(g_h, ag_h)
                ag_stride, ag_value = _nb_min_quad_1d(qa3, qb3, 0.0, ag_stride, 0.0)
                ag_h = ag_h * ag_stride
                ag = ag * ag_stride
                if p_value < r_value and p_value < ag_value:
                    step, step_h, pred = p, p_h, -p_value
                elif r_value < p_value and r_value < ag_value:
                    step, step_h, pred = r, r_h, -r_value
                else:
                    step, step_h, pred = ag, ag_h, -ag_value
            x_new = _nb_feasible(xk + step, lb, ub, 0.0)
            _nb_resid(shape, bg, x, y, w, x_new, x0, f_new, jac, False)
            nfev += 1
            step_h_norm = np.linalg.norm(step_h)
            if not np.all(np.isfinite(f_new)):
                Delta = 0.25 * step_h_norm
                continue
            cost_new = 0.5 * np.dot(f_new, f_new)
            actual_reduction = cost - cost_new
            # update_tr_radius
            if pred > 0:
                ratio = actual_reduction / pred
            elif pred == actual_reduction == 0:
                ratio = 1.0
            else:
                ratio = 0.0
            Delta_new = Delta
            if ratio < 0.25:
                Delta_new = 0.25 * step_h_norm
            elif ratio > 0.75 and step_h_norm > 0.95 * Delta:
                Delta_new = Delta * 2.0
            step_norm = np.linalg.norm(step)
            # check_termination
            ftol_ok = actual_reduction < ftol * cost and ratio > 0.25
            xtol_ok = step_norm < xtol * (xtol + np.linalg.norm(xk))
            if ftol_ok and xtol_ok:
                status = 4
            elif ftol_ok:
                status = 2
            elif xtol_ok:
                status = 3
            if status != -1:
                break
            alpha *= Delta / Delta_new
            Delta = Delta_new
        if actual_reduction > 0:
            xk = x_new.copy()
            f[:] = f_new
            cost = cost_new
            _nb_resid(shape, bg, x, y, w, xk, x0, f, jac, True)
            g = np.dot(jac.T, f)
            si = np.sqrt(np.sum(jac ** 2, axis=0))
            scale_inv = np.maximum(si, scale_inv)
            scale = 1 / scale_inv
    if status == -1:
        status = 0
    return xk, jac, status


def _functions(shape, bg, x0):
    """(model, Jacobian) of peak ``shape`` (None: background alone) + background ``bg`` as
    Python callables ``f(x, *p)`` (numpy): scipy's solver calls these."""
    if shape is None:
        def func(xx, *p):
            return background(bg, xx, p, x0)

        def jac(xx, *p):
            return background_jacobian(bg, xx, p, x0)
        return func, jac
    return _model(shape, bg, x0), _model_jacobian(shape, bg, x0)


class _Lazy:
    """One model's fit as :func:`_least_squares` makes it (Levenberg-Marquardt, redone
    by the reflective solver when it fails, and also run by it when it ends on a bound:
    the lower chi2 of the two is kept), with the covariance (SVD of the weighted
    Jacobian) computed only when asked: :func:`fit_peak` needs the selected model's
    alone, the F-test's background fit none.

    Raises what the reflective solver raises (RuntimeError, ValueError) when it redoes a
    Levenberg-Marquardt fit that failed.
    """

    def __init__(self, shape, bg, x0, x, y, w_sigma, p0, lo, hi):
        self._pcov = None
        self.reflective = False
        try:
            self.p, self.jm, self.chi2 = _lm(shape, bg, x0, x, y, w_sigma, p0, lo, hi)
        except RuntimeError:
            self._trf(shape, bg, x0, x, y, w_sigma, p0, lo, hi)
            return
        if np.any((self.p <= np.asarray(lo, float)) | (self.p >= np.asarray(hi, float))):
            # ended on a bound: the projected step may be stuck there (measured: chi2
            # up to 1e5 too high), so the reflective solver runs from the start too, and
            # the lower chi2 of the two is the fit (the reflective one ended higher in
            # about one case in five on the bench frames: 9.60 -> 9.79, 67.1 -> 75.9)
            lm = self.p, self.jm, self.chi2
            try:
                self._trf(shape, bg, x0, x, y, w_sigma, p0, lo, hi)
            except (RuntimeError, ValueError):
                pass  # the Levenberg-Marquardt fit stands
            if not (self.reflective and self.chi2 <= lm[2]):
                self.p, self.jm, self.chi2 = lm
                self.reflective = False

    def _trf(self, shape, bg, x0, x, y, w_sigma, p0, lo, hi):
        self.p, self.jm, self.chi2 = _trf_run(shape, bg, x0, _functions(shape, bg, x0)[0],
                                              x, y, w_sigma, p0, lo, hi)
        self.reflective = True

    @property
    def pcov(self):
        if self._pcov is None:
            self._pcov = _trf_cov(self.jm) if self.reflective else _lm_cov(self.jm)
        return self._pcov


def _least_squares(shape, bg, x0, x, y, w_sigma, p0, lo, hi, numeric=False):
    """(popt, pcov, chi2) of the weighted fit of peak ``shape`` (None: background alone)
    + background ``bg`` within bounds [lo, hi].

    ``numeric``: scipy's ``curve_fit`` (trust-region reflective, finite-difference
    Jacobian: the reference). Otherwise a Levenberg-Marquardt with the analytic Jacobian
    (compiled, :func:`_nb_lm`), Marquardt scaling and bounds by projection (a parameter at
    a bound that the step pushes outwards is held there for that step): the same minimum
    in well under a millisecond. A fit that does not converge in 2000 evaluations is
    redone by scipy's reflective solver with the analytic Jacobian; one that ends on a
    bound (where a projected step can stall) is run by that solver from the start too,
    and the lower chi2 of the two is the fit. Covariance ``(J^T W J)^-1`` at the minimum
    from the SVD (singular values below ``eps * n * s_max`` dropped, as ``curve_fit`` does); stops
    on scipy's tolerances (1e-8 on chi2, step and gradient).
    """
    if numeric:
        return _trf(_functions(shape, bg, x0)[0], "2-point", x, y, w_sigma, p0, lo, hi)
    fit = _Lazy(shape, bg, x0, x, y, w_sigma, p0, lo, hi)
    return fit.p, fit.pcov, fit.chi2


def _trf(func, jac, x, y, w_sigma, p0, lo, hi):
    from scipy import optimize  # the reference solver only

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        popt, pcov = optimize.curve_fit(func, x, y, p0=p0, sigma=w_sigma,
                                        absolute_sigma=True, bounds=(lo, hi),
                                        method="trf", max_nfev=2000, x_scale="jac", jac=jac)
    return popt, pcov, float(np.sum(((y - func(x, *popt)) / w_sigma) ** 2))


def _trf_compiled(shape, bg, x0, func, x, y, w_sigma, p0, lo, hi):
    """What :func:`_trf` (scipy ``curve_fit``, method "trf", analytic Jacobian) returns,
    computed by :func:`_nb_trf`: the same steps without the Python overhead (~50x
    faster); scipy's errors are raised alike (RuntimeError: evaluations exhausted;
    ValueError: residuals or Jacobian not finite, zero reflected step)."""
    p, jm, chi2 = _trf_run(shape, bg, x0, func, x, y, w_sigma, p0, lo, hi)
    return p, _trf_cov(jm), chi2


def _trf_cov(jm):
    """``curve_fit``'s covariance from the reflective solver's Jacobian (inf when NaN)."""
    pcov = _lm_cov(jm)
    if np.isnan(pcov).any():
        pcov = np.full(pcov.shape, np.inf)
    return pcov


def _trf_run(shape, bg, x0, func, x, y, w_sigma, p0, lo, hi):
    """(p, weighted Jacobian at p, chi2) of :func:`_trf_compiled`, covariance not yet
    computed."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    x = np.ascontiguousarray(x, float)
    w = 1.0 / np.asarray(w_sigma, float)
    p, jm, status = _nb_trf(-1 if shape is None else _SHAPE_CODE[shape], _BG_CODE[bg], x,
                            np.ascontiguousarray(y, float), w, np.asarray(p0, float).copy(),
                            lo, hi, float(x0))
    if status == 0:
        raise RuntimeError("Optimal parameters not found: the maximum number of function "
                           "evaluations is exceeded")
    if status < 0:
        raise ValueError({-10: "Residuals are not finite in the initial point.",
                          -11: "array must not contain infs or NaNs",
                          -12: "`s` is zero."}[status])
    return p, jm, float(np.sum(((y - func(x, *p)) / w_sigma) ** 2))


def _lm(shape, bg, x0, x, y, w_sigma, p0, lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    w = 1.0 / np.asarray(w_sigma, float)
    x = np.ascontiguousarray(x, float)
    p, chi2, jm, status = _nb_lm(-1 if shape is None else _SHAPE_CODE[shape], _BG_CODE[bg],
                                 x, x[:0], np.ascontiguousarray(y, float),
                                 w, np.asarray(p0, float).copy(), lo, hi, float(x0))
    if status == 1:
        raise RuntimeError("model not finite at the starting values")
    if status == 2:
        raise RuntimeError("peak fit did not converge in 2000 evaluations")
    return p, jm, float(chi2)


def fit_spot2d(u, v, y, p0, lo, hi):
    """Least squares of a 2D Gaussian plus constant at the points ``(u, v)``:
    ``p[0] exp(-((u - p[1]) / p[3])^2 / 2 - ((v - p[2]) / p[4])^2 / 2) + p[5]``, by the
    compiled bounded Levenberg-Marquardt of the 1D peak fits (unit weights, analytic
    Jacobian). A parameter with ``lo == hi`` stays fixed there.

    Returns
    -------
    (ndarray, ndarray, float) or None
        The six parameters, the model's Jacobian at them (points x 6) and the sum of
        squared residuals; None when the model is not finite at ``p0`` or the fit does
        not converge in 2000 evaluations.

    Examples
    --------
    >>> uu, vv = np.meshgrid(np.linspace(-1, 1, 15), np.linspace(-1, 1, 11))
    >>> u, v = uu.ravel(), vv.ravel()
    >>> y = 5 * np.exp(-0.5 * ((u - 0.1) / 0.3) ** 2 - 0.5 * ((v + 0.2) / 0.4) ** 2) + 1
    >>> p, jac, chi2 = fit_spot2d(u, v, y, [4, 0, 0, 0.5, 0.5, 0],
    ...                           [0, -1, -1, 0.05, 0.05, -10], [10, 1, 1, 2, 2, 10])
    >>> np.round(p, 6).tolist(), jac.shape, chi2 < 1e-20
    ([5.0, 0.1, -0.2, 0.3, 0.4, 1.0], (165, 6), True)
    """
    u = np.ascontiguousarray(u, float)
    y = np.ascontiguousarray(y, float)
    p, chi2, jac, status = _nb_lm(_SHAPE_CODE["spot2d"], _BG_CODE["constant"], u,
                                  np.ascontiguousarray(v, float), y, np.ones(u.size),
                                  np.asarray(p0, float).copy(), np.asarray(lo, float),
                                  np.asarray(hi, float), 0.0)
    return (p, jac, float(chi2)) if status == 0 and np.all(np.isfinite(p)) else None


def _lm_cov(jm):
    """Covariance ``(J^T W J)^-1`` from the SVD of the weighted Jacobian ``jm``
    (singular values below ``eps * n * s_max`` dropped, as ``curve_fit`` does)."""
    _, sv, vt = np.linalg.svd(jm, full_matrices=False)
    keep = sv > np.finfo(float).eps * max(jm.shape) * sv[0]
    vt = vt[keep] / sv[keep, None]
    return vt.T @ vt


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
    memo = {}  # what the models of this window share (bin step, background starts)
    log_n = math.log(n)

    def entry(shape, bg, names, popt, pcov, chi2):
        k = len(names)
        return {"model": f"{shape}+{bg}", "shape": shape, "background": bg,
                "names": names, "popt": popt, "pcov": pcov, "chi2": chi2,
                "aic": chi2 + 2 * k, "bic": chi2 + k * log_n, "k": k}

    for shape in shapes:
        for bg in backgrounds:
            try:
                names, popt, pcov, chi2 = _fit_one(shape, bg, xs, ys, ws, guess, x0, numeric,
                                                   memo, deferred=True)
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                continue
            tried.append(entry(shape, bg, names, popt, pcov, chi2))
    if not tried:
        raise ValueError("no peak model could be fitted in the window "
                         f"{window[0]:.5g}..{window[1]:.5g}")
    tried.sort(key=lambda d: d[criterion])
    best = tried[0]
    if isinstance(best["pcov"], _Lazy):
        best["pcov"] = best["pcov"].pcov
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
        chi2_bg = _bg_only(best["background"], xs, ys, ws, guess, x0, numeric, memo)
        k_bg = len(_BG_PARAMS[best["background"]])
        dk = best["k"] - k_bg
        fstat = ((chi2_bg - best["chi2"]) / dk) / (best["chi2"] / dof)
        # scipy.stats.f.sf without its argument checks: fdtrc inside the support,
        # 0 at its open upper end
        f_p = (float(special.fdtrc(dk, dof, fstat)) if fstat < math.inf else 0.0) \
            if fstat > 0 else 1.0
    except (RuntimeError, ValueError):
        f_p = float("nan")
    table = tuple({"model": d["model"], "chi2": d["chi2"], "aic": d["aic"], "bic": d["bic"],
                   "n_params": d["k"]} for d in tried)
    return PeakFit(model=best["model"], shape=best["shape"], background=best["background"],
                   values=values, errors=errors, x0=x0, chi2=best["chi2"], redchi=redchi,
                   dof=dof, aic=best["aic"], bic=best["bic"], error_scale=scale,
                   f_test_p=f_p, window=(float(xs[0]), float(xs[-1])), candidates=table)
