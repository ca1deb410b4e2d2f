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


GENERIC_PONIS = {
    "v1": "PixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 0.208651380603\n"
          "Poni1: 0.0872948482846\nPoni2: 0.0799601126306\nRot1: -0.0184422457059\n"
          "Rot2: 0.00413760084465\nRot3: -2.77645988275e-08\nSplineFile: None\n"
          "Wavelength: 4.066e-11\n",
    "v2": "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 7.9e-05, "
          "\"pixel2\": 7.9e-05, \"max_shape\": [2048, 2048]}\nDistance: 3.0\nPoni1: 0.01\n"
          "Poni2: 0.081\nRot1: 0.0\nRot2: 0.0\nRot3: 0.0\nWavelength: 1.0332e-10\n",
    "v2.1 orientation 1": "poni_version: 2.1\nDetector: Detector\nDetector_config: "
          "{\"pixel1\": 7.5e-05, \"pixel2\": 7.9e-05, \"max_shape\": [1000, 1200], "
          "\"orientation\": 1}\nDistance: 0.3\nPoni1: 0.01\nPoni2: 0.081\nRot1: 0.01\n"
          "Rot2: -0.02\nRot3: 0.3\nWavelength: 1.0332e-10\n",
    "v2 no shape": "poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": "
          "1e-4, \"pixel2\": 5e-5}\nDistance: 0.15\nPoni1: -0.01\nPoni2: 0.02\nRot1: 0.3\n"
          "Rot2: 0.2\nRot3: -1.0\nWavelength: 1.5e-10\n"}


@pytest.mark.parametrize("name", sorted(GENERIC_PONIS))
def test_generic_poni_parsed_as_pyfai_reads_it(tmp_path, name):
    import pyFAI

    from gixs.geometry.model import load_poni, write_poni

    path = tmp_path / "g.poni"
    path.write_text(GENERIC_PONIS[name])
    truth = DetectorGeometry.from_integrator(pyFAI.load(str(path)))
    assert load_poni(path) == truth
    write_poni(truth, tmp_path / "w.poni")  # pyFAI's writer, our reader
    assert load_poni(tmp_path / "w.poni") == truth


@pytest.mark.slow
def test_reduce_of_a_generic_poni_imports_no_pyfai(tmp_path):
    """PONI read, plan built and a frame reduced with pyFAI never imported."""
    import subprocess
    import sys

    (tmp_path / "g.poni").write_text(GENERIC_PONIS["v2.1 orientation 1"].replace(
        "[1000, 1200]", "[60, 80]"))
    code = ("import sys, numpy as np\n"
            "from gixs.geometry.model import load_poni, GIGeometry\n"
            "from gixs.reduce.frame import reduce_frame, ReduceSettings\n"
            f"g = load_poni({str(tmp_path / 'g.poni')!r})\n"
            "r = reduce_frame(np.ones((60, 80)), g, GIGeometry.from_degrees(0.2),"
            " ReduceSettings(npt_q=50, npt_map=(20, 20), npt_chi=20), engine=\"reference\")\n"
            "assert np.isfinite(r.profiles['iq'].intensity).any()\n"
            "print('pyFAI' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "GIXS_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("named", [False, True])
def test_lab_positions_at_chosen_pixels_equal_the_full_arrays(named):
    if named:
        from tests.conftest import make_geometry
        g = make_geometry(dist=0.2, poni1=0.008, poni2=0.085, wavelength_a=1.0)
    else:
        _, g = _generic(GEOMETRIES[1], orientation=2)
    full = g.lab_positions()
    rows, cols = np.array([0, 5, 17, 40]), np.array([3, 0, 60, 90])
    some = g.lab_positions(pixels=(rows, cols))
    for a, b in zip(some, full):
        np.testing.assert_array_equal(a, b[rows, cols])


@pytest.mark.parametrize("critical_deg", [None, 0.12])
def test_pixel_q_in_blocks_equals_one_whole_array_pass(monkeypatch, critical_deg):
    """pixel_q works a block of pixels at a time: the numbers are those of one pass over
    the whole image (blocks that do not divide the image, a tilt, refraction)."""
    import math

    from gixs.geometry import gi as gim
    from gixs.geometry.model import GIGeometry

    g = DetectorGeometry(0.4, 0.004, 0.03, 0.01, -0.02, 0.003, 0.9e-10, "Pilatus300k")
    gi = GIGeometry(math.radians(0.2), math.radians(0.7), 4,
                    None if critical_deg is None else math.radians(critical_deg))
    small = gim.pixel_q(g, gi)
    monkeypatch.setattr(gim, "_PQ_BLOCK", 10 ** 9)
    whole = gim.pixel_q(g, gi)
    for name in gim._PQ_FIELDS:
        a, b = getattr(small, name), getattr(whole, name)
        assert a.shape == b.shape == (619, 487)
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("fields", [("q",), ("qxy", "qz", "q", "chi", "exit_angle"),
                                    ("two_theta", "chi")])
def test_pixel_q_keeps_only_the_fields_asked_with_the_same_numbers(fields):
    """pixel_q(fields=...) keeps those arrays (bit for bit those of the whole set, with
    refraction, on an image whose size is not a multiple of the block) and no other."""
    import math

    from gixs.geometry import gi as gim
    from gixs.geometry.model import GIGeometry

    g = DetectorGeometry(0.4, 0.004, 0.03, 0.01, -0.02, 0.003, 0.9e-10, "Pilatus300k")
    gi = GIGeometry(math.radians(0.3), 0.0, 1, math.radians(0.15))
    full = gim.pixel_q(g, gi)
    some = gim.pixel_q(g, gi, fields=fields)
    for name in gim._PQ_FIELDS:
        if name in fields:
            np.testing.assert_array_equal(getattr(some, name), getattr(full, name),
                                          err_msg=name)
        else:
            assert getattr(some, name) is None, name
    with pytest.raises(ValueError, match="fields: unknown PixelQ arrays \\['qx'\\]"):
        gim.pixel_q(g, gi, fields=("qx",))
