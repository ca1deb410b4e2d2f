"""One batch task: read a chunk of frames, reduce them, measure them, commit a part file.

:func:`process_chunk` runs wherever the batch sends it (this process, a local worker
process, a Dask worker). It reads its frames itself (:func:`gixs.io.stack.read_frames`, one
frame ahead in a thread), reduces them a block of frames at a time with
:func:`gixs.reduce.frame.reduce_frames` (the one reduction path; the plan comes from the
plan cache, :mod:`gixs.reduce.cache`, so a worker loads the plan the parent stored
instead of rebuilding it), measures the superlattice metrics
(:func:`gixs.superlattice.ordering.measure`) and writes the chunk's entries and table rows to one part
file (:mod:`gixs.batch.store`). It returns the rows only (small).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import os

import numpy as np

from gixs.batch import store as batch_store
from gixs.io import stack
from gixs.io.validate import check_frame, normalization_for
from gixs.errors import GixsError, NoPeakError
from gixs.units import metric_column

#: Metrics keys left out of the table (constant, structured, or a batch column already).
SKIP_METRICS = {"units", "fit", "lattice_fits", "orders", "profile_name", "q_range",
                "orientation", "source", "normalization", "scherrer_K", "instrument_fwhm",
                "instrument_correction", "profile", "q_star_method", "warnings",
                "scattering_evidence", "profile_choice"}
#: Metrics keys of the form-factor fit (columns only when it was asked for).
FORM_FACTOR_KEYS = {"q_star_structure", "q_star_structure_err", "d_spacing_structure",
                    "d_spacing_structure_err"}
#: Version of :meth:`Job.fingerprint`'s layout (a resumed batch must match it).
FINGERPRINT_FORMAT = 1
#: Bytes of frames stacked into one engine block at most.
BLOCK_BYTES = 64 * 2 ** 20


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a chunk needs besides its frame refs (pickled once per worker)."""

    geometry: object
    gi: object
    settings: object
    shape: tuple | None
    normalization: float | None
    metrics: bool
    metrics_profile: str
    metrics_kwargs: dict
    engine: str
    run_id: str
    write_entries: bool
    mask: np.ndarray | None = None
    dark: np.ndarray | None = None
    flat: np.ndarray | None = None
    parts: str | None = None
    threads: int | None = None
    prefetch: bool | None = None
    detector_parts: tuple | None = None
    #: {"base": Instrument or None, "beam_size_mm", "sample_length_mm"}: the instrument
    #: widths removed from the metrics' FWHM, the footprint set per frame from its a_i
    instrument: dict | None = None

    def fingerprint(self) -> dict:
        """What the results depend on (a resumed batch must match it): a stable dict of
        plain values with a format version (no ``repr``), arrays by their SHA-256."""
        def digest(a):
            if a is None:
                return None
            a = np.ascontiguousarray(a)
            return f"sha256:{hashlib.sha256(a.view(np.uint8)).hexdigest()}:{a.dtype.str}:" \
                + "x".join(str(n) for n in a.shape)

        out = {"fingerprint_format": FINGERPRINT_FORMAT,
                "geometry": dataclasses.asdict(self.geometry),
                "gi": dataclasses.asdict(self.gi),
                "settings": dataclasses.asdict(self.settings),
                "normalization": self.normalization,
                "metrics": self.metrics, "metrics_profile": self.metrics_profile,
                "metrics_kwargs": {str(k): self.metrics_kwargs[k]
                                   for k in sorted(self.metrics_kwargs)},
                "mask": digest(self.mask), "dark": digest(self.dark),
                "flat": digest(self.flat), "entries": self.write_entries,
                "engine": self.engine,
                **({"detector_parts": [p.describe() for p in self.detector_parts]}
                   if self.detector_parts else {})}
        if self.instrument is not None:  # (absent without one: older batches still resume)
            base = self.instrument.get("base")
            out["instrument"] = {
                "base": None if base is None else base.to_dict(),
                "beam_size_mm": self.instrument.get("beam_size_mm"),
                "sample_length_mm": self.instrument.get("sample_length_mm")}
        return out

    def instrument_at(self, gi):
        """The Instrument of a frame at ``gi`` (its own incidence), or None."""
        if self.instrument is None:
            return None
        from gixs.superlattice.widths import instrument_at_incidence

        return instrument_at_incidence(
            self.instrument.get("base"), beam_size_mm=self.instrument.get("beam_size_mm"),
            sample_length_mm=self.instrument.get("sample_length_mm"),
            incidence_deg=math.degrees((gi or self.gi).incidence),
            distance_m=self.geometry.dist_m, wavelength_a=self.geometry.wavelength_a)


_WORKER_JOB = None


def worker_init(job, threads=None, prefetch=None):
    """Initializer of a local worker process: keep the job, limit Numba's threads."""
    import signal

    global _WORKER_JOB
    _WORKER_JOB = dataclasses.replace(job, threads=threads, prefetch=prefetch)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _die_with_parent()


