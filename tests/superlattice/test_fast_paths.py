"""The compiled one-pass selections of the frame metrics against the numpy expressions
they replace (same pixels, same sums to the bit)."""

import math
from types import SimpleNamespace

import numpy as np

from gixs.geometry.model import GIGeometry
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


def test_orientation_weights_equal_numpy():
    from gixs.reduce import orientation_check as oc

    data, valid, norm, _ = _frame(2)
    ok = valid.ravel()
    mask = np.zeros(data.shape, bool)
    mask[10:12] = True
    invalid = ~np.isfinite(data)
    d = np.asarray(data, float).ravel()
    ref = np.where(ok & np.isfinite(d) & ~invalid.ravel() & ~mask.ravel(),
                   np.clip(np.nan_to_num(d), 0, None) / norm.ravel(), 0.0)
    assert np.array_equal(oc._weights(data, norm.ravel(), ok, mask, invalid), ref)
