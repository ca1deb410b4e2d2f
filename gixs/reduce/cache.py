"""The plan cache: reduction plans kept in memory and on disk, keyed by content.

A plan (:class:`gixs.reduce.frame.Plan`) depends on the detector geometry, the GI
geometry, the image shape, the reduction settings, the user mask and the versions of
gixs, pyFAI and numpy. :func:`plan_key` hashes a stable, versioned dict of all of them
(SHA-256 of its canonical JSON; arrays by their own SHA-256), so any change, down to one
mask pixel or one PONI digit, gives another key.

Where: ``$GIXS_CACHE_DIR`` when set, else ``plans/`` under the user cache directory
(:func:`platformdirs.user_cache_dir`, which honours ``XDG_CACHE_HOME``). ``GIXS_CACHE_DIR``
set to ``off`` (or an empty string) disables the disk cache.

How: one ``<key>.npz`` file per plan (uncompressed NumPy archive), written to a
temporary file in the same folder and renamed into place (atomic; concurrent writers
of one key each rename a complete file, so one valid entry remains). A read checks the
archive (zip CRCs, streamed), its format version, its key and the plan's internal
consistency, then memory-maps the arrays (copy-on-write: only the pages a reduction
touches are resident); an entry that fails is deleted and the plan rebuilt, never used. Each hit touches the
file's time; after a write the oldest entries are evicted until the folder is within
its bound, :data:`DEFAULT_MAX_BYTES` (2 GiB) or ``$GIXS_CACHE_MAX_MB`` megabytes.

In memory: the last :data:`MEMORY_PLANS` plans of this process, shared by its threads.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
import zipfile
import zlib

import numpy as np

#: Version of the cache key and file layout; bump when the plan format changes.
CACHE_FORMAT = 2

#: Default bound of the disk cache (bytes); ``GIXS_CACHE_MAX_MB`` overrides it.
DEFAULT_MAX_BYTES = 2 * 2 ** 30

#: Plans kept in memory per process.
MEMORY_PLANS = 4

_MEMORY: "collections.OrderedDict[str, object]" = collections.OrderedDict()
_LOCK = threading.Lock()
_BUILDING: dict = {}


def cache_dir() -> str | None:
    """The disk cache folder (not created), or None when the disk cache is off."""
    env = os.environ.get("GIXS_CACHE_DIR")
    if env is not None:
        env = env.strip()
        if env == "" or env.lower() in ("off", "none", "0"):
            return None
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("gixs", appauthor=False), "plans")


def max_bytes() -> int:
    """The disk cache bound in bytes (``GIXS_CACHE_MAX_MB`` or :data:`DEFAULT_MAX_BYTES`)."""
    env = os.environ.get("GIXS_CACHE_MAX_MB")
    if env:
        try:
            mb = float(env)
        except ValueError:
            raise ValueError(f"GIXS_CACHE_MAX_MB must be a number of megabytes, got "
                             f"{env!r}") from None
        if mb < 0:
            raise ValueError(f"GIXS_CACHE_MAX_MB must be >= 0, got {env!r}")
        return int(mb * 2 ** 20)
    return DEFAULT_MAX_BYTES


def _versions() -> dict:
    from importlib.metadata import version

    from gixs._version import __version__

    return {"gixs": __version__, "pyFAI": version("pyFAI"), "numpy": np.__version__}


def key_dict(geometry, gi, shape, settings, mask) -> dict:
    """The stable, versioned dict a plan's key is the hash of."""
    mask_digest = None
    if mask is not None:
        m = np.ascontiguousarray(np.asarray(mask, bool))
        dims = "x".join(str(n) for n in m.shape)
        mask_digest = hashlib.sha256(np.packbits(m.ravel()).tobytes()).hexdigest() + \
            f":{dims}"
    return {"format": CACHE_FORMAT, "kind": "plan",
            "geometry": dataclasses.asdict(geometry), "gi": dataclasses.asdict(gi),
            "shape": [int(s) for s in shape], "settings": dataclasses.asdict(settings),
            "mask": mask_digest, "versions": _versions()}


