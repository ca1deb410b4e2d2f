"""Reading frames, masks, dark and flat images; writing files atomically.

Frames are read through fabio (TIFF incl. compressed, EDF, CBF, ...) and h5py
(HDF5/NeXus, Eiger master files with linked data files). A frame comes back as a
:class:`Frame`: float32 data, the pixels the detector marks invalid (negative or
dummy values, e.g. Pilatus gaps at -1/-2) and the metadata the file holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import tempfile

import numpy as np

from gixs.errors import FormatError, ReadTimeoutError

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

    Examples
    --------
    >>> fr = Frame(data=np.ones((2, 3), np.float32), invalid=np.zeros((2, 3), bool),
    ...            source="a.edf")
    >>> fr.data.shape, fr.index, fr.metadata
    ((2, 3), 0, {})
    """

    data: np.ndarray
    invalid: np.ndarray
    source: str
    index: int = 0
    metadata: dict = dataclasses.field(default_factory=dict)


def split_h5_path(path):
    """``file.h5::/entry/data/data`` -> (``file.h5``, ``/entry/data/data``).

    Parameters
    ----------
    path : str or path
        File name, optionally followed by ``::`` and an HDF5 dataset path.

    Returns
    -------
    (str, str or None)
        The file name and the dataset path (None when none is named).

    Examples
    --------
    >>> split_h5_path("scan.h5::/entry/data/data")
    ('scan.h5', '/entry/data/data')
    >>> split_h5_path("frame.tif")
    ('frame.tif', None)
    """
    path = os.fspath(path)
    if "::" in path:
        fname, dset = path.split("::", 1)
        return fname, dset
    return path, None


