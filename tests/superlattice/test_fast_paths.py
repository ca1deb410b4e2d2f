"""The compiled one-pass selections of the frame metrics against the numpy expressions
they replace (same pixels, same sums to the bit)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.superlattice import classify


def _frame(seed=0, shape=(64, 80)):
    rng = np.random.default_rng(seed)
    qxy, qz = np.meshgrid(np.linspace(-0.05, 0.12, shape[1]), np.linspace(-0.01, 0.1, shape[0]))
    pq = SimpleNamespace(qxy=qxy, qz=qz, q=np.hypot(qxy, qz), exit_angle=qz / 20.0)
    data = rng.poisson(200 * np.exp(-0.5 * ((np.abs(qxy) - 0.06) / 0.003) ** 2) + 50,
                       shape).astype(np.float32)
    data[20:28, 40:52] *= 0.02  # a shadow
    data[3, 7] = np.nan
    data[5, 9] = np.inf
    valid = rng.random(shape) > 0.05
    norm = 1.0 + 0.1 * rng.random(shape)
    return data, valid, norm, pq


def test_shadow_block_sums_equal_numpy_to_the_bit():
    data, valid, norm, pq = _frame()
    b, floor = classify.SHADOW_BLOCK, 1e-4
    my, mx = data.shape[0] // b, data.shape[1] // b
    use = valid & (pq.exit_angle >= floor)
    sl = (slice(0, my * b), slice(0, mx * b))

    def blocks(a):
        return a[sl].reshape(my, b, mx, b).sum(axis=(1, 3))

    cnt, nrm, npx = (np.empty((my, mx)) for _ in range(3))
    classify._block_sums(data, valid, pq.exit_angle, floor, norm, b, cnt, nrm, npx)
    assert np.array_equal(cnt, blocks(np.where(use, np.nan_to_num(data.astype(np.float64)), 0.0)))
    assert np.array_equal(nrm, blocks(np.where(use, norm, 0.0)))
    assert np.array_equal(npx, blocks(use.astype(np.float64)))
    mask, info = classify.shadow_mask(data, valid, norm, pq, floor=floor)
    assert info["blocks"] > 0 and (mask | ~valid)[22:26, 44:48].all() and not mask[50:].any()


def test_film_region_and_bands_equal_numpy():
    data, valid, norm, pq = _frame(1)
    gi = GIGeometry.from_degrees(0.2, critical_angle_deg=0.1)
    geom = SimpleNamespace(wavelength_a=1.0, dist_m=3.0,
                           generic_detector=lambda: None,  # a named detector: pyFAI's
                           make_detector=lambda: SimpleNamespace(pixel1=1e-4, pixel2=1e-4))
    keep, info = classify.film_region(data, valid, norm, pq, gi, geom, q_star=0.06,
                                      yoneda=(math.radians(0.08), "given"))
    floor = classify.exit_floor(math.radians(0.08), geom)
    spec = max(classify.SPECULAR_PIXELS * 1e-4 / 3.0 * 2 * math.pi,
               classify.SPECULAR_FRACTION * 0.06)
    off = np.abs(pq.qxy) >= spec
    assert np.array_equal(keep, valid & (pq.exit_angle >= floor) & off)
    above = valid & (pq.exit_angle >= 1.1 * gi.critical_angle)
    assert np.array_equal(info["_rod_keep"], above & off)
    assert info["_rod_qz_floor"] == pq.qz[above].min()
    band = classify._in_band(valid, pq.qz, 0.02, 0.05)
    assert np.array_equal(band, valid & (pq.qz >= 0.02) & (pq.qz < 0.05))


def test_orientation_weight_sums_equal_numpy():
    from gixs.reduce import orientation_check as oc

    data, valid, norm, _ = _frame(2, shape=(96, 130))  # > 128 pixels: the pairwise halving
    ok = valid.ravel()
    mask = np.zeros(data.shape, bool)
    mask[10:12] = True
    invalid = ~np.isfinite(data)
    norm32 = norm.ravel().astype(np.float32)  # as _pixels keeps it
    d = np.asarray(data, float).ravel()
    ref = np.where(ok & np.isfinite(d) & ~invalid.ravel() & ~mask.ravel(),
                   np.clip(np.nan_to_num(d), 0, None) / norm32, 0.0)
    below = [np.flatnonzero(np.random.default_rng(k).random(d.size) < f).astype(np.int32)
             for k, f in enumerate((0.1, 0.5, 0.97))]
    total, parts = oc._weight_sums(data, norm32, ok, mask, invalid, below)
    assert total == ref.sum()
    assert parts == [ref[b].sum() for b in below]


def test_pairwise_sum_is_numpys_sum_to_the_bit():
    from gixs.reduce.binning import pairwise_sum

    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 8, 9, 127, 128, 129, 1000, 8193, 100_003):
        a = rng.standard_normal(n) * rng.uniform(0, 1e6, n)
        assert 0.0 + pairwise_sum(a, 0, n, False) == a.sum()
        assert 0.0 + pairwise_sum(a, 0, n, True) == np.clip(a, 0, None).sum()
        if n > 10:
            assert 0.0 + pairwise_sum(a, 5, n - 9, False) == a[5:n - 4].sum()


def test_sorted_quantile_is_numpys_quantile():
    rng = np.random.default_rng(4)
    q = np.arange(1, 12) / 12
    for n in (1, 2, 11, 12, 13, 100, 1001, 54321):
        x = rng.random(n) * 10 ** rng.uniform(-3, 3)
        assert np.array_equal(classify.sorted_quantile(np.sort(x), q), np.quantile(x, q))
    x = np.array([1.0, np.nan, 2.0])
    assert np.isnan(classify.sorted_quantile(np.sort(x), q)).all()


def test_yoneda_sums_and_shadow_medians_equal_numpy():
    data, valid, norm, pq = _frame(5, shape=(70, 90))
    rng = np.random.default_rng(5)
    pix = np.flatnonzero(rng.random(data.size) < 0.6)
    nb = 13
    afbin = rng.integers(0, nb, pix.size)
    ok = valid.ravel() & np.isfinite(data.ravel())
    q = pq.q.ravel()
    q_edges = np.quantile(q[pix][ok[pix]], np.arange(1, 12) / 12)
    s, n = np.zeros(12 * nb), np.zeros(12 * nb)
    classify._nb_yoneda_sums(pix, ok, q, afbin, data.ravel(), norm.ravel(), q_edges, nb, s, n)
    use = ok[pix]
    flat = np.searchsorted(q_edges, q[pix][use]) * nb + afbin[use]
    counts = np.asarray(data.ravel()[pix][use], float)
    assert np.array_equal(s, np.bincount(flat, weights=counts, minlength=12 * nb))
    assert np.array_equal(n, np.bincount(flat, weights=norm.ravel()[pix][use],
                                         minlength=12 * nb))
    # the shadow test's per-|q|-bin medians: the lexsort they replace
    lq = np.concatenate([rng.uniform(0, 1, 5000), rng.uniform(1, 2, 100)])  # sparse bins
    vals = rng.random(lq.size)
    edges = np.linspace(lq.min(), lq.max() + 1e-12, 61)
    k, med = np.empty(lq.size, np.int64), np.empty(60)
    classify._nb_bin_medians(lq, edges, vals, k, med)
    assert np.array_equal(k, np.clip(np.digitize(lq, edges) - 1, 0, 59))
    order = np.lexsort((vals, k))
    ks, vs = k[order], vals[order]
    starts = np.searchsorted(ks, np.arange(60))
    stops = np.searchsorted(ks, np.arange(60), side="right")
    ref = np.array([vs[(a + b) // 2] if b - a >= 5 else np.nan for a, b in zip(starts, stops)])
    assert np.array_equal(med, ref, equal_nan=True) and np.isnan(ref).any()


def _window_excess_numpy(x, d, w, centre, fwhm, avoid=None):
    """The numpy window comparison that classify_peak's compiled sums replace."""
    inner = np.abs(x - centre) <= fwhm / 2
    side = (np.abs(x - centre) >= fwhm) & (np.abs(x - centre) <= 1.5 * fwhm)
    if avoid is not None:
        side &= np.abs(x - avoid) > 1.5 * fwhm
    if inner.sum() < 3 or side.sum() < 3:
        return None
    wi, ws = w[inner].sum(), w[side].sum()
    var = np.clip(d[inner], 0, None).sum() / wi ** 2 + np.clip(d[side], 0, None).sum() / ws ** 2
    return d[inner].sum() / wi - d[side].sum() / ws, math.sqrt(var)


