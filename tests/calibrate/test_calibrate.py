"""Automatic calibration: synthetic frames of known geometry, real calibrant frames,
error paths, stored geometries and the command line."""

import dataclasses
import json
import math
import pathlib
import warnings

import numpy as np
import pytest

from gixs import CalibrationError, GeometryError, GixsWarning
from gixs.calibrate import core as cal
from gixs.calibrate import rings as cr
from gixs.plot.calibration import plot_calibration
from gixs.geometry.model import load_poni
from gixs.simulate import beam_centre_px, beamstop_mask, poisson

REAL = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
real_data = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real absent")
CMS = REAL / "pywaxs_cms_giwaxs_perovskite"

#: Requirement: refined 2theta within 0.005 deg of the truth over every pixel.
TTH_TOL_DEG = 0.005


def ring_image(geometry, calibrant, fwhm_deg=0.03, peak=2000.0, bg=20.0, seed=0):
    """Poisson powder image with rings of ``fwhm_deg`` FWHM (pyFAI's fake image).

    pyFAI's ``resolution=`` is the FWHM in degrees (gixs.simulate.calibrant_image does
    the same with its own defaults; here the tests set every parameter themselves).
    """
    from pyFAI.calibrant import get_calibrant

    c = get_calibrant(calibrant)
    c.wavelength = geometry.wavelength_m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = c.fake_calibration_image(geometry.make_integrator(), resolution=fwhm_deg,
                                       Imax=peak, Imin=0.0)
    return poisson(np.asarray(img, float) + bg, seed)


def planted(detector, centre_rc, dist_m, rot1, rot2, wavelength_a, shape=None):
    g = cal.detector_geometry(detector, shape=shape)
    p1, p2 = g.make_detector().pixel1, g.make_detector().pixel2
    return dataclasses.replace(g, dist_m=dist_m, poni1_m=(centre_rc[0] + 0.5) * p1,
                               poni2_m=(centre_rc[1] + 0.5) * p2, rot1=rot1, rot2=rot2,
                               wavelength_m=wavelength_a * 1e-10)


def max_tth_error_deg(truth, refined, shape):
    a = truth.make_integrator().center_array(shape, unit="2th_deg", scale=False)
    b = refined.make_integrator().center_array(shape, unit="2th_deg", scale=False)
    return float(np.abs(a - b).max())


def with_gaps_and_beamstop(truth, img, radius_px=15):
    """Detector gaps set to -1 (as Pilatus files have them) and a beamstop mask."""
    img = img.copy()
    dmask = truth.make_detector().mask
    if dmask is not None:
        img[dmask != 0] = -1
    bc = beam_centre_px(truth)
    return img, beamstop_mask(img.shape, (bc[0] - 0.5, bc[1] - 0.5), radius_px, arm_width_px=6)


# -- model ---------------------------------------------------------------------------
def test_tth_model_matches_pyfai():
    from pyFAI.detectors import detector_factory
    from pyFAI.ext import _geometry

    det = detector_factory("Pilatus1M")
    rng = np.random.default_rng(3)
    d1, d2 = rng.uniform(0, 1000, 500), rng.uniform(0, 980, 500)
    p1, p2, p3 = det.calc_cartesian_positions(d1, d2)
    par = (0.21, 0.09, 0.08, 0.03, -0.05, 0.2)
    ref = _geometry.calc_tth(L=par[0], rot1=par[3], rot2=par[4], rot3=par[5],
                             pos1=p1 - par[1], pos2=p2 - par[2], pos3=p3)
    assert np.allclose(cr.tth_model(par, p1, p2), ref, atol=1e-14)


# -- synthetic truth -----------------------------------------------------------------
def test_pilatus_beam_near_edge_tilted_with_gaps_and_beamstop():
    truth = planted("Pilatus1M", (60.0, 430.0), 0.20, 0.015, -0.02, 0.9763)
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "LaB6", seed=1))
    res = cal.calibrate(img, calibrant="LaB6", energy_kev=12.7, detector="Pilatus1M",
                        distance_mm=200 * 1.18, mask=stop)
    assert max_tth_error_deg(truth, res.geometry, img.shape) < TTH_TOL_DEG
    rep = res.report
    assert rep["n_rings"] >= 3 and rep["residual_rms_px"] < 0.3
    # Fit2D beam centre is where the beam hits (tilted): compare to pyFAI's own
    f_true = truth.fit2d()
    assert abs(rep["fit2d"]["beam_centre_x_px"] - f_true["centerX"]) < 0.2
    assert abs(rep["fit2d"]["beam_centre_y_px"] - f_true["centerY"]) < 0.2


@pytest.mark.slow
def test_binned_rayonix_2048_no_distance_guess():
    truth = planted("Rayonix SX165", (1100.0, 950.0), 0.11, -0.01, 0.012, 1.0,
                    shape=(2048, 2048))
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "CeO2", seed=2), 20)
    res = cal.calibrate(img, calibrant="CeO2", wavelength_a=1.0, detector="Rayonix SX165",
                        mask=stop)
    assert json.loads(res.geometry.detector_config)["pixel1"] == pytest.approx(79e-6)
    assert max_tth_error_deg(truth, res.geometry, img.shape) < TTH_TOL_DEG


