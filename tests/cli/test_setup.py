"""Setup file (gixs.toml): round trip, override order, relative paths, bad keys."""

import json

import fabio
import h5py
import numpy as np
import pytest

from gixs import simulate
from gixs.cli.app import _apply_setup, build_parser, main
from gixs.cli.setup import read_setup
from gixs.geometry.model import GIGeometry, write_poni

from ..conftest import make_geometry


def _parse(argv):
    parser = build_parser()
    setup = _apply_setup(parser, argv)
    args = parser.parse_args(argv)
    args._setup = setup
    return args


def test_setup_values_relative_paths_and_tables(tmp_path):
    (tmp_path / "cfg").mkdir()
    toml = tmp_path / "cfg" / "gixs.toml"
    toml.write_text('poni = "setup.poni"\nmask = "../masks/m.edf"\nincidence_deg = 0.3\n'
                    'sample_orientation = 4\nsector = [[-10, 10], [80, 100]]\n'
                    '[corrections]\npolarization = 0.95\nno_solid_angle = true\n'
                    '[batch]\nworkers = 2\n')
    s = read_setup(toml, commands=("batch", "reduce"))
    assert s["values"]["poni"] == str(tmp_path / "cfg" / "setup.poni")
    assert s["values"]["mask"] == str(tmp_path / "masks" / "m.edf")
    assert s["values"]["polarization"] == 0.95
    assert s["commands"] == {"batch": {"workers": 2}}
    args = _parse(["reduce", "img.tif", "--setup", str(toml), "-o", "out"])
    assert args.poni == str(tmp_path / "cfg" / "setup.poni")
    assert args.incidence_deg == 0.3 and args.polarization == 0.95 and args.no_solid_angle
    assert args.sector == [[-10.0, 10.0], [80.0, 100.0]]
    batch = _parse(["batch", "a.tif", "--setup", str(toml), "-o", "o.h5"])
    assert batch.workers == 2


def test_command_line_overrides_setup_overrides_defaults(tmp_path):
    toml = tmp_path / "gixs.toml"
    toml.write_text('poni = "cms_lab6_jun23"\nincidence_deg = 0.3\nnpt = 500\n'
                    'energy_kev = 12.7\n')
    args = _parse(["reduce", "i.tif", "--setup", str(toml), "--incidence-deg", "0.2",
                   "-o", "o"])
    assert args.incidence_deg == 0.2          # command line wins
    assert args.npt == 500                    # setup beats the default (1000)
    assert args.poni == "cms_lab6_jun23"      # a stored name is not made a path
    assert args.tilt_deg == 0.0               # default where neither says
    # a mutually exclusive partner on the command line drops the setup's value
    cal = _parse(["calibrate", "c.tif", "--calibrant", "LaB6", "--setup", str(toml),
                  "--wavelength-a", "1.0", "-o", "x.poni"])
    assert cal.wavelength_a == 1.0 and cal.energy_kev is None
    cal = _parse(["calibrate", "c.tif", "--calibrant", "LaB6", "--setup", str(toml),
                  "-o", "x.poni"])
    assert cal.energy_kev == 12.7


def test_setup_parts_table_is_the_option_repeated(tmp_path):
    """A list of PONIs (detector parts) in a setup table: paths relative to the file, one
    --part-rows each; one --poni on the command line replaces the whole list."""
    toml = tmp_path / "gixs.toml"
    toml.write_text('incidence_deg = 0.2\n[parts]\nponi = ["m1.poni", "sub/m2.poni"]\n'
                    'part_rows = ["0:195", "212:407"]\n')
    for cmd in (["reduce", "i.tif", "-o", "o"], ["batch", "i.tif", "-o", "o.h5"],
                ["watch", "d", "-o", "o.h5"]):
        args = _parse([*cmd, "--setup", str(toml)])
        assert args.poni == [str(tmp_path / "m1.poni"), str(tmp_path / "sub" / "m2.poni")]
        assert args.part_rows == ["0:195", "212:407"]
    args = _parse(["batch", "i.tif", "-o", "o.h5", "--setup", str(toml), "--poni", "x.poni"])
    assert args.poni == "x.poni"


def test_setup_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('incidence_dge = 0.3\n')
    assert main(["reduce", "i.tif", "--setup", str(bad), "-o", "o"]) == 2
    err = capsys.readouterr().err
    assert "unknown setup key(s) incidence_dge" in err and len(err.splitlines()) == 1
    bad.write_text('incidence_deg = "high"\n')
    assert main(["reduce", "i.tif", "--setup", str(bad), "-o", "o"]) == 2
    assert "incidence_deg: 'high' is not a valid value" in capsys.readouterr().err
    bad.write_text('incidence_deg = [0.3\n')
    assert main(["reduce", "i.tif", "--setup", str(bad), "-o", "o"]) == 2
    assert "not a valid TOML" in capsys.readouterr().err
    assert main(["reduce", "i.tif", "--setup", str(tmp_path / "none.toml"), "-o", "o"]) == 2
    assert "setup file not found" in capsys.readouterr().err


def test_reduce_with_setup_round_trip(tmp_path):
    """The effective setup stored in the output reruns to the same result."""
    geo = make_geometry(dist=2.5, poni1=0.012, poni2=0.085, wavelength_a=1.0332)
    write_poni(geo, tmp_path / "g.poni")
    img = simulate.hex_superlattice(geo, GIGeometry.from_degrees(0.3), 8.0, rng=2)
    fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(tmp_path / "film.tif"))
    (tmp_path / "gixs.toml").write_text('poni = "g.poni"\nincidence_deg = 0.3\nnpt = 300\n')
    assert main(["reduce", str(tmp_path / "film.tif"), "--setup", str(tmp_path / "gixs.toml"),
                 "-o", str(tmp_path / "a"), "--no-plot"]) == 0
    with h5py.File(tmp_path / "a" / "film.h5") as f:
        prov = json.loads(f["entry/provenance"][()])
        iq_a = f["entry/iq/intensity"][()]
    setup = prov["setup"]
    assert setup["setup_file"] == str(tmp_path / "gixs.toml")
    assert setup["from_setup_file"] == ["incidence_deg", "npt", "poni"]
    assert setup["poni"] == str(tmp_path / "g.poni") and setup["npt"] == 300
    # rerun from the stored values alone, as a setup file
    keys = ("poni", "incidence_deg", "npt", "polarization", "tilt_deg")
    lines = [f"{k} = {json.dumps(setup[k])}" for k in keys]
    (tmp_path / "again.toml").write_text("\n".join(lines) + "\n")
    assert main(["reduce", str(tmp_path / "film.tif"), "--setup", str(tmp_path / "again.toml"),
                 "-o", str(tmp_path / "b"), "--no-plot"]) == 0
    with h5py.File(tmp_path / "b" / "film.h5") as f:
        np.testing.assert_array_equal(f["entry/iq/intensity"][()], iq_a)
        assert iq_a.shape == (300,)