def test_classify_sums_equal_numpy_to_the_bit():
    data, valid, norm, pq = _frame(6, shape=(120, 200))
    data -= 30  # some negative counts: the clipped variance sums
    aq, qz, d, w = np.abs(pq.qxy).ravel(), pq.qz.ravel(), data.ravel(), norm.ravel()
    lo_aq, hi_aq, fwhm = 0.02, 0.1, 0.004
    near = valid.ravel() & (aq > lo_aq) & (aq < hi_aq) & np.isfinite(d)
    pick, n, zmin, zmax = classify._nb_pick(valid.ravel(), aq, lo_aq, hi_aq, d, qz, 0.07, 0.01)
    assert n == near.sum() and zmin == qz[near].min() and zmax == qz[near].max()
    assert set(pick) <= set(np.flatnonzero(near)) and np.all(np.diff(pick) > 0)
    assert set(np.flatnonzero(near & (qz < max(0.07, zmin + 0.01)))) <= set(pick)
    edges = np.linspace(zmin, 0.065, 7)
    base_hi, above = zmin + 0.01, (0.066, 0.07)
    win = (fwhm / 2, fwhm, 1.5 * fwhm)
    stats = classify._nb_classify_sums(pick, qz, aq, d, w, edges, base_hi, *above, 0.06,
                                       np.empty(0), *win, False)
    ring = np.full(6, np.nan)
    ring[[1, 3, 4]] = (0.05, 0.045, 0.04)
    wins = classify._nb_classify_sums(pick, qz, aq, d, w, edges, base_hi, *above, 0.06, ring,
                                      *win, True)
    x, dd, z, ww = aq[near], d[near].astype(float), qz[near], w[near]
    for row, sel in ((0, z < base_hi), (1, (z >= above[0]) & (z < above[1]))):
        assert stats[row, 0] == sel.sum() >= 30
        assert classify._window_excess(wins[row]) == _window_excess_numpy(
            x[sel], dd[sel], ww[sel], 0.06, fwhm)
    found = 0
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        sel = (z >= a) & (z < b)
        assert stats[2 + k, 0] == sel.sum()
        assert stats[2 + k, 1] / stats[2 + k, 2] == np.average(z[sel], weights=ww[sel])
        if np.isnan(ring[k]):
            assert not wins[2 + k].any() and not wins[8 + k].any()
            continue
        r = _window_excess_numpy(x[sel], dd[sel], ww[sel], 0.06, fwhm, avoid=ring[k])
        g = _window_excess_numpy(x[sel], dd[sel], ww[sel], ring[k], fwhm, avoid=0.06)
        assert classify._window_excess(wins[2 + k]) == r
        assert classify._window_excess(wins[8 + k]) == g
        found += r is not None and g is not None
    assert found == 3


