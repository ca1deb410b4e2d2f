"""Several detector parts (modules on an arc, detector positions) reduced into one I(q):
the reference is pyFAI's MultiGeometry on the same pixels (no pixel splitting)."""

import dataclasses
import math

import numpy as np
import pytest

from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.reduce.frame import ReduceSettings, reduce_frame
from gixs.reduce.multi import (DetectorPart, reduce_parts, rotated_frame_geometry,
                               smi_waxs_parts)

PX = 172e-6
SHAPE = (200, 300)


def _geometry(dist_m, poni1_px, poni2_px, rot1_deg, rot2_deg, wavelength_a):
    import json

    return DetectorGeometry(dist_m, poni1_px * PX, poni2_px * PX, math.radians(rot1_deg),
                            math.radians(rot2_deg), 0.0, wavelength_a * 1e-10, "Detector",
                            json.dumps({"pixel1": PX, "pixel2": PX,
                                        "max_shape": list(SHAPE)}))


def _rings(geometry, sel, rng, peaks):
    """Poisson counts of powder rings at ``peaks`` (q in 1/A) seen by ``geometry``."""
    ai = geometry.make_integrator()
    q = ai.array_from_unit(shape=SHAPE, unit="q_A^-1", typ="center")
    mean = 40.0 + sum(800.0 * np.exp(-0.5 * ((q - p) / 0.01) ** 2) for p in peaks)
    mean *= ai.solidAngleArray(SHAPE)
    return np.where(sel, rng.poisson(mean), 0).astype(np.float32)


def _pyfai_multi(images, parts, npt, radial_range, pol, monitors=None):
    from pyFAI.multi_geometry import MultiGeometry

    ais = [p.geometry.make_integrator() for p in parts]
    mg = MultiGeometry(ais, unit="q_A^-1", radial_range=radial_range,
                       azimuth_range=(-180, 180), threadpoolsize=0)
    masks = [(~p.selection(SHAPE)).astype(np.int8) for p in parts]
    return mg.integrate1d([images[p.image] for p in parts], npt, correctSolidAngle=True,
                          polarization_factor=pol, lst_mask=masks, error_model="poisson",
                          method=("no", "histogram", "cython"),
                          normalization_factor=None if monitors is None else
                          [monitors[p.image] for p in parts])


def _agree(iq, ref, c0, both):
    """Bins with the same pixels agree to 1e-6 (measured ~1e-7: pyFAI's float32); pixels
    lying on a bin edge may go to the neighbour bin (pyFAI keeps float32 edges): the
    same pixels in all, at most 2 moved into or out of a bin, in at most 3 % of the
    bins."""
    rel = np.abs(iq.intensity[both] / (ref.intensity[both] * c0) - 1)
    dn = np.abs(iq.count[both] - ref.count[both])
    print(f"median {np.median(rel):.2g} max(same pixels) {rel[dn == 0].max():.2g} "
          f"bins off by a pixel {np.mean(dn > 0):.3f}")
    assert iq.count.sum() == ref.count.sum()
    assert dn.max() <= 2 and np.mean(dn > 0) <= 0.03
    assert rel[dn == 0].max() < 1e-6 and np.median(rel) < 1e-7


CASES = {  # modules of one frame on an arc: (wavelength A, distance m, arc step deg)
    "12keV_0.25m_7deg": (1.0332, 0.25, 7.0),
    "14keV_0.28m_7.47deg": (0.8856, 0.278, 7.47),
    "18keV_0.40m_4deg": (0.6888, 0.40, 4.0),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=[] if i == 1 else pytest.mark.slow)
                                  for i, c in enumerate(CASES)])