def is_hdf5(path) -> bool:
    """True when ``path`` names an HDF5 file (by extension or signature).

    Examples
    --------
    >>> import tempfile, os
    >>> is_hdf5("scan.nxs::/entry/data/data"), is_hdf5("frame.tif")
    (True, False)
    >>> import h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "noext")
    >>> h5py.File(path, "w").close()
    >>> is_hdf5(path)
    True
    """
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
            parts = []
            for n in names:
                obj = grp.get(n)
                if obj is None:
                    link = grp.get(n, getlink=True)
                    target = getattr(link, "filename", "?")
                    raise FormatError(f"{fname}: entry/data/{n} links to {target}, which is "
                                      "missing (Eiger data files must sit beside the master)")
                parts.append(obj)
            return parts
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
    for frame-by-frame reads (``len(stack)``, ``stack.get(i)``, ``stack.close()``).

    Parameters
    ----------
    path : str or path
        HDF5 file, or ``FILE.h5::/dataset`` to name the image dataset.

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("entry/data/data", data=np.arange(24).reshape(2, 3, 4))
    >>> stack = H5Stack(path)
    >>> len(stack), int(stack.get(1)[0, 0])
    (2, 12)
    >>> stack.close()
    """

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
                obj = self.h5.get(dset)
                if obj is None:  # a dangling external link
                    raise FormatError(f"{self.fname}: {dset!r} links to a file that is "
                                      "missing")
                if not isinstance(obj, h5py.Dataset):
                    raise FormatError(f"{self.fname}: {dset!r} is a group, not an image "
                                      "dataset (name the dataset, e.g. "
                                      f"{self.fname}::{dset.rstrip('/')}/data/data)")
                parts = [obj]
            else:
                found = _find_h5_stack(self.h5, self.fname)
                parts = found if isinstance(found, list) else [found]
            for part in parts:
                _check_h5_dataset(part, self.fname)
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


def _check_h5_dataset(dset, fname):
    """FormatError unless ``dset`` is a 2-D/3-D dataset of plain numbers."""
    name = dset.name
    if dset.dtype.kind not in "iufb":
        raise FormatError(f"{fname}: dataset {name!r} holds {dset.dtype} values, expected "
                          "plain integer or float counts")
    if dset.ndim not in (2, 3):
        raise FormatError(f"{fname}: dataset {name!r} is {dset.ndim}-D, expected a 2D image "
                          "or a 3D stack of images")


def h5_read_defect(stack, frame, exc) -> str:
    """What went wrong reading frame ``frame`` of an :class:`H5Stack`, in words: a
    damaged chunk names the dataset and its filters (gzip, fletcher32 checksum...)."""
    for part, n in zip(stack.parts, stack.counts):
        if frame < n:
            break
        frame -= n
    else:
        return f"{type(exc).__name__}: {exc}"
    try:
        plist = part.id.get_create_plist()
        filters = [plist.get_filter(i)[3].decode(errors="replace").split()[0]
                   for i in range(plist.get_nfilters())]
    except Exception:  # noqa: BLE001 - the description is best effort
        filters = []
    if "filter returned failure" in str(exc) or "checksum" in str(exc).lower():
        return (f"damaged data chunk in dataset {part.name!r} (the HDF5 "
                f"{'/'.join(filters) or 'decoding'} filter failed on it)")
    return f"{type(exc).__name__}: {exc}"


def _open_h5(path):
    """:class:`H5Stack` of ``path``, opened under guard (time limit, HDF5's stderr)."""
    from gixs.io.decode import guarded_call

    return guarded_call(split_h5_path(path)[0], lambda: H5Stack(path), fabio=False)


def count_frames(path, *, on_error=None) -> int:
    """Number of frames in an image file.

    Parameters
    ----------
    path : str or path
        Image file or ``FILE.h5::/dataset``.
    on_error : int, optional
        Returned instead of raising when the file cannot be read (a batch counts such a
        file as one frame, whose read then reports the error).

    Examples
    --------
    >>> import numpy as np, fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.edf")
    >>> fabio.edfimage.EdfImage(data=np.zeros((4, 5), np.float32)).write(path)
    >>> count_frames(path)
    1
    """
    path = os.fspath(path)
    try:
        if is_hdf5(path):
            stack = _open_h5(path)
            try:
                return len(stack)
            finally:
                stack.close()
        img = open_image(path)
        try:
            return _nframes(img)
        finally:
            with contextlib.suppress(Exception):
                img.close()
    except FormatError as exc:
        if isinstance(exc, ReadTimeoutError):
            _remember_timeout(path, exc)
        if on_error is None:
            raise
        return int(on_error)


#: Files whose decoder ran past the time limit: path -> (modification time, error). The
#: next read of an unchanged file fails at once with that error instead of waiting again.
_TIMED_OUT = {}


def _remember_timeout(path, exc):
    with contextlib.suppress(OSError):
        _TIMED_OUT[path] = (os.stat(split_h5_path(path)[0]).st_mtime_ns, exc)


def _check_timed_out(path):
    """Raise the earlier time-out of ``path`` if the file has not changed since."""
    seen = _TIMED_OUT.get(path)
    if seen is None:
        return
    try:
        unchanged = os.stat(split_h5_path(path)[0]).st_mtime_ns == seen[0]
    except OSError:
        unchanged = False
    if not unchanged:
        del _TIMED_OUT[path]
        return
    raise ReadTimeoutError(str(seen[1]))


def _nframes(img):
    return int(getattr(img, "nframes", 1) or 1)


def _check_cbf(path):
    """Validate a CBF before fabio decodes it (:func:`gixs.io.integrity.check_cbf`)."""
    from gixs.io.integrity import check_cbf

    check_cbf(path)


def _check_tiff(path):
    """Validate a TIFF's directories and strip layout before decoding; returns them
    (:func:`gixs.io.integrity.check_tiff_layout`)."""
    from gixs.io.integrity import check_tiff_layout

    return check_tiff_layout(path)


def _check_tiff_frame(path, dirs, frame):
    """Each compressed strip of TIFF directory ``frame`` decodes completely
    (:func:`gixs.io.integrity.check_tiff_strips`)."""
    from gixs.io.integrity import check_tiff_strips

    if dirs and frame < len(dirs):
        check_tiff_strips(path, dirs[frame], frame)


def open_image(path):
    """Open an image file with fabio; FormatError naming the file when it cannot.

    Damage the decoders only log, warn about or print on stderr (truncated or damaged
    strips of a compressed TIFF, a CBF cut short) is a :class:`FormatError` too, never an
    image of zeros; a decoder that hangs fails after the read time limit
    (:func:`gixs.io.decode.read_timeout_s`).

    Parameters
    ----------
    path : str or path
        Image file (TIFF, EDF, CBF... any format fabio reads).

    Returns
    -------
    fabio.fabioimage.FabioImage
        The opened image (close it after use).

    Examples
    --------
    >>> import fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.edf")
    >>> fabio.edfimage.EdfImage(data=np.zeros((4, 5), np.uint16)).write(path)
    >>> img = open_image(path)
    >>> img.data.shape, img.data.dtype.name
    ((4, 5), 'uint16')
    >>> img.close()
    >>> open_image(path + ".missing")
    Traceback (most recent call last):
    ...
    gixs.errors.FormatError: ...a.edf.missing: image file not found
    """
    return _open_image(path)[0]


def _open_image(path):
    """(fabio image, TIFF directories or []) of ``path``, checked and decoded under guard."""
    import fabio

    from gixs.io.decode import guarded_call

    _check_file(path)
    _check_cbf(path)
    dirs = _check_tiff(path)
    _check_tiff_frame(path, dirs, 0)
    if dirs:
        # fabio hands compressed TIFFs to PIL; with its TIFF plugin registered first, PIL
        # opens the file without importing all of its ~40 format plugins to identify it
        # (0.21-0.23 -> 0.15-0.16 s to read a 2048x2048 deflate TIFF, measured)
        import PIL.TiffImagePlugin  # noqa: F401
    try:
        img = guarded_call(path, lambda: fabio.open(path))
        _check_decoded(img, path, 0)
        return img, dirs
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"{path}: not a readable detector image ({type(exc).__name__}: "
                          f"{exc}); expected TIFF, EDF, CBF, HDF5/NeXus or another format "
                          "fabio reads") from None


