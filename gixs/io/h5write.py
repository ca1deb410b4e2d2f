"""Writing HDF5 files so that a full disk is one clear error, not a crash.

When a disk write fails inside the HDF5 library (full disk), h5py prints a traceback for
every object it later frees and the interpreter may crash at exit while HDF5 retries
flushing the file. :func:`h5_create` opens the file through a Python file object that
records the first failed write and drops the later ones, so HDF5 finishes and closes
the file normally; the recorded :class:`OSError` is raised after the close.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os


class _Sink(io.RawIOBase):
    """A binary file for h5py's file-object driver that never fails a write: the first
    OSError is kept in ``error`` and later writes are dropped (reads of dropped ranges
    give zeros)."""

    def __init__(self, path):
        super().__init__()
        self.fh = open(path, "w+b")
        self.error = None
        self.pos = 0
        self.size = 0

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self):
        return self.pos

    def write(self, data):
        n = len(data)
        if self.error is None:
            try:
                self.fh.seek(self.pos)
                self.fh.write(data)
            except OSError as exc:
                self.error = exc
        self.pos += n
        self.size = max(self.size, self.pos)
        return n

    def readinto(self, buf):
        n = max(0, min(len(buf), self.size - self.pos))
        got = b""
        if self.error is None:
            self.fh.seek(self.pos)
            got = self.fh.read(n)
        buf[:n] = got + b"\0" * (n - len(got))
        self.pos += n
        return n

    def truncate(self, size=None):
        size = self.pos if size is None else size
        if self.error is None:
            try:
                self.fh.truncate(size)
            except OSError as exc:
                self.error = exc
        self.size = size
        return size

    def flush(self):
        if self.error is None and not self.fh.closed:
            try:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            except OSError as exc:
                self.error = exc

    def close(self):
        if not self.closed:
            self.flush()
            with contextlib.suppress(OSError):
                self.fh.close()
        super().close()


@contextlib.contextmanager
def h5_create(path):
    """Create the HDF5 file ``path`` for writing (an ``h5py.File`` is yielded).

    A failed disk write (e.g. a full disk) raises ``OSError`` naming ``path`` once the
    file is closed, never a crash or a flood of h5py tracebacks. Write to a temporary
    path (:func:`gixs.io.frames.atomic_path`) so that a failed file is removed.

    Examples
    --------
    >>> import tempfile, os, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5_create(path) as f:
    ...     _ = f.create_dataset("x", data=[1, 2, 3])
    >>> h5py.File(path, "r")["x"][()].tolist()
    [1, 2, 3]
    """
    import h5py

    sink = _Sink(path)
    try:
        with h5py.File(sink, "w") as f:
            yield f
    except Exception:
        sink.close()
        if sink.error is None:
            raise
        # the failed write is the cause (later reads of dropped data fail as a result)
        raise _named(sink.error, path) from None
    finally:
        sink.close()
    if sink.error is not None:
        raise _named(sink.error, path)


def _named(err, path):
    """``err`` as an OSError naming ``path``."""
    if err.errno == errno.ENOSPC:
        return OSError(errno.ENOSPC, "no space left on the device", os.fspath(path))
    return OSError(err.errno, err.strerror or str(err), os.fspath(path))
