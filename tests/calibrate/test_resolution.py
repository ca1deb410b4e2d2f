"""Instrument resolution from calibrant ring widths against pyFAI's Caglioti rings."""

import math

import numpy as np
import pytest

from gixs.calibrate.resolution import fit_caglioti, resolution_from_image
from tests.conftest import make_geometry


@pytest.mark.parametrize("dist,lam,uvw", [(0.2, 1.0, (0.05, -0.01, 0.02)),
                                          (0.3, 0.8, (0.2, 0.0, 0.01))])
def test_ring_widths_follow_planted_caglioti(dist, lam, uvw):
    from pyFAI.calibrant import get_calibrant
    from pyFAI.crystallography.resolution import Caglioti

    g = make_geometry(dist=dist, poni1=0.09, poni2=0.085, wavelength_a=lam)
    ai = g.make_integrator()
    cal = get_calibrant("LaB6")
    cal.wavelength = g.wavelength_m
    rad = [p * (math.pi / 180) ** 2 for p in uvw]  # pyFAI's Caglioti is in rad^2
    img = cal.fake_calibration_image(ai, Imax=2000, Imin=0.0, resolution=Caglioti(*rad)) + 20
    img = np.random.default_rng(1).poisson(img).astype(float)
    model = resolution_from_image(img, g, "LaB6", guess_fwhm_deg=0.15)
    assert len(model.points) >= 3
    for p in model.points:
        tth = p["tth_deg"]
        t = math.tan(math.radians(tth) / 2)
        planted = math.sqrt(uvw[0] * t * t + uvw[1] * t + uvw[2])
        # plus the pixel's angular width (172 um at distance D, flat detector)
        pixel = math.degrees(172e-6 / dist * math.cos(math.radians(tth)) ** 2)
        truth = math.hypot(planted, pixel)
        assert model.fwhm_deg(tth) == pytest.approx(truth, rel=0.03)
        assert p["fwhm_deg"] == pytest.approx(truth, rel=0.03)
    d = model.to_dict()
    assert d["form"].startswith("FWHM_2theta^2") and "U_deg2" in d


def test_fwhm_q_conversion_and_constant_fallback():
    pts = [{"tth_deg": 20.0, "fwhm_deg": 0.2, "fwhm_err_deg": 0.01}]
    m = fit_caglioti(pts, wavelength_a=1.5)
    assert "constant" in m.form
    theta = math.radians(10.0)
    q = 4 * math.pi * math.sin(theta) / 1.5
    assert m.fwhm_q(q) == pytest.approx(2 * math.pi / 1.5 * math.cos(theta) *
                                        math.radians(0.2), rel=1e-6)
    with pytest.raises(ValueError, match="no calibrant ring"):
        fit_caglioti([], wavelength_a=1.0)


@pytest.mark.slow
def test_cli_calibrate_stores_resolution(tmp_path, capsys):
    import json

    import fabio

    from gixs.cli.app import main
    from tests.calibrate.test_calibrate import planted, ring_image

    truth = planted("Pilatus1M", (700.0, 300.0), 0.22, 0.01, 0.005, 1.0)
    img = ring_image(truth, "CeO2", seed=7)
    fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(tmp_path / "ceo2.tif"))
    assert main(["calibrate", str(tmp_path / "ceo2.tif"), "--calibrant", "CeO2",
                 "--wavelength-a", "1.0", "--detector", "Pilatus1M", "--distance-mm", "190",
                 "-o", str(tmp_path / "out.poni"), "--report", str(tmp_path / "out.json")]) == 0
    assert "resolution:" in capsys.readouterr().out
    res = json.loads((tmp_path / "out.json").read_text())["resolution"]
    assert len(res["points"]) >= 3
    assert all(p["fwhm_deg"] > 0 for p in res["points"])
