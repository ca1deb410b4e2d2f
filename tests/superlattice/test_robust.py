"""Robust intensity metrics: hot pixels masked and counted, peak-to-valley never at q*."""

import math

import numpy as np
import pytest

from gixs.errors import GixsWarning, NoPeakError
from gixs.io.frames import Frame
from gixs.peaks import gaussian
from gixs.results import Profile
from gixs.superlattice.hotpixels import hot_pixels
from gixs.superlattice.ordering import measure, measure_frame

from tests.superlattice import films


@pytest.mark.slow
def test_hot_pixels_masked_counted_and_cutoff_from_metadata():
    g, gi, img, mask = films.rod_film(14, 0.4, 0.15, 3.0, detector="Eiger500k")
    clean = measure_frame(img, g, gi, mask=mask, orientation=False)
    rng = np.random.default_rng(4)
    hot = img.copy()
    rows, cols = rng.integers(60, 500, 40), rng.integers(0, 1030, 40)
    hot[rows, cols] = 5e5  # isolated spikes
    hot[100, 100] = 2e6    # above the count cutoff given by the header
    fr = Frame(hot, ~np.isfinite(hot), "hot.tif", 0, {"count_cutoff": 1e6})
    res = measure_frame(fr, g, gi, mask=mask, orientation=False)
    info = res.profile_choice["hot_pixels"]
    assert info["above_count_cutoff"] == 1
    assert info["outliers"] == len(set(zip(rows, cols)) - {(100, 100)})
    assert res.q_star == pytest.approx(clean.q_star, rel=1e-3)
    assert len(res.orders) == len(clean.orders)
    # a clean frame has none
    assert clean.profile_choice["hot_pixels"]["outliers"] == 0


@pytest.mark.slow
def test_hot_pixel_rule_keeps_features_several_pixels_wide():
    y, x = np.indices((60, 60))
    img = 10 + 500 * np.exp(-0.5 * ((x - 30) / 1.5) ** 2)  # a rod 3.5 px wide
    mask, info = hot_pixels(img, np.ones(img.shape, bool))
    assert not mask.any() and info["outliers"] == 0


def test_peak_to_valley_never_at_q_star_nor_negative():
    """A peak on a steep q^-4 fall: its valley is away from q* and below the peak. The
    same peak too weak to have a top of its own (a shoulder, the low side above it
    everywhere) was measured at the search's edge with a valley from the high side; it is
    refused: no observed peak, no peak-to-valley."""
    q, fw = 0.05, 0.004
    x = np.linspace(0.02, 0.12, 600)
    for h in (100.0, 600.0):
        y = 1000 * (x / q) ** -4 + gaussian(x, h, q, fw)
        p = Profile("iq", "q", x, y, np.sqrt(y) / 10, np.full(x.size, 100), {})
        if h < 200:
            with pytest.raises(NoPeakError, match="is a shoulder"):
                measure(p, valley="low")
            continue
        res = measure(p, valley="low")
        assert abs(res.valley_q - res.q_star) >= res.fwhm / 2
        assert res.peak_to_valley > 0 and res.peak_to_valley_ratio > 1
        assert math.isfinite(res.valley) and res.q_star == pytest.approx(q, rel=0.01)
