"""Detector geometry from numbers: beam centre, distance, energy, detector, tilts.

Beamline logs give a geometry as a beam centre (pixels), a distance, an energy and a
detector name, sometimes with tilts. :func:`geometry_from_beam_center` turns these into
the PONI model of :class:`gixs.geometry.model.DetectorGeometry`, in one of three
conventions:

``fit2d`` (default)
    ``beam_center_px`` is where the direct beam hits the detector, in Fit2D pixel
    coordinates (the first pixel spans 0..1, so its centre is 0.5); ``distance_mm`` is
    the sample-to-beam-centre distance along the beam; ``tilt_deg`` is the angle between
    the detector normal and the beam and ``tilt_plane_deg`` the direction of that tilt
    in the detector plane (Fit2D's "tilt plane rotation", from the column axis towards
    the row axis).
``pyfai``
    ``beam_center_px`` is the PONI (point of normal incidence) in pixels
    (``poni2 / pixel2``, ``poni1 / pixel1``), ``distance_mm`` the normal distance and
    ``rot_deg`` pyFAI's rot1, rot2, rot3.
``nika``
    Nika's beam centre is taken as 0-based pixel indices (pixel centres at whole numbers,
    as in an Igor image wave), i.e. Fit2D's centre minus 0.5 pixel; the distance is the
    sample-to-detector distance along the beam. Nika's tilt angles are not converted:
    give tilts in the Fit2D convention instead.

``y_from`` says how the row coordinate is counted: ``"top"`` (default) as fabio and
h5py read the array (row 0 first), ``"bottom"`` from the last row up (many beamline
logs; P03's ``beam_center_y 368`` on a 1679-row Pilatus 2M is row 1311 from the top).

The Fit2D model: the detector is turned by ``tilt`` about the in-plane axis
perpendicular to the tilt direction, so the beam, seen in detector coordinates
(row, column, normal), points along ``(sin t sin p, sin t cos p, cos t)``. The rotation
that takes this direction to the detector normal is decomposed into pyFAI's
``rot3 . rot2 . rot1`` (pyFAI's ``Geometry.rotation_matrix``). The result equals
pyFAI's ``Geometry.setFit2D`` (checked in tests/geometry/test_from_numbers.py).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gixs.errors import GeometryError
from gixs.geometry.model import DetectorGeometry, detector_fields
from gixs.units import HC_KEV_A

CONVENTIONS = ("fit2d", "pyfai", "nika")


def make_detector(detector=None, *, pixel_size_um=None, shape=None, source="detector"):
    """A pyFAI detector from a name, or a generic one from a pixel size and shape.

    Parameters
    ----------
    detector : str, optional
        pyFAI detector name ("Pilatus1M", "Eiger2 4M", ...).
    pixel_size_um : float or (float, float), optional
        Generic detector: pixel size (um), one value or (rows, columns).
    shape : (int, int), optional
        Image shape (rows, columns): the generic detector's shape, or, for a named
        detector, checked against it (an integer binning is accepted).

    Examples
    --------
    >>> make_detector("Pilatus1M").shape
    (1043, 981)
    """
    import pyFAI.detectors

    from gixs.io.decode import library_logs

    if detector is None and pixel_size_um is None:
        raise ValueError(f"{source}: give a pyFAI detector name (e.g. 'Pilatus1M') or a "
                         "pixel size")
    if detector is not None:
        try:
            with library_logs("pyFAI", source):
                det = pyFAI.detectors.detector_factory(detector)
        except Exception:
            raise ValueError(f"{source}: {detector!r} is not a pyFAI detector name (see "
                             "pyFAI.detectors.ALL_DETECTORS)") from None
    else:
        px = np.atleast_1d(np.asarray(pixel_size_um, float))
        if px.size not in (1, 2) or not np.all(px > 0):
            raise ValueError(f"{source}: pixel size must be one or two positive numbers "
                             f"(um), got {pixel_size_um!r}")
        p1, p2 = (px[0], px[0]) if px.size == 1 else px
        det = pyFAI.detectors.Detector(pixel1=p1 * 1e-6, pixel2=p2 * 1e-6,
                                       max_shape=None if shape is None else tuple(shape))
    if shape is not None and detector is not None:
        geo = DetectorGeometry(1.0, 0, 0, 0, 0, 0, 1e-10, *detector_fields(det))
        det = geo.for_image_shape(shape, source=source).make_detector()
    return det


def wavelength_m(wavelength_a=None, energy_kev=None) -> float:
    """Wavelength (m) from a wavelength (angstrom) or a photon energy (keV), exactly one."""
    if (wavelength_a is None) == (energy_kev is None):
        raise ValueError("give exactly one of energy (keV) and wavelength (angstrom)")
    if wavelength_a is not None:
        if not (np.isfinite(wavelength_a) and 0.05 < wavelength_a < 20):
            raise ValueError(f"wavelength must lie within 0.05-20 angstrom, got "
                             f"{wavelength_a!r}")
        return float(wavelength_a) * 1e-10
    if not (np.isfinite(energy_kev) and 0.6 < energy_kev < 250):
        raise ValueError(f"energy must lie within 0.6-250 keV, got {energy_kev!r}")
    return HC_KEV_A / float(energy_kev) * 1e-10


def fit2d_rotations(tilt_deg: float, tilt_plane_deg: float):
    """pyFAI (rot1, rot2, rot3) in rad of a Fit2D tilt and tilt-plane rotation (deg).

    Examples
    --------
    >>> [round(r, 12) for r in fit2d_rotations(0.0, 30.0)]
    [0.0, 0.0, 0.0]
    """
    t, p = math.radians(tilt_deg), math.radians(tilt_plane_deg)
    beam = np.array([math.sin(t) * math.sin(p), math.sin(t) * math.cos(p), math.cos(t)])
    normal = np.array([0.0, 0.0, 1.0])
    axis = np.cross(beam, normal)
    s = np.linalg.norm(axis)
    if s < 1e-15:
        return 0.0, 0.0, 0.0
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    # r maps detector coordinates to the lab (pyFAI: lab (y, x, z) = r @ (p1, p2, L)),
    # so it takes the beam's detector-frame direction onto the lab beam axis (0, 0, 1).
    r = np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * kx @ kx
    rot2 = math.asin(max(-1.0, min(1.0, r[2, 0])))
    rot1 = math.atan2(-r[2, 1], r[2, 2])
    c1, s1, c2, s2 = math.cos(rot1), math.sin(rot1), math.cos(rot2), math.sin(rot2)
    m1 = np.array([[1, 0, 0], [0, c1, s1], [0, -s1, c1]])
    m2 = np.array([[c2, 0, -s2], [0, 1, 0], [s2, 0, c2]])
    m3 = r @ (m2 @ m1).T
    rot3 = math.atan2(m3[1, 0], m3[0, 0])
    return rot1, rot2, rot3


def geometry_from_beam_center(detector=None, *, beam_center_px, distance_mm,
                              wavelength_a=None, energy_kev=None, tilt_deg=0.0,
                              tilt_plane_deg=0.0, rot_deg=None, convention="fit2d",
                              y_from="top", shape=None, pixel_size_um=None
                              ) -> DetectorGeometry:
    """PONI geometry from a beam centre, a distance, an energy and a detector.

    Parameters
    ----------
    detector : str or pyFAI Detector, optional
        pyFAI detector name; or give ``pixel_size_um`` (and ``shape``).
    beam_center_px : (float, float)
        (x = column, y = row) in pixels, in the chosen ``convention`` (module docstring).
    distance_mm : float
        Distance (mm): along the beam to the beam centre (fit2d, nika) or the normal
        distance to the PONI (pyfai).
    wavelength_a, energy_kev : float
        Wavelength (angstrom) or photon energy (keV), exactly one.
    tilt_deg, tilt_plane_deg : float
        Fit2D tilt and tilt-plane rotation (deg); conventions fit2d and nika.
    rot_deg : (float, float, float), optional
        pyFAI rot1, rot2, rot3 (deg); convention pyfai only.
    convention : {"fit2d", "pyfai", "nika"}
    y_from : {"top", "bottom"}
        Row coordinate counted from the first row read (top) or from the last (bottom).
    shape : (int, int), optional
        Image shape (rows, columns); needed for ``y_from="bottom"`` with a detector
        that does not know its shape, and checked against a named detector.

    Returns
    -------
    DetectorGeometry

    Examples
    --------
    >>> g = geometry_from_beam_center("Pilatus1M", beam_center_px=(487.3, 512.5),
    ...                               distance_mm=208.7, energy_kev=12.0)
    >>> round(g.dist_m, 4), round(g.poni2_m / 172e-6, 1)
    (0.2087, 487.3)
    """
    convention = str(convention).lower()
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got "
                         f"{convention!r}")
    if y_from not in ("top", "bottom"):
        raise ValueError(f"y_from must be 'top' or 'bottom', got {y_from!r}")
    if isinstance(detector, str) or detector is None:
        det = make_detector(detector, pixel_size_um=pixel_size_um, shape=shape)
    else:
        det = detector
    x, y = (float(v) for v in beam_center_px)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"beam centre must be two finite pixel numbers, got {beam_center_px!r}")
    if not (np.isfinite(distance_mm) and distance_mm > 0):
        raise ValueError(f"distance must be a positive number of mm, got {distance_mm!r}")
    lam = wavelength_m(wavelength_a, energy_kev)
    if convention == "nika":
        if tilt_deg or tilt_plane_deg:
            raise ValueError("Nika tilt angles are not converted: give the tilts in the "
                             "Fit2D convention (--convention fit2d) instead")
        x, y = x + 0.5, y + 0.5
    if y_from == "bottom":
        rows = det.shape[0] if det.shape is not None else (None if shape is None else shape[0])
        if rows is None:
            raise ValueError("y counted from the bottom needs the image height: give the "
                             "image shape or a detector that knows it")
        y = rows - y
    p1, p2 = float(det.pixel1), float(det.pixel2)
    if convention == "pyfai":
        if tilt_deg or tilt_plane_deg:
            raise ValueError("convention pyfai takes rotations (rot1 rot2 rot3), not "
                             "Fit2D tilts")
        r1, r2, r3 = (math.radians(float(v)) for v in (rot_deg or (0.0, 0.0, 0.0)))
        dist, poni1, poni2 = distance_mm * 1e-3, y * p1, x * p2
    else:
        if rot_deg is not None and any(rot_deg):
            raise ValueError(f"convention {convention} takes a tilt and a tilt plane "
                             "rotation, not pyFAI rotations (use convention pyfai)")
        t, p = math.radians(tilt_deg), math.radians(tilt_plane_deg)
        if not 0 <= abs(tilt_deg) < 60:
            raise ValueError(f"tilt must lie within +-60 deg, got {tilt_deg!r}")
        direct = distance_mm * 1e-3
        dist = direct * math.cos(t)
        poni1 = y * p1 - direct * math.sin(t) * math.sin(p)
        poni2 = x * p2 - direct * math.sin(t) * math.cos(p)
        r1, r2, r3 = fit2d_rotations(tilt_deg, tilt_plane_deg)
    name, config = detector_fields(det)
    return DetectorGeometry(dist_m=dist, poni1_m=poni1, poni2_m=poni2, rot1=r1, rot2=r2,
                            rot3=r3, wavelength_m=lam, detector=name, detector_config=config)


def fit2d_view(geometry: DetectorGeometry) -> dict:
    """The Fit2D view of a geometry, for printing back: direct distance (mm), beam centre
    (pixels, x = column, y = row from the top, Fit2D pixel coordinates), tilt and tilt
    plane rotation (deg), wavelength (angstrom) and energy (keV).

    Examples
    --------
    >>> g = geometry_from_beam_center("Pilatus1M", beam_center_px=(400, 500),
    ...                               distance_mm=300, energy_kev=10)
    >>> v = fit2d_view(g); round(v["beam_center_x_px"], 6), round(v["direct_distance_mm"], 6)
    (400.0, 300.0)
    """
    f = geometry.fit2d()
    return {"direct_distance_mm": f["directDist"], "beam_center_x_px": f["centerX"],
            "beam_center_y_px": f["centerY"], "tilt_deg": f["tilt"],
            "tilt_plane_deg": f["tiltPlanRotation"], "wavelength_a": geometry.wavelength_a,
            "energy_kev": geometry.energy_kev}


def format_fit2d(geometry: DetectorGeometry, shape=None) -> str:
    """One line of the Fit2D view with units (and y from the bottom when ``shape``)."""
    v = fit2d_view(geometry)
    rows = shape[0] if shape is not None else geometry.shape()[0] if geometry.shape() else None
    bottom = f" (y from bottom {rows - v['beam_center_y_px']:.2f})" if rows else ""
    return (f"Fit2D view: direct distance {v['direct_distance_mm']:.3f} mm, beam centre "
            f"x={v['beam_center_x_px']:.2f} y={v['beam_center_y_px']:.2f} px from top"
            f"{bottom}, tilt {v['tilt_deg']:.3f} deg, tilt plane {v['tilt_plane_deg']:.2f} "
            f"deg, wavelength {v['wavelength_a']:.5f} A ({v['energy_kev']:.4f} keV), "
            f"detector {geometry.detector}")


def sensor_from_header(header) -> str | None:
    """Sensor material a Pilatus/Eiger header states ("Si" or "CdTe"), or None.

    Pilatus headers carry a line ``# Silicon sensor, thickness 0.000450 m`` (fabio makes
    it the key ``Silicon`` of TIFF headers, or keeps it inside a text block).

    Examples
    --------
    >>> sensor_from_header({"Silicon": "sensor, thickness 0.000450 m"})
    'Si'
    """
    for key, val in (header or {}).items():
        text = f"{key} {val}".lower()
        if "cdte sensor" in text or ("cdte" in str(key).lower() and "sensor" in text):
            return "CdTe"
        if "silicon sensor" in text or (str(key).lower() == "silicon" and "sensor" in text):
            return "Si"
    return None


@functools.lru_cache(maxsize=1)
def _detectors_by_shape():
    """{shape: ((name, class, pixel1, pixel2), ...)} of every pyFAI detector that builds
    without arguments (the generic Detector left out); made once per process, since
    building them all takes ~1 s (hexagonal detectors compute their pixel corners)."""
    import pyFAI.detectors

    out = {}
    for cls in dict.fromkeys(pyFAI.detectors.ALL_DETECTORS.values()):
        if cls is pyFAI.detectors.Detector:
            continue
        try:
            det = cls()
        except Exception:  # noqa: BLE001 - detectors that need arguments
            continue
        if det.shape is not None:
            out.setdefault(tuple(int(n) for n in det.shape), []).append(
                (det.name, cls, float(det.pixel1), float(det.pixel2)))
    return {k: tuple(v) for k, v in out.items()}


@functools.lru_cache(maxsize=None)
def _mask_digest(cls):
    """Digest of a detector class's module-gap mask (None when it has none)."""
    import hashlib

    mask = cls().mask
    return None if mask is None else hashlib.sha1(np.packbits(np.asarray(mask, bool))).hexdigest()


