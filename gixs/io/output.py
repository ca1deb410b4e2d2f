"""Result files: NeXus/HDF5 (one file per frame, or one entry per frame) and CSV.

Layout of an entry (NXentry), readable by h5web, silx and NeXus readers::

    /<entry>            NXentry   (default -> the azimuthal profile)
        provenance      JSON string: source, frame, geometry, settings, corrections, versions
        instrument      NXinstrument: source (NXsource, energy keV), monochromator
                                  (wavelength A), detector (NXdetector: distance, beam
                                  centre, pixel size, PONI, rotations)
        sample          NXsample: name, incidence angle, tilt, orientation code
        process         NXprocess: program gixs, version, date, settings, corrections
        iq, ip, oop,    NXdata    signal "intensity" (+ "intensity_errors", "count"),
        sector_*                  axis "q" / "qxy" / "qz" with @units "1/angstrom"
        qmap, qchi      NXdata    2D signal with its two axes

Every write goes to a temporary file that is renamed into place only when complete.
"""

from __future__ import annotations

import json

import numpy as np

from gixs.io.frames import atomic_path
from gixs.units import HC_KEV_A
from gixs.results import Profile, ReducedFrame

#: NeXus unit strings of each axis kind.
NX_UNITS = {"q": "1/angstrom", "qxy": "1/angstrom", "qz": "1/angstrom", "chi": "degree"}


def _nxdata(parent, name, signal, axes, long_name):
    g = parent.create_group(name)
    g.attrs["NX_class"] = "NXdata"
    g.attrs["signal"] = "intensity"
    g.attrs["axes"] = [a[0] for a in axes] if len(axes) > 1 else axes[0][0]
    d = g.create_dataset("intensity", data=signal, compression="gzip", compression_opts=1)
    d.attrs["long_name"] = long_name
    d.attrs["units"] = "arbitrary units"
    for i, (aname, values, kind) in enumerate(axes):
        ds = g.create_dataset(aname, data=values)
        if kind is None:  # a counting axis (frame number)
            ds.attrs["long_name"] = aname
        else:
            ds.attrs["units"] = NX_UNITS[kind]
            ds.attrs["long_name"] = f"{aname} ({'A^-1' if kind != 'chi' else 'deg'})"
        g.attrs[f"{aname}_indices"] = i
    return g


def _field(group, name, value, units=None, **attrs):
    ds = group.create_dataset(name, data=value)
    if units:
        ds.attrs["units"] = units
    for k, v in attrs.items():
        ds.attrs[k] = v
    return ds


def _group(parent, name, nx_class):
    g = parent.create_group(name)
    g.attrs["NX_class"] = nx_class
    return g


def direct_beam(geo: dict) -> dict:
    """Where the direct beam meets the detector, from a PONI geometry dict (the fields of
    :class:`gixs.geometry.model.DetectorGeometry`): distance along the beam (m) and the
    point (m from the detector origin; pixels, Fit2D coordinates, when the detector
    config names the pixel size).

    With pyFAI's rotations the beam, seen from the detector, runs along
    ``(sin rot2, -cos rot2 sin rot1, cos rot1 cos rot2)`` (rows, columns, normal).

    Examples
    --------
    >>> d = direct_beam({"dist_m": 0.2, "poni1_m": 0.01, "poni2_m": 0.02, "rot1": 0.0,
    ...                  "rot2": 0.0, "rot3": 0.0, "detector_config": '{"pixel1": 1e-4, '
    ...                  '"pixel2": 1e-4}'})
    >>> round(d["beam_center_x_px"], 6), round(d["beam_center_y_px"], 6)
    (200.0, 100.0)
    """
    import math

    c1, s1 = math.cos(geo["rot1"]), math.sin(geo["rot1"])
    c2, s2 = math.cos(geo["rot2"]), math.sin(geo["rot2"])
    row_m = geo["poni1_m"] + geo["dist_m"] * s2 / (c1 * c2)
    col_m = geo["poni2_m"] - geo["dist_m"] * s1 / c1
    out = {"direct_distance_m": geo["dist_m"] / (c1 * c2), "beam_center_row_m": row_m,
           "beam_center_col_m": col_m}
    try:
        cfg = json.loads(geo.get("detector_config") or "{}")
    except ValueError:
        cfg = {}
    if cfg.get("pixel1") and cfg.get("pixel2"):
        out.update(beam_center_x_px=col_m / cfg["pixel2"], beam_center_y_px=row_m / cfg["pixel1"],
                   pixel_size_m=(cfg["pixel1"], cfg["pixel2"]))
    return out