def plan_key(geometry, gi, shape, settings, mask) -> str:
    """SHA-256 (hex) of :func:`key_dict`'s canonical JSON."""
    text = json.dumps(key_dict(geometry, gi, shape, settings, mask), sort_keys=True,
                      separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def get_plan(geometry, gi, shape, settings, mask, *, plan_cls, keep_pixel_q=True,
             store_in_background=False):
    """The plan for these inputs: from memory, else from disk, else built (and stored).

    ``plan_cls`` is :class:`gixs.reduce.frame.Plan` (passed in, so that this module
    does not import its caller). ``keep_pixel_q`` False: a built plan releases its pixel
    coordinates once its binning is made. ``store_in_background``: a built plan is
    written by a (non-daemon) thread while the caller goes on (:func:`wait_for_writes`);
    for one-frame commands, which then exit (the interpreter waits for the thread).
    """
    key = plan_key(geometry, gi, shape, settings, mask)
    while True:
        with _LOCK:
            plan = _MEMORY.get(key)
            if plan is not None:
                _MEMORY.move_to_end(key)
                return plan
            event = _BUILDING.get(key)
            if event is None:  # this thread loads or builds it; others wait
                event = _BUILDING[key] = threading.Event()
                break
        event.wait()
    try:
        folder = cache_dir()
        if _WRITERS:  # an entry this process is still writing may be the one asked for
            wait_for_writes()
        plan = load(folder, key, plan_cls) if folder else None
        if plan is None:
            plan = plan_cls(geometry, gi, shape, settings, mask, keep_pixel_q=keep_pixel_q)
            if folder:
                plan.kernel()  # the compiled kernel's arrays go into the entry too
                if store_in_background:
                    writer = threading.Thread(target=_store_or_warn, args=(folder, key, plan),
                                              name=f"gixs plan cache writer {key[:12]}")
                    with _LOCK:
                        _WRITERS.append(writer)
                    writer.start()
                else:
                    _store_or_warn(folder, key, plan, stacklevel=4)
        with _LOCK:
            _MEMORY[key] = plan
            while len(_MEMORY) > MEMORY_PLANS:
                _MEMORY.popitem(last=False)
        return plan
    finally:
        with _LOCK:
            _BUILDING.pop(key).set()


#: Threads writing entries (``store_in_background``), not yet joined.
_WRITERS: list = []


def _store_or_warn(folder, key, plan, stacklevel=2):
    """:func:`store`; a read-only or full cache costs speed, not results: a warning."""
    try:
        store(folder, key, plan)
    except OSError as exc:
        import warnings

        from gixs.errors import GixsWarning

        warnings.warn(f"plan cache {folder}: cannot write ({exc}); the plan is rebuilt "
                      "next time", GixsWarning, stacklevel=stacklevel)


def wait_for_writes() -> None:
    """Return once every entry this process writes in the background is on disk."""
    with _LOCK:
        pending = list(_WRITERS)
    for writer in pending:
        if writer is not threading.current_thread():
            writer.join()
    with _LOCK:
        _WRITERS[:] = [w for w in _WRITERS if w.is_alive()]


def entry_path(folder, key) -> str:
    return os.path.join(folder, f"{key}.npz")


def load(folder, key, plan_cls):
    """The plan stored under ``key`` (a ``plan_cls`` rebuilt with its ``from_arrays``), or
    None (missing, or corrupt: then deleted)."""
    path = entry_path(folder, key)
    try:
        arrays = _map_entry(path)
        meta = json.loads(bytes(arrays.pop("meta")).decode())
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            raise ValueError("format or key mismatch")
        plan = plan_cls.from_arrays(meta["plan"], arrays)
        _check(plan)
        _drop_pages(arrays)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError, UnicodeDecodeError):
        _remove(path)  # corrupt or foreign: rebuilt, never used
        return None
    try:
        os.utime(path)  # least recently used goes first
    except OSError:
        pass
    return plan


#: Bytes read at a time when an entry's CRCs are verified (the data is not kept).
_VERIFY_CHUNK = 1 << 22


def _verify_crc(fh, info, buf):
    """Raise BadZipFile unless the stored member ``info`` of the open file ``fh`` has the
    zip CRC its directory states (read through ``buf``: twice as fast as zipfile's own
    stream, and no page of the file stays mapped)."""
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: bad local header")
    fh.seek(info.header_offset + 30 + int.from_bytes(head[26:28], "little")
            + int.from_bytes(head[28:30], "little"))
    view = memoryview(buf)
    left, crc = info.compress_size, 0
    while left > 0:
        n = fh.readinto(view[:min(left, len(buf))])
        if not n:
            raise zipfile.BadZipFile(f"{info.filename}: truncated")
        crc = zlib.crc32(view[:n], crc)
        left -= n
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"{info.filename}: CRC mismatch")


def _map_entry(path) -> dict:
    """The arrays of an uncompressed ``.npz`` entry, memory-mapped copy-on-write.

    Every member's zip CRC is verified first by streaming it through a small buffer
    (:func:`_verify_crc` raises BadZipFile on a mismatch), so a corrupt entry is detected
    while the plan's arrays are not read into memory: only the pages a reduction touches
    become resident. The file is opened once; a concurrent writer renames a new file into
    place and this mapping keeps the old inode. Copy-on-write keeps the arrays writeable
    (the same array types as a built plan) without ever writing the file.
    """
    import mmap

    with open(path, "rb") as fh:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
        buf = bytearray(_VERIFY_CHUNK)
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(
                    ".npy"):
                raise ValueError(f"{info.filename}: not a stored .npy member")
            _verify_crc(fh, info, buf)
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise ValueError("empty entry")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    arrays = {}
    for info in infos:
        # the local file header: 30 bytes, then the name and an extra field
        start = info.header_offset
        head = mm[start:start + 30]
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise ValueError(f"{info.filename}: bad local header")
        n_name = int.from_bytes(head[26:28], "little")
        n_extra = int.from_bytes(head[28:30], "little")
        data = start + 30 + n_name + n_extra
        npy = _MapReader(mm, data)
        version = np.lib.format.read_magic(npy)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(npy)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(npy)
        else:
            raise ValueError(f"{info.filename}: .npy version {version}")
        if dtype.hasobject:
            raise ValueError(f"{info.filename}: object array")
        count = int(np.prod(shape, dtype=np.int64))
        offset = npy.pos
        if offset - data + count * dtype.itemsize != info.file_size:
            raise ValueError(f"{info.filename}: size does not match its header")
        arr = np.frombuffer(mm, dtype, count, offset).reshape(
            shape, order="F" if fortran else "C")
        arrays[info.filename[:-4]] = arr
    return arrays


