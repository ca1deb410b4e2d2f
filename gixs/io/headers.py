"""Acquisition metadata from detector image headers.

One function, :func:`parse_header`, turns the header dict a reader gives (fabio's
``image.header`` for CBF, TIFF and EDF; a flat ``{path: value}`` dict of HDF5/NeXus
datasets, see :func:`h5_header`) into the gixs metadata keys:

``exposure_s`` (s), ``time_s`` (POSIX seconds, float), ``timestamp`` (the text it came
from), ``monitor``, ``count_cutoff`` (counts), ``wavelength_a`` (A), ``distance_m`` (m),
``beam_center_px`` ((x = column, y = row) of the array as read, pixels), ``pixel_size_m``
((y, x), m), ``detector`` (a pyFAI ``detector_factory`` name) and ``fields`` (the header
keys each value came from). Keys the header does not hold are absent.

Formats covered:

- Pilatus headers (camserver "# Key value" lines): in CBF they sit in
  ``_array_data.header_contents``, in CMS/areaDetector TIFF in ``imageDescription``; fabio's
  Pilatus TIFF reader already splits them into keys (``Exposure_time``, ...). ``Beam_xy`` is
  (x, y) = (fast, slow) = (column, row) pixels. Time stamps without a zone are taken as UTC.
  A geometry block left at camserver's defaults (``Beam_xy (0, 0)`` and
  ``Detector_distance 1 m``) was never set by the beamline: distance and beam centre are
  dropped then, and ``Wavelength 1.54 A`` with them (CMS frames at 12.7 keV carry it);
  dropped values are listed under ``ignored``.
- TIFF tags read from the file itself (fabio's header leaves them out):
  ``DateTime`` (tag 306, ``YYYY:MM:DD HH:MM:SS``, written by Pilatus camserver; no zone,
  taken as UTC) and, for EPICS areaDetector TIFFs (CMS, SMI), the array's EPICS time
  stamp (tags 65002/65003, seconds and nanoseconds since the EPICS epoch 1990-01-01
  UTC; areaDetector's NDFileTIFF layout). DateTime is used when both are present.
- EDF (ESRF): ``ExposureTime``/``count_time``, ``SampleDistance`` (m), ``WaveLength`` (m),
  ``Center_1``/``Center_2`` (px, Dim_1 is the column axis), ``PSize_1``/``PSize_2`` (m),
  ``Intensity0`` or the ``mon`` entry of ``counter_mne``/``counter_pos``, ``Date``.
- Eiger/NeXus: ``count_time``, ``detector_distance``, ``beam_center_x``/``_y``,
  ``x_pixel_size``/``y_pixel_size``, ``incident_wavelength``, ``description``,
  ``data_collection_date``/``start_time``, with their ``units`` attribute when present.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import struct

__all__ = ["parse_header", "h5_header", "pilatus_lines", "tiff_tags"]

#: POSIX seconds of the EPICS epoch (1990-01-01 00:00:00 UTC).
EPICS_EPOCH_S = 631152000.0

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

# Pilatus camserver keys -> gixs keys (values parsed from their first number)
_PILATUS_KEYS = {"exposure_time": "exposure_s", "count_cutoff": "count_cutoff",
                 "wavelength": "wavelength_a", "detector_distance": "distance_m"}
_LENGTH_TO_M = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6,
                "microns": 1e-6, "cm": 1e-2, "nm": 1e-9, "a": 1e-10, "angstrom": 1e-10}
_TIME_TO_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
              "millisecond": 1e-3, "us": 1e-6, "µs": 1e-6}
_DATE_FORMATS = ("%Y/%b/%d %H:%M:%S.%f", "%Y/%b/%d %H:%M:%S", "%Y:%m:%d %H:%M:%S",
                 "%a %b %d %H:%M:%S %Y", "%Y/%m/%d %H:%M:%S", "%d-%b-%Y %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def _first_number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and getattr(value, "size", 2) == 1:
        return _first_number(value.item())
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    m = re.search(_NUM, str(value))
    return float(m.group(0)) if m else None


def _numbers(value):
    return [float(x) for x in re.findall(_NUM, str(value))]


def posix_time(text):
    """POSIX seconds from a date string (ISO 8601, Pilatus, TIFF); naive = UTC; None if not."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = str(text).strip().rstrip("Z").strip()
    if not text:
        return None
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        dt = None
        for fmt in _DATE_FORMATS:
            try:
                dt = datetime.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def pilatus_lines(text):
    """``{key: value}`` and the date line from a Pilatus camserver header block.

    Parameters
    ----------
    text : str
        Lines such as ``# Exposure_time 0.995 s``.

    Returns
    -------
    dict
        Keys as written (``Exposure_time``...); the bare date line under ``"date"``.

    Examples
    --------
    >>> pilatus_lines("# 2024-10-26T01:38:05.208\\r\\n# Exposure_time 0.995 s")["Exposure_time"]
    '0.995 s'
    """
    out = {}
    for raw in re.split(r"[\r\n]+", str(text)):
        line = raw.strip().lstrip("#").strip()
        if not line:
            continue
        if re.match(r"^\d{4}[-/:]", line):
            out.setdefault("date", line)
            continue
        m = re.match(r"^([A-Za-z][A-Za-z0-9_]*)\s*[:=]?\s*(.*)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def _pyfai_detector(name):
    """pyFAI detector_factory name for a header's detector description, or None."""
    from pyFAI.detectors import ALL_DETECTORS

    text = str(name).lower()
    m = re.search(r"(pilatus|eiger)\s*([0-9]?)\s*(?:(si|cdte)\s*)?(\d+(?:\.\d+)?\s*[mk]w?)\b",
                  text)
    if not m:
        return None
    family, gen, sensor, size = m.groups()
    size = size.replace(" ", "")
    cdte = sensor == "cdte"
    if family == "eiger" and gen == "2":
        cands = [f"eiger2_cdte_{size}" if cdte else f"eiger2_{size}"]
    elif family == "eiger":
        cands = [f"eiger_{size}", f"eiger{size}"]
    elif gen == "4":
        cands = [f"pilatus4_cdte_{size}" if cdte else f"pilatus4_{size}"]
    else:
        cands = [f"pilatus{size}cdte" if cdte else f"pilatus{size}"]
    for cand in cands:
        if cand in ALL_DETECTORS:
            return cand
    return None


_TIFF_TYPES = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 6: "b", 8: "h", 9: "i", 10: "ii",
               11: "f", 12: "d", 16: "Q"}