def write_nx_groups(entry, provenance: dict, *, sample_name=None):
    """NXinstrument, NXsample and NXprocess of an entry, from a result's provenance."""
    geo = provenance.get("geometry") or {}
    gi = provenance.get("grazing_incidence") or {}
    inst = _group(entry, "instrument", "NXinstrument")
    if geo:
        lam_a = geo["wavelength_m"] * 1e10
        src = _group(inst, "source", "NXsource")
        _field(src, "probe", "x-ray")
        _field(src, "type", "Synchrotron X-ray Source")
        _field(src, "energy", HC_KEV_A / lam_a, "keV")
        mono = _group(inst, "monochromator", "NXmonochromator")
        _field(mono, "wavelength", lam_a, "angstrom")
        _field(mono, "energy", HC_KEV_A / lam_a, "keV")
        det = _group(inst, "detector", "NXdetector")
        beam = direct_beam(geo)
        _field(det, "description", geo.get("detector", "Detector"))
        _field(det, "distance", beam["direct_distance_m"], "m",
               long_name="sample to beam centre along the beam")
        _field(det, "poni_distance", geo["dist_m"], "m",
               long_name="pyFAI Distance: sample to point of normal incidence")
        _field(det, "poni1", geo["poni1_m"], "m")
        _field(det, "poni2", geo["poni2_m"], "m")
        for k in ("rot1", "rot2", "rot3"):
            _field(det, k, geo[k], "rad")
        if "beam_center_x_px" in beam:
            _field(det, "beam_center_x", beam["beam_center_x_px"], "pixel",
                   long_name="direct beam, column (Fit2D pixel coordinates)")
            _field(det, "beam_center_y", beam["beam_center_y_px"], "pixel",
                   long_name="direct beam, row from the first row read")
            _field(det, "y_pixel_size", beam["pixel_size_m"][0], "m")
            _field(det, "x_pixel_size", beam["pixel_size_m"][1], "m")
        _field(det, "detector_config", geo.get("detector_config", "{}"))
    sample = _group(entry, "sample", "NXsample")
    _field(sample, "name", sample_name or _stem(provenance.get("source", "")))
    if gi:
        _field(sample, "incidence_angle", gi.get("incidence_deg", 0.0), "degree")
        _field(sample, "tilt_angle", gi.get("tilt_deg", 0.0), "degree",
               long_name="roll about the beam")
        _field(sample, "sample_orientation", int(gi.get("sample_orientation", 1)),
               long_name="EXIF orientation code 1-8 of the sample on the image")
        if gi.get("critical_angle_deg") is not None:
            _field(sample, "critical_angle", gi["critical_angle_deg"], "degree")
    proc = _group(entry, "process", "NXprocess")
    versions = provenance.get("versions") or {}
    _field(proc, "program", "gixs")
    _field(proc, "version", str(versions.get("gixs", "")))
    _field(proc, "date", str(provenance.get("created", "")))
    _field(proc, "source", str(provenance.get("source", "")))
    _field(proc, "frame", int(provenance.get("frame", 0)))
    note = _group(proc, "settings", "NXnote")
    _field(note, "type", "application/json")
    _field(note, "data", json.dumps({k: provenance.get(k) for k in (
        "settings", "corrections", "versions", "setup") if k in provenance}, default=str))
    corr = _group(proc, "corrections", "NXcollection")
    for k, v in (provenance.get("corrections") or {}).items():
        _field(corr, k, "none" if v is None else v)
    return entry


def _stem(source):
    import os

    return os.path.splitext(os.path.basename(str(source).split("::")[0]))[0]


