"""gixs watch: a writer process fills a folder frame by frame (one frame half-written for
a while); the watch is stopped and restarted; the result equals gixs batch on the files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from gixs.batch.run import read_table, reduce_stack  # noqa: E402
from gixs.batch.watch import CompleteFiles, name_values, watch  # noqa: E402
from gixs.cli.app import main  # noqa: E402
from gixs.geometry.model import GIGeometry, write_poni  # noqa: E402

from .test_batch import _frame, _geometry  # noqa: E402

D_NM = [12.4, 12.0, 11.6, 11.2]
WRITER = textwrap.dedent("""
    import os, sys, time
    src, dst, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    for i, name in enumerate(names):
        data = open(os.path.join(src, name), "rb").read()
        with open(os.path.join(dst, name), "wb") as fh:
            if i == 2:                      # half a file, a pause shorter than settle_s
                fh.write(data[: len(data) // 2]); fh.flush(); time.sleep(0.9)
            fh.write(data[len(data) // 2:] if i == 2 else data)
        time.sleep(0.4)
""")


def _entries(path):
    with h5py.File(path, "r") as f:
        return {str(json.loads(f[k]["provenance"][()])["source"]).rsplit("/", 1)[-1]:
                (f[k]["ip/intensity"][()], f[k]["iq/intensity"][()],
                 json.loads(f[k]["provenance"][()])["batch"]["run"])
                for k in f if k.startswith("entry_")}


@pytest.mark.slow
def test_watch_half_written_restart_equals_batch(tmp_path):
    from fabio.edfimage import EdfImage

    geo = _geometry()
    stage, live = tmp_path / "stage", tmp_path / "live"
    stage.mkdir(), live.mkdir()
    names = []
    for i, d in enumerate(D_NM):
        name = f"film_th{0.30 + 0.01 * i:.2f}_{10 * i}s.edf"
        EdfImage(data=_frame(geo, d, i), header={"ExposureTime": "2.0"}).write(
            str(stage / name))
        names.append(name)
    out = tmp_path / "watch.h5"
    gi = GIGeometry.from_degrees(0.3)
    kw = dict(
        pattern="*.edf", name_pattern=r"th(?P<incidence_deg>[0-9.]+)_(?P<time_s>\d+)s",
        settle_s=1.3, poll_s=0.1, metrics=False)  # metrics cost ~5 s a frame; not the point
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(stage), str(live), *names])
    try:
        first = watch(live, geo, gi, output=out, max_updates=1, **kw)   # then "Ctrl-C"
        n_first = len(first.rows)
        assert 1 <= n_first < len(names)
        final = watch(live, geo, gi, output=out, idle_exit_s=3.0, **kw)  # restart
    finally:
        writer.wait(timeout=60)
    assert len(final.rows) == len(names) and final.n_ok == len(names)
    assert [r["incidence_deg"] for r in final.rows] == pytest.approx(
        [0.30, 0.31, 0.32, 0.33])
    assert [r["time_s"] for r in final.rows] == [0.0, 10.0, 20.0, 30.0]  # from the names
    ents = _entries(out)
    runs = [ents[n][2] for n in names]
    # the frames of the first run were not redone after the restart
    assert len(set(runs[:n_first])) == 1 and runs[n_first] != runs[0]
    # gixs batch on the same files gives the same numbers
    ref = reduce_stack([str(live / n) for n in names], geo, gi, output=tmp_path / "b.h5",
                       table=tmp_path / "b.csv", incidence_list=[0.30, 0.31, 0.32, 0.33],
                       time_list=[0, 10, 20, 30], metrics=False)
    bents = _entries(tmp_path / "b.h5")
    for n in names:
        np.testing.assert_array_equal(ents[n][0], bents[n][0])
        np.testing.assert_array_equal(ents[n][1], bents[n][1])
    wt, bt = read_table(tmp_path / "watch.csv"), read_table(tmp_path / "b.csv")
    assert [r.keys() for r in wt] == [r.keys() for r in bt]
    for a, b in zip(wt, bt):
        assert a == b
    assert ref.n_ok == len(names)


def test_complete_files_waits_for_a_stable_size(tmp_path):
    f = tmp_path / "a.cbf"
    f.write_bytes(b"x" * 10)
    cf = CompleteFiles(tmp_path, "*.cbf", settle_s=5.0)
    import os
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10 ** 10))  # written 10 s ago
    assert cf.poll(now=st.st_mtime + 0.1) == []          # first sight: not yet
    assert cf.poll(now=st.st_mtime + 1.0) == []          # stable for < 5 s
    assert cf.poll(now=st.st_mtime + 6.0) == [str(f)]
    f.write_bytes(b"x" * 20)                              # it grew: wait again
    assert cf.poll(now=st.st_mtime + 7.0) == []
    (tmp_path / ".tmp.cbf").write_bytes(b"x")
    (tmp_path / "b.txt").write_bytes(b"x")
    assert all(p.endswith("a.cbf") for p in cf.poll(now=st.st_mtime + 100))
    assert name_values("x_th0.5_3.cbf", r"th(?P<incidence_deg>[0-9.]+)_") == {
        "incidence_deg": 0.5}
    with pytest.raises(ValueError, match="not a number"):
        name_values("x_th._3.cbf", r"th(?P<incidence_deg>[0-9.]+)_")


def test_watch_cli_idle_exit_and_live_png(tmp_path, capsys):
    from fabio.edfimage import EdfImage

    geo = _geometry()
    write_poni(geo, tmp_path / "g.poni")
    live = tmp_path / "live"
    live.mkdir()
    for i, d in enumerate(D_NM[:2]):
        EdfImage(data=_frame(geo, d, i), header={"ExposureTime": "2.0"}).write(
            str(live / f"f{i}_t{7.5 * i + 3}s.edf"))
    (tmp_path / "gixs.toml").write_text('poni = "g.poni"\nincidence_deg = 0.3\n'
                                        'no_metrics = true\nsettle_s = 0.2\n')
    assert main(["watch", str(live), "--setup", str(tmp_path / "gixs.toml"), "--pattern",
                 "*.edf", "-o", str(tmp_path / "w.h5"), "--poll-s", "0.1",
                 "--idle-exit-s", "1", "--name-pattern", r"_t(?P<time_s>[0-9.]+)s"]) == 0
    # the time read from the file names is the table's time_s (EDF headers here have none)
    rows = read_table(tmp_path / "w.csv")
    assert [r["time_s"] for r in rows] == [3.0, 10.5]
    assert [r["file_time_s"] for r in rows] == [None, None]
    captured = capsys.readouterr()
    assert "+2 frame(s), 2 in" in captured.err
    assert (tmp_path / "w_live.png").stat().st_size > 1000
    with h5py.File(tmp_path / "w.h5") as f:
        setup = json.loads(f.attrs["setup"])
    assert setup["setup_file"] == str(tmp_path / "gixs.toml") and setup["settle_s"] == 0.2


def test_live_figure_draws_d_and_ordering(tmp_path):
    from gixs.plot.watch import live_figure

    with h5py.File(tmp_path / "o.h5", "w") as f:
        g = f.create_group("entry_000000/iq")
        g["q"], g["intensity"] = np.linspace(0.01, 0.1, 50), np.linspace(2, 1, 50)
    rows = [{"status": "ok", "index": i, "d_spacing_nm": 12 - i, "peak_to_valley_ratio": 3.0}
            for i in range(3)]
    fig = live_figure(tmp_path / "o.h5", rows, times=[0, 10, 20])
    axes = fig.get_axes()
    assert axes[1].get_ylabel() == "d_spacing_nm" and axes[1].get_xlabel() == "time (s)"
    np.testing.assert_array_equal(axes[1].lines[0].get_ydata(), [12, 11, 10])
    assert axes[2].get_ylabel() == "peak_to_valley_ratio"


@pytest.mark.slow
def test_cms_watch_as_the_beamline_doc_says(tmp_path):
    """The closing note's CMS session (docs/beamline.md): a gixs.toml with the stored
    geometry, the mask and orientation 4, then gixs watch with the incidence read from the
    file names; each frame equals gixs reduce with the same setup file."""
    import os

    from ..conftest import REAL

    cms = REAL / "pywaxs_cms_giwaxs_perovskite"
    if not cms.is_dir():
        pytest.skip("../shared/data/real absent")
    live = tmp_path / "live"
    live.mkdir()
    names = sorted(p.name for p in cms.glob("sam*_maxs.tiff"))
    for n in names:
        os.symlink(cms / n, live / n)
    (tmp_path / "gixs.toml").write_text(
        'poni = "cms_lab6_jun23"\n'
        f'mask = "{cms / "jun23_nslsii11bmcms_WAXS2pil1M_mask_01.edf"}"\n'
        'sample_orientation = 4\nnpt = 600\n')
    setup = ["--setup", str(tmp_path / "gixs.toml")]
    assert main(["watch", str(live), *setup, "--pattern", "*_maxs.tiff", "--name-pattern",
                 r"_th(?P<incidence_deg>[0-9.]+)_", "-o", str(tmp_path / "cms.h5"),
                 "--no-metrics", "--settle-s", "0.2", "--poll-s", "0.1",
                 "--idle-exit-s", "1", "--live-png", "none"]) == 0
    rows = read_table(tmp_path / "cms.csv")
    assert [r["status"] for r in rows] == ["ok"] * len(names)
    assert [r["incidence_deg"] for r in rows] == [0.3] * len(names)  # "_th0.300_"
    ents = _entries(tmp_path / "cms.h5")
    n = names[0]
    assert main(["reduce", str(live / n), *setup, "--incidence-deg", "0.3", "-o",
                 str(tmp_path / "r"), "--no-plot"]) == 0
    with h5py.File(tmp_path / "r" / (n[:-5] + ".h5")) as f:
        iq = f["entry/iq/intensity"][()]
    np.testing.assert_allclose(ents[n][1], iq, rtol=1e-5, equal_nan=True)
