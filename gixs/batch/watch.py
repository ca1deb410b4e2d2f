"""Watch a folder and reduce frames as they land (a live batch).

:func:`watch` polls a folder for files matching a glob. A file counts as complete when its
size is non-zero and has not changed for ``settle_s`` seconds (a writer still streaming
a frame changes its size or its modification time). Each time new complete files appear,
it runs :func:`gixs.batch.run.reduce_stack` on every complete file with ``resume`` and
``keep_parts``: the frames already committed in ``OUTPUT.parts/`` are skipped (the same
store as ``gixs batch --resume``), the new ones are reduced, and the output file and
the table are rewritten atomically with all frames so far. So the output always equals
what ``gixs batch`` gives on the files seen, a restarted watch picks up where it stopped,
and an interrupt (Ctrl-C) loses at most the chunk in flight.

A ``name_pattern`` regular expression read from each file name may give the incidence
angle (group ``incidence_deg``, deg) per file and a time (group ``time_s``, s): the
table's ``time_s`` column (a header time is kept as ``file_time_s``) and the live
figure's time axis, e.g. ``r"th(?P<incidence_deg>[0-9.]+)_(?P<time_s>[0-9.]+)s"``.

Cost: each update rewrites the output with all frames so far (the merge copies every
entry), fine for hundreds to a few thousand frames.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time

from gixs.batch.run import reduce_stack
from gixs.io.frames import count_frames


def name_values(path, pattern) -> dict:
    """Named groups ``incidence_deg`` / ``time_s`` of ``pattern`` in a file's name (floats).

    Examples
    --------
    >>> name_values("/d/film_th0.300_12.5s.tif", r"th(?P<incidence_deg>[0-9.]+)_(?P<time_s>[0-9.]+)s")
    {'incidence_deg': 0.3, 'time_s': 12.5}
    """
    if pattern is None:
        return {}
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    m = rx.search(os.path.basename(os.fspath(path)))
    if m is None:
        return {}
    out = {}
    for key in ("incidence_deg", "time_s"):
        if key in rx.groupindex and m.group(key) is not None:
            try:
                out[key] = float(m.group(key).rstrip("."))
            except ValueError:
                raise ValueError(f"{path}: --name-pattern group {key} matched "
                                 f"{m.group(key)!r}, not a number") from None
    return out


class CompleteFiles:
    """Tracks the files of a folder and says which are complete (stable size)."""

    def __init__(self, folder, pattern="*", settle_s=2.0, exclude=()):
        self.folder = os.fspath(folder)
        self.pattern = pattern
        self.settle_s = float(settle_s)
        self.exclude = {os.path.abspath(p) for p in exclude}
        self._seen = {}  # path -> (size, mtime, first time this size was seen)

    def poll(self, now=None) -> list:
        """Sorted complete files now."""
        now = time.time() if now is None else now
        out = []
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            raise FileNotFoundError(2, "folder to watch not found", self.folder) from None
        for name in names:
            if name.startswith(".") or not fnmatch.fnmatch(name, self.pattern):
                continue
            path = os.path.join(self.folder, name)
            if os.path.abspath(path) in self.exclude or not os.path.isfile(path):
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            key = (st.st_size, st.st_mtime_ns)
            old = self._seen.get(path)
            if old is None or old[:2] != key:
                self._seen[path] = (*key, now)
                continue
            if st.st_size > 0 and now - old[2] >= self.settle_s \
                    and now - st.st_mtime >= self.settle_s:
                out.append(path)
        return sorted(out)


def watch(folder, geometry, gi, *, output, pattern="*", table=None, name_pattern=None,
          settle_s=2.0, poll_s=1.0, idle_exit_s=None, max_updates=None, on_update=None,
          restart=False, **batch_kwargs):
    """Reduce the frames landing in ``folder`` until interrupted or idle.

    Parameters
    ----------
    folder : path
        Folder to watch (not recursive).
    geometry, gi
        As for :func:`gixs.batch.run.reduce_stack`; ``batch_kwargs`` (settings, mask,
        dark, flat, normalization, metrics, workers...) are passed on to it.
    output : path
        HDF5/NeXus file (required: its ``.parts`` folder is the restart store).
    pattern : str
        Glob of the file names to take (``"*.cbf"``).
    table : path, optional
        CSV table (default ``OUTPUT.csv``).
    name_pattern : str, optional
        Regex with groups ``incidence_deg`` and/or ``time_s`` read from file names.
    settle_s, poll_s : float
        A file is complete once its size and time stamp held for ``settle_s`` s; the
        folder is listed every ``poll_s`` s.
    idle_exit_s : float, optional
        Stop after this long without a new complete file (None: run until interrupted).
    max_updates : int, optional
        Stop after this many updates (tests).
    on_update : callable, optional
        Called as ``on_update(result, names)`` after each update (``names``: file ->
        name-pattern values), e.g. to redraw the live figure.
    restart : bool
        Forget the frames of an earlier watch into ``output`` and start over.

    Returns
    -------
    BatchResult or None
        The last update's result (None when no frame arrived).
    """
    from gixs.batch import store as batch_store

    output = os.fspath(output)
    table = os.fspath(table) if table else os.path.splitext(output)[0] + ".csv"
    if restart and os.path.isdir(output + ".parts"):
        batch_store.remove(output + ".parts")
    rx = re.compile(name_pattern) if name_pattern else None
    files = CompleteFiles(folder, pattern, settle_s, exclude=(output, table))
    done_files, result, updates = [], None, 0
    last_new = time.monotonic()
    while True:
        ready = files.poll()
        if set(ready) - set(done_files):
            names = {f: name_values(f, rx) for f in ready}
            per_frame = {key: _per_frame(ready, names, key)
                         for key in ("incidence_deg", "time_s")}
            result = reduce_stack(ready, geometry, gi, output=output, table=table,
                                  resume=True, keep_parts=True,
                                  incidence_list=per_frame["incidence_deg"],
                                  time_list=per_frame["time_s"], **batch_kwargs)
            done_files = ready
            updates += 1
            last_new = time.monotonic()
            if on_update is not None:
                on_update(result, names)
            if max_updates is not None and updates >= max_updates:
                return result
        elif idle_exit_s is not None and time.monotonic() - last_new >= idle_exit_s:
            return result
        time.sleep(poll_s)


def _per_frame(files, names, key):
    """One value of name-pattern group ``key`` per frame of ``files`` (a multi-frame
    file repeats its value), or None when the pattern has no such group; a file whose
    name lacks it is an error."""
    if not any(key in v for v in names.values()):
        return None
    missing = [f for f in files if key not in names[f]]
    if missing:
        raise ValueError(f"{missing[0]}: --name-pattern gives no {key} for this file")
    return [names[f][key] for f in files for _ in range(count_frames(f, on_error=1))]


__all__ = ["watch", "CompleteFiles", "name_values"]
