"""The command line on bad input: exit 2, one line naming the file or argument, no file
left, no input overwritten (issue 14)."""

import json
import os

import fabio
import h5py
import numpy as np
import pytest

from gixs.cli.app import main
from gixs.geometry.model import write_poni

from ..conftest import make_geometry
from ..io.corrupt import bounded, cut, tiff_ifd_first

SHAPE = (195, 487)  # Pilatus 100k


@pytest.fixture
def small(tmp_path):
    geo = make_geometry("Pilatus100k", dist=0.5, poni1=0.001, poni2=0.004, wavelength_a=1.2)
    poni = tmp_path / "g.poni"
    write_poni(geo, poni)
    img = np.random.default_rng(5).poisson(50, SHAPE).astype(np.int32)
    edf = tmp_path / "f.edf"
    fabio.edfimage.EdfImage(data=img, header={"ExposureTime": "2.0"}).write(str(edf))
    return tmp_path, poni, edf, img


def _one_line_error(capsys, rc, *needles):
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _reduce(args, poni, out):
    return main(["reduce", *map(str, args), "--poni", str(poni), "--incidence-deg", "0.2",
                 "-o", str(out), "--no-plot"])


def test_reduce_output_equal_to_input_refused(tmp_path, small, capsys):
    d, poni, _, img = small
    h5 = d / "scan.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("entry/data/data", data=img[None])
    before = h5.read_bytes()
    rc = _reduce([h5], poni, d)
    _one_line_error(capsys, rc, "would overwrite the input IMAGE")
    assert h5.read_bytes() == before


@pytest.mark.parametrize("argv,needle", [
    (["batch", "{edf}", "--poni", "{poni}", "--incidence-deg", "0.2", "-o", "{edf}"],
     "-o would overwrite the input inputs"),
    (["batch", "{edf}", "--poni", "{poni}", "--incidence-deg", "0.2", "-o", "{d}/o.h5",
      "--table", "{edf}"], "--table would overwrite the input inputs"),
    (["spacing", "{edf}", "--poni", "{poni}", "--incidence-deg", "0.2", "--json", "{edf}"],
     "-o would overwrite the input image"),
    (["index", "{edf}", "--phase", "fcc:a=5", "--json", "{edf}"],
     "-o would overwrite the input image"),
    (["compare", "{d}/a.json", "{d}/b.json", "--csv", "{d}/b.json"],
     "-o would overwrite the input inputs"),
    (["calibrate", "{edf}", "--calibrant", "LaB6", "--energy-kev", "12", "--detector",
      "Pilatus100k", "-o", "{poni}", "--report", "{poni}"], "name the same file"),
])
def test_outputs_never_overwrite_inputs(small, capsys, argv, needle):
    d, poni, edf, _ = small
    for name in ("a.json", "b.json"):
        (d / name).write_text("{}")
    before = {p: p.read_bytes() for p in d.iterdir() if p.is_file()}
    argv = [a.format(d=d, edf=edf, poni=poni) for a in argv]
    _one_line_error(capsys, main(argv), needle)
    assert {p: p.read_bytes() for p in d.iterdir() if p.is_file()} == before


def test_batch_glob_skips_its_own_output(small):
    from gixs.io.stack import expand_inputs

    d, _, edf, _ = small
    (d / "out.h5").write_bytes(b"")
    (d / "x.h5").write_bytes(b"")
    assert expand_inputs([str(d / "*.h5")], exclude=[str(d / "out.h5")]) == [str(d / "x.h5")]
    with pytest.raises(ValueError, match="also an output"):
        expand_inputs([str(d / "out.h5")], exclude=[str(d / "out.h5")])


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf"])
@pytest.mark.parametrize("command", ["reduce", "batch"])
def test_normalize_by_zero_refused(small, capsys, command, value):
    d, poni, edf, _ = small
    out = d / "out"
    extra = ["-o", str(out)] if command == "reduce" else ["-o", str(d / "b.h5")]
    rc = main([command, str(edf), "--poni", str(poni), "--incidence-deg", "0.2",
               "--normalize-by", value, *extra])
    _one_line_error(capsys, rc, "--normalize-by must be > 0")
    assert not out.exists() and not (d / "b.h5").exists()