def _check_decoded(fr, path, index):
    """The decoded frame holds as many pixels as its header promises."""
    if getattr(fr, "incomplete_data", False):
        raise FormatError(f"{path}: frame {index} is incomplete (truncated file?)")
    data = fr.data
    if data is None:
        raise FormatError(f"{path}: frame {index} has no image data (truncated file?)")
    if data.dtype.kind not in "iufb":
        raise FormatError(f"{path}: frame {index} holds {data.dtype} values, expected plain "
                          "integer or float counts")
    if data.ndim != 2 or 0 in data.shape:
        raise FormatError(f"{path}: frame {index} has shape {data.shape}, expected a 2D image")


def invalid_pixels(raw) -> np.ndarray:
    """The one definition of an invalid detector pixel, as gixs uses it everywhere.

    A pixel is invalid when its value is not finite, negative (gaps and dead pixels of
    Pilatus/Eiger are -1/-2) or, for integer data, the dtype's maximum (the saturation
    or dummy value of counting detectors: 2**16-1, 2**32-1, 2**31-1...). The block
    engine's kernel (:mod:`gixs.reduce.engine.block`) applies the same rule.

    Examples
    --------
    >>> invalid_pixels(np.array([[0, 5, 65535]], np.uint16)).tolist()
    [[False, False, True]]
    >>> invalid_pixels(np.array([[-1.0, np.nan, 3.0]])).tolist()
    [[True, True, False]]
    """
    raw = np.asarray(raw)
    if np.issubdtype(raw.dtype, np.integer):
        bad = raw == np.iinfo(raw.dtype).max
        if np.issubdtype(raw.dtype, np.signedinteger):
            bad |= raw < 0
        return bad
    if raw.dtype == bool:
        return np.zeros(raw.shape, bool)
    return ~np.isfinite(raw) | (raw < 0)


def to_frame(raw, source, index, metadata):
    """A :class:`Frame` from raw detector data: float32 copy, invalid pixels marked.

    Parameters
    ----------
    raw : array_like, shape (rows, columns)
        Counts as the detector stored them.
    source : str
        File name recorded in the frame.
    index : int
        Frame number inside ``source``.
    metadata : dict
        Acquisition metadata (``exposure_s``...).

    Returns
    -------
    Frame
        Invalid pixels (see :func:`invalid_pixels`) are set to 0 in ``data``.

    Examples
    --------
    >>> fr = to_frame(np.array([[3, -1], [65535, 4]], np.int32), "x.cbf", 0, {})
    >>> fr.data.tolist(), fr.invalid.tolist()
    ([[3.0, 0.0], [65535.0, 4.0]], [[False, True], [False, False]])
    """
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise FormatError(f"{source}: frame {index} is {raw.ndim}-D, expected a 2D image")
    if raw.dtype.kind not in "iufb":
        raise FormatError(f"{source}: frame {index} holds {raw.dtype} values, expected plain "
                          "integer or float counts")
    data = raw.astype(np.float32, copy=True)
    invalid = invalid_pixels(raw) | ~np.isfinite(data)  # float64 beyond float32's range
    data[invalid] = 0.0
    return Frame(data=data, invalid=invalid, source=source, index=index, metadata=metadata)