def test_modules_on_an_arc_equal_pyfai_multigeometry(case):
    wl, dist, step = CASES[case]
    rng = np.random.default_rng(len(case))
    spans = [(0, 62), (69, 131), (138, 200)]  # three modules, 7-row gaps between
    parts = [DetectorPart(_geometry(dist, 100 - 69 * i, -40, (i - 1) * step,
                                    0.5 * (i - 1), wl), rows=s, name=f"module {i}")
             for i, s in enumerate(spans)]
    img = sum(_rings(p.geometry, p.selection(SHAPE), rng, (1.0, 1.6, 2.3)) for p in parts)
    gi = GIGeometry.from_degrees(0.2)
    settings = ReduceSettings(npt_q=300, maps=False, cuts=False, polarization_factor=0.95)
    iq = reduce_parts(img, parts, gi, settings).profiles["iq"]
    w = iq.x[1] - iq.x[0]
    ref = _pyfai_multi([img], parts, iq.x.size, (iq.x[0] - w / 2, iq.x[-1] + w / 2), 0.95)
    np.testing.assert_allclose(iq.x, ref.radial, rtol=3e-7)  # pyFAI keeps float32 bins
    # pyFAI divides by the absolute solid angle (sr); gixs by the solid angle relative
    # to a pixel at the first part's PONI
    c0 = PX * PX / parts[0].geometry.dist_m ** 2
    both = np.isfinite(iq.intensity) & (ref.count > 0)
    assert np.array_equal(np.isfinite(iq.intensity), ref.count > 0)
    rel = np.abs(iq.intensity[both] / (ref.intensity[both] * c0) - 1)
    _agree(iq, ref, c0, both)
    srel = np.abs(iq.sigma[both] / (ref.sigma[both] * c0) - 1)
    assert np.median(srel) < 1e-6
    # the three rings sit where they were put
    for q0 in (1.0, 1.6, 2.3):
        win = np.abs(iq.x - q0) < 0.05
        if q0 + 0.05 > iq.x[-1]:
            continue
        assert iq.x[win][np.nanargmax(iq.intensity[win])] == pytest.approx(q0, abs=w)


def test_several_detector_positions_equal_pyfai_multigeometry():
    """A WAXS arc scanned over three angles: one image per position, all pixels, each
    with its own exposure time."""
    rng = np.random.default_rng(3)
    parts = [DetectorPart(_geometry(0.27, 30, 150, a, 0.0, 0.6888), image=i,
                          name=f"wa {a:g} deg") for i, a in enumerate((0.0, 6.5, 13.0))]
    full = np.ones(SHAPE, bool)
    exposures = [1.0, 2.0, 0.5]
    imgs = [_rings(p.geometry, full, rng, (1.2, 2.0, 2.9)) * t for p, t in zip(parts, exposures)]
    gi = GIGeometry.from_degrees(0.0)
    settings = ReduceSettings(npt_q=400, maps=False, cuts=False, polarization_factor=0.99)
    red = reduce_parts(imgs, parts, gi, settings, normalization=exposures)
    iq = red.profiles["iq"]
    w = iq.x[1] - iq.x[0]
    ref = _pyfai_multi(imgs, parts, iq.x.size, (iq.x[0] - w / 2, iq.x[-1] + w / 2), 0.99,
                       exposures)
    c0 = PX * PX / 0.27 ** 2
    both = np.isfinite(iq.intensity) & (ref.count > 0)
    assert both.sum() > 300
    _agree(iq, ref, c0, both)
    assert [p["name"] for p in red.provenance["parts"]] == ["wa 0 deg", "wa 6.5 deg",
                                                             "wa 13 deg"]
    # the scan reaches further in q than the first position alone
    one = reduce_frame(imgs[0], parts[0].geometry, gi, settings).profiles["iq"]
    assert iq.x[-1] > one.x[-1] + 0.5


def test_one_part_is_reduce_frame_and_maps_and_cuts_bin_alike():
    rng = np.random.default_rng(5)
    g = _geometry(0.3, 20, 150, 0.0, 0.0, 1.0332)
    img = rng.poisson(30, SHAPE).astype(np.float32)
    gi = GIGeometry.from_degrees(0.3)
    s = ReduceSettings(npt_q=120, npt_map=(40, 30), npt_chi=36)
    a = reduce_parts(img, [DetectorPart(g)], gi, s)
    b = reduce_frame(img, g, gi, s)
    for key in b.profiles:
        np.testing.assert_allclose(a.profiles[key].x, b.profiles[key].x, rtol=1e-9)
        np.testing.assert_allclose(a.profiles[key].intensity, b.profiles[key].intensity,
                                   rtol=1e-9)
    np.testing.assert_allclose(a.maps["qmap"].intensity, b.maps["qmap"].intensity, rtol=1e-9)


