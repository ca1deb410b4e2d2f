"""Geometry from numbers: equals pyFAI's setFit2D, puts the beam where it was said to be."""

import math

import numpy as np
import pyFAI.detectors
import pytest
from pyFAI.geometry import Geometry

from gixs.errors import GeometryError
from gixs.geometry.from_numbers import (fit2d_view, geometry_from_beam_center,
                                        geometry_from_header, infer_detector,
                                        sensor_from_header)

CASES = [  # detector, (x, y) px, direct distance mm, tilt deg, tilt plane deg
    ("Pilatus1M", (487.259, 512.548), 208.689, 1.083, 12.646),   # Dioptas CeO2 Fit2D view
    ("Pilatus1M", (578.9, 655.2), 233.8, 0.441, -75.0),
    ("Pilatus2M", (791.5, 1311.0), 2565.0, 0.0, 0.0),
    ("Pilatus2M", (700.0, 300.0), 1500.0, 3.0, -120.0),
    ("Eiger2 4M", (1030.0, 1100.0), 400.0, 5.0, 200.0),
    ("Pilatus300kw", (1203.0, 97.0), 273.9, 0.5, 90.0),
    ("Rayonix SX165", (2050.0, 2030.0), 120.0, 12.0, 45.0),
]


@pytest.mark.parametrize("det,centre,dist,tilt,tpr", CASES)
def test_fit2d_numbers_equal_pyfai_setfit2d(det, centre, dist, tilt, tpr):
    g = geometry_from_beam_center(det, beam_center_px=centre, distance_mm=dist,
                                  wavelength_a=0.9, tilt_deg=tilt, tilt_plane_deg=tpr)
    ref = Geometry(detector=pyFAI.detectors.detector_factory(det))
    ref.setFit2D(dist, centre[0], centre[1], tilt, tpr)
    got = [g.dist_m, g.poni1_m, g.poni2_m, g.rot1, g.rot2, g.rot3]
    want = [ref.dist, ref.poni1, ref.poni2, ref.rot1, ref.rot2, ref.rot3]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert g.wavelength_m == pytest.approx(0.9e-10)


@pytest.mark.parametrize("det,centre,dist,tilt,tpr", CASES)
def test_direct_beam_hits_the_given_centre(det, centre, dist, tilt, tpr):
    """Physical meaning, independent of pyFAI's converter: 2theta = 0 at (x, y) and the
    beam travels dist mm to get there."""
    g = geometry_from_beam_center(det, beam_center_px=centre, distance_mm=dist,
                                  energy_kev=12.0, tilt_deg=tilt, tilt_plane_deg=tpr)
    ai = g.make_integrator()
    # pyFAI's pixel-index coordinates have the pixel centre at i; Fit2D's at i + 0.5
    d1, d2 = np.array([centre[1] - 0.5]), np.array([centre[0] - 0.5])
    assert ai.tth(d1, d2)[0] == pytest.approx(0.0, abs=1e-9)
    z, y, x = ai.calc_pos_zyx(d1=d1, d2=d2)
    assert math.sqrt(z[0] ** 2 + y[0] ** 2 + x[0] ** 2) * 1e3 == pytest.approx(dist, rel=1e-9)
    assert math.degrees(math.acos(math.cos(g.rot1) * math.cos(g.rot2))) == pytest.approx(
        abs(tilt), abs=1e-9)


def test_fit2d_view_round_trip():
    g = geometry_from_beam_center("Pilatus1M", beam_center_px=(487.259, 512.548),
                                  distance_mm=208.689, wavelength_a=0.4066,
                                  tilt_deg=1.083, tilt_plane_deg=12.646)
    v = fit2d_view(g)
    assert v["direct_distance_mm"] == pytest.approx(208.689, abs=1e-9)
    assert (v["beam_center_x_px"], v["beam_center_y_px"]) == pytest.approx((487.259, 512.548))
    assert (v["tilt_deg"], v["tilt_plane_deg"]) == pytest.approx((1.083, 12.646))
    assert v["energy_kev"] == pytest.approx(12.398419843320026 / 0.4066)


def test_dioptas_fit2d_numbers_give_the_refined_poni():
    """The Fit2D view Dioptas quotes for its CeO2 geometry (3 decimals) gives back its
    PONI to the precision of those decimals (see the data set's README)."""
    g = geometry_from_beam_center("Pilatus1M", beam_center_px=(487.259, 512.548),
                                  distance_mm=208.689, wavelength_a=0.4066,
                                  tilt_deg=1.083, tilt_plane_deg=12.646)
    assert g.dist_m == pytest.approx(0.208651380603, abs=2e-6)
    assert g.poni1_m == pytest.approx(0.0872948482846, abs=2e-6)
    assert g.poni2_m == pytest.approx(0.0799601126306, abs=2e-6)
    assert g.rot1 == pytest.approx(-0.0184422457059, abs=2e-5)
    assert g.rot2 == pytest.approx(0.00413760084465, abs=2e-5)


