"""Batch reduction of image stacks: streaming, parallel, resumable, on a Dask cluster.

:func:`reduce_stack` reduces every frame of a list of files (globs, multi-frame HDF5/NeXus
and TIFF/EDF/CBF) with :func:`gixs.reduce.frame.reduce_frame`'s chain, measures the
superlattice metrics of each (:func:`gixs.superlattice.ordering.measure`, when installed) and writes
one NXentry per frame into one HDF5 file plus a table, one row per frame. A frame that
cannot be read or reduced becomes an ``error`` row; the batch goes on.

Frames are cut into chunks (a few consecutive frames). A chunk is one task: it runs in
this process (``workers=1``), in a pool of local processes (``workers=N``) or on a Dask
cluster (``scheduler=``); it reads its own frames (paths and frame numbers travel, never
arrays), reduces them and commits its results as one part file of the work folder
``OUTPUT.parts/`` (:mod:`gixs.batch.store`). At most a few chunks per worker are in flight,
so memory stays flat however long the stack. The chunk code itself is in
:mod:`gixs.batch.chunk`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io as _io
import itertools
import math
import os
import sys
import time

import numpy as np

from gixs.batch import store as batch_store
from gixs.io import frames as gio, stack
from gixs.batch.chunk import Job, process_chunk, worker_init
from gixs.errors import GeometryError, GixsError
from gixs.io.validate import check_corrections, check_normalization

#: Table columns always present, in order (then metadata and metrics columns).
BASE_COLUMNS = ("source", "frame", "status", "error", "note")
#: Per-frame metadata columns, in order, when any frame has them.
META_COLUMNS = ("time_s", "timestamp", "exposure_s", "monitor", "incidence_deg",
                "file_incidence_deg", "normalization")
#: Reduction engines (:data:`gixs.reduce.frame.ENGINES`): the compiled kernel, or the
#: scipy reference (slow; for checking).
ENGINES = ("gixs", "reference")


@dataclasses.dataclass
class BatchResult:
    """What a batch produced.

    Attributes
    ----------
    rows : list of dict
        One row per frame in batch order: ``source``, ``frame``, ``status`` ("ok" or
        "error"), ``error``, ``note``, per-frame metadata and the metrics (column names
        carry their unit, e.g. ``q_star_A^-1``, ``d_spacing_nm``).
    output, table : str or None
        The HDF5/NeXus file and the CSV table written, if any.
    elapsed_s : float
        Wall time of the run (s).

    Examples
    --------
    >>> r = BatchResult(rows=[
    ...     {"source": "a.tif", "frame": 0, "status": "ok", "error": None, "note": None,
    ...      "exposure_s": 1.0, "d_spacing_nm": 12.5},
    ...     {"source": "b.tif", "frame": 0, "status": "error", "error": "b.tif: truncated",
    ...      "note": None}])
    >>> r.columns, r.n_ok, len(r.errors)
    (['source', 'frame', 'status', 'error', 'note', 'exposure_s', 'd_spacing_nm'], 1, 1)
    >>> print(r.to_csv(), end="")
    source,frame,status,error,note,exposure_s,d_spacing_nm
    a.tif,0,ok,,,1.0,12.5
    b.tif,0,error,b.tif: truncated,,,
    """

    rows: list
    output: str | None = None
    table: str | None = None
    elapsed_s: float = 0.0

    @property
    def columns(self) -> list:
        """Table columns: base, metadata present in any row, then the metrics."""
        keys = dict.fromkeys(k for r in self.rows for k in r if k != "index")
        meta = [c for c in META_COLUMNS if c in keys]
        rest = [k for k in keys if k not in BASE_COLUMNS and k not in META_COLUMNS]
        return list(BASE_COLUMNS) + meta + rest

    @property
    def n_ok(self) -> int:
        return sum(r["status"] == "ok" for r in self.rows)

    @property
    def errors(self) -> list:
        """The error rows."""
        return [r for r in self.rows if r["status"] != "ok"]

    def to_csv(self, path=None) -> str:
        """The table as CSV text (floats written exactly); also written to ``path``."""
        buf = _io.StringIO()
        cols = self.columns
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in self.rows:
            w.writerow([_cell(r.get(c)) for c in cols])
        text = buf.getvalue()
        if path is not None:
            from gixs.io.frames import write_text

            write_text(path, text)
        return text

    def to_pandas(self):
        """The table as a pandas DataFrame (needs pandas, not a gixs dependency)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("BatchResult.to_pandas needs pandas (pip install pandas); "
                              "BatchResult.rows and to_csv() work without it") from None
        return pd.DataFrame([{c: r.get(c) for c in self.columns} for r in self.rows],
                            columns=self.columns)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return value