def test_reduce_normalises_by_the_hdf5_count_time_like_batch(small):
    d, poni, _, img = small
    h5 = d / "scan.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("entry/data/data", data=img[None])
        f.create_dataset("entry/instrument/detector/count_time", data=[2.0])
    assert _reduce([h5], poni, d / "o") == 0  # normalised by 1 before: batch used 2 s
    with h5py.File(d / "o" / "scan.h5") as f:
        prov = json.loads(f["entry/provenance"][()])
    assert prov["corrections"]["normalization"] == 2.0


@pytest.mark.parametrize("kind", ["nan", "inf", "negative", "saturated"])
def test_frame_without_valid_pixel_is_one_line_and_leaves_nothing(small, capsys, kind):
    d, poni, _, _ = small
    value = {"nan": np.nan, "inf": np.inf, "negative": -1.0, "saturated": None}[kind]
    if value is None:
        data = np.full(SHAPE, np.iinfo(np.int32).max, np.int32)
    else:
        data = np.full(SHAPE, value, np.float32)
    path = d / f"{kind}.edf"
    fabio.edfimage.EdfImage(data=data).write(str(path))
    out = d / "out"
    rc = _reduce([path], poni, out)
    _one_line_error(capsys, rc, f"{path}: frame 0 has no valid pixel")
    assert not out.exists() or not list(out.iterdir())