def test_band_rows_profile_equals_the_full_frame_one():
    import json

    from gixs import ReduceSettings
    from gixs.geometry.model import DetectorGeometry
    from gixs.reduce.frame import get_plan
    from gixs.superlattice.pixelprofile import subset_profile

    geo = DetectorGeometry(0.2, 0.001, 0.006, 0.0, 0.0, 0.0, 1e-10, "Detector", json.dumps(
        {"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": [64, 128]}))
    plan = get_plan(geo, GIGeometry.from_degrees(0.2), (64, 128),
                    ReduceSettings(npt_q=50, maps=False))
    img = np.random.default_rng(0).poisson(50, (64, 128)).astype(np.float32)
    valid = np.random.default_rng(1).random(img.shape) > 0.1
    pq = plan.pq
    for lo, hi in ((0.05, 0.09), (0.0, 0.02), (0.5, 0.6), (-1.0, 9.0)):
        r0, r1 = classify.band_rows(pq, lo, hi)
        full = classify._in_band(valid, pq.qz, lo, hi)
        assert not full[:r0].any() and not full[r1:].any()
        part = classify._in_band(valid[r0:r1], pq.qz[r0:r1], lo, hi)
        a = subset_profile(plan, "ip", full, img, merge=2)
        b = subset_profile(plan, "ip", part, img, merge=2, rows=(r0, r1))
        for f in ("x", "intensity", "sigma", "count"):
            assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
    assert classify.band_rows(pq, 0.5, 0.6) == (0, 0)
    assert 0 < classify.band_rows(pq, 0.05, 0.09)[1] - classify.band_rows(pq, 0.05, 0.09)[0] < 64


def test_hot_pixels_equal_the_median_filter():
    from scipy import ndimage

    from gixs.superlattice.hotpixels import hot_pixels

    rng = np.random.default_rng(7)
    img = rng.poisson(20, (50, 61)).astype(np.float32)
    img.ravel()[rng.integers(0, img.size, 40)] = rng.uniform(200, 5000, 40)
    img[0, :1] = 3000.0  # edges and corners: the nearest pixel repeated
    img[-1, -1] = 4000.0
    img[10, 10:12] = 3000.0  # two side by side: not hot
    img[5, 5], img[6, 6], img[7, 7] = np.nan, np.inf, -np.inf
    valid = rng.random(img.shape) > 0.05
    mask, info = hot_pixels(img, valid)
    big = np.finfo(np.float64).max
    v = np.where(valid, np.nan_to_num(img.astype(np.float64), nan=0.0, posinf=big,
                                      neginf=-big), 0.0)
    med = ndimage.median_filter(v, size=3, mode="nearest")
    with np.errstate(invalid="ignore", over="ignore"):
        ref = valid & (v > med + 10 * np.sqrt(med + 1)) & (v > 8 * (med + 1))
    assert np.array_equal(mask, ref) and info["outliers"] == ref.sum() > 30


