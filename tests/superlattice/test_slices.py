"""In-plane cuts as the mean of q_z slices (pixelprofile.slice_mean): the sums and the
gap rule on constructed cases; one slice is the pooled cut. The measured effect (a
column straddling a bin edge near the horizon split into a dim and a bright bin on
BornAgain frames) is tested in test_formfactor.py against BornAgain's band maximum."""

import json
import math

import numpy as np
import pytest

from gixs import ReduceSettings
from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.reduce.frame import get_plan
from gixs.superlattice import classify
from gixs.superlattice.pixelprofile import _slice_sums, slice_mean, subset_profile


def _plan(dist=0.5, shape=(120, 400), rot1=0.0):
    geo = DetectorGeometry(dist, 0.0008, 0.012, rot1, 0.0, 0.0, 1e-10, "Detector", json.dumps(
        {"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": list(shape)}))
    gi = GIGeometry.from_degrees(0.2)
    return get_plan(geo, gi, shape, ReduceSettings(npt_q=1200, maps=False)), geo


def test_one_slice_is_the_pooled_profile():
    plan, _ = _plan()
    img = np.random.default_rng(0).poisson(50, plan.shape).astype(np.float32)
    pq = plan.pq
    sel = classify._in_band(np.ones(img.shape, bool), pq.qz, -1.0, 1.0)
    a = subset_profile(plan, "ip", sel, img, merge=3)
    b = subset_profile(plan, "ip", sel, img, merge=3, qz_slices=(-1.0, 1.0, 1))
    for f in ("x", "intensity", "sigma", "count"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-12, err_msg=f)
    with pytest.raises(ValueError, match="in-plane cut"):
        subset_profile(plan, "iq", sel, img, qz_slices=(-1.0, 1.0, 2))
    with pytest.raises(ValueError, match="hi > lo"):
        subset_profile(plan, "ip", sel, img, qz_slices=(1.0, 1.0, 2))


def test_slice_mean_bridges_short_gaps_only():
    # 2 slices, 10 bins: slice 0 misses bin 4 (a one-bin gap) and bins 7-8-9 at the end
    n = 10
    x = np.linspace(0.01, 0.1, n)
    sums = np.zeros((5, 2, n))
    level = np.array([[1.0] * n, [10.0] * n])
    have = np.ones((2, n), bool)
    have[0, 4] = False
    have[0, 7:] = False
    for s in range(2):
        for b in range(n):
            if have[s, b]:
                sums[:, s, b] = [level[s, b] * 2.0, 2.0, level[s, b] * 2.0, 2.0, 2.0 * x[b]]
    xs, inten, sigma, count = slice_mean(sums, x)
    np.testing.assert_allclose(xs, x)
    assert inten[4] == pytest.approx(5.5)  # bridged: (1 + 10) / 2
    assert inten[8] == pytest.approx(10.0)  # not bridged (the end of slice 0): slice 1 alone
    assert count[4] == 2 and count[8] == 2
    # variance of the mean of two slices
    assert sigma[0] == pytest.approx(math.sqrt(1.0 / 2 + 10.0 / 2) / 2)
    out = _slice_sums(np.array([0, 1, 1], np.int32), np.ones(3, bool),
                      np.array([1.0, 2.0, 3.0], np.float32), np.empty(0), np.ones(3),
                      np.empty(0), np.array([0.1, 0.2, 0.3]), np.array([0.0, 0.15, 0.25]),
                      0.0, 0.1, 2, 2)
    # q_z 0 -> slice 0, 0.15 -> slice 1, 0.25 outside the two slices of 0.1
    assert out[0].tolist() == [[1.0, 0.0], [0.0, 2.0]]
