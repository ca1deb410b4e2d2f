"""Reading frames, masks, dark and flat images; writing files atomically.

Frames are read through fabio (TIFF incl. compressed, EDF, CBF, ...) and h5py
(HDF5/NeXus, Eiger master files with linked data files). A frame comes back as a
:class:`Frame`: float32 data, the pixels the detector marks invalid (negative or
dummy values, e.g. Pilatus gaps at -1/-2) and the metadata the file holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile

import numpy as np

from gixs.errors import FormatError

_H5_EXT = (".h5", ".hdf5", ".nxs", ".hdf", ".nx5")


@dataclasses.dataclass
class Frame:
    """One detector image.

    Attributes
    ----------
    data : ndarray, float32, shape (rows, columns)
        Counts as read (no correction applied).
    invalid : ndarray, bool
        Pixels the detector marks invalid (negative values, NaN, saturation dummies).
    source : str
        File the frame came from.
    index : int
        Frame number inside ``source`` (0 for single-frame files).
    metadata : dict
        Exposure time (``exposure_s``), monitor, time stamp... when the file has them.
    """

    data: np.ndarray
    invalid: np.ndarray
    source: str
    index: int = 0
    metadata: dict = dataclasses.field(default_factory=dict)


def split_h5_path(path):
    """``file.h5::/entry/data/data`` -> (``file.h5``, ``/entry/data/data``)."""
    path = os.fspath(path)
    if "::" in path:
        fname, dset = path.split("::", 1)
        return fname, dset
    return path, None


def is_hdf5(path) -> bool:
    """True when ``path`` names an HDF5 file (by extension or signature)."""
    fname, _ = split_h5_path(path)
    if fname.lower().endswith(_H5_EXT):
        return True
    try:
        with open(fname, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def _check_file(path, what="image"):
    if not os.path.exists(path):
        raise FormatError(f"{path}: {what} file not found")
    if not os.path.isfile(path):
        raise FormatError(f"{path}: {what} path is not a file")


def _find_h5_stack(h5file, fname):
    """The image dataset of an HDF5/NeXus file: NXdata signal, Eiger data, or largest 2-3D."""
    import h5py

    for cand in ("entry/data/data", "entry/instrument/detector/data"):
        if cand in h5file and isinstance(h5file[cand], h5py.Dataset):
            return h5file[cand]
    if "entry/data" in h5file:  # Eiger master: data_000001, data_000002 ... external links
        grp = h5file["entry/data"]
        names = sorted(k for k in grp.keys() if k.startswith("data_"))
        if names:
            return [grp[n] for n in names]
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.size > 1000:
            found.append(obj)

    h5file.visititems(visit)
    if not found:
        raise FormatError(f"{fname}: no 2D or 3D image dataset found in this HDF5 file "
                          "(name one as FILE.h5::/path/to/data)")
    return max(found, key=lambda d: d.size)


class H5Stack:
    """Frames of one HDF5 dataset or of an Eiger master's linked data files, kept open
    for frame-by-frame reads (``len(stack)``, ``stack.get(i)``, ``stack.close()``)."""

    def __init__(self, path):
        import h5py
        import hdf5plugin  # noqa: F401  (registers bitshuffle/LZ4 filters used by Eiger)

        self.fname, dset = split_h5_path(path)
        _check_file(self.fname)
        try:
            self.h5 = h5py.File(self.fname, "r")
        except OSError as exc:
            raise FormatError(f"{self.fname}: unreadable HDF5 file ({exc})") from None
        try:
            if dset is not None:
                if dset not in self.h5:
                    raise FormatError(f"{self.fname}: no dataset {dset!r} in this file")
                parts = [self.h5[dset]]
            else:
                found = _find_h5_stack(self.h5, self.fname)
                parts = found if isinstance(found, list) else [found]
            self.parts = parts
            self.counts = [p.shape[0] if p.ndim == 3 else 1 for p in parts]
        except Exception:
            self.h5.close()
            raise

    def __len__(self):
        return int(sum(self.counts))

    def get(self, index):
        for part, n in zip(self.parts, self.counts):
            if index < n:
                return part[index] if part.ndim == 3 else part[()]
            index -= n
        raise IndexError(index)

    def close(self):
        self.h5.close()


def count_frames(path) -> int:
    """Number of frames in an image file."""
    path = os.fspath(path)
    if is_hdf5(path):
        stack = H5Stack(path)
        try:
            return len(stack)
        finally:
            stack.close()
    img = open_image(path)
    return int(getattr(img, "nframes", 1) or 1)


class _FabioErrors(logging.Handler):
    """Collects the errors fabio logs (it logs, rather than raises, on truncated data)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _fabio_checked(path):
    handler = _FabioErrors()
    logger = logging.getLogger("fabio")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        raise FormatError(f"{path}: damaged or truncated image ({handler.messages[0]})")