def tiff_tags(path, tags=(306, 65000, 65002, 65003)):
    """Values of ``tags`` in the first IFD of a TIFF file ({tag: str or number}).

    ASCII tags come back as text (NUL-stripped), numeric ones as their first value;
    tags absent, files that are not TIFF, or unreadable ones give {}.

    Examples
    --------
    >>> tiff_tags("no-such-file.tif")
    {}
    """
    out = {}
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:2] not in (b"II", b"MM"):
                return {}
            bo = "<" if head[:2] == b"II" else ">"
            if struct.unpack(bo + "H", head[2:4])[0] != 42:
                return {}
            fh.seek(struct.unpack(bo + "I", head[4:8])[0])
            (n,) = struct.unpack(bo + "H", fh.read(2))
            entries = [struct.unpack(bo + "HHI4s", fh.read(12)) for _ in range(min(n, 4096))]
            for tag, typ, count, raw in entries:
                if tag not in tags or typ not in _TIFF_TYPES:
                    continue
                code = _TIFF_TYPES[typ]
                size = struct.calcsize(bo + code) * (count if typ == 2 else 1)
                if size <= 4:
                    data = raw[:size]
                else:
                    pos = fh.tell()
                    fh.seek(struct.unpack(bo + "I", raw)[0])
                    data = fh.read(size)
                    fh.seek(pos)
                if typ == 2:
                    out[tag] = data.split(b"\0", 1)[0].decode("latin-1").strip()
                else:
                    vals = struct.unpack(bo + code, data[:struct.calcsize(bo + code)])
                    out[tag] = vals[0] / vals[1] if len(vals) == 2 and vals[1] else vals[0]
    except (OSError, struct.error):
        return {}
    return out