def header_metadata(header, source=""):
    """Acquisition metadata of an image header (see :func:`gixs.io.headers.parse_header`).

    Parameters
    ----------
    header : dict
        The image header as fabio reads it (key -> str).
    source : str, optional
        File name used in warnings.

    Returns
    -------
    dict
        gixs metadata keys (``exposure_s`` in s, ``monitor``...) found in the header.

    Examples
    --------
    >>> m = header_metadata({"ExposureTime": "2.5"}, source="a.edf")
    >>> m["exposure_s"], m["format"]
    (2.5, 'edf')
    """
    from gixs.io.headers import parse_header

    return parse_header(header, source=source)


#: HDF5 dataset names (lower case) holding per-frame metadata -> gixs metadata key.
H5_METADATA_NAMES = {
    "count_time": "exposure_s", "exposure_time": "exposure_s", "acquisition_time": "exposure_s",
    "monitor": "monitor", "i0": "monitor", "mon": "monitor",
    "timestamp": "time_s", "epoch": "time_s", "time_stamp": "time_s",
    "incidence_angle": "file_incidence_deg", "incident_angle": "file_incidence_deg",
    "alpha_i": "file_incidence_deg", "aoi": "file_incidence_deg",
}


def _h5_metadata(stack):
    """Per-frame metadata arrays of an open HDF5 stack, keyed by gixs metadata names."""
    import h5py

    n = len(stack)
    found = {}

    def visit(name, obj):
        key = H5_METADATA_NAMES.get(name.rsplit("/", 1)[-1].lower())
        if key is None or key in found or not isinstance(obj, h5py.Dataset):
            return
        if obj.ndim > 1 or obj.size not in (1, n) or obj.size > 1_000_000:
            return
        try:
            vals = np.atleast_1d(obj[()])
            if key != "time_s":
                vals = vals.astype(float)
                unit = str(obj.attrs.get("units", "")).lower()
                if key == "file_incidence_deg" and unit.startswith("rad"):
                    vals = np.degrees(vals)
                elif key == "exposure_s" and unit in ("ms", "millisecond"):
                    vals = vals / 1000.0
        except (TypeError, ValueError, OSError):
            return
        found[key] = vals

    stack.h5.visititems(visit)
    return found


def _pick(values, i):
    v = values[i] if values.size > 1 else values[0]
    return v.item() if hasattr(v, "item") else v


class FrameReader:
    """The one frame reader of gixs: opens each file once and reads frames with their
    metadata (``reader.read(path, frame)``, ``reader.close()``).

    :func:`read_frame`, :func:`iter_frames` and the batch (:mod:`gixs.io.stack`) all read
    through it, so a frame has the same data, invalid pixels and metadata (exposure time,
    monitor...) whichever command reads it.

    Examples
    --------
    >>> import fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.edf")
    >>> fabio.edfimage.EdfImage(data=np.array([[1, -2], [3, 4]], np.int32)).write(path)
    >>> with FrameReader() as reader:
    ...     fr = reader.read(path, 0)
    ...     n = len(reader)
    >>> n, fr.data.tolist(), int(fr.invalid.sum())
    (1, [[1.0, 0.0], [3.0, 4.0]], 1)
    """

    def __init__(self):
        self.path = None
        self.stack = None
        self.image = None
        self.dirs = []
        self.meta = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        if self.stack is not None:
            return len(self.stack)
        return _nframes(self.image) if self.image is not None else 0

    def open(self, path):
        """Open ``path`` (kept open for the next reads of the same file)."""
        path = os.fspath(path)
        if self.path == path:
            return
        self.close()
        _check_timed_out(path)
        if is_hdf5(path):
            self.stack = _open_h5(path)
            try:
                self.meta = _h5_metadata(self.stack)
            except Exception:  # noqa: BLE001 - metadata are optional
                self.meta = {}
        else:
            self.image, self.dirs = _open_image(path)
        self.path = path

    def read(self, path, frame: int = 0) -> Frame:
        """Frame number ``frame`` of ``path`` as a :class:`Frame`."""
        path = os.fspath(path)
        if isinstance(frame, bool) or int(frame) != frame or frame < 0:
            raise ValueError(f"frame must be a whole number >= 0, got {frame!r}")
        frame = int(frame)
        self.open(path)
        n = len(self)
        if frame >= n:
            raise FormatError(f"{path}: has {n} frame(s), frame {frame} asked")
        if self.stack is not None:
            raw = self._read_h5(path, frame)
            meta = {k: _pick(v, frame) for k, v in self.meta.items()}
            return to_frame(raw, path, frame, meta)
        from gixs.io.decode import guarded_call

        try:
            if frame == 0:
                fr = self.image
            else:
                _check_tiff_frame(path, self.dirs, frame)
                fr = guarded_call(path, lambda: self.image.getframe(frame))
            _check_decoded(fr, path, frame)
            data = fr.data
        except ReadTimeoutError:
            self._abandon()
            raise
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged data
            raise FormatError(f"{path}: cannot read frame {frame} ({type(exc).__name__}: "
                              f"{exc})") from None
        return to_frame(data, path, frame, header_metadata(fr.header, path))

    def _read_h5(self, path, frame):
        """Frame ``frame`` of the open HDF5 stack, read under guard; a damaged chunk is a
        FormatError naming the dataset's filters."""
        from gixs.io.decode import guarded_call

        stack = self.stack
        try:
            return guarded_call(path, lambda: stack.get(frame), fabio=False)
        except ReadTimeoutError:
            self._abandon()
            raise
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged chunk, missing linked file
            raise FormatError(f"{path}: cannot read frame {frame}: "
                              f"{h5_read_defect(stack, frame, exc)}") from None

    def _abandon(self):
        """Forget the open file without closing it: a decoder thread that ran past the
        time limit may still hold it (closing could wait for that thread)."""
        self.image, self.stack, self.path, self.meta, self.dirs = None, None, None, {}, []

    def close(self):
        if self.image is not None:
            with contextlib.suppress(Exception):
                self.image.close()
            self.image = None
        if self.stack is not None:
            self.stack.close()
        self.stack, self.path, self.meta = None, None, {}