@pytest.mark.parametrize("incidence, tilt, code, rots", [
    (0.3, 0.0, 1, (0.0, 0.0)), (0.2, 0.5, 1, (0.01, 0.02)), (0.3, 0.0, 4, (0.0, 0.01)),
    (0.15, -1.0, 7, (0.02, 0.0))])
def test_orientation_check_from_the_plan_equals_the_geometry(incidence, tilt, code, rots):
    """The below-horizon share read from a reduction plan's arrays (norm, valid pixels,
    exit angle < 0) is the one computed from the geometry, to the bit; a plan with other
    corrections is not read."""
    import dataclasses

    from gixs import simulate
    from gixs.reduce import orientation_check as oc
    from gixs.reduce.frame import ReduceSettings, get_plan

    g = DetectorGeometry(dist_m=2.0, poni1_m=40 * 172e-6, poni2_m=240 * 172e-6,
                         rot1=rots[0], rot2=rots[1], rot3=0, wavelength_m=1.0332e-10,
                         detector="Pilatus300k")
    gi = GIGeometry.from_degrees(incidence, tilt, code)
    img, mask = simulate.hex_superlattice(g, dataclasses.replace(gi, orientation=1), 9.0,
                                          rng=2, return_mask=True)
    s = ReduceSettings(npt_q=300, maps=False)
    plan = get_plan(g, gi, img.shape, s, mask)
    assert oc._plan_pixels(plan, g, img.shape, gi) is not None
    direct = oc.check_orientation(img, g, gi, mask=mask, warn=False)
    read = oc.check_orientation(img, g, gi, mask=mask, warn=False, plan=plan)
    assert read == direct and 0 < direct["below_horizon_fraction"] < 1
    for other in (dataclasses.replace(s, polarization_factor=0.9),
                  dataclasses.replace(s, solid_angle=False)):
        assert oc._plan_pixels(get_plan(g, gi, img.shape, other, mask), g, img.shape,
                               gi) is None
    other_code = dataclasses.replace(gi, orientation=4 if code != 4 else 1)
    assert oc._plan_pixels(plan, g, img.shape, other_code) is None


@pytest.mark.parametrize("shape, bg", [("gaussian", "powerlaw"), ("lorentzian", "linear"),
                                       ("pseudo_voigt", "powerlaw"), ("pseudo_voigt", "linear")])
def test_window_fit_moves_the_centre_by_a_fraction_of_its_error(shape, bg, monkeypatch):
    # the first fit of a candidate only places the window (+-2 FWHM) of the fit of every
    # model; by the pseudo-Voigt alone (ordering.WINDOW_FIT) the window moves by a few
    # bins at most, the centre by a fraction of its standard error, and it stays as close
    # to the truth as with every model in the first fit
    from gixs import peaks
    from gixs.superlattice import ordering

    x = np.linspace(0.02, 0.2, 900)
    step = x[1] - x[0]
    for seed in range(4):
        rng = np.random.default_rng(seed)
        c0 = 0.08 + 0.002 * seed
        line = {"gaussian": peaks.gaussian(x, 30.0, c0, 0.006),
                "lorentzian": peaks.lorentzian(x, 30.0, c0, 0.006),
                "pseudo_voigt": peaks.pseudo_voigt(x, 30.0, c0, 0.006, 0.5)}[shape]
        clean = line + (40 * (x / 0.05) ** -2.5 if bg == "powerlaw" else 60 - 150 * x)
        y, s = rng.normal(clean, np.sqrt(clean)), np.sqrt(clean)
        cand = max(peaks.find_peaks(x, y, s, min_snr=5.0), key=lambda c: c.snr)
        fast = ordering._fit_candidate(x, y, s, cand)
        monkeypatch.setattr(ordering, "WINDOW_FIT", {})  # every model in the first fit
        full = ordering._fit_candidate(x, y, s, cand)
        monkeypatch.undo()
        err = full.errors["centre"]
        assert np.abs(np.subtract(fast.window, full.window)).max() <= 12 * step
        assert abs(fast.values["centre"] - full.values["centre"]) < 0.25 * err
        assert abs(fast.values["centre"] - c0) < 3.5 * err
        assert fast.values["fwhm"] == pytest.approx(full.values["fwhm"],
                                                    abs=0.5 * full.errors["fwhm"])