def _drop_pages(arrays):
    """Let the kernel drop the mapped pages the checks read (the column indices): they are
    read again from the file when a reduction needs them. Only valid before anything
    writes to the copy-on-write mapping (a written page would be lost); :func:`load`
    calls it right after the read-only checks."""
    import mmap

    mm = None
    for a in arrays.values():
        while isinstance(a, np.ndarray):
            a = a.base
        if isinstance(a, memoryview):
            a = a.obj
        if isinstance(a, mmap.mmap):
            mm = a
            break
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


class _MapReader:
    """A minimal file-like view of a mapping from ``pos`` (for numpy's header readers)."""

    def __init__(self, mm, pos):
        self.mm, self.pos = mm, pos

    def read(self, n):
        out = self.mm[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def _check(plan):
    """Raise ValueError unless the loaded plan is internally consistent."""
    n_pix = int(np.prod(plan.shape))
    ptr, idx = plan.indptr, plan.indices
    if ptr.ndim != 1 or ptr.size < 2 or ptr[0] != 0 or ptr[-1] != idx.size:
        raise ValueError("bad row pointer")
    if np.any(np.diff(ptr) < 0):
        raise ValueError("row pointer not monotonic")
    if idx.size and (idx.min() < 0 or idx.max() >= n_pix):
        raise ValueError("column index out of range")
    if plan.norm.size != n_pix:
        raise ValueError("per-pixel factors of the wrong size")
    if not plan.blocks or plan.blocks[-1].rows.stop != ptr.size - 1:
        raise ValueError("blocks do not cover the rows")


def store(folder, key, plan) -> str:
    """Write ``plan`` under ``key`` atomically; then keep the folder within its bound."""
    os.makedirs(folder, exist_ok=True)
    meta, arrays = plan.to_arrays()
    header = json.dumps({"format": CACHE_FORMAT, "key": key, "plan": meta})
    arrays = dict(arrays, meta=np.frombuffer(header.encode(), np.uint8))
    fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=folder)
    try:
        # no fsync: the rename makes the entry appear whole to every reader, and an entry
        # a power cut leaves incomplete fails its CRCs on load and is rebuilt (0.1-1 s
        # saved per 240 MB entry)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, entry_path(folder, key))
    except BaseException:
        _remove(tmp)
        raise
    evict(folder, max_bytes(), keep=key)
    return entry_path(folder, key)


def entries(folder) -> list:
    """(path, bytes, mtime) of the cache entries, oldest first."""
    out = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return out
    for name in names:
        if not name.endswith(".npz"):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        out.append((path, st.st_size, st.st_mtime))
    out.sort(key=lambda e: e[2])
    return out


def evict(folder, limit, keep=None) -> int:
    """Delete the least recently used entries until the folder holds <= ``limit`` bytes
    (never the entry ``keep``); return how many were deleted."""
    items = entries(folder)
    total = sum(e[1] for e in items)
    removed = 0
    for path, size, _ in items:
        if total <= limit:
            break
        if keep is not None and os.path.basename(path) == f"{keep}.npz":
            continue
        if _remove(path):
            removed += 1
        total -= size
    return removed


def clear(folder=None) -> tuple:
    """Delete every entry (and stale temporary file); return (files, bytes) removed."""
    folder = folder or cache_dir()
    with _LOCK:
        _MEMORY.clear()
    if not folder or not os.path.isdir(folder):
        return 0, 0
    n = size = 0
    for name in os.listdir(folder):
        if name.endswith(".npz") or name.endswith(".tmp"):
            path = os.path.join(folder, name)
            try:
                s = os.stat(path).st_size
            except FileNotFoundError:
                continue
            if _remove(path):
                n += 1
                size += s
    return n, size


def info(folder=None) -> dict:
    """Folder, entries, bytes used and bound of the disk cache."""
    folder = folder or cache_dir()
    items = entries(folder) if folder else []
    return {"folder": folder, "entries": len(items), "bytes": sum(e[1] for e in items),
            "max_bytes": max_bytes(), "format": CACHE_FORMAT}


def clear_memory() -> None:
    """Forget the plans held in this process (the disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()


def _remove(path) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False