def test_y_from_bottom_p03_hint():
    """P03's beam_center_y 368 on the 1679-row Pilatus 2M is row 1311 from the top."""
    g = geometry_from_beam_center("Pilatus2M", beam_center_px=(791.51, 368),
                                  y_from="bottom", distance_mm=2565, energy_kev=12)
    assert g.poni1_m / 172e-6 == pytest.approx(1311.0)
    assert g.poni2_m / 172e-6 == pytest.approx(791.51)
    assert fit2d_view(g)["beam_center_y_px"] == pytest.approx(1311.0)


def test_generic_detector_y_from_bottom_needs_shape():
    with pytest.raises(ValueError, match="image height"):
        geometry_from_beam_center(None, pixel_size_um=75, beam_center_px=(10, 20),
                                  y_from="bottom", distance_mm=100, energy_kev=10)
    g = geometry_from_beam_center(None, pixel_size_um=(75, 50), shape=(200, 300),
                                  beam_center_px=(10, 20), y_from="bottom",
                                  distance_mm=100, energy_kev=10)
    assert (g.poni1_m, g.poni2_m) == pytest.approx((180 * 75e-6, 10 * 50e-6))


def test_pyfai_and_nika_conventions():
    base = dict(distance_mm=300.0, energy_kev=10.0)
    py = geometry_from_beam_center("Pilatus1M", beam_center_px=(400, 500), convention="pyfai",
                                   rot_deg=(1.0, -2.0, 0.5), **base)
    assert (py.dist_m, py.poni1_m, py.poni2_m) == pytest.approx((0.3, 500 * 172e-6,
                                                                 400 * 172e-6))
    assert (py.rot1, py.rot2, py.rot3) == pytest.approx(np.radians([1.0, -2.0, 0.5]))
    nika = geometry_from_beam_center("Pilatus1M", beam_center_px=(399.5, 499.5),
                                     convention="nika", **base)
    fit2d = geometry_from_beam_center("Pilatus1M", beam_center_px=(400, 500), **base)
    assert (nika.poni1_m, nika.poni2_m) == pytest.approx((fit2d.poni1_m, fit2d.poni2_m))
    with pytest.raises(ValueError, match="Nika tilt"):
        geometry_from_beam_center("Pilatus1M", beam_center_px=(1, 1), convention="nika",
                                  tilt_deg=1.0, **base)
    with pytest.raises(ValueError, match="not Fit2D tilts"):
        geometry_from_beam_center("Pilatus1M", beam_center_px=(1, 1), convention="pyfai",
                                  tilt_deg=1.0, **base)


def test_bad_numbers_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        geometry_from_beam_center("Pilatus1M", beam_center_px=(1, 1), distance_mm=100)
    with pytest.raises(ValueError, match="positive"):
        geometry_from_beam_center("Pilatus1M", beam_center_px=(1, 1), distance_mm=-1,
                                  energy_kev=10)
    with pytest.raises(ValueError, match="not a pyFAI detector"):
        geometry_from_beam_center("Pilatus7M", beam_center_px=(1, 1), distance_mm=1,
                                  energy_kev=10)
    with pytest.raises(GeometryError, match="does not fit"):
        geometry_from_beam_center("Pilatus1M", beam_center_px=(1, 1), distance_mm=1,
                                  energy_kev=10, shape=(100, 100))


def test_infer_detector_from_shape_and_sensor():
    assert infer_detector((1043, 981), sensor="Si") == "Pilatus 1M"
    assert infer_detector((1043, 981), sensor="CdTe") == "Pilatus CdTe 1M"
    assert infer_detector((1679, 1475), sensor="Si") == "Pilatus 2M"
    assert infer_detector((619, 1475)) == "Pilatus 900k"
    with pytest.raises(ValueError, match="several detectors"):
        infer_detector((1043, 981))  # Si and CdTe module masks differ: refuse to guess
    with pytest.raises(ValueError, match="no pyFAI detector"):
        infer_detector((123, 457))
    assert infer_detector((1043, 981), header_name="Pilatus CdTe 1M") == "Pilatus CdTe 1M"
    assert sensor_from_header({"Silicon": "sensor, thickness 0.000450 m"}) == "Si"
    assert sensor_from_header({"imageDescription": "# Pixel_size 172e-6 m\r\n# Silicon "
                               "sensor, thickness 0.000450\r\n"}) == "Si"
    assert sensor_from_header({"Pixel_size": "75e-6 m"}) is None