def infer_detector(shape, *, header_name=None, sensor=None, source="image"):
    """pyFAI detector name for an image: the header's name, else the one detector of that
    shape (and ``sensor`` material, "Si" or "CdTe", when given).

    Detectors are told apart by pixel size and module-gap mask; Si and CdTe versions of
    a Pilatus differ in their masks, so the sensor must be known for those. Raises
    ValueError, naming the candidates, when the shape fits several or none.

    Examples
    --------
    >>> infer_detector((1043, 981), sensor="Si")
    'Pilatus 1M'
    """

    shape = tuple(int(s) for s in shape)
    if header_name:
        det = make_detector(header_name, shape=shape, source=source)
        return detector_fields(det)[0]
    if sensor not in (None, "Si", "CdTe"):
        raise ValueError(f"sensor must be 'Si' or 'CdTe', got {sensor!r}")
    layouts = {}
    for name, cls, pixel1, pixel2 in _detectors_by_shape().get(shape, ()):
        if sensor is not None and ("cdte" in name.lower()) != (sensor == "CdTe"):
            continue
        layouts.setdefault((pixel1, pixel2, _mask_digest(cls)), []).append(name)
    if len(layouts) == 1:
        return next(iter(layouts.values()))[0]
    what = f"shape {shape[0]}x{shape[1]}" + (f" and a {sensor} sensor" if sensor else "")
    if not layouts:
        raise ValueError(f"{source}: no pyFAI detector has {what}; give --detector NAME "
                         "or --pixel-um")
    raise ValueError(f"{source}: {what} fits several detectors ("
                     + ", ".join(sorted(v[0] for v in layouts.values()))
                     + "); give --detector NAME")


