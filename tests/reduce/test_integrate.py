"""Reduction against pyFAI and planted truth."""

import math

import numpy as np
import pytest

from gixs import simulate
from gixs.geometry.model import GIGeometry
from gixs.reduce.frame import ReduceSettings, get_plan, reduce_frame

from ..conftest import make_geometry


def test_azimuthal_matches_pyfai_histogram(pilatus_geometry, rng):
    img = rng.poisson(100, size=(1043, 981)).astype(np.float32)
    gi = GIGeometry.from_degrees(0.0)
    red = reduce_frame(img, pilatus_geometry, gi, ReduceSettings(npt_q=500, maps=False))
    p = red.profiles["iq"]
    w = p.x[1] - p.x[0]
    ai = pilatus_geometry.make_integrator()
    ref = ai.integrate1d(img, 500, unit="q_A^-1", method=("no", "histogram", "cython"),
                         radial_range=(p.x[0] - w / 2, p.x[-1] + w / 2),
                         polarization_factor=0.99, correctSolidAngle=True,
                         mask=ai.detector.mask)
    assert np.allclose(ref.radial, p.x, rtol=0, atol=1e-6 * w * 1000)
    ok = np.isfinite(p.intensity) & (ref.intensity != 0)
    rel = np.abs(ref.intensity[ok] / p.intensity[ok] - 1)
    # identical binning; a few bin-edge pixels may fall on the other side of an edge in
    # pyFAI's float32 arithmetic: the median agrees to rounding, 99% of bins to 1e-4
    assert np.median(rel) < 1e-6
    assert np.quantile(rel, 0.99) < 1e-4


def test_planted_lab6_ring_lands_at_its_q():
    geo = make_geometry(dist=0.2, poni1=0.09, poni2=0.085, wavelength_a=0.7)
    img = simulate.calibrant_image(geo, "LaB6", rng=3, width_deg=0.02)
    red = reduce_frame(img, geo, GIGeometry(), ReduceSettings(npt_q=2000, maps=False))
    p = red.profiles["iq"].valid()
    sel = (p.x > 1.45) & (p.x < 1.57)
    q_peak = p.x[sel][np.argmax(p.intensity[sel])]
    q_100 = 2 * math.pi / 4.1569  # LaB6 (100), a = 4.1569 A (pyFAI's LaB6 file)
    assert q_peak == pytest.approx(q_100, abs=1.5 * (p.x[1] - p.x[0]))


def test_planted_rod_lands_at_q_star():
    geo = make_geometry(dist=2.5, poni1=0.012, poni2=0.085, wavelength_a=1.0332)
    gi = GIGeometry.from_degrees(0.3)
    d_nm = 8.0
    img, bs = simulate.hex_superlattice(geo, gi, d_nm, rng=5, return_mask=True)
    s = ReduceSettings(npt_q=800, q_range=(0.01, 0.25))
    red = reduce_frame(img, geo, gi, s, mask=bs)
    ip = red.profiles["ip"].valid()
    right = ip.x > 0.04
    q_peak = ip.x[right][np.argmax(ip.intensity[right])]
    bin_w = ip.x[1] - ip.x[0]
    assert q_peak == pytest.approx(2 * math.pi / (d_nm * 10), abs=2 * bin_w)


def test_cuts_equal_direct_histogram_of_pyfai_q(pilatus_geometry, rng):
    """The in-plane and out-of-plane cuts against numpy histograms of pyFAI's qip/qoop."""
    import pyFAI.units as U

    gi = GIGeometry.from_degrees(0.3)
    img = rng.poisson(50, size=(1043, 981)).astype(np.float32)
    s = ReduceSettings(npt_q=300, ip_band=(0.05, 0.15), oop_band=(-0.05, 0.05),
                       solid_angle=False, polarization_factor=None, maps=False)
    red = reduce_frame(img, pilatus_geometry, gi, s)
    fi = pilatus_geometry.make_integrator(fiber=True)
    kw = dict(incident_angle=gi.incidence, tilt_angle=0.0, sample_orientation=1)
    qip = fi.array_from_unit(unit=U.get_unit_fiber("qip_A^-1", **kw), typ="center")
    qoop = fi.array_from_unit(unit=U.get_unit_fiber("qoop_A^-1", **kw), typ="center")
    valid = fi.detector.mask == 0
    for name, coord, band_coord, band in (("ip", qip, qoop, (0.05, 0.15)),
                                          ("oop", qoop, qip, (-0.05, 0.05))):
        prof = red.profiles[name]
        w = prof.x[1] - prof.x[0]
        edges = np.append(prof.x - w / 2, prof.x[-1] + w / 2)
        sel = valid & (band_coord >= band[0]) & (band_coord < band[1])
        hs, _ = np.histogram(coord[sel], edges, weights=img[sel])
        hc, _ = np.histogram(coord[sel], edges)
        ok = (hc > 0) & (prof.count > 0)
        agree = np.isclose(prof.intensity[ok], hs[ok] / hc[ok], rtol=1e-6)
        assert agree.mean() > 0.99, name  # float32 pyFAI q moves a few edge pixels
        assert abs(prof.count.sum() - hc.sum()) <= 0.001 * hc.sum()