def test_geometry_from_header_dicts():
    meta = {"wavelength_a": 0.4066, "distance_m": 0.21143, "beam_center_px": (498.18, 515.77),
            "pixel_size_m": (172e-6, 172e-6), "exposure_s": 3.0}
    g, used = geometry_from_header(meta, shape=(1043, 981), sensor="Si", source="CeO2.tif")
    assert g.detector == "Pilatus 1M"
    assert (g.dist_m, g.poni2_m, g.poni1_m) == pytest.approx(
        (0.21143, 498.18 * 172e-6, 515.77 * 172e-6))
    assert used == ["wavelength_a", "distance_m", "beam_center_px", "pixel_size_m"]
    with pytest.raises(GeometryError, match=r"\(0, 0\)"):
        geometry_from_header(dict(meta, beam_center_px=(0.0, 0.0)), shape=(1043, 981),
                             sensor="Si")
    with pytest.raises(GeometryError, match="no wavelength_a"):
        geometry_from_header({"distance_m": 0.2, "beam_center_px": (1, 2)})
    with pytest.raises(GeometryError, match="pixel size"):
        geometry_from_header(dict(meta, pixel_size_m=(75e-6, 75e-6), detector="Pilatus1M"))


# -- real Pilatus headers (skipped without ../shared/data/real) ----------------------
from ..conftest import REAL, needs_real  # noqa: E402


@needs_real
def test_header_geometry_of_the_dioptas_pilatus_tiff(tmp_path, capsys):
    """Beam_xy (498.18, 515.77) px and Detector_distance 0.21143 m from the TIFF header;
    the header has no wavelength, so it is given; Pilatus 1M from shape + Si sensor."""
    import pyFAI

    from gixs.cli.app import main

    tif = REAL / "dioptas_ceo2_pilatus1m" / "CeO2_Pilatus1M.tif"
    out = tmp_path / "h.poni"
    assert main(["geometry", "--from-header", str(tif), "-o", str(out)]) == 2
    assert "no wavelength_a" in capsys.readouterr().err
    assert main(["geometry", "--from-header", str(tif), "--wavelength-a", "0.4066",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "header: beam_center_px, distance_m" in printed
    ai = pyFAI.load(str(out))
    assert ai.detector.name == "Pilatus 1M"
    assert (ai.dist, ai.poni2, ai.poni1) == pytest.approx(
        (0.21143, 498.18 * 172e-6, 515.77 * 172e-6))
    assert ai.wavelength == pytest.approx(0.4066e-10)


@needs_real
def test_header_geometry_refused_where_the_header_holds_defaults(tmp_path, capsys):
    """CMS TIFFs carry camserver defaults (Beam_xy (0, 0), 1 m, 1.54 A): not a geometry."""
    from gixs.cli.app import main

    tif = sorted((REAL / "pywaxs_cms_giwaxs_perovskite").glob("sam0_*.tiff"))[0]
    assert main(["geometry", "--from-header", str(tif), "-o", str(tmp_path / "x.poni")]) == 2
    err = capsys.readouterr().err
    assert "header has no wavelength_a, distance_m, beam_center_px" in err


@needs_real
def test_p03_cbf_detector_from_header_and_hint_from_bottom(tmp_path, capsys):
    import pyFAI

    from gixs.cli.app import main

    cbf = sorted((REAL / "p03_gisaxs_4nm_insitu").glob("*.cbf"))[0]
    out = tmp_path / "p03.poni"
    assert main(["geometry", "--from-header", str(cbf), "--beam-center-px", "791.51", "368",
                 "--y-from", "bottom", "--distance-mm", "2565", "--energy-kev", "12",
                 "-o", str(out)]) == 0
    assert "header: detector" in capsys.readouterr().out
    ai = pyFAI.load(str(out))
    assert ai.detector.shape == (1679, 1475)
    assert ai.poni1 == pytest.approx(1311 * 172e-6)


@needs_real
def test_smi_wavelength_from_header():
    from gixs.cli.geometry import image_header

    meta, shape, sensor = image_header(str(REAL / "smi_waxs_tutorial" / "900kw_wa0.0.tif"))
    assert meta["wavelength_a"] == pytest.approx(0.77012) and shape == (619, 1475)
    assert infer_detector(shape, sensor=sensor) == "Pilatus 900k"
