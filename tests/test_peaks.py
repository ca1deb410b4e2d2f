"""Peak finding and fitting on analytic profiles with planted truth."""

import math

import numpy as np
import pytest

from gixs.peaks import (BACKGROUNDS, SHAPES, curvature_response, find_peaks, fit_peak,
                        gaussian, lorentzian, pseudo_voigt, shape_area)


def _profile(shape="gaussian", centre=0.05, fwhm=0.004, height=50.0, noise=True, seed=0,
             eta=0.5):
    x = np.linspace(0.01, 0.12, 550)
    bg = 20 * (x / 0.05) ** -2.5 + 5
    if shape == "gaussian":
        pk = gaussian(x, height, centre, fwhm)
    elif shape == "lorentzian":
        pk = lorentzian(x, height, centre, fwhm)
    else:
        pk = pseudo_voigt(x, height, centre, fwhm, eta)
    y = bg + pk
    sigma = np.sqrt(y / 10)  # as if 10 counts per unit
    if noise:
        y = np.random.default_rng(seed).poisson(y * 10) / 10
    return x, y, sigma


def test_line_shapes_have_height_and_fwhm():
    x = np.array([0.0, 0.5])
    for f in (gaussian, lorentzian):
        assert f(x, 2.0, 0.0, 1.0) == pytest.approx([2.0, 1.0])
    assert pseudo_voigt(x, 2.0, 0.0, 1.0, 0.3) == pytest.approx([2.0, 1.0])
    # areas against numerical integration
    xx = np.linspace(-200, 200, 2_000_001)
    for shape, f in (("gaussian", gaussian), ("lorentzian", lorentzian)):
        num = np.trapezoid(f(xx, 3.0, 0.0, 1.5), xx)
        if shape == "lorentzian":  # tails beyond +-200: 2 * h F^2 / (4 * 200)
            num += 2 * 3.0 * 1.5 ** 2 / 800
        assert shape_area(shape, 3.0, 1.5) == pytest.approx(num, rel=2e-3)


def test_curvature_response_is_zero_on_a_line_and_gives_gaussian_height():
    y = 3.0 + 0.7 * np.arange(200)
    r, _ = curvature_response(y, np.ones_like(y), 4.0)
    assert np.max(np.abs(r)) < 1e-9
    k = np.arange(400.0)
    s = 6.0
    y = 10 * np.exp(-0.5 * ((k - 200) / s) ** 2)
    r, _ = curvature_response(y, np.ones_like(y), s)
    assert 2 * math.sqrt(2) * r[200] == pytest.approx(10, rel=0.02)


def test_find_peaks_on_power_law_slope():
    x, y, s = _profile()
    c = find_peaks(x, y, s)
    assert c, "no candidate"
    assert c[0].x == pytest.approx(0.05, abs=0.001)
    assert 0.002 < c[0].fwhm < 0.012


def test_find_peaks_none_on_smooth_background():
    x, y, s = _profile(height=0.0)
    assert find_peaks(x, y, s, min_snr=5) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_fit_recovers_planted_peak_and_selects_shape(shape):
    x, y, s = _profile(shape=shape, height=80.0, fwhm=0.006)
    fit = fit_peak(x, y, s, centre=0.051, fwhm=0.008, window=(0.035, 0.065),
                   backgrounds=BACKGROUNDS)
    v, e = fit.values, fit.errors
    # 3 sigma: the reported errors must cover the truth
    assert abs(v["centre"] - 0.05) < 3 * e["centre"] + 1e-6
    assert abs(v["fwhm"] - 0.006) < 3 * e["fwhm"] + 1e-5
    assert abs(v["height"] - 80) < 3 * e["height"] + 0.5
    assert fit.f_test_p < 1e-10
    if shape != "pseudo_voigt":  # pV with eta=0.5 is far from both pure shapes
        assert fit.shape in (shape, "pseudo_voigt")
    else:
        assert fit.shape == "pseudo_voigt"
    assert 0.5 < fit.redchi < 1.6


def test_fit_errors_scale_with_noise():
    """Errors shrink ~1/sqrt(counts); scatter of centres over seeds matches the error."""
    centres, errs = [], []
    for seed in range(12):
        x, y, s = _profile(height=30.0, seed=seed)
        fit = fit_peak(x, y, s, centre=0.05, fwhm=0.004, window=(0.04, 0.06),
                       shapes=("gaussian",), backgrounds=("powerlaw",))
        centres.append(fit.values["centre"])
        errs.append(fit.errors["centre"])
    scatter = np.std(centres, ddof=1)
    assert 0.5 < scatter / np.mean(errs) < 1.6