def test_truncated_tiff_frame_mask_dark_refused(small, capsys):
    d, poni, edf, img = small
    good = d / "good.tif"
    n = tiff_ifd_first(good, np.clip(img, 0, 60000).astype(np.uint16))
    bad = cut(good, d / "bad.tif", n // 2)
    for args in ([bad], [edf, "--mask", bad], [edf, "--dark", bad], [edf, "--flat", bad]):
        rc = _reduce(args, poni, d / "out")
        _one_line_error(capsys, rc, f"{bad}: truncated TIFF")
    assert not (d / "out").exists()


def test_truncated_cbf_header_does_not_hang(small, capsys):
    d, poni, _, img = small
    cbf = d / "f.cbf"
    fabio.cbfimage.CbfImage(data=img).write(str(cbf))
    bad = cut(cbf, d / "h.cbf", 450)
    with bounded():
        rc = _reduce([bad], poni, d / "out")
    _one_line_error(capsys, rc, f"{bad}: truncated or damaged CBF file")
    bad = cut(cbf, d / "t.cbf", os.path.getsize(cbf) // 2)
    rc = _reduce([bad], poni, d / "out")
    _one_line_error(capsys, rc, f"{bad}: truncated CBF file")  # was "(AssertionError: )"


def test_reduce_output_set_replaced_whole(small):
    d, poni, edf, _ = small
    out = d / "out"
    assert _reduce([edf, "--sector", "0", "30"], poni, out) == 0
    assert (out / "f_sector_0_30.csv").exists()
    assert _reduce([edf], poni, out) == 0
    assert not (out / "f_sector_0_30.csv").exists()  # no stale member beside the new set
    assert not [p for p in os.listdir(out) if p.startswith(".")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_names_the_file_not_the_temporary(small, capsys):
    d, poni, edf, _ = small
    out = d / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        rc = _reduce([edf], poni, out)
    finally:
        out.chmod(0o700)
    line = _one_line_error(capsys, rc, str(out))
    assert ".part" not in line


@pytest.mark.parametrize("argv,needle", [
    (["index", "{d}/p.xy", "--phase", "fcc:a=5", "--pattern-axis", "2theta_deg",
      "--wavelength-a", "0"], "--wavelength-a must be a finite number > 0 (A), got 0.0"),
    (["calibrate", "{edf}", "--calibrant", "LaB6", "--energy-kev", "0", "--detector",
      "Pilatus100k", "-o", "{d}/c.poni"], "--energy-kev must be a finite number > 0 (keV)"),
    (["batch", "{edf}", "--poni", "{poni}", "--incidence-deg", "0.2", "-o", "{d}/b.h5",
      "--q-range", "0.2", "0.05"], "--q-range must be Q_LO Q_HI with 0 <= Q_LO < Q_HI"),
    (["reduce", "{edf}", "--poni", "{d}/unknown.poni", "--incidence-deg", "0.2", "-o",
      "{d}/o"], "pyFAI cannot read this PONI file"),
])
def test_bad_arguments_are_one_line(small, capsys, argv, needle):
    d, poni, edf, _ = small
    (d / "p.xy").write_text("10 5\n11 7\n12 5\n")
    text = "".join(ln if not ln.startswith("Detector") else "" for ln in
                   poni.read_text().splitlines(True))
    (d / "unknown.poni").write_text(text + "Detector: NoSuchDetector\nDetector_config: {}\n")
    argv = [a.format(d=d, edf=edf, poni=poni) for a in argv]
    line = _one_line_error(capsys, main(argv), needle)
    assert len(line) < 400
    assert not (d / "b.h5").exists() and not (d / "c.poni").exists()


def _in_shell_logging(fn):
    """``fn()`` with logging as in a user's shell: no pytest capture handler on the root
    logger (pytest adds it for the test's call), so a library's logged records reach
    stderr through logging.lastResort."""
    import logging
    from unittest import mock

    with mock.patch.object(logging.getLogger(), "handlers", []):
        return fn()


@pytest.mark.parametrize("config,argv,needle", [
    ("Detector: NoSuchDetector", ["reduce", "{edf}", "--poni", "{bad}", "--incidence-deg",
                                  "0.2", "-o", "{d}/o", "--no-plot"],
     "pyFAI cannot read this PONI file (Detector nosuchdetector is unknown"),
    ('Detector_config: {"pixel1": 0.000172,', ["reduce", "{edf}", "--poni", "{bad}",
                                               "--incidence-deg", "0.2", "-o", "{d}/o",
                                               "--no-plot"],
     "pyFAI cannot read this PONI file (Expecting property name"),
    (None, ["calibrate", "{edf}", "--calibrant", "LaB6", "--energy-kev", "12", "--detector",
            "NoSuchDetector", "-o", "{d}/c.poni"], "'NoSuchDetector' is not a pyFAI detector"),
])
def test_pyfai_log_lines_not_printed_beside_ours(small, capsys, config, argv, needle):
    """pyFAI logs its 9.5 kB list of detector names, or a JSON traceback, before raising:
    the one line is ours (was: the list or two tracebacks, then our line)."""
    d, poni, edf, _ = small
    if config is not None:
        key = config.split(":")[0]
        lines = [config if ln.startswith(key + ":") else ln
                 for ln in poni.read_text().splitlines()]
        (d / "bad.poni").write_text("\n".join(lines) + "\n")
    argv = [a.format(d=d, edf=edf, bad=d / "bad.poni") for a in argv]
    line = _one_line_error(capsys, _in_shell_logging(lambda: main(argv)), needle)
    assert len(line) < 400
    assert not (d / "o").exists() and not (d / "c.poni").exists()


@pytest.mark.parametrize("doc,needle", [
    ([1, 2, 3], "expected a gixs.spacing document, found 'list'"),
    ({"a": [1, 2]}, "expected a gixs.spacing document, found None"),
    ({"schema": "gixs.spacing", "schema_version": 1}, "missing 'q_star'"),
    ({"schema": "gixs.spacing", "schema_version": 1, "q_star": 0.05, "d_spacing": [1, 2],
      "peak_height": 3.0, "peak_to_valley": 2.0, "fit": {}},
     "'d_spacing' is [1, 2], expected a number (or null)"),
    ({"schema": "gixs.spacing", "schema_version": 1, "q_star": 0.05, "d_spacing": 12.0,
      "peak_height": "high", "peak_to_valley": 2.0, "fit": {}},
     "'peak_height' is 'high', expected a number (or null)"),
])
def test_compare_json_of_the_wrong_shape_is_one_line(tmp_path, capsys, doc, needle):
    """compare on JSON that is not a spacing result, or one whose metrics are not numbers
    (was: a TypeError traceback from the table arithmetic)."""
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    _one_line_error(capsys, main(["compare", str(path), str(path)]), f"{path}: {needle}")