def geometry_from_header(meta: dict, *, shape=None, detector=None, sensor=None,
                         source="header"):
    """Detector geometry from parsed header metadata (:func:`gixs.io.headers.parse_header`).

    Parameters
    ----------
    meta : dict
        Keys used: ``wavelength_a``, ``distance_m``, ``beam_center_px`` ((x = column,
        y = row) as the array is read), ``pixel_size_m`` ((y, x)), ``detector``.
    shape : (int, int), optional
        Image shape; used to infer the detector when the header names none.
    detector : str, optional
        Detector name overriding the header's.
    sensor : {"Si", "CdTe"}, optional
        Sensor material (:func:`sensor_from_header`), to tell detectors of one shape apart.

    Returns
    -------
    geometry : DetectorGeometry
        Untilted; the header's distance is taken as the distance along the beam to the
        beam centre (Pilatus ``Detector_distance``) and its beam centre as Fit2D pixel
        coordinates.
    used : list of str
        The metadata keys taken.

    Raises
    ------
    GeometryError
        A needed value is absent (named) or is a detector default (Pilatus writes
        ``Beam_xy (0, 0)`` when nobody set it).

    Examples
    --------
    >>> g, used = geometry_from_header({"wavelength_a": 1.0, "distance_m": 0.2,
    ...     "beam_center_px": (490.0, 520.0), "detector": "Pilatus1M"})
    >>> round(g.dist_m, 3), used
    (0.2, ['wavelength_a', 'distance_m', 'beam_center_px', 'detector'])
    """
    missing = [k for k in ("wavelength_a", "distance_m", "beam_center_px")
               if meta.get(k) is None]
    if missing:
        raise GeometryError(f"{source}: header has no {', '.join(missing)}; give them on "
                            "the command line (--beam-center-px, --distance-mm, "
                            "--energy-kev/--wavelength-a)")
    bx, by = (float(v) for v in meta["beam_center_px"])
    if bx == 0 and by == 0:
        raise GeometryError(f"{source}: header beam centre is (0, 0), the detector's "
                            "default, not a measured centre")
    used = ["wavelength_a", "distance_m", "beam_center_px"]
    name = detector or meta.get("detector")
    if name:
        if not detector:
            used.append("detector")
        det = make_detector(name, shape=shape, source=source)
    elif meta.get("pixel_size_m") is not None:
        py, px = (float(v) * 1e6 for v in meta["pixel_size_m"])
        if shape is not None:
            try:
                det = make_detector(infer_detector(shape, sensor=sensor, source=source),
                                shape=shape)
            except ValueError:
                det = make_detector(pixel_size_um=(py, px), shape=shape)
        else:
            det = make_detector(pixel_size_um=(py, px), shape=shape)
        used.append("pixel_size_m")
    elif shape is not None:
        det = make_detector(infer_detector(shape, sensor=sensor, source=source),
                                shape=shape)
    else:
        raise GeometryError(f"{source}: header names no detector or pixel size; give "
                            "--detector")
    if meta.get("pixel_size_m") is not None and "pixel_size_m" not in used:
        py, px = (float(v) for v in meta["pixel_size_m"])
        if abs(py - det.pixel1) > 1e-9 or abs(px - det.pixel2) > 1e-9:
            raise GeometryError(f"{source}: header pixel size {py * 1e6:g}x{px * 1e6:g} um "
                                f"differs from detector {det.name}'s "
                                f"{det.pixel1 * 1e6:g}x{det.pixel2 * 1e6:g} um")
    geo = geometry_from_beam_center(det, beam_center_px=(bx, by),
                                    distance_mm=float(meta["distance_m"]) * 1e3,
                                    wavelength_a=float(meta["wavelength_a"]))
    return geo, used


__all__ = ["CONVENTIONS", "make_detector", "wavelength_m", "fit2d_rotations",
           "geometry_from_beam_center", "fit2d_view", "format_fit2d", "infer_detector",
           "sensor_from_header",
           "geometry_from_header"]