def write_series(out, entry_names, table_text: str | None = None, name: str = "series"):
    """Stack the profiles of many entries into NXentry ``name`` of an open file.

    Each profile present in the entries with one common axis becomes an NXdata of
    signal ``intensity`` (frames x bins) with axes ``frame`` (batch position, from the
    entry names ``entry_<position>``) and the profile's axis, so silx and h5web show a
    series as an image. ``table_text`` (CSV) becomes an NXcollection ``table`` of columns
    (numbers as float with NaN for blanks, else strings).
    """
    import csv
    import io

    series = _group(out, name, "NXentry")
    entries = [out[n] for n in entry_names]
    frames = np.array([int(n.rsplit("_", 1)[-1]) for n in entry_names], dtype=np.int64)
    default = None
    for pname in (entries[0].keys() if entries else []):
        first = entries[0][pname]
        if first.attrs.get("NX_class") != "NXdata" or first["intensity"].ndim != 1:
            continue
        axis = first.attrs["axes"]
        axis = axis.decode() if isinstance(axis, bytes) else str(axis)
        x = first[axis][()]
        if not all(pname in e and axis in e[pname] and np.array_equal(e[pname][axis][()], x)
                   for e in entries):
            continue
        g = _nxdata(series, pname, np.stack([e[pname]["intensity"][()] for e in entries]),
                    [("frame", frames, None), (axis, x, axis)], f"I({axis}) {pname}, stacked")
        g.attrs["interpretation"] = "image"
        g.create_dataset("intensity_errors", data=np.stack(
            [e[pname]["intensity_errors"][()] for e in entries]), compression="gzip",
            compression_opts=1)
        default = default or pname
    if default:
        series.attrs["default"] = "iq" if "iq" in series else default
    if table_text:
        rows = list(csv.reader(io.StringIO(table_text)))
        tab = _group(series, "table", "NXcollection")
        if rows:
            for j, col in enumerate(rows[0]):
                vals = [r[j] if j < len(r) else "" for r in rows[1:]]
                try:
                    data = np.array([float(v) if v != "" else np.nan for v in vals])
                except ValueError:
                    data = np.array(vals, dtype=object).astype("S")
                tab.create_dataset(col.replace("/", "_per_"), data=data)
    return series


def write_entry(parent, name: str, reduced: ReducedFrame):
    """Write one reduced frame as NXentry ``name`` inside an open h5py group/file.

    Parameters
    ----------
    parent : h5py.Group
        Open file or group (writable).
    name : str
        Name of the new NXentry.
    reduced : ReducedFrame
        Profiles, maps and provenance to write (q in 1/A, chi in deg).

    Returns
    -------
    h5py.Group
        The new entry.

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> from gixs.results import Map2D
    >>> iq = Profile("iq", "q", np.array([0.1, 0.2]), np.array([5.0, 3.0]),
    ...              np.array([0.5, 0.4]), np.array([10, 12]))
    >>> qmap = Map2D("qmap", "qxy", "qz", np.array([-0.1, 0.1]), np.array([0.0, 0.1, 0.2]),
    ...              np.ones((3, 2)), np.ones((3, 2), int))
    >>> red = ReducedFrame({"iq": iq}, {"qmap": qmap}, {"source": "film.tif", "frame": 0})
    >>> path = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = write_entry(f, "entry_0000", red)
    >>> with h5py.File(path, "r") as f:
    ...     e = f["entry_0000"]
    ...     print(e["iq/intensity"][()].tolist(), e["iq/q"].attrs["units"],
    ...           e["qmap/intensity"].shape, e["sample/name"][()].decode())
    [5.0, 3.0] 1/angstrom (3, 2) film
    """
    entry = parent.create_group(name)
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "iq"
    entry.create_dataset("provenance", data=json.dumps(reduced.provenance, default=str))
    write_nx_groups(entry, reduced.provenance)
    for pname, prof in reduced.profiles.items():
        g = _nxdata(entry, pname, prof.intensity, [(prof.axis, prof.x, prof.axis)],
                    f"I({prof.axis}) {pname}")
        g.create_dataset("intensity_errors", data=prof.sigma)
        g.create_dataset("count", data=prof.count)
        g.attrs["band"] = json.dumps(prof.band)
    for mname, m in reduced.maps.items():
        g = _nxdata(entry, mname, m.intensity,
                    [(m.y_axis, m.y, m.y_axis), (m.x_axis, m.x, m.x_axis)], f"I {mname}")
        g.attrs["interpretation"] = "image"
        g.create_dataset("count", data=m.count, compression="gzip", compression_opts=1)
    return entry