def test_fit_peak_rejects_bad_input():
    x, y, s = _profile()
    with pytest.raises(ValueError, match="peak shape"):
        fit_peak(x, y, s, centre=0.05, fwhm=0.004, shapes=("voigt",))
    with pytest.raises(ValueError, match="valid points"):
        fit_peak(x, y, s, centre=0.05, fwhm=0.004, window=(0.05, 0.0501))
    with pytest.raises(ValueError, match="fwhm"):
        fit_peak(x, y, s, centre=0.05, fwhm=-1)


@pytest.mark.parametrize("shape", SHAPES)
def test_analytic_jacobians_equal_finite_differences(shape):
    """shape_jacobian / background_jacobian against central differences of the shapes."""
    from gixs.peaks import _SHAPE_FUNCS, background, background_jacobian, shape_jacobian

    x = np.linspace(0.02, 0.09, 40)
    p = [3.0, 0.051, 0.007] + ([0.35] if shape == "pseudo_voigt" else [])
    jac = shape_jacobian(shape, x, *p)
    for i in range(len(p)):
        h = 1e-6 * abs(p[i])
        up, dn = list(p), list(p)
        up[i] += h
        dn[i] -= h
        num = (_SHAPE_FUNCS[shape](x, *up) - _SHAPE_FUNCS[shape](x, *dn)) / (2 * h)
        assert jac[:, i] == pytest.approx(num, rel=1e-6, abs=1e-9 * np.abs(num).max())
    for kind, bp in (("linear", [2.0, -30.0]), ("powerlaw", [5.0, 2.7]),
                     ("powerlaw_const", [5.0, 2.7, 1.5])):
        jac = background_jacobian(kind, x, bp, 0.05)
        for i in range(len(bp)):
            h = 1e-6 * abs(bp[i])
            up, dn = list(bp), list(bp)
            up[i] += h
            dn[i] -= h
            num = (background(kind, x, up, 0.05) - background(kind, x, dn, 0.05)) / (2 * h)
            assert jac[:, i] == pytest.approx(num, rel=1e-6, abs=1e-9 * np.abs(num).max())


@pytest.mark.parametrize("shape,centre,fwhm,height,seed", [
    ("gaussian", 0.05, 0.004, 50.0, 0), ("gaussian", 0.08, 0.010, 12.0, 1),
    ("lorentzian", 0.05, 0.006, 80.0, 2), ("lorentzian", 0.03, 0.003, 20.0, 3),
    ("pseudo_voigt", 0.06, 0.008, 40.0, 4), ("pseudo_voigt", 0.045, 0.005, 15.0, 5)])
