"""The work folder of a batch: one small HDF5 file per finished chunk, merged at the end.

``OUT.h5.parts/`` holds ``run.json`` (what the batch computes: geometry, settings,
corrections; a resumed batch must match it) and one ``chunk-<first index>-<run>.h5`` per
finished chunk of frames: its table rows (JSON, dataset ``rows``) and, when an output file
is asked, one NXentry per reduced frame (group ``e<index>``). Each part is written to a
temporary name and renamed when complete, so a killed batch (``kill -9`` included) leaves
only whole parts; ``--resume`` reads which (source, frame) pairs they hold and skips them.
The final merge copies the entries into ``OUT.h5`` (temporary file, then rename) and
removes the folder.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os

from gixs.errors import GixsError
from gixs.io.frames import atomic_path
from gixs.io.h5write import h5_create
from gixs.io.jsonout import to_jsonable

PART_GLOB = "chunk-*.h5"


def part_name(first_index: int, run_id: str) -> str:
    """File name of the part whose first frame is ``first_index`` (batch position)."""
    return f"chunk-{first_index:09d}-{run_id}.h5"


@contextlib.contextmanager
def open_part(folder, first_index, run_id, with_entries=True):
    """Yield an open (temporary) part file; it is renamed into place on success only."""

    path = os.path.join(folder, part_name(first_index, run_id))
    with atomic_path(path) as tmp:
        with h5_create(tmp) as f:
            f.attrs["run"] = run_id
            f.attrs["entries"] = bool(with_entries)
            yield f


def write_rows(part, rows) -> None:
    """Store a chunk's table rows (list of dicts) in an open part file."""
    part.create_dataset("rows", data=json.dumps(to_jsonable(rows)))


def _part_files(folder):
    return sorted(glob.glob(os.path.join(glob.escape(folder), PART_GLOB)))


def prepare(folder, fingerprint: dict, resume: bool) -> dict:
    """Set up the work folder; return the rows already done, keyed by (source, frame).

    Without ``resume`` any previous work folder of this output is emptied. With it, the
    parts are read back; ``run.json`` must describe the same computation.
    """
    import h5py

    run_file = os.path.join(folder, "run.json")
    text = json.dumps(to_jsonable(fingerprint), sort_keys=True)
    done = {}
    if resume and os.path.isdir(folder):
        if not os.path.exists(run_file) and _part_files(folder):
            raise GixsError(f"{folder}: cannot resume, run.json (what the interrupted batch "
                            "computed) is missing, so its parts cannot be checked against "
                            "these settings; run without --resume to start over")
        if os.path.exists(run_file):
            with open(run_file, encoding="utf-8") as fh:
                old = fh.read()
            if json.loads(old) != json.loads(text):
                diff = sorted(k for k in set(json.loads(old)) | set(json.loads(text))
                              if json.loads(old).get(k) != json.loads(text).get(k))
                raise GixsError(f"{folder}: cannot resume, the interrupted batch used other "
                                f"settings ({', '.join(diff)} differ); run without --resume "
                                "to start over")
        for path in _part_files(folder):
            try:
                with h5py.File(path, "r") as f:
                    rows = json.loads(f["rows"][()])
            except Exception as exc:  # noqa: BLE001 - should not happen (atomic writes)
                raise GixsError(f"{path}: unreadable batch part ({exc}); delete it and "
                                "resume") from None
            for row in rows:
                done.setdefault((row["source"], int(row["frame"])), row)
    elif os.path.isdir(folder):
        remove(folder)
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(glob.escape(folder), ".*.part")):
        os.unlink(stale)  # temporary files of a killed run
    with atomic_path(run_file) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return done


@contextlib.contextmanager
def locked(output):
    """Hold ``OUTPUT.lock`` while a batch writes ``output``; GixsError if another live
    batch holds it (a lock left by a killed batch is taken over)."""
    import fcntl

    path = os.fspath(output) + ".lock"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            who = fh.read().strip() or "?"
            raise GixsError(f"{output}: another gixs batch (process {who}) is writing this "
                            "output; wait for it to finish or choose another -o") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        fh.close()


def merge(folder, output, index_of, table_text: str, attrs: dict) -> int:
    """Copy every part's entries into ``output`` (atomically); return the entries written.

    ``index_of`` maps (source, frame) to the final batch position (entry
    ``entry_<position>``); entries of frames no longer in the batch are left out.
    """
    import h5py

    width = max(6, len(str(max(index_of.values(), default=0))))
    written = set()
    with atomic_path(output) as tmp:
        with h5_create(tmp) as out:
            out.attrs["creator"] = "gixs batch"
            for key, val in attrs.items():
                out.attrs[key] = val
            out.create_dataset("table", data=table_text)
            out["table"].attrs["description"] = "the batch table (CSV text), one row per frame"
            for path in _part_files(folder):
                with h5py.File(path, "r") as part:
                    for name, grp in part.items():
                        if not name.startswith("e"):
                            continue
                        key = (str(grp.attrs["source"]), int(grp.attrs["frame"]))
                        if key not in index_of or key in written:
                            continue
                        part.copy(grp, out, name=f"entry_{index_of[key]:0{width}d}")
                        written.add(key)
            names = sorted(k for k in out.keys() if k.startswith("entry_"))
            if names:
                from gixs.io.output import write_series

                write_series(out, names, table_text)
                out.attrs["default"] = "series"
    return len(written)


def remove(folder) -> None:
    """Delete a work folder (only the files a batch writes there)."""
    for path in _part_files(folder) + glob.glob(os.path.join(glob.escape(folder), ".*.part")):
        os.unlink(path)
    run_file = os.path.join(folder, "run.json")
    if os.path.exists(run_file):
        os.unlink(run_file)
    try:
        os.rmdir(folder)
    except OSError:
        pass  # the folder holds files gixs did not write: leave them