def iter_frames(path):
    """Yield every :class:`Frame` of a (single- or multi-frame) file, one at a time.

    Parameters
    ----------
    path : str or path
        Image file or ``FILE.h5::/dataset``.

    Yields
    ------
    Frame
        Frames in file order.

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "s.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("entry/data/data", data=np.arange(12.).reshape(3, 2, 2))
    >>> [(fr.index, float(fr.data.sum())) for fr in iter_frames(path)]
    [(0, 6.0), (1, 22.0), (2, 38.0)]
    """
    with FrameReader() as reader:
        reader.open(path)
        for i in range(len(reader)):
            yield reader.read(path, i)


def read_frame(path, frame: int = 0) -> Frame:
    """Read frame number ``frame`` of an image file, with its metadata.

    Raises
    ------
    FormatError
        File missing, unreadable, damaged or truncated, or ``frame`` beyond the last frame.

    Examples
    --------
    >>> import numpy as np, fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.edf")
    >>> fabio.edfimage.EdfImage(data=np.full((4, 5), 7, np.int32)).write(path)
    >>> float(read_frame(path).data.sum())
    140.0
    """
    with FrameReader() as reader:
        return reader.read(path, frame)


def read_array(path, shape=None, what="image"):
    """Read a dark, flat or mask image as float32 values as stored (NaN and negative
    values kept: :mod:`gixs.io.validate` judges them); check its shape against ``shape``.

    Parameters
    ----------
    path : str or path
        Image file or ``FILE.h5::/dataset``.
    shape : tuple of int, optional
        Expected (rows, columns); FormatError when the file differs.
    what : str
        Name of the image in error messages (``"dark"``, ``"flat"``, ``"mask"``); a mask
        keeps its stored dtype.

    Returns
    -------
    ndarray, shape (rows, columns)
        float32 values (stored dtype for a mask).

    Examples
    --------
    >>> import fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "dark.edf")
    >>> fabio.edfimage.EdfImage(data=np.full((2, 3), 5, np.uint16)).write(path)
    >>> read_array(path, (2, 3), "dark").tolist()
    [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]]
    >>> read_array(path, (3, 3), "dark")
    Traceback (most recent call last):
    ...
    gixs.errors.FormatError: ...dark.edf: dark has shape 2x3, expected 3x3 like the frame
    """
    path = os.fspath(path)
    _check_file(split_h5_path(path)[0], what)
    with FrameReader() as reader:
        reader.open(path)
        if reader.stack is not None:
            try:
                raw = np.asarray(reader._read_h5(path, 0))
            except FormatError as exc:
                raise FormatError(str(exc).replace("cannot read frame 0", f"cannot read the "
                                                   f"{what}")) from None
        else:
            raw = np.asarray(reader.image.data)
    if raw.ndim != 2:
        raise FormatError(f"{path}: {what} is {raw.ndim}-D, expected a 2D image")
    if raw.dtype.kind not in "iufb":
        raise FormatError(f"{path}: {what} holds {raw.dtype} values, expected numbers")
    data = raw if what == "mask" else raw.astype(np.float32)
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise FormatError(f"{path}: {what} has shape {data.shape[0]}x{data.shape[1]}, "
                          f"expected {shape[0]}x{shape[1]} like the frame")
    return data