def _tiff_time(source, out, fields):
    """time_s from the TIFF DateTime tag, else from an areaDetector EPICS time stamp."""
    if not (isinstance(source, (str, os.PathLike)) and os.path.isfile(source)):
        return
    tags = tiff_tags(source)
    t = posix_time(tags[306]) if tags.get(306) else None
    if t is not None:
        out["time_s"], out["timestamp"] = t, tags[306]
        fields["time_s"] = "TIFF DateTime (tag 306)"
        return
    sec, nsec = tags.get(65002), tags.get(65003)
    if isinstance(sec, int) and sec > 0:
        t = EPICS_EPOCH_S + sec + (nsec if isinstance(nsec, int) else 0) * 1e-9
        out["time_s"] = t
        out["timestamp"] = datetime.datetime.fromtimestamp(
            t, datetime.timezone.utc).isoformat()
        fields["time_s"] = "TIFF tags 65002/65003 (areaDetector epicsTS, EPICS epoch 1990)"


def _lower(header):
    return {str(k).lower(): (str(k), v) for k, v in header.items()}


def _parse_pilatus(keys, out, fields):
    """Fill ``out`` from a lower-cased Pilatus key dict ``{lower: (key, value)}``."""
    for low, target in _PILATUS_KEYS.items():
        if low in keys:
            v = _first_number(keys[low][1])
            if v is not None and math.isfinite(v):
                out[target] = v
                fields[target] = keys[low][0]
    if "beam_xy" in keys:
        nums = _numbers(keys["beam_xy"][1])
        if len(nums) >= 2:
            out["beam_center_px"] = (nums[0], nums[1])
            fields["beam_center_px"] = keys["beam_xy"][0]
    if "pixel_size" in keys:
        nums = _numbers(keys["pixel_size"][1])  # "172e-6 m x 172e-6 m": x first (fast axis)
        if len(nums) >= 2:
            out["pixel_size_m"] = (nums[1], nums[0])
            fields["pixel_size_m"] = keys["pixel_size"][0]
    for low in ("date", "datetime"):
        if low in keys and "time_s" not in out:
            t = posix_time(keys[low][1])
            if t is not None:
                out["time_s"], out["timestamp"] = t, str(keys[low][1]).strip()
                fields["time_s"] = keys[low][0]
    if "detector" in keys:
        det = _pyfai_detector(keys["detector"][1])
        if det:
            out["detector"] = det
            fields["detector"] = keys["detector"][0]
    ignored = {}
    if (out.get("beam_center_px") == (0.0, 0.0) and out.get("distance_m") == 1.0):
        for key in ("beam_center_px", "distance_m"):
            ignored[fields.pop(key)] = "camserver default (geometry never set)"
            out.pop(key)
        if out.get("wavelength_a") == 1.54:
            ignored[fields.pop("wavelength_a")] = "camserver default (geometry never set)"
            out.pop("wavelength_a")
    elif out.get("beam_center_px") == (0.0, 0.0):
        ignored[fields.pop("beam_center_px")] = "Beam_xy (0, 0): not set"
        out.pop("beam_center_px")
    if ignored:
        out["ignored"] = ignored


def _with_unit(value, unit, table, default):
    v = _first_number(value)
    if v is None:
        return None
    unit = (unit or "").strip().lower()
    if not unit:
        m = re.search(_NUM + r"\s*([A-Za-zµ]+)", str(value))
        unit = m.group(1).lower() if m and not isinstance(value, (int, float)) else ""
    return v * table.get(unit, default) if unit else v * default


def _parse_edf(keys, out, fields):
    for low in ("exposuretime", "exposure_time", "count_time", "exposure_sec", "exptime"):
        if low in keys:
            v = _first_number(keys[low][1])
            if v is not None:
                out["exposure_s"], fields["exposure_s"] = v, keys[low][0]
                break
    if "sampledistance" in keys:
        out["distance_m"] = _with_unit(keys["sampledistance"][1], None, _LENGTH_TO_M, 1.0)
        fields["distance_m"] = keys["sampledistance"][0]
    if "wavelength" in keys:  # ESRF EDF: metres
        v = _with_unit(keys["wavelength"][1], None, _LENGTH_TO_M, 1.0)
        out["wavelength_a"], fields["wavelength_a"] = v * 1e10, keys["wavelength"][0]
    if "center_1" in keys and "center_2" in keys:
        cx, cy = _first_number(keys["center_1"][1]), _first_number(keys["center_2"][1])
        if cx is not None and cy is not None:
            out["beam_center_px"] = (cx, cy)
            fields["beam_center_px"] = f"{keys['center_1'][0]},{keys['center_2'][0]}"
    if "psize_1" in keys and "psize_2" in keys:
        px, py = _first_number(keys["psize_1"][1]), _first_number(keys["psize_2"][1])
        if px is not None and py is not None:
            out["pixel_size_m"] = (py, px)
            fields["pixel_size_m"] = f"{keys['psize_2'][0]},{keys['psize_1'][0]}"
    if "counter_mne" in keys and "counter_pos" in keys:
        names = str(keys["counter_mne"][1]).split()
        vals = str(keys["counter_pos"][1]).split()
        for mon in ("mon", "monitor", "i0", "io", "mon1"):
            if mon in [n.lower() for n in names]:
                i = [n.lower() for n in names].index(mon)
                if i < len(vals):
                    out["monitor"] = float(vals[i])
                    fields["monitor"] = f"counter_pos[{names[i]}]"
                break
    for low in ("date", "time", "datetime"):
        if low in keys and "time_s" not in out:
            t = posix_time(keys[low][1])
            if t is not None:
                out["time_s"], out["timestamp"] = t, str(keys[low][1]).strip()
                fields["time_s"] = keys[low][0]


