"""FWHM of the first GISAXS order (rods and rings) against the noise-free profile's FWHM.

Frames: tests/superlattice/films.py rods, pixel coordinates from pyFAI (qip), the
in-plane profile analytic: Gaussians of FWHM ``rel_width x q*`` at q* x (1, sqrt3, 2) on
a diffuse Lorentzian slope. Truth: the FWHM of that noise-free first-order peak above
its background, ``rel_width x q*`` (the second order at sqrt3 q* is 12+ FWHM away).
"""

import math
import warnings

import pytest

from gixs.superlattice.ordering import measure_frame

from tests.superlattice import films

SLOW = pytest.mark.slow
# measured FWHM / truth - 1: -0.85%, +0.10%, +0.08%, +0.20% (each frame 5-11 s: slow)
CASES = [pytest.param(14, 0.4, 0.15, 3.0, "Eiger500k", 0.06, marks=SLOW),
         pytest.param(18, 0.25, 3.0, 12.5, "Pilatus300k", 0.06, marks=SLOW),
         pytest.param(10, 0.15, 1.5, 6.0, "Pilatus300k", 0.10, marks=SLOW),
         pytest.param(12, 0.3, 3.0, 8.0, "Pilatus300k", 0.04, marks=SLOW)]


@pytest.mark.parametrize("kev,ai,dist,d,det,rel", CASES)
def test_first_order_fwhm_within_5pct(kev, ai, dist, d, det, rel):
    g, gi, img, mask = films.rod_film(kev, ai, dist, d, detector=det, rel_width=rel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = measure_frame(img, g, gi, mask=mask, orientation=False)
    truth = rel * 2 * math.pi / (d * 10)
    assert res.scattering_type == "rod"
    assert res.fwhm == pytest.approx(truth, rel=0.05)
    # no instrument given: no correction, and the coherence length is 2 pi K / FWHM
    assert res.fwhm_corrected == res.fwhm and res.coherence_is_lower_bound is False
    assert res.coherence_length == pytest.approx(2 * math.pi * 0.9 / res.fwhm / 10)


# Isotropic ring films (a 3D powder of hexagonal domains, tests/superlattice/films.py
# ring_peak_film): the same analytic Gaussian orders as functions of pyFAI's |q|, Yoneda
# band 3x at a_f 0.15 deg. Truth: rel_width x q*, the FWHM of that noise-free first-order
# ring above its background (the sqrt3 order is 12+ FWHM away). Measured FWHM / truth - 1:
# +0.33%, -0.06%, +0.02%, +0.10%, +0.08%, and -3.5% where the ring's top (a_f 0.29 deg)
# barely clears the film pixels' exit-angle floor (0.23 deg): there each |q| bin holds a
# few pixels of the ring's cap whose Yoneda weight changes with |q|, so the profile itself
# is narrower (a numpy histogram of the noise-free frame over those pixels, fitted with
# scipy curve_fit: -3.3%); without the Yoneda band that case measures -0.06%.
RING_CASES = [pytest.param(18, 0.2, 3.0, 8.0, "Pilatus300k", 0.06, marks=SLOW),
              pytest.param(10, 0.15, 1.5, 6.0, "Pilatus300k", 0.10, marks=SLOW),
              pytest.param(14, 0.4, 1.5, 5.0, "Eiger500k", 0.06, marks=SLOW),
              pytest.param(8, 0.25, 2.0, 8.0, "Pilatus1M", 0.04, marks=SLOW),
              pytest.param(12, 0.3, 3.0, 6.0, "Pilatus300k", 0.05, marks=SLOW),
              pytest.param(12, 0.3, 3.0, 10.0, "Pilatus300k", 0.05, marks=SLOW)]


@pytest.mark.parametrize("kev,ai,dist,d,det,rel", RING_CASES)
def test_first_order_ring_fwhm_within_5pct(kev, ai, dist, d, det, rel):
    g, gi, img, mask = films.ring_peak_film(kev, ai, dist, d, detector=det, rel_width=rel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = measure_frame(img, g, gi, mask=mask, orientation=False)
    truth = rel * 2 * math.pi / (d * 10)
    assert res.scattering_type == "ring" and res.q_star_axis == "q"
    assert res.fwhm == pytest.approx(truth, rel=0.05)
    assert res.q_star == pytest.approx(2 * math.pi / (d * 10), rel=0.01)
