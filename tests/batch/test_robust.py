"""Batch robustness: locks, resume checks, outputs, schedulers, orphan workers (issue 14)."""

import os
import subprocess
import sys
import textwrap
import time

import fabio
import numpy as np
import pytest
from PIL import Image

from gixs.batch import store as batch_store
from gixs.batch.run import reduce_stack
from gixs.errors import GixsError
from gixs.geometry.model import GIGeometry

from ..conftest import make_geometry

SHAPE = (195, 487)


@pytest.fixture
def geo():
    return make_geometry("Pilatus100k", dist=0.5, poni1=0.001, poni2=0.004, wavelength_a=1.2)


def _frames(n, offset=0):
    rng = np.random.default_rng(9)
    return [rng.poisson(40 + 10 * (i + offset), SHAPE).astype(np.uint16) for i in range(n)]


def test_multiframe_tiff_gives_one_row_per_frame(tmp_path, geo):
    frames = _frames(3)
    path = tmp_path / "m.tif"
    Image.fromarray(frames[0]).save(path, save_all=True,
                                    append_images=[Image.fromarray(f) for f in frames[1:]])
    res = reduce_stack([path], geo, GIGeometry.from_degrees(0.2), metrics=False)
    assert [r["frame"] for r in res.rows] == [0, 1, 2]  # was frame 0 only
    assert all(r["status"] == "ok" for r in res.rows)


def test_second_batch_on_one_output_locked_out(tmp_path, geo):
    edf = tmp_path / "f.edf"
    fabio.edfimage.EdfImage(data=_frames(1)[0]).write(str(edf))
    out = tmp_path / "o.h5"
    with batch_store.locked(out):
        with pytest.raises(GixsError, match=r"o.h5: another gixs batch \(process \d+\) is "
                                            "writing this output"):
            reduce_stack([edf], geo, GIGeometry.from_degrees(0.2), output=out, metrics=False)
    res = reduce_stack([edf], geo, GIGeometry.from_degrees(0.2), output=out, metrics=False)
    assert res.n_ok == 1 and not os.path.exists(f"{out}.lock")


def test_output_folder_refused_before_any_work(tmp_path, geo):
    (tmp_path / "d").mkdir()
    t0 = time.perf_counter()
    with pytest.raises(GixsError, match=r"d: output is a folder; name the file to write"):
        reduce_stack([tmp_path / "nothing*.edf"], geo, GIGeometry.from_degrees(0.2),
                     output=tmp_path / "d")
    assert time.perf_counter() - t0 < 5


def test_resume_without_fingerprint_refused(tmp_path):
    folder = tmp_path / "o.h5.parts"
    folder.mkdir()
    (folder / batch_store.part_name(0, "r1")).write_bytes(b"")
    with pytest.raises(GixsError, match="run.json .* is missing"):
        batch_store.prepare(str(folder), {"a": 1}, resume=True)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, geo, monkeypatch):
    pytest.importorskip("distributed")
    from gixs.batch import run

    monkeypatch.setattr(run, "SCHEDULER_TIMEOUT_S", 1.0)
    edf = tmp_path / "f.edf"
    fabio.edfimage.EdfImage(data=_frames(1)[0]).write(str(edf))
    with pytest.raises(GixsError, match=r"--scheduler tcp://127.0.0.1:9: no Dask scheduler "
                                        "answers there within 1 s"):
        reduce_stack([edf], geo, GIGeometry.from_degrees(0.2), scheduler="tcp://127.0.0.1:9",
                     output=tmp_path / "o.h5", metrics=False)
    assert sorted(os.listdir(tmp_path)) == ["f.edf"]  # was: o.h5.parts/run.json left


def test_stale_table_temporaries_removed(tmp_path, geo):
    edf = tmp_path / "f.edf"
    fabio.edfimage.EdfImage(data=_frames(1)[0]).write(str(edf))
    stale = tmp_path / ".o.csv.abc123.part"
    stale.write_text("half a table")
    reduce_stack([edf], geo, GIGeometry.from_degrees(0.2), table=tmp_path / "o.csv",
                 metrics=False)
    assert not stale.exists()


def test_worker_dies_with_its_parent(tmp_path):
    """A worker of a SIGKILLed parent must not keep running (and writing parts)."""
    pidfile = tmp_path / "child.pid"
    parent = textwrap.dedent(f"""
        import multiprocessing as mp, os, signal, time
        from gixs.batch.chunk import _die_with_parent

        def child(path):
            _die_with_parent()
            with open(path, "w") as fh:
                fh.write(str(os.getpid()))
            time.sleep(60)

        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=child, args=({str(pidfile)!r},))
            p.start()
            while not os.path.exists({str(pidfile)!r}):
                time.sleep(0.05)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    script = tmp_path / "parent.py"
    script.write_text(parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, str(script)], env=env, timeout=60)
    pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail("the worker outlived its killed parent")


def test_damaged_files_are_error_rows_of_a_batch(tmp_path, geo):
    """A batch over a good frame, a TIFF cut in half and a CBF cut inside its header: one
    ok row and two error rows naming the defect, in bounded time (the CBF hung the whole
    batch forever before; the TIFF became an ok row of zeros)."""
    import fabio

    from ..io.corrupt import bounded, cut, tiff_ifd_first

    good, tif_src, cbf_src = _frames(3)
    fabio.edfimage.EdfImage(data=good).write(str(tmp_path / "a.edf"))
    n = tiff_ifd_first(tmp_path / "t_src.tif", tif_src)
    cut(tmp_path / "t_src.tif", tmp_path / "b.tif", n // 2)
    fabio.cbfimage.CbfImage(data=cbf_src.astype(np.int32)).write(str(tmp_path / "c_src.cbf"))
    cut(tmp_path / "c_src.cbf", tmp_path / "c.cbf", 450)
    paths = [tmp_path / n for n in ("a.edf", "b.tif", "c.cbf")]
    with bounded(60):
        res = reduce_stack(paths, geo, GIGeometry.from_degrees(0.2), metrics=False)
    assert [r["status"] for r in res.rows] == ["ok", "error", "error"]
    assert res.rows[1]["error"].startswith(f"{paths[1]}: truncated TIFF: strip")
    assert res.rows[2]["error"].startswith(f"{paths[2]}: truncated or damaged CBF file: the "
                                           "header ends before the binary data")
