"""The gixs command: outputs of reduce/demo and one-line errors for bad input."""

import json
import subprocess
import sys

import fabio
import h5py
import numpy as np
import pytest

from gixs import simulate
from gixs.cli.app import main
from gixs.geometry.model import GIGeometry, write_poni
from gixs.io.output import read_profile_csv

from ..conftest import make_geometry


@pytest.fixture
def setup(tmp_path):
    geo = make_geometry(dist=2.5, poni1=0.012, poni2=0.085, wavelength_a=1.0332)
    poni = tmp_path / "g.poni"
    write_poni(geo, poni)
    img = simulate.hex_superlattice(geo, GIGeometry.from_degrees(0.3), 8.0, rng=2)
    tif = tmp_path / "film.tif"
    fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(tif))
    return tmp_path, poni, tif, img


def test_reduce_writes_everything(setup, capsys):
    tmp, poni, tif, _ = setup
    out = tmp / "out"
    assert main(["reduce", str(tif), "--poni", str(poni), "--incidence-deg", "0.3",
                 "-o", str(out)]) == 0
    for name in ("film.h5", "film_iq.csv", "film_ip.csv", "film_oop.csv", "film_qmap.png"):
        assert (out / name).stat().st_size > 0, name
    axis, x, inten, sig, cnt = read_profile_csv(out / "film_ip.csv")
    assert axis == "qxy_A^-1"
    pos = x > 0.04
    assert x[pos][np.argmax(inten[pos])] == pytest.approx(2 * np.pi / 80, rel=0.02)
    with h5py.File(out / "film.h5") as f:
        e = f["entry"]
        assert e.attrs["NX_class"] == "NXentry"
        assert e["iq"].attrs["signal"] == "intensity"
        assert e["iq/q"].attrs["units"] == "1/angstrom"
        prov = json.loads(e["provenance"][()])
        assert prov["grazing_incidence"]["incidence_deg"] == pytest.approx(0.3)
        assert "pyFAI" in prov["versions"]
        assert np.isnan(e["qmap/intensity"][()]).any()
    assert not list(out.glob("*.part"))


@pytest.mark.parametrize("args,message", [
    (["missing.tif"], "missing.tif: image file not found"),
    (["{tif}", "--incidence-deg", "15"], "incidence-deg must lie within 0-10 deg"),
    (["{bad}"], "not a readable detector image"),
    (["{small}"], "image shape 10x10 does not fit detector"),
    (["{tif}", "--mask", "{small}"], "mask has shape 10x10, expected 1043x981"),
])
def test_reduce_errors_are_one_line(setup, capsys, args, message):
    tmp, poni, tif, _ = setup
    bad = tmp / "bad.tif"
    bad.write_bytes(b"not an image at all")
    small = tmp / "small.edf"
    fabio.edfimage.EdfImage(data=np.ones((10, 10), np.float32)).write(str(small))
    args = [a.format(tif=tif, bad=bad, small=small) for a in args]
    if "--incidence-deg" not in args:
        args += ["--incidence-deg", "0.2"]
    out = tmp / "o"
    code = main(["reduce", *args, "--poni", str(poni), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists() or not any(out.iterdir())  # no partial output


def test_poni_missing_field_message(setup, capsys):
    tmp, poni, tif, _ = setup
    bad = tmp / "nowl.poni"
    bad.write_text("\n".join(l for l in poni.read_text().splitlines()
                             if not l.startswith("Wavelength")))
    assert main(["reduce", str(tif), "--poni", str(bad), "--incidence-deg", "0.2",
                 "-o", str(tmp / "o")]) == 2
    assert "nowl.poni: PONI file lacks field(s) wavelength" in capsys.readouterr().err


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "gixs.cli.app", "--help"], capture_output=True,
                         text=True, check=True)
    assert "reduce" in res.stdout and "demo" in res.stdout


@pytest.mark.parametrize("argv", [["--help"], ["spacing", "--help"], ["batch", "--help"],
                                  ["reduce", "--help"], ["index", "--help"]])
def test_help_imports_no_numerical_library(argv):
    """Only the work asked for: building the command line and its help imports none of
    numpy, scipy, pyFAI, numba, matplotlib, dask, h5py, fabio."""
    heavy = ["numpy", "scipy", "pyFAI", "numba", "matplotlib", "dask", "h5py", "fabio"]
    code = ("import sys\nfrom gixs.cli.app import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint(' '.join(m for m in %r if m in sys.modules),"
            " file=sys.stderr)" % heavy)
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                         text=True, check=True)
    assert res.stderr.strip().splitlines()[-1:] in ([], [""]), res.stderr


def test_wrong_orientation_warns(setup):
    import warnings

    from gixs.errors import GixsWarning

    tmp, poni, tif, _ = setup
    # the film was simulated with orientation 1; code 4 puts its scattering below the horizon
    with pytest.warns(GixsWarning, match="below the sample horizon"):
        assert main(["reduce", str(tif), "--poni", str(poni), "--incidence-deg", "0.3",
                     "--sample-orientation", "4", "--no-plot", "-o", str(tmp / "o4")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", GixsWarning)
        assert main(["reduce", str(tif), "--poni", str(poni), "--incidence-deg", "0.3",
                     "--no-plot", "-o", str(tmp / "o1")]) == 0