def write_reduced_h5(path, reduced: ReducedFrame, entry: str = "entry") -> None:
    """Write one reduced frame to its own NeXus/HDF5 file (atomically).

    Parameters
    ----------
    path : str or path
        Destination file (replaced only once complete).
    reduced : ReducedFrame
        The frame's profiles, maps and provenance.
    entry : str
        Name of the NXentry (the file's default).

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> oop = Profile("oop", "qz", np.array([0.05, 0.1]), np.array([2.0, 1.0]),
    ...               np.array([0.1, 0.1]), np.array([4, 4]))
    >>> path = os.path.join(tempfile.mkdtemp(), "one.h5")
    >>> write_reduced_h5(path, ReducedFrame({"oop": oop}, {}, {"source": "x.cbf"}))
    >>> with h5py.File(path, "r") as f:
    ...     print(f.attrs["default"], f["entry/oop/qz"][()].tolist(),
    ...           f["entry/oop/intensity_errors"][()].tolist())
    entry [0.05, 0.1] [0.1, 0.1]
    """
    from gixs.io.h5write import h5_create

    with atomic_path(path) as tmp:
        with h5_create(tmp) as f:
            f.attrs["default"] = entry
            f.attrs["creator"] = "gixs"
            write_entry(f, entry, reduced)


def profile_csv_text(profile: Profile, provenance: dict | None = None) -> str:
    """CSV text of a profile: commented header lines, then ``axis,intensity,sigma,count``.

    Parameters
    ----------
    profile : Profile
        The profile (x in 1/A, or deg for chi).
    provenance : dict, optional
        Source, frame and grazing-incidence settings written as header comments.

    Examples
    --------
    >>> p = Profile("iq", "q", np.array([0.1, 0.2, 0.3]), np.array([5.0, np.nan, 3.0]),
    ...             np.array([0.5, np.nan, 0.25]), np.array([10, 0, 12]))
    >>> prov = {"source": "a.tif", "frame": 2, "grazing_incidence": {"incidence_deg": 0.2}}
    >>> print(profile_csv_text(p, prov), end="")
    # gixs profile iq; band {}
    # source a.tif frame 2
    # incidence_deg 0.2
    # empty bins (no valid pixel) are omitted
    q_A^-1,intensity_au,sigma_au,count_pixels
    0.1,5,0.5,10
    0.3,3,0.25,12
    """
    lines = [f"# gixs profile {profile.name}; band {json.dumps(profile.band)}"]
    if provenance:
        lines.append(f"# source {provenance.get('source', '')} frame {provenance.get('frame', 0)}")
        gi = provenance.get("grazing_incidence", {})
        lines.append("# " + ", ".join(f"{k} {v}" for k, v in gi.items()))
    lines.append("# empty bins (no valid pixel) are omitted")
    lines.append(f"{profile.csv_axis},intensity_au,sigma_au,count_pixels")
    ok = np.isfinite(profile.intensity) & (profile.count > 0)
    for x, i, s, c in zip(profile.x[ok], profile.intensity[ok], profile.sigma[ok],
                          profile.count[ok]):
        lines.append(f"{x:.7g},{i:.7g},{s:.5g},{int(c)}")
    return "\n".join(lines) + "\n"