def read_mask(path, shape=None) -> np.ndarray:
    """Read a mask file: nonzero = masked. Returns a bool array.

    Parameters
    ----------
    path : str or path
        Mask image (any format :func:`read_array` reads).
    shape : tuple of int, optional
        Expected (rows, columns) of the frames.

    Returns
    -------
    ndarray of bool
        True where the pixel is masked.

    Examples
    --------
    >>> import fabio, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mask.edf")
    >>> fabio.edfimage.EdfImage(data=np.array([[0, 1], [2, 0]], np.int8)).write(path)
    >>> read_mask(path).tolist()
    [[False, True], [True, False]]
    """
    data = read_array(path, shape, what="mask")
    bad = ~np.isfinite(data) if data.dtype.kind == "f" else None
    if bad is not None and bad.any():
        raise FormatError(f"{path}: mask has {int(bad.sum())} NaN/inf pixel(s), expected "
                          "0 (valid) or nonzero (masked)")
    return data != 0


def _os_error(exc, path):
    """``exc`` re-raised as an OSError naming ``path`` (not a hidden temporary)."""
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return OSError(exc.errno, "no space left on the device (nothing written)", path)
    if isinstance(exc, OSError) and exc.errno is not None:
        return OSError(exc.errno, exc.strerror, path)
    return OSError(errno.EIO, f"cannot write ({exc})", path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success only.

    The one atomic writer of gixs: the temporary (``.NAME.XXXX.part``) is removed on any
    failure, and an OS error (read-only folder, full disk) names ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> try:
    ...     with atomic_path(path) as tmp:
    ...         _ = open(tmp, "w").write("half")
    ...         raise RuntimeError("crash")
    ... except RuntimeError:
    ...     pass
    >>> os.path.exists(path), os.listdir(os.path.dirname(path))
    (False, [])
    >>> with atomic_path(path) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(path).read()
    'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    base = os.path.basename(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _os_error(exc, path) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            raise _os_error(exc, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_set(paths):
    """Write several files as one set: complete or absent.

    Yields one temporary path per entry of ``paths`` (same file names, inside a hidden
    ``.NAME.XXXX.part`` folder beside the first); on success each is renamed onto its
    final path, and the old files of the set that were not rewritten are removed, so an
    old CSV never sits beside a new HDF5 file. On failure nothing of the set is left.
    Stale temporary folders of an earlier killed write of the same set are removed.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> old = os.path.join(folder, "b.csv")
    >>> _ = open(old, "w").write("old")
    >>> paths = [os.path.join(folder, "a.h5"), old]
    >>> with atomic_set(paths) as tmps:
    ...     _ = open(tmps[0], "w").write("new")
    >>> sorted(os.listdir(folder))
    ['a.h5']
    """
    import shutil

    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    folder = os.path.dirname(paths[0])
    base = os.path.basename(paths[0])
    created = not os.path.isdir(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        for stale in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.*.part")):
            shutil.rmtree(stale, ignore_errors=True) if os.path.isdir(stale) else os.unlink(stale)
        tmpdir = tempfile.mkdtemp(prefix=f".{base}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _os_error(exc, paths[0]) from None
    tmps = [os.path.join(tmpdir, os.path.basename(p)) for p in paths]
    try:
        try:
            yield tmps
            for tmp, path in zip(tmps, paths):
                if os.path.exists(tmp):
                    os.replace(tmp, path)
                elif os.path.exists(path):
                    os.unlink(path)  # an old member of the set this write did not make
        except OSError as exc:
            raise _os_error(exc, paths[0]) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        if created and not any(os.path.exists(p) for p in paths):
            with contextlib.suppress(OSError):  # a folder made for a set never written
                os.rmdir(folder)


def write_text(path, text: str) -> None:
    """Write a text file atomically.

    Parameters
    ----------
    path : str or path
        Destination; its folder is made when missing.
    text : str
        Content, written as UTF-8.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "sub", "note.txt")
    >>> write_text(path, "q = 0.1 1/A")
    >>> open(path).read()
    'q = 0.1 1/A'
    """

    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
