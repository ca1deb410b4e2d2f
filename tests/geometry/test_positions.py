"""Pixel positions, 2theta, solid angle and polarization computed with numpy
(DetectorGeometry.lab_positions / solid_angle / polarization) against pyFAI as truth."""


import numpy as np
import pytest

from gixs.geometry.gi import pixel_q
from gixs.geometry.model import DetectorGeometry, GIGeometry

# several tilted geometries: (dist m, poni1 m, poni2 m, rot1, rot2, rot3 rad)
GEOMETRIES = [(0.3, 0.02, 0.085, 0.0, 0.0, 0.0),
              (0.25, 0.011, -0.004, 0.12, -0.07, 0.3),
              (2.5, 0.051, 0.049, -0.02, 0.015, -1.2),
              (0.12, -0.01, 0.03, 0.45, 0.3, 2.1)]


def _generic(geo, pixel=(79e-6, 75e-6), shape=(96, 130), orientation=None, wl=1.0332e-10):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    kw = {} if orientation is None else {"orientation": orientation}
    det = pyFAI.detectors.Detector(pixel1=pixel[0], pixel2=pixel[1], max_shape=shape, **kw)
    dist, p1, p2, r1, r2, r3 = geo
    ai = AzimuthalIntegrator(detector=det, dist=dist, poni1=p1 * shape[0] / 2048 * 20,
                             poni2=p2 * shape[1] / 2048 * 20, rot1=r1, rot2=r2, rot3=r3,
                             wavelength=wl)
    return ai, DetectorGeometry.from_integrator(ai)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_generic_detector_positions_and_corrections_equal_pyfai(geo, orientation):
    ai, g = _generic(geo, orientation=orientation)
    assert g.generic_detector() is not None  # the no-pyFAI path
    z, y, x = g.lab_positions()
    tz, ty, tx = ai.calc_pos_zyx(corners=False)
    for mine, truth in ((z, tz), (y, ty), (x, tx)):
        assert mine.shape == truth.shape
        assert _rel(mine, truth) < 1e-9
    # pyFAI's pixel centres are float32 ((i + 0.5) * pixel); its 2theta / chi arrays also
    # round the offsets from the PONI to float32 (1e-8 relative). Truth at 1e-9: pyFAI's
    # angle formulas on its float64 positions (cos(incidence) = dist / |position|, the
    # rotation keeping lengths); pyFAI's own arrays at float32 precision.
    tth = np.arctan2(np.hypot(tx, ty), tz)
    chi = np.arctan2(ty, tx)
    pq = pixel_q(g, GIGeometry(), positions=(z, y, x))
    assert _rel(pq.two_theta, tth) < 1e-9
    assert _rel(pq.two_theta, ai.center_array(unit="2th_rad", scale=False)) < 1e-7
    cosa = geo[0] / np.sqrt(tx * tx + ty * ty + tz * tz)
    assert _rel(g.solid_angle(), cosa ** 3) < 1e-9
    assert np.allclose(g.solid_angle(), ai.solidAngleArray(), rtol=3e-7, atol=0)
    for f in (0.99, 0.0, -0.5):
        pol = g.polarization(f)
        ai.reset()
        assert np.allclose(pol, ai.polarization(factor=f, path="numpy"), rtol=3e-7, atol=0)
        truth = 0.5 * (1 + np.cos(tth) ** 2 - f * np.cos(2 * chi) * np.sin(tth) ** 2)
        assert _rel(pol, truth) < 1e-9


@pytest.mark.parametrize("geo", GEOMETRIES[1:3])
def test_named_detector_positions_equal_pyfai(geo):
    """A named detector (Pilatus 1M, gaps, 172 um): pyFAI gives only its pixel layout."""
    from tests.conftest import make_geometry

    dist, p1, p2, r1, r2, r3 = geo
    g = make_geometry(dist=dist, poni1=p1 * 4, poni2=p2 * 4, rot1=r1, rot2=r2, rot3=r3)
    assert g.generic_detector() is None
    ai = g.make_integrator()
    for mine, truth in zip(g.lab_positions(), ai.calc_pos_zyx(corners=False)):
        assert _rel(mine, truth) < 1e-9
    assert np.allclose(g.solid_angle(), ai.solidAngleArray(), rtol=3e-7, atol=0)
    assert np.allclose(g.polarization(0.95), ai.polarization(factor=0.95), rtol=3e-7, atol=0)


def test_pixel_q_numpy_positions_equal_pyfai_positions():
    ai, g = _generic(GEOMETRIES[1])
    gi = GIGeometry.from_degrees(0.25, tilt_deg=1.5, orientation=2)
    fast, ref = pixel_q(g, gi), pixel_q(g, gi, ai=ai)
    for name in ("q", "qxy", "qz", "chi", "exit_angle", "two_theta"):
        a, b = getattr(fast, name), getattr(ref, name)
        assert np.max(np.abs(a - b)) < 1e-9 * max(np.max(np.abs(b)), 1.0), name


def test_generic_shape_mismatch_is_refused_without_pyfai():
    from gixs.errors import GeometryError

    _, g = _generic(GEOMETRIES[0])
    assert g.for_image_shape((96, 130)) is g
    with pytest.raises(GeometryError, match="does not match the PONI's detector"):
        g.for_image_shape((48, 65))
