"""The frames of a batch: expanding inputs, numbering frames, reading them with prefetch.

A batch input is a file, a glob (``run_*.cbf``), an HDF5 dataset (``FILE.h5::/path``), or
``@LIST.txt`` (one input per line). Every frame of every input becomes a
:class:`FrameRef` (its position in the batch, the file, the frame number inside the file
and, for incidence scans, its own incidence angle). Workers receive refs, never arrays,
and read the frames themselves (:func:`read_frames`), one frame ahead of the computation
in a background thread, so that reading overlaps the reduction and at most two frames per
worker are in memory.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import queue
import threading


from gixs.io import frames as gio
from gixs.io.headers import posix_time

#: Read one frame ahead in a background thread (:func:`read_frames`); off for comparisons.
PREFETCH = True


@dataclasses.dataclass(frozen=True)
class FrameRef:
    """One frame of a batch.

    Attributes
    ----------
    index : int
        Position in the batch (0-based), the order of the table and of the output entries.
    source : str
        File (or ``FILE.h5::/dataset``) holding the frame.
    frame : int
        Frame number inside ``source``.
    incidence_deg : float or None
        This frame's incidence angle (deg) from an incidence list, None = the batch's.

    Examples
    --------
    >>> FrameRef(3, "scan.h5::/entry/data/data", 1, 0.25)
    FrameRef(index=3, source='scan.h5::/entry/data/data', frame=1, incidence_deg=0.25)
    """

    index: int
    source: str
    frame: int
    incidence_deg: float | None = None


def expand_inputs(inputs, *, exclude=()) -> list:
    """Files of a batch, in order: globs expanded (sorted), ``@LIST.txt`` read.

    Files in ``exclude`` (the batch's own outputs, compared resolved) are left out of
    glob matches, so ``dir/*.h5 -o dir/out.h5`` never reads its earlier output; naming one
    of them directly is an error.

    Raises
    ------
    ValueError
        An input names no existing file and matches nothing.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("run_2.cbf", "run_1.cbf", "out.h5"):
    ...     open(os.path.join(d, name), "w").close()
    >>> with open(os.path.join(d, "list.txt"), "w") as fh:
    ...     _ = fh.write("# frames\\nrun_2.cbf\\n")
    >>> [os.path.basename(p) for p in expand_inputs([os.path.join(d, "run_*.cbf")])]
    ['run_1.cbf', 'run_2.cbf']
    >>> [os.path.basename(p) for p in expand_inputs("@" + os.path.join(d, "list.txt"))]
    ['run_2.cbf']
    >>> [os.path.basename(p) for p in expand_inputs([os.path.join(d, "*")],
    ...                                               exclude=[os.path.join(d, "out.h5")])]
    ['list.txt', 'run_1.cbf', 'run_2.cbf']
    >>> expand_inputs([os.path.join(d, "none_*.tif")])
    Traceback (most recent call last):
    ...
    ValueError: ...none_*.tif: no such file, and no file matches this pattern
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    skip = {os.path.realpath(os.fspath(p)) for p in exclude}
    out = []
    for item in inputs:
        item = os.fspath(item)
        if item.startswith("@"):
            with open(item[1:], encoding="utf-8") as fh:
                lines = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
            base = os.path.dirname(item[1:])
            out += expand_inputs([ln if os.path.isabs(ln) else os.path.join(base, ln)
                                  for ln in lines], exclude=exclude)
            continue
        fname, dset = gio.split_h5_path(item)
        if os.path.exists(fname):
            if os.path.realpath(fname) in skip:
                raise ValueError(f"{item}: this input is also an output of the batch; "
                                 "choose another -o / --table")
            out.append(item)
            continue
        matches = [m for m in sorted(glob.glob(fname)) if os.path.realpath(m) not in skip]
        if not matches:
            raise ValueError(f"{item}: no such file, and no file matches this pattern")
        out += [m if dset is None else f"{m}::{dset}" for m in matches]
    if not out:
        raise ValueError("no input file given")
    return out


def read_incidence_list(path) -> list:
    """Incidence angles (deg) from a text file: one per line, ``#`` comments allowed.

    Parameters
    ----------
    path : str or path
        Text file; the first number of each non-comment line is used.

    Returns
    -------
    list of float
        Incidence angles (deg), in file order.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "angles.txt")
    >>> _ = open(path, "w").write("# alpha_i scan (deg)\\n0.10\\n0.15, frame 2\\n\\n0.20\\n")
    >>> read_incidence_list(path)
    [0.1, 0.15, 0.2]
    >>> _ = open(path, "w").write("0.1\\nhigh\\n")
    >>> read_incidence_list(path)
    Traceback (most recent call last):
    ...
    ValueError: ...angles.txt: line 2: expected an incidence angle in deg, got 'high'
    """
    path = os.fspath(path)
    angles = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].strip().replace(",", " ")
            if not text:
                continue
            try:
                angles.append(float(text.split()[0]))
            except ValueError:
                raise ValueError(f"{path}: line {n}: expected an incidence angle in deg, "
                                 f"got {line.strip()!r}") from None
    if not angles:
        raise ValueError(f"{path}: no incidence angle in this file (one angle in deg per line)")
    return angles


def enumerate_frames(sources, counts, incidence_list=None):
    """Yield a :class:`FrameRef` per frame of ``sources`` (``counts[i]`` frames each).

    Parameters
    ----------
    sources : sequence of str
        Input files, in batch order.
    counts : sequence of int
        Frames in each source.
    incidence_list : sequence of float, optional
        One incidence angle (deg) per frame of the whole batch.

    Examples
    --------
    >>> [(r.index, r.source, r.frame, r.incidence_deg)
    ...  for r in enumerate_frames(["a.h5", "b.tif"], [2, 1], [0.1, 0.2, 0.3])]
    [(0, 'a.h5', 0, 0.1), (1, 'a.h5', 1, 0.2), (2, 'b.tif', 0, 0.3)]
    >>> list(enumerate_frames(["a.h5"], [2], [0.1]))
    Traceback (most recent call last):
    ...
    ValueError: incidence list has 1 angle(s) but the inputs hold 2 frame(s): one angle per frame is expected
    """
    total = int(sum(counts))
    if incidence_list is not None and len(incidence_list) != total:
        raise ValueError(f"incidence list has {len(incidence_list)} angle(s) but the inputs "
                         f"hold {total} frame(s): one angle per frame is expected")
    index = 0
    for source, n in zip(sources, counts):
        for frame in range(int(n)):
            inc = None if incidence_list is None else float(incidence_list[index])
            yield FrameRef(index, source, frame, inc)
            index += 1


def parse_time(value):
    """Seconds since the epoch (float) from a number or a date string; None if neither.

    Examples
    --------
    >>> parse_time(12.5), parse_time(b"1700000000"), parse_time("n/a")
    (12.5, 1700000000.0, None)
    >>> parse_time("2024-10-26T01:38:05")  # no zone given: UTC
    1729906685.0
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        t = float(value)
        return t if math.isfinite(t) else None
    except (TypeError, ValueError):
        pass
    return posix_time(value)


class _Sources:
    """Reads the frames of :class:`FrameRef` s through the one frame reader
    (:class:`gixs.io.frames.FrameReader`), opening each input once per chunk."""

    def __init__(self):
        self.reader = gio.FrameReader()

    def read(self, ref):
        return self.reader.read(ref.source, ref.frame)

    def close(self):
        self.reader.close()


def read_frames(refs, prefetch: bool | None = None):
    """Yield ``(ref, Frame or exception)`` for each ref, reading one frame ahead.

    A frame that cannot be read yields the exception instead of stopping the stream.
    With ``prefetch`` (default :data:`PREFETCH`) a background thread reads the next frame
    while the caller reduces the current one; the queue holds at most two frames. The
    overlap needs a free core: the engine's kernels, scipy's sparse products, numpy and
    file reads release the GIL, but h5py holds it while it decompresses, so the batch
    turns prefetch off when every core already runs a worker.

    Examples
    --------
    >>> import tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("entry/data/data", data=np.arange(12.0).reshape(3, 2, 2))
    >>> refs = list(enumerate_frames([path, path + ".missing"], [3, 1]))
    >>> [(ref.index, type(fr).__name__) for ref, fr in read_frames(refs)]
    [(0, 'Frame'), (1, 'Frame'), (2, 'Frame'), (3, 'FormatError')]
    >>> [float(fr.data.sum()) for _, fr in read_frames(refs[:3], prefetch=False)]
    [6.0, 22.0, 38.0]
    """

    refs = list(refs)
    prefetch = PREFETCH if prefetch is None else prefetch
    if not prefetch or len(refs) < 2:
        src = _Sources()
        try:
            for ref in refs:
                yield ref, _read_one(src, ref)
        finally:
            src.close()
        return
    q = queue.Queue(maxsize=1)
    stop = threading.Event()

    def reader():
        src = _Sources()
        try:
            for ref in refs:
                if stop.is_set():
                    break
                q.put((ref, _read_one(src, ref)))
        finally:
            src.close()
            q.put(None)

    th = threading.Thread(target=reader, name="gixs-prefetch", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock the reader if the consumer stopped early
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        th.join()


def _read_one(src, ref):
    try:
        return src.read(ref)
    except Exception as exc:  # noqa: BLE001 - becomes an error row
        return exc