def test_analytic_fit_equals_numerical_jacobian_fit(shape, centre, fwhm, height, seed):
    """The fast fit (own Levenberg-Marquardt, analytic Jacobian) finds the minimum that
    scipy's curve_fit with finite differences finds: same model, values within 1% of their
    error, errors to 1e-3 relative; every model that could compete (BIC within 20 of the
    best) has the same chi2 to 1e-4. (Far-off models, e.g. a straight background under a
    power-law slope, sit at poor local minima that may differ between solvers.)"""
    x, y, s = _profile(shape=shape, centre=centre, fwhm=fwhm, height=height, seed=seed)
    kw = dict(centre=centre * 1.01, fwhm=fwhm * 1.3, backgrounds=BACKGROUNDS)
    fast = fit_peak(x, y, s, **kw)
    ref = fit_peak(x, y, s, jacobian="numeric", **kw)
    assert fast.model == ref.model
    fast_chi2 = {c["model"]: c["chi2"] for c in fast.candidates}
    close = [c for c in ref.candidates if c["bic"] < ref.bic + 20]
    assert len(close) >= 2
    for c in close:
        assert fast_chi2[c["model"]] == pytest.approx(c["chi2"], rel=1e-4), c["model"]
    for k, v in ref.values.items():
        assert abs(fast.values[k] - v) <= 0.01 * ref.errors[k] + 1e-12, k
        assert fast.errors[k] == pytest.approx(ref.errors[k], rel=1e-3), k
    # the F-test p-value (often 1e-100 or less) compared on a log scale
    assert np.log(fast.f_test_p) == pytest.approx(np.log(ref.f_test_p), rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("shape,bg,seed", [("pseudo_voigt", "linear", 0),
                                           ("pseudo_voigt", "powerlaw", 1),
                                           ("gaussian", "powerlaw", 2)])
def test_compiled_trust_region_equals_scipy_curve_fit(shape, bg, seed):
    """The compiled reflective solver (the fallback of fits that end on a bound) takes
    scipy's steps: on a Gaussian peak fitted as a pseudo-Voigt (eta runs to its bound 0)
    and on plain fits it returns what ``curve_fit(method="trf")`` with the same analytic
    Jacobian returns: parameters to 1e-6 of their errors, chi2 and covariance to 1e-6."""
    from gixs import peaks

    x, y, s = _profile(shape="gaussian", centre=0.05, fwhm=0.004, height=50.0, seed=seed)
    sel = (x > 0.04) & (x < 0.06)
    x, y, s = x[sel], y[sel], s[sel]
    guess = {"height": 45.0, "centre": 0.0502, "fwhm": 0.005}
    p0 = [45.0, 0.0502, 0.005] + ([0.3] if shape == "pseudo_voigt" else [])
    lo = [0.0, x[0], 0.3 * (x[1] - x[0])] + ([0.0] if shape == "pseudo_voigt" else [])
    hi = [np.inf, x[-1], 2 * (x[-1] - x[0])] + ([1.0] if shape == "pseudo_voigt" else [])
    bp, bl, bh = peaks._bg_guess(bg, x, y, guess, 0.0502)
    p0, lo, hi = peaks._inside(p0 + bp, lo + bl, hi + bh), lo + bl, hi + bh
    func, jac = peaks._functions(shape, bg, 0.0502)
    ref = peaks._trf(func, jac, x, y, s, p0, lo, hi)
    got = peaks._trf_compiled(shape, bg, 0.0502, func, x, y, s, p0, lo, hi)
    err = np.sqrt(np.diag(ref[1]))
    assert np.all(np.abs(got[0] - ref[0]) <= 1e-6 * err + 1e-15)
    assert got[2] == pytest.approx(ref[2], rel=1e-6)
    assert got[1] == pytest.approx(ref[1], rel=1e-6, abs=1e-6 * np.abs(ref[1]).max())
    if shape == "pseudo_voigt":
        assert ref[0][3] < 0.05  # a Gaussian: eta at (or next to) its bound


def test_local_maxima_are_scipy_find_peaks():
    """The detector's maxima: scipy.signal.find_peaks' (no conditions) on plateaus, NaNs,
    ends and short arrays."""
    from scipy import signal

    from gixs.peaks import local_maxima

    rng = np.random.default_rng(11)
    for _ in range(3000):
        n = int(rng.integers(0, 30))
        a = rng.integers(0, 4, n).astype(float)
        if n and rng.random() < 0.3:
            a[rng.integers(0, n, 2)] = np.nan
        np.testing.assert_array_equal(local_maxima(a), signal.find_peaks(a)[0])


@pytest.mark.parametrize("n", [40, 500, 1025, 6000])
def test_batched_curvature_responses_are_numpy_convolve(n):
    """All scales in one batch of FFTs = np.convolve of each scale's line-extended
    profile with its kernel; the noise at chosen bins = the convolved variance there."""
    from gixs.peaks import _curvature_kernel, _pad_linear, curvature_responses, response_noise

    rng = np.random.default_rng(n)
    y = rng.poisson(1e3 * np.exp(-np.linspace(0, 3, n))).astype(float) + 5
    noise = np.sqrt(y)
    scales = [1.25 ** k for k in range(40) if 1.25 ** k <= max(n / 8, 1)]
    got = curvature_responses(y, scales)
    assert got.shape == (len(scales), n)
    idx = np.unique(rng.integers(0, n, 25))
    for s, row in zip(scales, got):
        half, kern = _curvature_kernel(s)
        ref = np.convolve(_pad_linear(y, half, max(3, int(s))), kern, mode="same")[half:-half]
        # FFT rounding: a few 1e-16 of the largest term
        assert np.max(np.abs(row - ref)) <= 1e-14 * np.max(np.abs(y)) * np.sum(np.abs(kern))
        vp = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])  # noise^2 = y
        ref_n = np.sqrt(np.convolve(vp, kern ** 2, mode="same")[half:-half])
        np.testing.assert_allclose(response_noise(noise, s, idx), ref_n[idx], rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spot2d_fit_equals_scipy_least_squares(seed):
    """The compiled 2D-Gaussian + constant fit (Bragg spots) reaches scipy's
    least_squares minimum on noisy patches (a centre off the patch middle, unequal
    widths), and a parameter with lo == hi stays where it is put."""
    from scipy.optimize import least_squares

    from gixs.peaks import fit_spot2d

    rng = np.random.default_rng(seed)
    uu, vv = np.meshgrid(np.linspace(-0.05, 0.05, 17), np.linspace(-0.04, 0.04, 13))
    u, v = uu.ravel(), vv.ravel()
    true = [50 + 50 * rng.random(), 0.01 * rng.standard_normal(), 0.008 * rng.standard_normal(),
            0.008 + 0.01 * rng.random(), 0.006 + 0.01 * rng.random(), 5.0]

    def model(p, u, v):
        return p[0] * np.exp(-0.5 * ((u - p[1]) / p[3]) ** 2
                             - 0.5 * ((v - p[2]) / p[4]) ** 2) + p[5]
    y = model(true, u, v) + rng.normal(0, 2.0, u.size)
    p0 = [40, 0, 0, 0.01, 0.01, 0]
    lo = [0, -0.05, -0.04, 0.001, 0.001, -np.inf]
    hi = [np.inf, 0.05, 0.04, 0.04, 0.04, np.inf]
    ref = least_squares(lambda p: model(p, u, v) - y, p0, bounds=(lo, hi), xtol=1e-14,
                        ftol=1e-14, gtol=1e-14).x
    got = fit_spot2d(u, v, y, p0, lo, hi)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-9)
    # the centre held at 0 (the arc-area fit of a spot)
    lo2, hi2 = list(lo), list(hi)
    lo2[1] = hi2[1] = lo2[2] = hi2[2] = 0.0
    p0b = [40, 0, 0, 0.01, 0.01, 0]
    got2 = fit_spot2d(u, v, y, p0b, lo2, hi2)[0]
    ref2 = least_squares(lambda q: model([q[0], 0, 0, q[1], q[2], q[3]], u, v) - y,
                         [40, 0.01, 0.01, 0], bounds=([0, 0.001, 0.001, -np.inf],
                                                      [np.inf, 0.04, 0.04, np.inf]),
                         xtol=1e-14, ftol=1e-14, gtol=1e-14).x
    assert got2[1] == 0.0 and got2[2] == 0.0
    np.testing.assert_allclose(got2[[0, 3, 4, 5]], ref2, rtol=1e-5, atol=1e-9)
    # a model not finite at the start: None
    assert fit_spot2d(u, v, y, [40, 0, 0, 0.0, 0.01, 0], [0, -1, -1, 0, 0, -1],
                      [np.inf, 1, 1, 1, 1, 1]) is None