def _die_with_parent():
    """End this worker process when its parent dies (even by SIGKILL), so that no orphan
    keeps writing parts: Linux's PR_SET_PDEATHSIG, else a thread watching the parent."""
    import signal
    import threading
    import time

    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="gixs-parent-watch", daemon=True).start()


def process_chunk(job, refs) -> list:
    """Reduce the frames ``refs`` (list of :class:`gixs.io.stack.FrameRef`); return their rows.

    ``job`` None means the job given to :func:`worker_init` (local worker processes).
    """
    job = job or _WORKER_JOB
    if job.engine == "gixs" and job.threads:
        import numba

        numba.set_num_threads(max(1, min(job.threads, numba.config.NUMBA_NUM_THREADS)))
    if job.parts is None:
        return _reduce_chunk(job, refs, None)
    with batch_store.open_part(job.parts, refs[0].index, job.run_id,
                               job.write_entries) as part:
        rows = _reduce_chunk(job, refs, part if job.write_entries else None)
        batch_store.write_rows(part, rows)
    return rows


def _reduce_chunk(job, refs, part):
    from gixs.io.output import write_entry

    rows = []
    block = []  # (ref, frame, row, gi) waiting for the engine
    limit = max(1, min(16, BLOCK_BYTES // max(1, 4 * int(np.prod(job.shape or (1,))))))

    def flush():
        if not block:
            return
        started = _now()
        for (ref, frame, row, gi), reduced in zip(block, _reduce_block(job, block)):
            if isinstance(reduced, Exception):
                _fail(row, reduced)
                continue
            reduced = reduced.with_provenance(batch={
                "run": job.run_id, "position": ref.index, "pid": os.getpid(),
                "started": started, "processed": _now(), "metadata": frame.metadata})
            row.update(_metrics(job, reduced, frame, gi, row["normalization"]))
            if part is not None:
                entry = write_entry(part, f"e{ref.index}", reduced)
                entry.attrs["source"] = ref.source
                entry.attrs["frame"] = ref.frame
        block.clear()

    for ref, frame in stack.read_frames(refs, prefetch=job.prefetch):
        row = {"index": ref.index, "source": ref.source, "frame": ref.frame,
               "status": "ok", "error": "", "note": ""}
        rows.append(row)
        try:
            if isinstance(frame, Exception):
                raise frame
            row.update(_frame_metadata(frame.metadata))
            gi = _check(job, ref, frame, row)
        except Exception as exc:  # noqa: BLE001 - every bad frame becomes an error row
            _fail(row, exc)
            continue
        if block and (block[-1][3] != gi or len(block) >= limit):
            flush()
        block.append((ref, frame, row, gi))
    flush()
    return rows


def _fail(row, exc):
    msg = str(exc) if isinstance(exc, (GixsError, ValueError, OSError)) else \
        f"{type(exc).__name__}: {exc}"
    row.update(status="error", error=msg or type(exc).__name__)


def _check(job, ref, frame, row):
    """Validate a frame; return its GIGeometry and record incidence and normalization."""
    shape = frame.data.shape
    if job.shape is not None and tuple(shape) != tuple(job.shape):
        raise GixsError(f"{ref.source}: frame {ref.frame} is {shape[0]}x{shape[1]} pixels, "
                        f"expected {job.shape[0]}x{job.shape[1]} like the other frames")
    check_frame(frame, job.mask)
    gi = job.gi
    if ref.incidence_deg is not None:
        gi = dataclasses.replace(gi, incidence=math.radians(ref.incidence_deg))
    row["incidence_deg"] = math.degrees(gi.incidence)
    row["normalization"] = normalization_for(frame.metadata, job.normalization)
    return gi


def _frame_metadata(meta):
    out = {}
    t = meta.get("time_s", meta.get("timestamp"))
    if "timestamp" in meta:
        out["timestamp"] = str(meta["timestamp"])
    out["time_s"] = stack.parse_time(t)
    out["exposure_s"] = None  # the table always has the column (None: not in the header)
    for key in ("exposure_s", "monitor", "file_incidence_deg"):
        if key in meta:
            try:
                out[key] = float(meta[key])
            except (TypeError, ValueError):
                pass
    return out


def _reduce_block(job, block):
    """ReducedFrame (or the exception) of each (ref, frame, row, gi) of a block, through
    :func:`gixs.reduce.frame.reduce_frames` (one incidence per block)."""
    from gixs.reduce.frame import reduce_frames

    if not block:
        return []
    if job.detector_parts:  # every frame reduced over its parts, as gixs reduce does
        from gixs.reduce.multi import reduce_parts

        out = []
        for ref, frame, row, gi in block:
            try:
                out.append(reduce_parts(frame, job.detector_parts, gi, job.settings,
                                        mask=job.mask, dark=job.dark, flat=job.flat,
                                        normalization=row["normalization"],
                                        source=ref.source))
            except Exception as exc:  # noqa: BLE001 - an error row, as any frame's
                out.append(exc)
        return out
    try:
        return list(reduce_frames(
            [b[1] for b in block], job.geometry, block[0][3], job.settings, mask=job.mask,
            dark=job.dark, flat=job.flat, normalization=[b[2]["normalization"] for b in block],
            sources=[b[0].source for b in block], indices=[b[0].frame for b in block],
            block=len(block), engine=job.engine))
    except Exception as exc:  # noqa: BLE001 - the whole block fails alike
        return [exc] * len(block)


def _metrics(job, reduced, frame=None, gi=None, normalization=1.0) -> dict:
    """Metrics columns of a frame (names carry units); a note when no peak.

    "auto", "ip" and "iq" go through :func:`gixs.superlattice.ordering.measure_frame` on
    the frame itself, the one measurement path of ``gixs spacing`` and the API (rods
    or rings decided from the frame; ``scattering_type`` and ``q_star_axis`` columns);
    "oop" (a layer spacing along q_z) measures the reduced out-of-plane cut, and with
    detector parts every profile is measured on the reduced (all-parts) profile. The
    note column also carries the below-horizon orientation check (one geometry only).
    """
    from gixs.reduce.orientation_check import check_orientation

    if job.metrics:
        from gixs.superlattice import ordering
    else:
        ordering = None
    note = ""
    on_profile = job.metrics_profile == "oop" or bool(job.detector_parts)
    if ordering is None or on_profile:
        if frame is not None and gi is not None and not job.detector_parts:
            chk = check_orientation(frame.data, job.geometry, gi, mask=job.mask,
                                    invalid=frame.invalid, warn=False)
            if chk["ok"] is False:
                note = "orientation: " + chk["message"]
        if ordering is None:
            return {"note": note} if note else {}
    try:
        inst = job.instrument_at(gi)
        extra = {} if inst is None else {"instrument_fwhm": inst}
        if on_profile or frame is None:
            if not job.detector_parts:  # one pixel in q: the sampling error's unit
                from gixs.superlattice.classify import pixel_q

                extra["pixel_q"] = pixel_q(job.geometry)
            res = ordering.measure(reduced.profiles[job.metrics_profile],
                                   **job.metrics_kwargs, **extra)
        else:
            import warnings

            kw = dict(job.metrics_kwargs, **extra)
            kw.setdefault("normalization", normalization)
            from gixs.superlattice.formfactor import FormFactorError

            ff_note = ""
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # they are in the result (note column)
                try:
                    res = ordering.measure_frame(
                        frame, job.geometry, gi, profile=job.metrics_profile, mask=job.mask,
                        dark=job.dark, flat=job.flat, settings=job.settings,
                        orientation=False, **kw)
                except FormFactorError as exc:
                    # the form factor is refused on this frame: the plain metrics, noted
                    ff_note = f"form factor refused: {exc}"
                    kw.pop("form_factor")
                    res = ordering.measure_frame(
                        frame, job.geometry, gi, profile=job.metrics_profile, mask=job.mask,
                        dark=job.dark, flat=job.flat, settings=job.settings,
                        orientation=False, **kw)
            note = "; ".join(list(res.warnings) + ([ff_note] if ff_note else []))
    except NoPeakError as exc:
        return {"note": "; ".join(x for x in (note, f"no peak: {exc}") if x)}
    except Exception as exc:  # noqa: BLE001 - the frame is reduced; the metrics failed
        return {"note": "; ".join(x for x in (note, f"metrics failed ({type(exc).__name__}: "
                                                    f"{exc})") if x)}
    d = res.to_dict(include_profile=False)
    units = d.get("units", {})
    out = {}
    for key, val in d.items():
        if key in SKIP_METRICS or not (val is None or isinstance(val, (int, float, str))):
            continue
        if key in FORM_FACTOR_KEYS and d.get("form_factor") is None:
            continue  # no form-factor fit asked: no structure-factor columns
        out[metric_column(key, units.get(key))] = val
    ff = d.get("form_factor") or {}
    for key in ("radius_nm", "radius_err_nm", "sigma", "sigma_err", "fitted"):
        if key in ff:
            col = "form_factor_" + key
            out[col] = ff[key]
    if inst is not None:
        if inst.footprint_m is not None:
            out["footprint_length_mm"] = inst.footprint_m * 1e3
        widths = d.get("instrument_widths") or {}
        if "total" in widths:
            out[metric_column("instrument_fwhm_total", "A^-1")] = widths["total"]
    out["n_orders"] = len(d.get("orders") or ())
    ev = d.get("scattering_evidence") or {}
    out["rod_fraction"] = ev.get("rod_fraction")
    if note:
        out["note"] = note
    return out


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