_H5_NAMES = {
    "count_time": ("exposure_s", _TIME_TO_S, 1.0),
    "detector_distance": ("distance_m", _LENGTH_TO_M, 1.0),
    "incident_wavelength": ("wavelength_a", _LENGTH_TO_M, 1e-10),
    "wavelength": ("wavelength_a", _LENGTH_TO_M, 1e-10),
}


def _parse_h5(header, out, fields):
    by_name = {}
    for key, value in header.items():
        if "@" in str(key):
            continue
        name = str(key).rstrip("/").rsplit("/", 1)[-1].lower()
        by_name.setdefault(name, (str(key), value))

    def units(key):
        u = header.get(key + "@units")
        return u.decode() if isinstance(u, bytes) else u

    for name, (target, table, default) in _H5_NAMES.items():
        if name in by_name and target not in out:
            key, value = by_name[name]
            v = _with_unit(value, units(key), table, default)
            if v is not None:
                out[target] = v / 1e-10 if target == "wavelength_a" else v
                fields[target] = key
    if "beam_center_x" in by_name and "beam_center_y" in by_name:
        kx, vx = by_name["beam_center_x"]
        ky, vy = by_name["beam_center_y"]
        x, y = _first_number(vx), _first_number(vy)
        if x is not None and y is not None:
            out["beam_center_px"] = (x, y)
            fields["beam_center_px"] = f"{kx},{ky}"
    if "x_pixel_size" in by_name and "y_pixel_size" in by_name:
        kx, vx = by_name["x_pixel_size"]
        ky, vy = by_name["y_pixel_size"]
        px = _with_unit(vx, units(kx), _LENGTH_TO_M, 1.0)
        py = _with_unit(vy, units(ky), _LENGTH_TO_M, 1.0)
        if px is not None and py is not None:
            out["pixel_size_m"] = (py, px)
            fields["pixel_size_m"] = f"{ky},{kx}"
    for name in ("monitor", "i0", "mon"):
        if name in by_name:
            v = _first_number(by_name[name][1])
            if v is not None:
                out["monitor"], fields["monitor"] = v, by_name[name][0]
                break
    for name in ("data_collection_date", "start_time", "timestamp"):
        if name in by_name:
            key, value = by_name[name]
            t = _first_number(value) if isinstance(value, (int, float)) else posix_time(value)
            if t is not None:
                out["time_s"], out["timestamp"] = t, str(value)
                fields["time_s"] = key
                break
    for name in ("description", "detector_name", "model"):
        if name in by_name:
            det = _pyfai_detector(by_name[name][1])
            if det:
                out["detector"], fields["detector"] = det, by_name[name][0]
                break


def _format(header, source):
    s = str(source).lower()
    if s.endswith((".cbf", "cbf")) or "_array_data.header_contents" in header:
        return "cbf"
    if s.endswith((".h5", ".hdf5", ".nxs", ".hdf", ".nx5", "hdf5", "nexus", "h5")):
        return "hdf5"
    if any("/" in str(k) for k in header):
        return "hdf5"
    if s.endswith((".edf", ".edf.gz", "edf")) or "HeaderID" in header or "EDF_DataBlockID" in header:
        return "edf"
    return "tiff"


