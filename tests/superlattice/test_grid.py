"""The "How good" grid of issue 10: d within 0.5% and the right kind, or a refusal.

Frames from tests/superlattice/films.py (pixel coordinates from pyFAI; rings from
sasmodels fcc_paracrystal I(|q|), rods analytic in pyFAI's q_ip); truth is the maximum of
those curves. Hexagonal rods 3-15 nm and isotropic rings 2-10 nm at 10-18 keV, incidence
0.15-0.4 deg, detector 0.15-3 m (Pilatus 300k), each measured with profile auto and no
hint. All slow (~3-7 s a frame on 2 cores); the default run has its rod and ring cases in
test_rods_rings.py.
"""

import warnings

import numpy as np
import pytest

from gixs.errors import GixsWarning, NoPeakError
from gixs.superlattice.ordering import measure_frame

from tests.superlattice import films

SLOW = pytest.mark.slow
#: (keV, incidence deg, distance m, d nm)
RODS = [pytest.param(18, 0.4, 0.3, 3.0, marks=SLOW),
        pytest.param(10, 0.15, 0.15, 3.0, marks=SLOW),
        pytest.param(14, 0.25, 0.8, 6.0, marks=SLOW),
        pytest.param(18, 0.15, 1.5, 6.0, marks=SLOW),
        pytest.param(10, 0.4, 2.0, 10.0, marks=SLOW),
        pytest.param(14, 0.3, 3.0, 10.0, marks=SLOW),
        pytest.param(12, 0.2, 3.0, 15.0, marks=SLOW),
        pytest.param(18, 0.4, 3.0, 15.0, marks=SLOW)]
RINGS = [pytest.param(10, 0.25, 1.5, 6.0, marks=SLOW),
         pytest.param(12, 0.2, 3.0, 8.0, marks=SLOW),
         pytest.param(10, 0.15, 0.8, 4.0, marks=SLOW),
         pytest.param(14, 0.4, 0.3, 3.0, marks=SLOW),
         pytest.param(18, 0.25, 0.5, 4.0, marks=SLOW),
         pytest.param(14, 0.15, 0.15, 2.0, marks=SLOW)]


def _measure(g, gi, img, mask):
    with warnings.catch_warnings():
        warnings.simplefilter("error", GixsWarning)  # no mixed/contradiction warning
        # the rods at 0.15-0.3 m are 2-3 pixels wide: measure_frame says they are
        # under-sampled (true; these symmetric rods still meet 0.5%)
        warnings.filterwarnings("ignore", message="the peak is .* pixels wide",
                                category=GixsWarning)
        return measure_frame(img, g, gi, mask=mask, orientation=False)


@pytest.mark.parametrize("kev,ai,dist,d", RODS)
def test_rod_grid(kev, ai, dist, d):
    g, gi, img, mask = films.rod_film(kev, ai, dist, d)
    res = _measure(g, gi, img, mask)
    assert res.scattering_type == "rod" and res.q_star_axis == "qxy"
    assert res.q_star == pytest.approx(films.rod_truth(d), rel=0.005)


@pytest.mark.parametrize("kev,ai,dist,d", RINGS)
def test_ring_grid(kev, ai, dist, d):
    g, gi, img, mask = films.ring_film(kev, ai, dist, d)
    res = _measure(g, gi, img, mask)
    assert res.scattering_type == "ring" and res.q_star_axis == "q"
    assert res.q_star == pytest.approx(films.sas_truth(d), rel=0.005)


@pytest.mark.slow
def test_ring_above_the_yoneda_floor_only_at_its_top_is_refused():
    """18 keV, 0.15 deg, 10 nm: the (111) ring (|q| 0.063 A^-1) reaches the film pixels
    (a_f >= 1.5 a_Y, q_z >= 0.060 A^-1) only at its top; I(|q|) of the film pixels then
    peaks on the (200) ring (+15%). Before, that was reported as q* (+13%); now refused
    (the horizon cut's arc and the (200) ring leave the rods/rings test undecided, or the
    first ring is found hidden: either reason is given)."""
    g, gi, img, mask = films.ring_film(18, 0.15, 3.0, 10.0)
    with pytest.raises(NoPeakError, match="first-order ring is not measurable|cannot tell "
                                          "rods from rings"):
        measure_frame(img, g, gi, mask=mask, orientation=False)


@pytest.mark.slow
def test_beamstop_holder_shadow_found_without_a_mask():
    """A holder's shadow (a strip of ~0.2 counts/pixel across the ring, above the
    horizon) left out of the mask drags the ring's I(|q|) (-0.31% instead of -0.15% on
    this frame): found automatically, q* equals the one with the strip masked by hand."""
    g, gi, img, mask = films.ring_film(18, 0.2, 3.0, 8.0)
    r0, c0 = int(round(g.poni1_m / 172e-6)), int(round(g.poni2_m / 172e-6))
    strip = np.zeros(img.shape, bool)
    strip[r0:, c0 + 15:c0 + 40] = True
    shadowed = img.copy()
    shadowed[strip] = np.random.default_rng(5).poisson(0.2, int(strip.sum()))
    auto = _measure(g, gi, shadowed, mask)
    hand = _measure(g, gi, shadowed, mask | strip)
    clean = _measure(g, gi, img, mask)
    found = auto.profile_choice["shadow"]["pixels"]
    assert 0.9 * strip.sum() < found < 1.2 * strip.sum()
    assert clean.profile_choice["shadow"]["pixels"] == 0  # no false shadow on a clean film
    assert auto.q_star == pytest.approx(hand.q_star, rel=5e-4)
    assert auto.q_star == pytest.approx(films.sas_truth(8.0), rel=0.005)