def test_bad_parts_are_refused():
    g = _geometry(0.3, 20, 150, 0.0, 0.0, 1.0332)
    img = np.ones(SHAPE, np.float32)
    gi = GIGeometry.from_degrees(0.3)
    with pytest.raises(ValueError, match="share pixels"):
        reduce_parts(img, [DetectorPart(g, rows=(0, 120), name="a"),
                           DetectorPart(g, rows=(100, 200), name="b")], gi)
    with pytest.raises(ValueError, match="wavelength"):
        reduce_parts(img, [DetectorPart(g, rows=(0, 100)), DetectorPart(
            dataclasses.replace(g, wavelength_m=0.9e-10), rows=(100, 200))], gi)
    with pytest.raises(ValueError, match=r"rows 150:260 must satisfy"):
        reduce_parts(img, [DetectorPart(g, rows=(150, 260))], gi)
    with pytest.raises(ValueError, match="image 1 but 1 image"):
        reduce_parts(img, [DetectorPart(g, image=1)], gi)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotated_frame_geometry_places_every_pixel_where_pyfai_does(k):
    """A geometry stated on numpy.rot90(image, k) and its image-frame equivalent put
    every pixel at the same point (pyFAI positions)."""
    import json

    raw_shape = (40, 70)
    rshape = raw_shape if k % 2 == 0 else raw_shape[::-1]
    g_rot = DetectorGeometry(0.21, 13 * PX, 25 * PX, math.radians(9.0),
                             math.radians(-2.0), math.radians(1.0), 0.8e-10, "Detector",
                             json.dumps({"pixel1": PX, "pixel2": PX,
                                         "max_shape": list(rshape)}))
    raw = rotated_frame_geometry(g_rot, raw_shape, k)
    r, c = np.indices(raw_shape)
    idx = np.rot90(r * raw_shape[1] + c, k)  # rotated pixel (i, j) holds raw pixel idx
    i, j = np.indices(rshape)
    want = np.stack(g_rot.make_integrator().calc_pos_zyx(d1=i.astype(float),
                                                         d2=j.astype(float)), -1)
    rr, cc = np.divmod(idx, raw_shape[1])
    got = np.stack(raw.make_integrator().calc_pos_zyx(d1=rr.astype(float),
                                                      d2=cc.astype(float)), -1)
    assert np.abs(got - want).max() < 1e-12


def test_smi_900kw_modules_follow_smi_analysis_layout():
    parts = smi_waxs_parts("900KW", distance_mm=278, center_px=(306, 1255),
                           wavelength_a=0.88564, arc_deg=10.6)
    assert [p.rows for p in parts] == [(0, 195), (212, 407), (424, 619)]
    # at arc angle 0 the direct beam hits the middle module at turned column 306, row
    # 1255: image row 306, column 1475 - 1255 (Fit2D centres count pixel edges)
    mid = smi_waxs_parts("900KW", distance_mm=278, center_px=(306, 1255),
                         wavelength_a=0.88564, arc_deg=0.0)[1].geometry
    f = mid.fit2d()
    assert f["centerY"] == pytest.approx(306, abs=1e-6)
    assert f["centerX"] == pytest.approx(1475 - 1255, abs=1e-6)
    assert f["directDist"] == pytest.approx(278, abs=1e-6)
    # the modules continue one another along the arc: the horizontal scattering angle
    # grows across the image rows, with a gap of about the 17 missing pixels between
    # modules (a flat layout has 18 pitches from one module's last pixel to the next
    # one's first; modules turned inwards on the arc come a little closer)
    ends = []
    for p in smi_waxs_parts("900KW", distance_mm=278, center_px=(306, 1255),
                            wavelength_a=0.88564, arc_deg=0.0):
        z, _, x = p.geometry.make_integrator().calc_pos_zyx(
            d1=np.array(p.rows, float) - [0, 1], d2=np.array([220.0, 220.0]))
        ends.append(np.degrees(np.arctan2(x, z)))
    gaps = [ends[i + 1][0] - ends[i][1] for i in range(2)]
    pitch = math.degrees(math.atan(PX / 0.278))
    assert all(15 < g / pitch < 19 for g in gaps)
    assert all(np.diff(np.ravel(ends)) > 0)
    with pytest.raises(ValueError, match="900KW, 300KW"):
        smi_waxs_parts("1M", distance_mm=278, center_px=(1, 1), wavelength_a=1.0)
