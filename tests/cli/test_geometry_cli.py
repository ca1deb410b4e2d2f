"""gixs geometry: PONI from numbers, stored names, Fit2D view printed back."""

import pyFAI
import pytest
from pyFAI.geometry import Geometry
import pyFAI.detectors

from gixs.cli.app import main
from gixs.cli.common import load_geometry
from gixs.errors import GeometryError


def test_geometry_writes_poni_equal_to_setfit2d(tmp_path, capsys):
    out = tmp_path / "g.poni"
    assert main(["geometry", "--detector", "Pilatus1M", "--beam-center-px", "487.259",
                 "512.548", "--distance-mm", "208.689", "--wavelength-a", "0.4066",
                 "--detector-tilt-deg", "1.083", "--tilt-plane-deg", "12.646",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "direct distance 208.689 mm" in printed and "x=487.26 y=512.55" in printed
    ai = pyFAI.load(str(out))
    ref = Geometry(detector=pyFAI.detectors.detector_factory("Pilatus1M"))
    ref.setFit2D(208.689, 487.259, 512.548, 1.083, 12.646)
    for k in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3"):
        assert getattr(ai, k) == pytest.approx(getattr(ref, k), abs=1e-10), k
    assert ai.wavelength == pytest.approx(0.4066e-10)


def test_geometry_y_from_bottom_and_missing_numbers(tmp_path, capsys):
    out = tmp_path / "p03.poni"
    assert main(["geometry", "--detector", "Pilatus2M", "--beam-center-px", "791.51", "368",
                 "--y-from", "bottom", "--distance-mm", "2565", "--energy-kev", "12",
                 "-o", str(out)]) == 0
    assert "y=1311.00 px from top (y from bottom 368.00)" in capsys.readouterr().out
    assert pyFAI.load(str(out)).poni1 == pytest.approx(1311 * 172e-6)
    assert main(["geometry", "--detector", "Pilatus2M", "--beam-center-px", "1", "2",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing --distance-mm, --energy-kev or --wavelength-a" in err


def test_stored_geometry_names(capsys):
    assert main(["geometry", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "cms_lab6_jun23: Pilatus 1M" in listed
    g = load_geometry("cms_lab6_jun23")
    assert g.dist_m == pytest.approx(0.23377455241071443)  # the stored file's value
    with pytest.raises(GeometryError, match="neither a PONI file nor a stored geometry"):
        load_geometry("cms_lab6_jun99")
    with pytest.raises(GeometryError, match="PONI file not found"):
        load_geometry("missing.poni")



def test_show_prints_the_fit2d_view_dioptas_quotes(tmp_path, capsys):
    """The Dioptas CeO2 PONI; its .xy header quotes the Fit2D view (data set README)."""
    poni = tmp_path / "ceo2.poni"
    poni.write_text("poni_version: 2\nDetector: Pilatus1M\nDistance: 0.208651380603\n"
                    "Poni1: 0.0872948482846\nPoni2: 0.0799601126306\n"
                    "Rot1: -0.0184422457059\nRot2: 0.00413760084465\n"
                    "Rot3: -2.77645988275e-08\nWavelength: 4.066e-11\n")
    assert main(["geometry", "--show", str(poni)]) == 0
    out = capsys.readouterr().out
    for text in ("direct distance 208.689 mm", "x=487.26 y=512.55", "tilt 1.083 deg",
                 "tilt plane 12.65 deg"):
        assert text in out, text


def test_calibrate_without_detector_refuses_an_unknown_shape(tmp_path, capsys):
    import fabio
    import numpy as np

    tif = tmp_path / "odd.tif"
    fabio.tifimage.TifImage(data=np.ones((123, 457), np.int32)).write(str(tif))
    assert main(["calibrate", str(tif), "--calibrant", "LaB6", "--energy-kev", "12",
                 "-o", str(tmp_path / "c.poni")]) == 2
    assert "no pyFAI detector has shape 123x457" in capsys.readouterr().err


from ..conftest import REAL, needs_real  # noqa: E402


@pytest.mark.slow
@needs_real
def test_calibrate_infers_pilatus1m_on_the_cms_lab6_frame(tmp_path, capsys):
    """No --detector: Pilatus 1M from shape and the header's Si sensor; the result equals
    the stored cms_lab6_jun23 geometry made with --detector Pilatus1M."""
    d = REAL / "pywaxs_cms_giwaxs_perovskite"
    out = tmp_path / "c.poni"
    assert main(["calibrate", str(d / "LaB6_5.6m_12.7keV_957.4s_x-1.601_th0.500_5.00s_"
                                  "1116948_maxs.tiff"), "--calibrant", "LaB6",
                 "--energy-kev", "12.7", "--mask",
                 str(d / "jun23_nslsii11bmcms_WAXS2pil1M_mask_01.edf"), "--distance-mm",
                 "230", "-o", str(out)]) == 0
    assert "detector Pilatus 1M (from the image shape and sensor" in capsys.readouterr().out
    got, ref = pyFAI.load(str(out)), load_geometry("cms_lab6_jun23")
    assert got.dist == pytest.approx(ref.dist_m, abs=1e-5)
    assert (got.poni1, got.poni2) == pytest.approx((ref.poni1_m, ref.poni2_m), abs=2e-5)
