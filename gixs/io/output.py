"""Result files: NeXus/HDF5 (one file per frame, or one entry per frame) and CSV.

Layout of an entry (NXentry), readable by h5web, silx and NeXus readers::

    /<entry>            NXentry   (default -> the azimuthal profile)
        provenance      JSON string: source, frame, geometry, settings, corrections, versions
        iq, ip, oop,    NXdata    signal "intensity" (+ "intensity_errors", "count"),
        sector_*                  axis "q" / "qxy" / "qz" with @units "1/angstrom"
        qmap, qchi      NXdata    2D signal with its two axes

Every write goes to a temporary file that is renamed into place only when complete.
"""

from __future__ import annotations

import json

import numpy as np

from gixs.io.frames import atomic_path
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
        ds.attrs["units"] = NX_UNITS[kind]
        ds.attrs["long_name"] = f"{aname} ({'A^-1' if kind != 'chi' else 'deg'})"
        g.attrs[f"{aname}_indices"] = i
    return g


def write_entry(parent, name: str, reduced: ReducedFrame):
    """Write one reduced frame as NXentry ``name`` inside an open h5py group/file."""
    entry = parent.create_group(name)
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "iq"
    entry.create_dataset("provenance", data=json.dumps(reduced.provenance, default=str))
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
    """Write one reduced frame to its own NeXus/HDF5 file (atomically)."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["default"] = entry
            f.attrs["creator"] = "gixs"
            write_entry(f, entry, reduced)


def profile_csv_text(profile: Profile, provenance: dict | None = None) -> str:
    """CSV text of a profile: commented header lines, then ``axis,intensity,sigma,count``."""
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
    """Write a profile as CSV (atomically); the header names the unit (e.g. ``q_A^-1``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(profile_csv_text(profile, provenance))


def read_profile_csv(path):
    """Read a gixs profile CSV back: (axis column name, x, intensity, sigma, count)."""
    with open(path, encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    header = lines[0].strip().split(",")
    arr = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    return header[0], arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