def write_profile_csv(path, profile: Profile, provenance: dict | None = None) -> None:
    """Write a profile as CSV (atomically); the header names the unit (e.g. ``q_A^-1``).

    Parameters
    ----------
    path : str or path
        Destination CSV file.
    profile : Profile
        The profile; empty bins are left out.
    provenance : dict, optional
        Written as header comments (:func:`profile_csv_text`).

    Examples
    --------
    >>> import tempfile, os
    >>> p = Profile("ip", "qxy", np.array([-0.1, 0.1]), np.array([2.0, 4.0]),
    ...             np.array([0.2, 0.3]), np.array([5, 6]))
    >>> path = os.path.join(tempfile.mkdtemp(), "ip.csv")
    >>> write_profile_csv(path, p)
    >>> open(path).read().splitlines()[-3:]
    ['qxy_A^-1,intensity_au,sigma_au,count_pixels', '-0.1,2,0.2,5', '0.1,4,0.3,6']
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(profile_csv_text(profile, provenance))


def read_profile_csv(path):
    """Read a gixs profile CSV back: (axis column name, x, intensity, sigma, count).

    Parameters
    ----------
    path : str or path
        CSV written by :func:`write_profile_csv`.

    Returns
    -------
    (str, ndarray, ndarray, ndarray, ndarray)
        Axis column name with its unit (e.g. ``q_A^-1``), x, intensity, sigma and pixel
        count (as float).

    Examples
    --------
    >>> import tempfile, os
    >>> p = Profile("iq", "q", np.array([0.1, 0.2]), np.array([5.0, 3.0]),
    ...             np.array([0.5, 0.25]), np.array([10, 12]))
    >>> path = os.path.join(tempfile.mkdtemp(), "iq.csv")
    >>> write_profile_csv(path, p)
    >>> name, x, i, s, c = read_profile_csv(path)
    >>> name, x.tolist(), i.tolist(), s.tolist(), c.tolist()
    ('q_A^-1', [0.1, 0.2], [5.0, 3.0], [0.5, 0.25], [10.0, 12.0])
    """

    with open(path, encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    header = lines[0].strip().split(",")
    arr = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    return header[0], arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


def xy_columns(profile: Profile, unit: str, wavelength_a: float):
    """(x, intensity, sigma, x label) of an I(|q|) profile in ``unit`` "q" (1/A) or
    "2th" (deg); empty bins left out. 2theta = 2 asin(q lambda / 4 pi)."""
    if unit not in ("q", "2th"):
        raise ValueError(f"unit must be 'q' or '2th', got {unit!r}")
    if profile.axis != "q":
        raise ValueError(f"profile {profile.name} is along {profile.axis}, not |q|: only "
                         "I(q) profiles have a 2theta (write the iq profile)")
    ok = np.isfinite(profile.intensity) & (profile.count > 0)
    x = profile.x[ok]
    if unit == "2th":
        s = x * wavelength_a / (4 * np.pi)
        if np.any(s > 1):
            raise ValueError("q beyond 4 pi / lambda: not a scattering angle")
        return np.degrees(2 * np.arcsin(s)), profile.intensity[ok], profile.sigma[ok], \
            "2th_deg"
    return x, profile.intensity[ok], profile.sigma[ok], "q_A^-1"


def write_xy(path, profile: Profile, *, unit: str = "q", wavelength_a: float,
             provenance: dict | None = None) -> None:
    """Write an I(q) profile as a ``.xy`` text file (header lines starting with ``#``, then columns
    x, intensity, sigma), read by Dioptas, GSAS-II, FullProf (free format) and numpy.

    Examples
    --------
    >>> import tempfile, os
    >>> from gixs.results import Profile
    >>> p = Profile(name="iq", axis="q", x=np.array([1.0]), intensity=np.array([5.0]),
    ...             sigma=np.array([1.0]), count=np.array([3]))
    >>> path = os.path.join(tempfile.mkdtemp(), "a.xy")
    >>> write_xy(path, p, unit="2th", wavelength_a=1.0)
    >>> open(path).read().splitlines()[-1].split()[0]
    '9.12855842'
    """
    x, i, s, label = xy_columns(profile, unit, wavelength_a)
    head = [f"gixs profile {profile.name}, wavelength {wavelength_a:.6f} A"]
    if provenance:
        head.append(f"source {provenance.get('source', '')} frame {provenance.get('frame', 0)}")
    head.append(f"{label} intensity_au sigma_au")
    body = "".join(f"{a:.9g} {b:.7g} {c:.5g}\n" for a, b, c in zip(x, i, s))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(f"# {h}\n" for h in head) + body)


def write_chi(path, profile: Profile, *, unit: str = "2th", wavelength_a: float,
              title: str = "gixs") -> None:
    """Write an I(q) profile in Fit2D's ``.chi`` format: title, x label, y label, number
    of points, then ``x intensity`` lines (GSAS-II and FullProf read it)."""
    x, i, _, label = xy_columns(profile, unit, wavelength_a)
    lines = [title, "2-Theta Angle (Degrees)" if unit == "2th" else "Q (1/Angstrom)",
             "Intensity", f"{len(x):14d}"]
    lines += [f"{a:17.7E} {b:17.7E}" for a, b in zip(x, i)]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