def test_fit_ending_on_a_bound_keeps_the_lower_of_both_solvers(monkeypatch):
    """A model whose Levenberg-Marquardt ends on a bound is also run by the reflective
    solver from the start; the fit is the lower chi2 of the two (the reflective solver
    alone ends higher, or fails, on some of these windows: peaks, no peaks, power-law
    slopes)."""
    from gixs import peaks

    calls = []
    init = peaks._Lazy.__init__

    def spy(self, *a):
        init(self, *a)
        calls.append((a, self.chi2))

    monkeypatch.setattr(peaks._Lazy, "__init__", spy)
    x = np.linspace(0.02, 0.2, 300)
    for seed in range(24):
        rng = np.random.default_rng(seed)
        c0 = 0.1 + 0.01 * rng.standard_normal()
        line = (peaks.gaussian(x, 6.0, c0, 0.01), peaks.lorentzian(x, 6.0, c0, 0.01),
                0 * x)[seed % 3]
        clean = 40 * (x / 0.05) ** -2.0 + line + 3
        y, s = rng.normal(clean, np.sqrt(clean)), np.sqrt(clean)
        try:
            fit_peak(x, y, s, centre=0.1 + 0.02 * rng.standard_normal(), fwhm=0.008,
                     window=(0.05, 0.16))
        except ValueError:
            pass
    monkeypatch.undo()
    at_bound = reflective_higher = 0
    for (shape, bg, x0, xx, yy, w, p0, lo, hi), chi2 in calls:
        try:
            p, _, lm = peaks._lm(shape, bg, x0, xx, yy, w, p0, lo, hi)
        except RuntimeError:
            continue
        if not np.any((p <= np.asarray(lo, float)) | (p >= np.asarray(hi, float))):
            assert chi2 == lm  # inside the bounds: the Levenberg-Marquardt fit
            continue
        at_bound += 1
        func = peaks._functions(shape, bg, x0)[0]
        try:
            trf = peaks._trf_run(shape, bg, x0, func, xx, yy, w, p0, lo, hi)[2]
        except (RuntimeError, ValueError):
            trf = np.inf
        assert chi2 == min(lm, trf)
        reflective_higher += trf > lm
    assert at_bound > 50 and reflective_higher > 5