def read_table(path) -> list:
    """Read a batch CSV table back as a list of dicts (numbers as float, blanks as None).

    Parameters
    ----------
    path : str or path
        CSV table written by :func:`reduce_stack` (or :meth:`BatchResult.to_csv`).

    Returns
    -------
    list of dict
        One dict per row; ``frame`` as int, text columns as str, the rest as float.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "table.csv")
    >>> _ = BatchResult(rows=[{"source": "a.tif", "frame": 2, "status": "ok", "error": None,
    ...                        "note": None, "q_star_A^-1": 0.0503}]).to_csv(path)
    >>> read_table(path)
    [{'source': 'a.tif', 'frame': 2, 'status': 'ok', 'error': None, 'note': None, 'q_star_A^-1': 0.0503}]
    """
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if v == "":
                d[k] = None
            elif k in ("frame",):
                d[k] = int(v)
            else:
                try:
                    d[k] = float(v) if k not in ("source", "status", "error", "note",
                                                 "timestamp", "lattice_model") else v
                except ValueError:
                    d[k] = v
        out.append(d)
    return out


def reduce_stack(inputs, geometry, gi, *, settings=None, mask=None, dark=None, flat=None,
                 workers: int = 1, scheduler=None, output=None, table=None,
                 resume: bool = False, metrics: bool = True, incidence_list=None,
                 engine: str = "gixs", normalization=None, metrics_profile: str = "auto",
                 metrics_kwargs=None, chunk_size=None, progress=None, attrs=None,
                 keep_parts: bool = False, time_list=None, instrument=None,
                 beam_size_mm=None, sample_length_mm=None,
                 detector_parts=None) -> BatchResult:
    """Reduce every frame of ``inputs``; write one entry per frame and a table.

    Parameters
    ----------
    inputs : str, path or list
        Files, globs, ``FILE.h5::/dataset`` and ``@LIST.txt``; multi-frame files give one
        row per frame.
    geometry : DetectorGeometry
        Detector geometry (PONI).
    gi : GIGeometry
        Grazing-incidence settings (the incidence is replaced per frame by
        ``incidence_list`` when given).
    settings : ReduceSettings, optional
        Default: ``ReduceSettings(maps=False)`` (profiles only; maps on request).
    mask, dark, flat : ndarray, optional
        As in :func:`gixs.reduce.frame.reduce_frame`, same shape as every frame.
    workers : int
        Local processes (1 = this process).
    scheduler : str, dask.distributed.Client or cluster, optional
        Run the chunks on a Dask cluster (``"tcp://host:8786"``); ``workers`` is ignored.
        Its workers must see the input files and the output folder.
    output : path, optional
        HDF5/NeXus file, one NXentry ``entry_<position>`` per reduced frame.
    table : path, optional
        CSV table, one row per frame (also stored as dataset ``table`` in ``output``).
    resume : bool
        Skip the frames already committed in ``OUTPUT.parts/`` by an interrupted run.
    metrics : bool
        Measure the superlattice metrics: ``metrics_profile`` "auto" (default), "ip" or
        "iq" with :func:`gixs.superlattice.ordering.measure_frame` on each frame (the
        path of ``gixs spacing``; columns ``scattering_type``, ``q_star_axis``,
        ``rod_fraction`` among them), "oop" with :func:`gixs.superlattice.ordering.measure`
        on the out-of-plane cut (``metrics_kwargs`` passed on); left out when
        gixs.superlattice.ordering is not installed.
    incidence_list : sequence of float or path, optional
        One incidence angle (deg) per frame (incidence scans), or a text file of them.
    time_list : sequence of float, optional
        One time (s) per frame, e.g. read from the file names (``gixs watch
        --name-pattern``): the table's ``time_s``; a time the header gives is kept as
        ``file_time_s``.
    instrument : gixs.superlattice.widths.Instrument, optional
        Resolution model or constant instrument width removed from each frame's peak
        FWHM (columns ``fwhm_corrected``, ``coherence_length``); no footprint of its own.
    beam_size_mm, sample_length_mm : float, optional
        Beam height and sample length (mm): the footprint width term of each frame at
        its own incidence (``incidence_list``), column ``footprint_length_mm``
        (:func:`gixs.superlattice.widths.instrument_at_incidence`). The instrument, the
        footprint and the incidence list are in the resume fingerprint.
    engine : {"gixs", "reference"}
        "gixs": the compiled block engine; "reference": scipy's sparse products (the test
        reference, slow), both through :func:`gixs.reduce.frame.reduce_frames`.
    normalization : float, optional
        Divide intensities by this; default each frame's exposure time when the file has
        it, else 1.
    chunk_size : int, optional
        Frames per task (and per part file); default up to 8.
    progress : bool, optional
        Progress bar (tqdm) on stderr; default only when stderr is a terminal.
    attrs : dict, optional
        Extra attributes of the output file (e.g. the effective command-line setup).
    keep_parts : bool
        Keep ``OUTPUT.parts/`` after the merge, so a later call with ``resume`` adds only
        new frames (:mod:`gixs.batch.watch`).
    detector_parts : sequence of gixs.reduce.multi.DetectorPart, optional
        Parts of every frame (modules, each with its own PONI and pixel range; all
        ``image=0``): each frame is reduced over them with
        :func:`gixs.reduce.multi.reduce_parts`, as ``gixs reduce`` reduces one image;
        ``geometry`` may then be None (the first part's). The metrics are then measured
        on the reduced profile ``metrics_profile`` ("ip", "iq" or "oop"; "auto" decides
        from one geometry and is refused).

    Returns
    -------
    BatchResult

    Examples
    --------
    A 3-frame HDF5 stack (flat 4 counts, count times 1, 2 and 4 s) and a file that is
    not an image, on a small generic detector: three ``ok`` rows normalised by their
    exposure, one ``error`` row, one NXentry per reduced frame:

    >>> import json, tempfile, h5py
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> from gixs.reduce.frame import ReduceSettings
    >>> d = tempfile.mkdtemp()
    >>> with h5py.File(os.path.join(d, "scan.h5"), "w") as f:
    ...     _ = f.create_dataset("entry/data/data", data=np.full((3, 32, 48), 4.0, np.float32))
    ...     _ = f.create_dataset("entry/instrument/detector/count_time", data=[1.0, 2.0, 4.0])
    >>> _ = open(os.path.join(d, "bad.tif"), "w").write("not an image")
    >>> geo = DetectorGeometry(0.2, 0.001, 0.002, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                        json.dumps({"pixel1": 1e-4, "pixel2": 1e-4}))
    >>> out = os.path.join(d, "out.h5")
    >>> res = reduce_stack([os.path.join(d, "scan.h5"), os.path.join(d, "bad.tif")], geo,
    ...                    GIGeometry.from_degrees(0.2), metrics=False, output=out,
    ...                    settings=ReduceSettings(npt_q=20, maps=False),
    ...                    table=os.path.join(d, "table.csv"))
    >>> [(r["frame"], r["status"], r.get("normalization")) for r in res.rows]
    [(0, 'ok', 1.0), (1, 'ok', 2.0), (2, 'ok', 4.0), (0, 'error', None)]
    >>> "bad.tif: not a readable detector image" in res.errors[0]["error"]
    True
    >>> with h5py.File(out, "r") as f:
    ...     i0, i2 = (f[f"entry_00000{k}/iq/intensity"][()] for k in (0, 2))
    >>> bool(np.allclose(i0 / i2, 4.0))
    True
    """

    from gixs.reduce.frame import ReduceSettings

    t0 = time.perf_counter()
    settings = settings or ReduceSettings(maps=False)
    workers = _positive_int(workers, "workers")
    engine = str(engine).lower()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if metrics_profile not in ("auto", "ip", "iq", "oop"):
        raise ValueError("metrics_profile must be 'auto', 'ip', 'iq' or 'oop', got "
                         f"{metrics_profile!r}")
    if detector_parts is not None:
        detector_parts = tuple(detector_parts)
        if not detector_parts or any(p.image != 0 for p in detector_parts):
            raise ValueError("detector_parts: give one or more parts, all of image 0 (every "
                             "frame is one image)")
        geometry = detector_parts[0].geometry if geometry is None else geometry
        if metrics and metrics_profile == "auto":
            raise ValueError("--metrics-profile auto decides rods or rings on one "
                             "geometry; with detector parts give --metrics-profile ip, iq "
                             "or oop (measured on the reduced profile), or --no-metrics")
    if isinstance(incidence_list, (str, os.PathLike)):
        incidence_list = stack.read_incidence_list(incidence_list)
    for name, path in (("output", output), ("table", table)):
        if path is not None and os.path.isdir(os.fspath(path)):
            raise GixsError(f"{path}: {name} is a folder; name the file to write "
                            f"({'OUT.h5' if name == 'output' else 'OUT.csv'})")
    own = [os.fspath(p) for p in (output, table) if p is not None]
    sources = stack.expand_inputs(inputs, exclude=own)
    counts = [gio.count_frames(s, on_error=1) for s in sources]
    total = int(sum(counts))
    if incidence_list is not None and len(incidence_list) != total:
        raise ValueError(f"incidence list has {len(incidence_list)} angle(s) but the inputs "
                         f"hold {total} frame(s): one angle per frame is expected")
    if time_list is not None and len(time_list) != total:
        raise ValueError(f"time list has {len(time_list)} time(s) but the inputs hold "
                         f"{total} frame(s): one time (s) per frame is expected")
    if normalization is not None:
        normalization = check_normalization(normalization, name="normalization")
    checked = check_corrections(mask, dark, flat)
    corr = dict(zip(("mask", "dark", "flat"), checked))
    shape = _reference_shape(sources, corr)
    if shape is not None:
        try:
            geometry.for_image_shape(shape, source=sources[0])
        except GeometryError:
            # the first readable frame does not fit the PONI: when no correction fixes the
            # shape, the detector's own shape is expected and such frames become error rows
            if any(v is not None for v in corr.values()) or geometry.shape() is None:
                raise
            shape = geometry.shape()
    if chunk_size is None:
        n_workers = workers if scheduler is None else 4
        chunk_size = max(1, min(8, total // (4 * n_workers)))
    chunk_size = _positive_int(chunk_size, "chunk_size")
    inst = None
    if instrument is not None or beam_size_mm is not None or sample_length_mm is not None:
        if instrument is not None and instrument.footprint_m is not None:
            raise ValueError("instrument: give the footprint as beam_size_mm / "
                             "sample_length_mm (set per frame from its incidence), not in "
                             "the Instrument")
        inst = {"base": instrument, "beam_size_mm": beam_size_mm,
                "sample_length_mm": sample_length_mm}
        from gixs.superlattice.widths import footprint_length_m

        if beam_size_mm is not None or sample_length_mm is not None:
            for a in (incidence_list if incidence_list is not None
                      else [math.degrees(gi.incidence)]):
                footprint_length_m(beam_size_mm=beam_size_mm,
                                   sample_length_mm=sample_length_mm, incidence_deg=a)
    job = Job(geometry=geometry, gi=gi, settings=settings, shape=shape,
              normalization=normalization, metrics=bool(metrics),
              metrics_profile=metrics_profile, metrics_kwargs=dict(metrics_kwargs or {}),
              engine=engine, run_id=f"{int(time.time()):x}{os.getpid():x}",
              write_entries=output is not None, instrument=inst,
              detector_parts=detector_parts, **corr)
    lock = contextlib.nullcontext()
    if own:
        lock = batch_store.locked(own[0])
    # the cluster is reached before any file is made (no work folder is left behind for
    # a scheduler that does not answer)
    client, own_client = _connect(scheduler) if scheduler is not None else (None, False)
    try:
        with lock:
            return _run_locked(job, sources, counts, total, incidence_list, output, table,
                               attrs, keep_parts, resume, chunk_size, workers, client,
                               progress, t0, time_list)
    finally:
        if own_client:
            client.close()


def _run_locked(job, sources, counts, total, incidence_list, output, table, attrs,
                keep_parts, resume, chunk_size, workers, scheduler, progress, t0,
                time_list=None):
    """The body of :func:`reduce_stack` once the output is locked."""
    work = None
    done = {}
    if output is not None or table is not None:
        work = os.fspath(output if output is not None else table) + ".parts"
        done = batch_store.prepare(work, job.fingerprint(), resume)
    job = dataclasses.replace(job, parts=work)
    if done:
        _check_done_incidence(done, stack.enumerate_frames(sources, counts, incidence_list),
                              math.degrees(job.gi.incidence), work)
    todo = (r for r in stack.enumerate_frames(sources, counts, incidence_list)
            if (r.source, r.frame) not in done)
    chunks = _chunks(todo, chunk_size)
    rows = {}
    bar = _progress_bar(total, len(done), progress)

    def on_done(chunk_rows):
        for row in chunk_rows:
            rows[row["index"]] = row
        bar.update(len(chunk_rows))
        n_err = sum(r["status"] != "ok" for r in chunk_rows)
        if n_err:
            bar.n_err = getattr(bar, "n_err", 0) + n_err
            bar.set_postfix(errors=bar.n_err, refresh=False)

    try:
        if scheduler is not None:
            _run_dask(job, chunks, scheduler, on_done)
        elif workers > 1:
            _run_pool(job, chunks, workers, on_done)
        else:
            for chunk in chunks:
                on_done(process_chunk(job, chunk))
    finally:
        bar.close()
    if done:
        index_of = {(r.source, r.frame): r.index
                    for r in stack.enumerate_frames(sources, counts, incidence_list)}
        for key, row in done.items():
            if key in index_of:
                rows[index_of[key]] = dict(row, index=index_of[key])
    if time_list is not None:
        for i, row in rows.items():
            rows[i] = _with_time(row, float(time_list[i]))
    result = BatchResult([rows[i] for i in sorted(rows)], output=None, table=None)
    text = result.to_csv()
    if output is not None:
        _remove_stale_temps(output)
        index_of = {(r["source"], r["frame"]): r["index"] for r in result.rows}
        batch_store.merge(work, output, index_of, text, {
            "frames": total, "frames_ok": result.n_ok,
            "frames_error": len(result.errors), "units_note": "q in 1/angstrom",
            **(attrs or {})})
        result.output = os.fspath(output)
    if table is not None:
        _remove_stale_temps(table)
        result.to_csv(table)
        result.table = os.fspath(table)
    if work is not None and not keep_parts:
        batch_store.remove(work)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _check_done_incidence(done, refs, nominal_deg, work):
    """A resumed frame must have been reduced at the incidence it has now (the per-frame
    a_i of an incidence list, and with it the footprint, is part of what a row depends
    on, beside the fingerprint of run.json)."""
    for ref in refs:
        row = done.get((ref.source, ref.frame))
        if row is None or row.get("incidence_deg") is None:
            continue
        want = nominal_deg if ref.incidence_deg is None else float(ref.incidence_deg)
        if abs(float(row["incidence_deg"]) - want) > 1e-9:
            raise GixsError(f"{work}: cannot resume, {ref.source} frame {ref.frame} was "
                            f"reduced at incidence {float(row['incidence_deg']):g} deg, "
                            f"now {want:g} deg (incidence list changed); run without "
                            "--resume to start over")


def _with_time(row, time_s):
    """``row`` with ``time_s`` from a time list; the header's time (if any) as
    ``file_time_s``."""
    row = dict(row)
    file_time = row.get("file_time_s", row.get("time_s"))
    row["file_time_s"] = file_time
    row["time_s"] = time_s
    return row


def _remove_stale_temps(output):
    """Temporary files of a merge into ``output`` killed half-way (gixs.io.frames.atomic_path)."""
    import glob

    folder = os.path.dirname(os.path.abspath(output))
    pattern = os.path.join(glob.escape(folder), f".{glob.escape(os.path.basename(output))}.*.part")
    for path in glob.glob(pattern):
        os.unlink(path)


def _positive_int(value, name):
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _reference_shape(sources, corr):
    """Shape every frame must have: the mask's/dark's/flat's, else the first frame's."""
    shapes = {k: v.shape for k, v in corr.items() if v is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError("mask, dark and flat differ in shape: " +
                         ", ".join(f"{k} {s[0]}x{s[1]}" for k, s in shapes.items()))
    if shapes:
        return next(iter(shapes.values()))
    from gixs.io.frames import read_frame

    for source in sources:
        try:
            return read_frame(source, 0).data.shape
        except Exception:  # noqa: BLE001 - unreadable: try the next file
            continue
    return None


def _chunks(refs, size):
    """Lists of up to ``size`` consecutive refs (lazily)."""
    it = iter(refs)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def _progress_bar(total, initial, progress):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="frame", desc="gixs batch",
                dynamic_ncols=True, smoothing=0.1)


def _run_pool(job, chunks, workers, on_done):
    """Chunks on ``workers`` local processes, at most 2 per worker in flight."""
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no fork of a process holding HDF5 handles or threads
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    # a prefetch thread only pays when a core is free to decompress while others compute
    prefetch = None if workers < cores else False
    ex = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_init,
                                initargs=(job, threads, prefetch))
    try:
        pending = set()
        for chunk in chunks:
            pending.add(ex.submit(process_chunk, None, chunk))
            if len(pending) >= 2 * workers:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in finished:
                    on_done(_result(f))
        for f in cf.as_completed(pending):
            on_done(_result(f))
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _result(future):
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        raise GixsError("a worker process died (out of memory?); finished chunks are kept: "
                        "run again with --resume") from None


#: Seconds to wait for a Dask scheduler to answer.
SCHEDULER_TIMEOUT_S = 10.0


def _connect(scheduler):
    """(Dask client, whether it is ours to close) of ``scheduler`` (an address or a
    Client); GixsError when no scheduler answers within :data:`SCHEDULER_TIMEOUT_S`."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S), True
    except (OSError, TimeoutError, ValueError) as exc:
        raise GixsError(f"--scheduler {scheduler}: no Dask scheduler answers there within "
                        f"{SCHEDULER_TIMEOUT_S:g} s ({type(exc).__name__}: {exc})") from None


def _run_dask(job, chunks, scheduler, on_done):
    """Chunks on a Dask cluster, at most 2 per worker thread in flight."""
    from distributed import as_completed

    client, own = _connect(scheduler)
    try:
        job = dataclasses.replace(job, threads=1, prefetch=False)  # a worker per core
        job_f = client.scatter(job, broadcast=True, hash=False)
        limit = max(2, 2 * sum(client.nthreads().values()))
        it = iter(chunks)
        ac = as_completed()
        for chunk in itertools.islice(it, limit):
            ac.add(client.submit(process_chunk, job_f, chunk, pure=False))
        for fut in ac:
            on_done(fut.result())
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(client.submit(process_chunk, job_f, nxt, pure=False))
    finally:
        if own:
            client.close()