@pytest.mark.slow
def test_agbh_low_angle_beam_at_edge_broad_rings():
    truth = planted("Pilatus1M", (15.0, 500.0), 0.9, 0.0, 0.01, 1.2)
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "AgBh", fwhm_deg=0.06,
                                                         seed=3), 10)
    res = cal.calibrate(img, calibrant="AgBh", wavelength_a=1.2, detector="Pilatus1M",
                        distance_mm=800, mask=stop)
    assert max_tth_error_deg(truth, res.geometry, img.shape) < TTH_TOL_DEG
    assert res.report["parameters"]["dist_m"]["stderr"] > 0


@pytest.mark.slow
def test_refine_wavelength_recovers_it():
    truth = planted("Pilatus1M", (520.0, 480.0), 0.12, 0.01, 0.0, 0.7)
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "CeO2", seed=4))
    res = cal.calibrate(img, calibrant="CeO2", wavelength_a=0.7 * 1.003,
                        detector="Pilatus1M", distance_mm=130, mask=stop,
                        refine_wavelength=True)
    rep = res.report["parameters"]["wavelength_m"]
    assert rep["refined"]
    # started 0.3 % off; rings up to 2theta ~ 45 deg pin it to better than 0.05 %
    assert abs(rep["value"] / 0.7e-10 - 1) < 5e-4 and rep["stderr"] > 0
    assert max_tth_error_deg(truth, res.geometry, img.shape) < TTH_TOL_DEG


# -- failures and warnings -----------------------------------------------------------
def test_wrong_energy_gives_clear_error():
    truth = planted("Pilatus1M", (520.0, 480.0), 0.25, 0.0, 0.0, 1.0)
    img = ring_image(truth, "Si", seed=5)
    with pytest.raises(CalibrationError, match=r"need at least 3; check energy and distance"):
        cal.calibrate(img, calibrant="AgBh", wavelength_a=1.0, detector="Pilatus1M")


def test_bad_arguments():
    img = np.ones((1043, 981), np.float32)
    with pytest.raises(ValueError, match="not a pyFAI detector name"):
        cal.calibrate(img, calibrant="LaB6", energy_kev=12, detector="NoSuchCam")
    with pytest.raises(ValueError, match="not a pyFAI calibrant"):
        cal.calibrate(img, calibrant="unobtainium", energy_kev=12, detector="Pilatus1M")
    with pytest.raises(ValueError, match="exactly one of"):
        cal.calibrate(img, calibrant="LaB6", detector="Pilatus1M")
    with pytest.raises(GeometryError, match="does not fit detector"):
        cal.calibrate(np.ones((100, 100)), calibrant="LaB6", energy_kev=12,
                      detector="Pilatus1M")


@pytest.mark.slow
def test_large_residual_warning_and_outputs(tmp_path, monkeypatch):
    import pyFAI

    truth = planted("Pilatus1M", (300.0, 700.0), 0.18, 0.0, 0.01, 0.8)
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "LaB6", seed=6))
    monkeypatch.setattr(cal, "WARN_RMS_PX", 0.0)
    with pytest.warns(GixsWarning, match="residual RMS"):
        res = cal.calibrate(img, calibrant="LaB6", wavelength_a=0.8, detector="Pilatus1M",
                            distance_mm=170, mask=stop)
    res.write_poni(tmp_path / "out.poni")
    res.to_json(tmp_path / "out.json")
    plot_calibration(res, tmp_path / "qa.png")
    assert (tmp_path / "qa.png").stat().st_size > 0
    ai = pyFAI.load(str(tmp_path / "out.poni"))
    assert ai.dist == pytest.approx(res.geometry.dist_m, rel=1e-12)
    assert ai.detector.name == "Pilatus 1M"
    rep = json.loads((tmp_path / "out.json").read_text())
    for key in ("dist_m", "poni1_m", "poni2_m", "rot1_rad", "rot2_rad"):
        assert rep["parameters"][key]["stderr"] > 0
    assert rep["residual_max_px"] >= rep["residual_rms_px"] > 0
    assert rep["units"]["dist_m"] == "m" and rep["n_control_points"] > 100
    assert (tmp_path / "qa.png").stat().st_size > 10000


# -- stored geometries ----------------------------------------------------------------
def test_known_geometries_load_and_errors(tmp_path, monkeypatch):
    names = cal.known_geometries()
    assert "cms_lab6_jun23" in names
    geo = cal.known_geometry("cms_lab6_jun23")
    assert 0.2 < geo.dist_m < 0.26 and geo.wavelength_a == pytest.approx(0.9763, rel=1e-3)
    with pytest.raises(GeometryError, match="no stored geometry named 'nope'"):
        cal.known_geometry("nope")
    monkeypatch.setenv("GIXS_CALIBRATIONS", str(tmp_path / "absent"))
    with pytest.raises(GeometryError, match="not found"):
        cal.known_geometry("cms_lab6_jun23")


