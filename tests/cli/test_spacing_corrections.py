"""`gixs spacing` takes the full correction flags of every reducing command, and `-o`."""

import json

import fabio
import numpy as np
import pytest

from gixs import simulate
from gixs.cli.app import main
from gixs.geometry.model import DetectorGeometry, GIGeometry, write_poni

PX = 172e-6


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spacing_corr")
    g = DetectorGeometry(dist_m=2.5, poni1_m=40 * PX, poni2_m=240 * PX, rot1=0.0, rot2=0.0,
                         rot3=0.0, wavelength_m=12.398419843320026 / 11 * 1e-10,
                         detector="Pilatus300k")
    gi = GIGeometry.from_degrees(0.25)
    write_poni(g, tmp / "p.poni")
    img = simulate.hex_superlattice(g, gi, 12.0, peak_counts=600.0, diffuse=20.0, rng=5)
    fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(tmp / "film.tif"))
    fabio.tifimage.TifImage(data=np.full(img.shape, 2.0, np.float32)).write(
        str(tmp / "flat2.tif"))
    return tmp


def _spacing(film, name, *extra):
    out = film / f"{name}.json"
    argv = ["spacing", str(film / "film.tif"), "--poni", str(film / "p.poni"),
            "--incidence-deg", "0.25", "--no-orientation", "--normalize-by", "none", "--profile", "ip",
            "-o", str(out), *extra]
    assert main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_spacing_flat_divides_and_o_writes_the_json(film):
    plain = _spacing(film, "plain")
    flat = _spacing(film, "flat", "--flat", str(film / "flat2.tif"))
    assert plain["d_spacing"] == pytest.approx(12.0, rel=0.02)
    # a flat field of 2 everywhere halves every intensity and moves no peak
    assert flat["peak_height"] == pytest.approx(plain["peak_height"] / 2, rel=1e-6)
    assert flat["q_star"] == pytest.approx(plain["q_star"], rel=1e-9)
    assert flat["setup"]["flat"].endswith("flat2.tif")


def test_spacing_passes_solid_angle_and_polarization_switches(film, monkeypatch):
    import gixs.superlattice.ordering as ordering

    from gixs.errors import NoPeakError

    seen = {}

    def spy(*a, **kw):  # records what the command passes; the measurement is tested above
        seen.update(kw)
        raise NoPeakError("no superlattice peak found: spy")

    monkeypatch.setattr(ordering, "measure_frame", spy)
    base = ["spacing", str(film / "film.tif"), "--poni", str(film / "p.poni"),
            "--incidence-deg", "0.25"]
    assert main(base + ["--no-solid-angle", "--no-polarization", "--dark",
                        str(film / "flat2.tif")]) == 2
    assert seen["settings"].solid_angle is False
    assert seen["settings"].polarization_factor is None
    assert np.all(seen["dark"] == 2.0) and seen["flat"] is None
    assert main(base + ["--polarization", "0.5", "--json", str(film / "x.json")]) == 2
    assert seen["settings"].solid_angle is True and seen["settings"].polarization_factor == 0.5
    assert "spy" in json.loads((film / "x.json").read_text())["error"]  # --json is -o