def test_map_agrees_with_fiber_integrator(pilatus_geometry, rng):
    gi = GIGeometry.from_degrees(0.3)
    img = rng.poisson(80, size=(1043, 981)).astype(np.float32) + 1
    s = ReduceSettings(npt_map=(200, 150), solid_angle=True, polarization_factor=None)
    m = reduce_frame(img, pilatus_geometry, gi, s).maps["qmap"]
    fi = pilatus_geometry.make_integrator(fiber=True)
    (x0, x1, y0, y1) = m.extent
    res = fi.integrate2d_grazing_incidence(
        img, npt_ip=200, npt_oop=150, unit_ip="qip_A^-1", unit_oop="qoop_A^-1",
        ip_range=(x0, x1), oop_range=(y0, y1), incident_angle=gi.incidence,
        tilt_angle=0.0, sample_orientation=1, method=("no", "histogram", "cython"),
        correctSolidAngle=True, mask=fi.detector.mask)
    assert np.allclose(res.inplane, m.x, atol=1e-6)
    assert np.allclose(res.outofplane, m.y, atol=1e-6)
    both = np.isfinite(m.intensity) & (res.intensity > 0)
    rel = np.abs(res.intensity[both] / m.intensity[both] - 1)
    assert np.median(rel) < 1e-5 and np.quantile(rel, 0.98) < 1e-3


def test_masked_and_wedge_pixels_stay_empty(pilatus_geometry, rng):
    gi = GIGeometry.from_degrees(0.2)
    img = rng.poisson(30, size=(1043, 981)).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[300:340, :] = True
    s = ReduceSettings(npt_map=(300, 300))
    a = reduce_frame(img, pilatus_geometry, gi, s, mask=mask)
    spoiled = img.copy()
    spoiled[mask] = 1e9  # masked pixels must not leak into any bin
    b = reduce_frame(spoiled, pilatus_geometry, gi, s, mask=mask)
    for k in a.profiles:
        assert np.array_equal(a.profiles[k].intensity, b.profiles[k].intensity, equal_nan=True)
    m = a.maps["qmap"]
    # the missing wedge: bins at |q_xy| ~ 0 above the horizon hold no pixel -> NaN, count 0
    ix = np.argmin(np.abs(m.x))
    iy = np.searchsorted(m.y, 0.8 * m.y.max())
    assert np.isnan(m.intensity[iy, ix]) and m.count[iy, ix] == 0
    assert np.isnan(m.intensity[m.count == 0]).all()
    assert np.isfinite(m.intensity[m.count > 0]).all()


def test_dark_flat_normalization_and_sigma(pilatus_geometry):
    gi = GIGeometry.from_degrees(0.1)
    s = ReduceSettings(npt_q=100, solid_angle=False, polarization_factor=None, maps=False)
    img = np.full((1043, 981), 110.0, np.float32)
    dark = np.full(img.shape, 10.0, np.float32)
    flat = np.full(img.shape, 2.0, np.float32)
    red = reduce_frame(img, pilatus_geometry, gi, s, dark=dark, flat=flat, normalization=5.0)
    p = red.profiles["iq"].valid()
    assert np.allclose(p.intensity, (110 - 10) / 2 / 5)
    assert np.allclose(p.sigma, np.sqrt(110 * p.count) / (2 * p.count) / 5)
    assert red.provenance["corrections"]["dark_subtracted"] is True
    assert red.provenance["corrections"]["normalization"] == 5.0


def test_plan_is_cached(pilatus_geometry):
    gi = GIGeometry.from_degrees(0.2)
    s = ReduceSettings(maps=False)
    assert get_plan(pilatus_geometry, gi, (1043, 981), s) is get_plan(
        pilatus_geometry, gi, (1043, 981), s)


def test_bad_arguments(pilatus_geometry):
    gi = GIGeometry.from_degrees(0.2)
    with pytest.raises(ValueError, match="mask has shape"):
        reduce_frame(np.ones((1043, 981)), pilatus_geometry, gi, mask=np.ones((5, 5)))
    with pytest.raises(ValueError, match="normalization must be a positive"):
        reduce_frame(np.ones((1043, 981)), pilatus_geometry, gi, normalization=0)
    with pytest.raises(ValueError, match="npt_q must be >= 2"):
        ReduceSettings(npt_q=1)


@pytest.mark.parametrize("corrections", ["none", "dark+flat"])
def test_compiled_engine_agrees_with_reference(pilatus_geometry, rng, engine_calls,
                                               corrections):
    """engine="gixs" (Numba kernel) vs engine="reference" (scipy sparse products): two
    separate code paths, checked to run (the kernel is called, the reference is not) and
    to agree, with and without dark and flat."""
    from gixs.io.frames import Frame

    gi = GIGeometry.from_degrees(0.2)
    img = rng.poisson(40, size=(1043, 981)).astype(np.float32)
    img[5, 5] = -1  # an invalid pixel
    img[700, 300] = 3e4
    corr = {}
    if corrections != "none":
        corr = {"dark": rng.uniform(0, 4, img.shape), "flat": rng.uniform(0.8, 1.2, img.shape)}
    fr = Frame(img, img < 0, "mem")
    calls = engine_calls
    a = reduce_frame(fr, pilatus_geometry, gi, **corr)
    assert calls == {"kernel": 1, "reference": 0}
    b = reduce_frame(fr, pilatus_geometry, gi, engine="reference", **corr)
    assert calls == {"kernel": 1, "reference": 1}
    for k in a.profiles:
        np.testing.assert_allclose(a.profiles[k].intensity, b.profiles[k].intensity,
                                   rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(a.profiles[k].sigma, b.profiles[k].sigma,
                                   rtol=1e-9, equal_nan=True)
        assert np.array_equal(a.profiles[k].count, b.profiles[k].count)
        assert np.isfinite(a.profiles[k].intensity).sum() > 10
    for k in a.maps:
        np.testing.assert_allclose(a.maps[k].intensity, b.maps[k].intensity, rtol=1e-9,
                                   equal_nan=True)
    with pytest.raises(ValueError, match="engine must be one of"):
        reduce_frame(fr, pilatus_geometry, gi, engine="scipy")
    with pytest.raises(ValueError, match="engine must be one of"):
        reduce_frame(fr, pilatus_geometry, gi, engine="pyfai")