def open_image(path):
    """Open an image file with fabio; FormatError naming the file when it cannot."""
    import fabio

    _check_file(path)
    try:
        with _fabio_checked(path):
            return fabio.open(path)
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"{path}: not a readable detector image ({type(exc).__name__}: "
                          f"{exc}); expected TIFF, EDF, CBF, HDF5/NeXus or another format "
                          "fabio reads") from None


def to_frame(raw, source, index, metadata):
    """A :class:`Frame` from raw detector data: float32 copy, invalid pixels marked."""
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise FormatError(f"{source}: frame {index} is {raw.ndim}-D, expected a 2D image")
    data = raw.astype(np.float32, copy=True)
    invalid = ~np.isfinite(data) | (data < 0)
    if np.issubdtype(raw.dtype, np.integer) and raw.dtype.itemsize >= 4:
        # saturated / dummy pixels of counting detectors (e.g. 2**32-1, 2**31-1)
        invalid |= raw == np.iinfo(raw.dtype).max
    data[invalid] = 0.0
    return Frame(data=data, invalid=invalid, source=source, index=index, metadata=metadata)


def header_metadata(header, source=""):
    """Acquisition metadata of an image header (see :func:`gixs.io.headers.parse_header`)."""
    from gixs.io.headers import parse_header

    return parse_header(header, source=source)


def iter_frames(path):
    """Yield every :class:`Frame` of a (single- or multi-frame) file, one at a time."""
    path = os.fspath(path)
    if is_hdf5(path):
        stack = H5Stack(path)
        try:
            for i in range(len(stack)):
                yield to_frame(stack.get(i), path, i, {})
        finally:
            stack.close()
        return
    img = open_image(path)
    n = int(getattr(img, "nframes", 1) or 1)
    for i in range(n):
        fr = img if i == 0 else img.getframe(i)
        yield to_frame(fr.data, path, i, header_metadata(fr.header, path))


def read_frame(path, frame: int = 0) -> Frame:
    """Read frame number ``frame`` of an image file.

    Raises
    ------
    FormatError
        File missing or unreadable, or ``frame`` beyond the last frame.
    """
    path = os.fspath(path)
    if frame < 0:
        raise ValueError(f"frame must be >= 0, got {frame}")
    if is_hdf5(path):
        stack = H5Stack(path)
        try:
            if frame >= len(stack):
                raise FormatError(f"{path}: has {len(stack)} frame(s), frame {frame} asked")
            return to_frame(stack.get(frame), path, frame, {})
        finally:
            stack.close()
    img = open_image(path)
    n = int(getattr(img, "nframes", 1) or 1)
    if frame >= n:
        raise FormatError(f"{path}: has {n} frame(s), frame {frame} asked")
    try:
        with _fabio_checked(path):
            fr = img if frame == 0 else img.getframe(frame)
            data = fr.data
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"{path}: cannot read frame {frame} ({exc})") from None
    if data is None:
        raise FormatError(f"{path}: no image data (truncated file?)")
    return to_frame(data, path, frame, header_metadata(fr.header, path))


def read_array(path, shape=None, what="image"):
    """Read a dark, flat or mask image as float32; check its shape against ``shape``."""
    path = os.fspath(path)
    _check_file(split_h5_path(path)[0], what)
    data = read_frame(path).data if what != "mask" else _read_raw(path)
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise FormatError(f"{path}: {what} has shape {data.shape[0]}x{data.shape[1]}, "
                          f"expected {shape[0]}x{shape[1]} like the frame")
    return data


def _read_raw(path):
    if is_hdf5(path):
        stack = H5Stack(path)
        try:
            return np.asarray(stack.get(0))
        finally:
            stack.close()
    return np.asarray(open_image(path).data)


def read_mask(path, shape=None) -> np.ndarray:
    """Read a mask file: nonzero = masked. Returns a bool array."""
    return read_array(path, shape, what="mask") != 0


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success only."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
