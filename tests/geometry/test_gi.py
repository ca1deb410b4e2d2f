"""The GI convention against science.md's formulas and pyFAI's FiberIntegrator."""

import math

import numpy as np
import pytest

from gixs.geometry.model import GIGeometry
from gixs.geometry.gi import analytic_q, pixel_q, refract


def _fiber_q(geometry, gi):
    import pyFAI.units as U

    fi = geometry.make_integrator(fiber=True)
    kw = dict(incident_angle=gi.incidence, tilt_angle=gi.tilt,
              sample_orientation=gi.orientation)
    qip = fi.array_from_unit(unit=U.get_unit_fiber("qip_A^-1", **kw), typ="center")
    qoop = fi.array_from_unit(unit=U.get_unit_fiber("qoop_A^-1", **kw), typ="center")
    return qip, qoop


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("incidence_deg,tilt_deg", [(0.3, 0.0), (0.0, 4.0), (2.0, 0.0)])
def test_matches_pyfai_fiber_units(pilatus_geometry, orientation, incidence_deg, tilt_deg):
    gi = GIGeometry.from_degrees(incidence_deg, tilt_deg, orientation)
    pq = pixel_q(pilatus_geometry, gi)
    qip, qoop = _fiber_q(pilatus_geometry, gi)
    # pyFAI computes in float32: 1e-5 1/A is its rounding, 1e4 times below a pixel's q step
    assert np.abs(pq.qxy - qip).max() < 2e-5
    assert np.abs(pq.qz - qoop).max() < 2e-5


def test_incidence_and_tilt_together_match_pyfai(pilatus_geometry):
    gi = GIGeometry.from_degrees(0.4, 3.0, 1)
    pq = pixel_q(pilatus_geometry, gi)
    qip, qoop = _fiber_q(pilatus_geometry, gi)
    # second-order difference in the order of the two rotations: < 1e-4 1/A
    assert np.abs(pq.qz - qoop).max() < 1e-4
    assert np.abs(np.abs(pq.qxy) - np.abs(qip)).max() < 1e-4
    # the sign of q_xy agrees except on a handful of pixels at q_xy ~ 0 +- 0.3 (< 1e-4)
    assert (np.sign(pq.qxy) != np.sign(qip)).mean() < 1e-4


def test_analytic_pixel(pilatus_geometry):
    """A pixel's q from its exit angle and in-plane angle (science.md's formulas)."""
    gi = GIGeometry.from_degrees(0.25)
    geo = pilatus_geometry
    ai = geo.make_integrator()
    pq = pixel_q(geo, gi, ai=ai)
    z, y, x = ai.calc_pos_zyx(corners=False)
    for r, c in [(10, 10), (600, 200), (1000, 900), (50, 490)]:
        # lab frame with x along the beam: the sample is inclined by a_i about the
        # in-plane axis; exit angle above the surface and in-plane angle from geometry
        u = np.array([z[r, c], x[r, c], y[r, c]])
        u /= np.linalg.norm(u)
        a_i = gi.incidence
        n = np.array([-math.sin(a_i), 0, math.cos(a_i)])
        e_x = np.array([math.cos(a_i), 0, math.sin(a_i)])
        a_f = math.asin(u @ n)
        tth_f = math.atan2(u[1], u @ e_x)
        qx, qy, qz, qxy = analytic_q(tth_f, a_f, a_i, geo.wavelength_a)
        assert pq.qz[r, c] == pytest.approx(qz, abs=1e-9)
        assert pq.qxy[r, c] == pytest.approx(qxy, abs=1e-9)
        assert pq.exit_angle[r, c] == pytest.approx(a_f, abs=1e-12)
        q_total = 4 * math.pi * math.sin(pq.two_theta[r, c] / 2) / geo.wavelength_a
        assert pq.q[r, c] == pytest.approx(q_total, rel=1e-9)


def test_refraction_shifts_qz(pilatus_geometry):
    ac = math.radians(0.15)
    plain = pixel_q(pilatus_geometry, GIGeometry.from_degrees(0.3))
    corr = pixel_q(pilatus_geometry, GIGeometry.from_degrees(0.3, critical_angle_deg=0.15))
    k0 = 2 * math.pi / pilatus_geometry.wavelength_a
    af = plain.exit_angle
    expected = k0 * (np.sin(refract(af, ac)) + math.sin(refract(math.radians(0.3), ac)))
    assert np.allclose(corr.qz, expected)
    above = af > 2 * ac
    assert (corr.qz[above] < plain.qz[above]).all()  # refraction lowers q_z
    assert np.allclose(corr.qxy, plain.qxy)
    assert refract(math.radians(0.1), ac) == 0.0
    assert float(refract(math.radians(0.3), ac)) == pytest.approx(
        math.sqrt(math.radians(0.3) ** 2 - ac ** 2))