# -- real calibrant frames ------------------------------------------------------------
def _compare(res, poni):
    import pyFAI

    ref = pyFAI.load(str(poni)).getFit2D()
    f = res.report["fit2d"]
    return (math.hypot(f["beam_centre_x_px"] - ref["centerX"],
                       f["beam_centre_y_px"] - ref["centerY"]),
            abs(f["direct_distance_mm"] / ref["directDist"] - 1))


@pytest.mark.slow
@real_data
def test_real_dioptas_ceo2():
    from gixs.io.frames import read_frame

    folder = REAL / "dioptas_ceo2_pilatus1m"
    fr = read_frame(folder / "CeO2_Pilatus1M.tif")
    # Dioptas flips images upside down on loading; its PONI refers to the flipped frame
    img = np.where(fr.invalid, -1, fr.data)[::-1]
    res = cal.calibrate(img, calibrant="CeO2", wavelength_a=0.4066, detector="Pilatus1M",
                        distance_mm=240)
    dc, dd = _compare(res, folder / "CeO2_Pilatus1M.poni")
    assert dc < 1.0 and dd < 0.003     # requirement: 1 px, 0.3 %
    assert res.report["residual_rms_px"] < 0.5


@pytest.mark.slow
@real_data
def test_real_cms_lab6():
    res = cal.calibrate(str(CMS / "LaB6_5.6m_12.7keV_957.4s_x-1.601_th0.500_5.00s_"
                                  "1116948_maxs.tiff"),
                        calibrant="LaB6", energy_kev=12.7, detector="Pilatus1M",
                        distance_mm=270,
                        mask=str(CMS / "jun23_nslsii11bmcms_WAXS2pil1M_mask_01.edf"))
    dc, dd = _compare(res, CMS / "jun23_poni_01_LaB6_5.6m_12.7keV_corrected_1150.1s_"
                                 "x-1.601_th0.500_5.00s_1116949_maxs.poni")
    # measured: 2.7 px (along x) and 0.01 %; the reference was fitted on the next scan
    # (see calibrations/README.md), so the centre tolerance here is 3.5 px, not 1 px
    assert dc < 3.5 and dd < 0.003


@pytest.mark.slow
@real_data
def test_real_cms_agbh_kw():
    res = cal.calibrate(str(CMS / "AgBH_cali_12.7kev_openarea_5.8m_maxs_on_KW_35.9s_x-0.761_"
                                  "th0.130_10.00s_987819_maxs.tiff"),
                        calibrant="AgBh", energy_kev=12.7, detector="Pilatus1M",
                        mask=str(CMS / "mar23_nslsii_11bmcms_pilatus800k_mask_1.edf"))
    mar = _compare(res, CMS / "ponifile_mar23_agbhKW_12p7keV_th0p13_ringpoints12.poni")
    apr = _compare(res, CMS / "apr23_ringpoints_120_AgBH_cali_12.7kev_openarea_5.8m_maxs_"
                              "on_KW_35.9s_x-0.761_th0.130_10.00s_987819_maxs.poni")
    # the two reference fits differ from each other by 2.9 px and 0.9 %: we sit between
    assert mar[0] < 2.5 and apr[0] < 2.5
    assert min(mar[1], apr[1]) < 0.003 and max(mar[1], apr[1]) < 0.01


# -- command line ---------------------------------------------------------------------
@pytest.mark.slow
def test_cli_calibrate(tmp_path, capsys):
    import fabio
    import pyFAI

    from gixs.cli.app import main

    truth = planted("Pilatus1M", (700.0, 300.0), 0.22, 0.01, 0.005, 1.0)
    img, stop = with_gaps_and_beamstop(truth, ring_image(truth, "CeO2", seed=7))
    fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(tmp_path / "ceo2.tif"))
    fabio.edfimage.EdfImage(data=stop.astype(np.uint8)).write(str(tmp_path / "mask.edf"))
    args = ["calibrate", str(tmp_path / "ceo2.tif"), "--calibrant", "CeO2",
            "--wavelength-a", "1.0", "--detector", "Pilatus1M", "--distance-mm", "190",
            "--mask", str(tmp_path / "mask.edf"), "-o", str(tmp_path / "out.poni"),
            "--report", str(tmp_path / "out.json")]
    assert main(args) == 0
    assert "rings" in capsys.readouterr().out
    geo = load_poni(tmp_path / "out.poni")
    assert max_tth_error_deg(truth, geo, img.shape) < TTH_TOL_DEG
    assert pyFAI.load(str(tmp_path / "out.poni")).detector.shape == (1043, 981)
    assert json.loads((tmp_path / "out.json").read_text())["source"].endswith("ceo2.tif")
    # wrong energy: one-line error, exit 2, no PONI written
    bad = args[:4] + ["--energy-kev", "40"] + args[6:-4] + ["-o", str(tmp_path / "x.poni")]
    assert main(bad) == 2
    assert "check energy and distance" in capsys.readouterr().err
    assert not (tmp_path / "x.poni").exists()
