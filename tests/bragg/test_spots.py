"""Spot detection on planted maps: centre uncertainties and merged split arcs."""

import math

import numpy as np
import pytest

from gixs.bragg.spots import detect_spots
from gixs.results import Map2D


def _arc_map(features, rng, bg=20.0, n=400, span=(-2.0, 2.0, 0.0, 2.5)):
    """q_xy/q_z map: background + Gaussian arc features (q0, chi0_deg, height,
    radial FWHM 1/A, tangential FWHM deg), Poisson noise of bins with 4 pixels each."""
    x = np.linspace(span[0], span[1], n)
    y = np.linspace(span[2], span[3], n)
    xx, yy = np.meshgrid(x, y)
    q, chi = np.hypot(xx, yy), np.degrees(np.arctan2(xx, yy))
    img = np.full(xx.shape, bg)
    for q0, c0, h, wq, wc in features:
        img += h * np.exp(-4 * math.log(2) * (((q - q0) / wq) ** 2 + ((chi - c0) / wc) ** 2))
    count = np.full(xx.shape, 4.0)
    img = rng.poisson(img * count) / count
    return Map2D("qmap", "qxy", "qz", x, y, img, count)


@pytest.mark.parametrize("q0,chi0,sep", [(1.5, 30.0, 6.0), (2.1, -45.0, 5.0)])
def test_split_arc_merged_with_uncertainty(q0, chi0, sep):
    rng = np.random.default_rng(3)
    # two lobes of one arc (bimodal mosaic: 5 deg FWHM each, `sep` deg apart) and a
    # separate reflection at the same |q| 35 deg away (a real second spot: kept)
    lobes = [(q0, chi0 - sep / 2, 300.0, 0.03, 5.0), (q0, chi0 + sep / 2, 300.0, 0.03, 5.0)]
    other = (q0, chi0 + 35.0, 300.0, 0.03, 5.0)
    qmap = _arc_map(lobes + [other], rng)
    raw = detect_spots(qmap, spot_fwhm=0.03, merge_arcs=False)
    near = [s for s in raw if abs(s.q - q0) < 0.02
            and abs(math.degrees(math.atan2(s.qxy, s.qz)) - chi0) < sep]
    assert len(near) >= 2  # the arc is found as several local maxima
    spots = detect_spots(qmap, spot_fwhm=0.03)
    arc = [s for s in spots if abs(s.q - q0) < 0.02
           and abs(math.degrees(math.atan2(s.qxy, s.qz)) - chi0) < sep]
    assert len(arc) == 1 and arc[0].n_merged >= 2
    a = arc[0]
    truth = (q0 * math.sin(math.radians(chi0)), q0 * math.cos(math.radians(chi0)))
    # centre at the arc's mean, within 3 of its stated standard errors
    assert abs(a.qxy - truth[0]) <= 3 * a.sigma_qxy + 1e-3
    assert abs(a.qz - truth[1]) <= 3 * a.sigma_qz + 1e-3
    # the stated uncertainty covers the arc's substructure, well above one lobe's fit
    lobe_sigma = max(s.sigma_qxy for s in near)
    assert max(a.sigma_qxy, a.sigma_qz) > 3 * lobe_sigma
    # the separate reflection at the same |q| stays its own spot
    sep_spot = [s for s in spots if abs(s.q - q0) < 0.02
                and abs(math.degrees(math.atan2(s.qxy, s.qz)) - (chi0 + 35)) < 3]
    assert len(sep_spot) == 1 and sep_spot[0].n_merged == 1


@pytest.mark.slow
def test_spot_centre_errors_cover_the_error():
    """Stated centre errors cover the real error against the planted centre (RMS over
    noise realisations) and stay within 6x of it: close to it on a weak spot, where
    counting noise dominates; conservative on a strong one (they include the mismatch of
    a Cartesian Gaussian to a curved arc, a floor near 2e-4 1/A here)."""
    q0, chi0 = 1.2, 20.0
    truth = q0 * math.sin(math.radians(chi0))
    sig_by_height = {}
    for height in (60.0, 600.0):
        err, stated = [], []
        for seed in range(10):
            qmap = _arc_map([(q0, chi0, height, 0.03, 2.5)], np.random.default_rng(seed),
                            n=300, span=(0.0, 1.0, 0.6, 1.6))
            s = min(detect_spots(qmap, spot_fwhm=0.03),
                    key=lambda t: math.hypot(t.qxy - truth, t.q - q0))
            err.append(s.qxy - truth)
            stated.append(s.sigma_qxy)
        rms, sig = float(np.sqrt(np.mean(np.square(err)))), float(np.median(stated))
        assert 0.7 * rms <= sig <= 6 * rms, (height, rms, sig)
        sig_by_height[height] = (sig, rms)
    sig, rms = sig_by_height[60.0]
    assert sig <= 2 * rms


def test_spot_coverage_is_its_measured_fraction():
    """A spot cut through its centre by an unmeasured band (a detector gap) reports about
    half its weight measured; an intact one all of it; one whose fit would sit on the
    gap entirely is not a spot."""
    from scipy.special import ndtr

    x = np.arange(-1.0, 1.0 + 1e-9, 0.01)
    y = np.arange(0.0, 2.0 + 1e-9, 0.01)
    xx, yy = np.meshgrid(x, y)
    sig = 0.03 / 2.3548
    img = 20.0 + sum(h * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - 1.0) ** 2) / sig ** 2)
                     for x0, h in ((-0.5, 400.0), (0.5, 400.0)))
    img = np.random.default_rng(2).poisson(4 * img) / 4.0
    gap = (xx > 0.5 + 0.005) & (xx < 0.6)  # bins right of the spot's centre unmeasured
    img = np.where(gap, np.nan, img)
    qmap = Map2D("qmap", "qxy", "qz", x, y, img, np.where(gap, 0, 4))
    spots = {round(s.qxy, 1): s for s in detect_spots(qmap, spot_fwhm=0.03,
                                                      remove_rings=False)}
    assert spots[-0.5].coverage == pytest.approx(1.0, abs=1e-3)
    # measured bins reach x = 0.5 + half a bin: Phi(0.005 / sigma) of the weight
    assert spots[0.5].coverage == pytest.approx(ndtr(0.005 / sig), abs=0.05)
    assert spots[0.5].qxy == pytest.approx(0.5, abs=0.005)  # the fit still centres it