def parse_header(header, *, source):
    """Acquisition metadata (exposure, time, wavelength, geometry) from an image header.

    Parameters
    ----------
    header : dict
        The reader's header: fabio ``image.header`` (CBF, TIFF, EDF) or
        :func:`h5_header` output (HDF5/NeXus, keys are dataset paths; ``PATH@units``).
    source : str
        The file (or format name ``"cbf"``, ``"tiff"``, ``"edf"``, ``"hdf5"``) the header
        came from; picks the format together with the header's own keys.

    Returns
    -------
    dict
        Subset of ``exposure_s`` (s), ``time_s`` (POSIX s), ``timestamp`` (text),
        ``monitor``, ``count_cutoff`` (counts), ``wavelength_a`` (A), ``distance_m`` (m),
        ``beam_center_px`` ((x=column, y=row), px), ``pixel_size_m`` ((y, x), m),
        ``detector`` (pyFAI name), plus ``fields`` ({gixs key: header key}),
        ``format`` and, when placeholder values were dropped, ``ignored``.

    Examples
    --------
    >>> h = {"_array_data.header_contents": "# Detector: PILATUS 2M, S/N 24-0104\\r\\n"
    ...      "# 2024-10-26T01:38:05.208\\r\\n# Exposure_time 0.995 s\\r\\n"
    ...      "# Count_cutoff 1382835 counts"}
    >>> m = parse_header(h, source="run.cbf")
    >>> m["exposure_s"], m["count_cutoff"], m["detector"]
    (0.995, 1382835.0, 'pilatus2m')
    """
    header = dict(header or {})
    fmt = _format(header, source)
    out, fields = {}, {}
    if fmt == "hdf5":
        _parse_h5(header, out, fields)
    elif fmt == "edf":
        _parse_edf(_lower(header), out, fields)
        if not out:  # EDF written by a Pilatus-aware writer
            _parse_pilatus(_lower(header), out, fields)
    else:
        block = None
        for key in ("_array_data.header_contents", "imageDescription", "ImageDescription"):
            if key in header and "#" in str(header[key]):
                block = str(header[key])
                break
        keys = _lower(pilatus_lines(block)) if block is not None else _lower(header)
        _parse_pilatus(keys, out, fields)
        if "time_s" not in out:  # TIFF DateTime tag when fabio gives it
            for key in ("DateTime", "date"):
                if key in header:
                    t = posix_time(header[key])
                    if t is not None:
                        out["time_s"], out["timestamp"] = t, str(header[key])
                        fields["time_s"] = key
                        break
        if fmt == "tiff" and "time_s" not in out:
            _tiff_time(source, out, fields)
        if fmt == "tiff":
            low = _lower(header)
            for name in ("monitor", "i0"):
                if name in low:
                    v = _first_number(low[name][1])
                    if v is not None:
                        out["monitor"], fields["monitor"] = v, low[name][0]
                        break
    out["fields"] = fields
    out["format"] = fmt
    return out


def h5_header(h5file, *, group="entry"):
    """Flat ``{path: value}`` of the small scalar datasets under ``group`` (for parse_header).

    Strings are decoded; each dataset's ``units`` attribute appears as ``PATH@units``.
    Arrays of one value per frame are returned as arrays (the caller picks its frame).

    Examples
    --------
    >>> import h5py, io
    >>> bio = io.BytesIO()
    >>> with h5py.File(bio, "w") as f:
    ...     d = f.create_dataset("entry/instrument/detector/count_time", data=0.5)
    ...     d.attrs["units"] = "s"
    ...     parse_header(h5_header(f), source="x.h5")["exposure_s"]
    0.5
    """
    import h5py

    out = {}
    if group not in h5file:
        return out

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset) or obj.size > 100_000 or obj.ndim > 1:
            return
        path = f"{group}/{name}"
        try:
            value = obj[()]
        except (OSError, TypeError, ValueError):
            return
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        elif getattr(value, "size", None) == 1:
            value = value.reshape(-1)[0]
            value = value.decode(errors="replace") if isinstance(value, bytes) else value.item()
        out[path] = value
        if "units" in obj.attrs:
            u = obj.attrs["units"]
            out[path + "@units"] = u.decode() if isinstance(u, bytes) else str(u)

    h5file[group].visititems(visit)
    return out
