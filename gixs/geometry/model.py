"""Detector and grazing-incidence geometry: the one place the conventions live.

Detector geometry
-----------------
The detector geometry is pyFAI's PONI model, kept in pyFAI's SI units:
``dist_m`` (sample to point of normal incidence), ``poni1_m`` / ``poni2_m`` (that
point on the detector, along rows / columns), ``rot1``..``rot3`` (rad) and the
wavelength. A PONI file written by gixs loads in pyFAI unchanged, and pyFAI's in gixs.

Pixel positions follow pyFAI's ``calc_pos_zyx``: in that frame ``z`` is along the
incident beam, ``y`` grows with the row index and ``x`` with the column index. They are
computed here with numpy from the PONI (:meth:`DetectorGeometry.lab_positions`): a pixel
centre at ``(p1, p2)`` on the detector (m, pyFAI's float32 pixel centres) is rotated by
``R = R3(rot3) R2(rot2) R1(rot1)`` (pyFAI's ``rotation_matrix``) applied to
``(p1 - poni1, p2 - poni2, dist)``, giving ``(y, x, z)``. The solid-angle factor is
``cos^3`` of the incidence on the (flat) detector, ``cos = dist / sqrt(dist^2 + (p1 - poni1)^2
+ (p2 - poni2)^2)``, and the polarization factor ``P = (1 + cos^2 2th - f cos(2 chi)
sin^2 2th) / 2`` with pyFAI's ``chi = atan2(y, x)``, i.e. ``P = (1 + (z^2 - f (x^2 -
y^2)) / r^2) / 2``. Only the detector's pixel layout of a named detector (pixel size,
binning, mask, gaps) comes from pyFAI; a generic detector given by its pixel size needs
no pyFAI at all (tests/geometry/test_positions.py checks every formula against pyFAI).

Grazing incidence
-----------------
Lab frame of the sample: ``b`` the beam direction, ``v`` the image direction of the
sample normal and ``h`` the in-plane direction across the beam, both given by the
sample orientation code (EXIF 1-8, as in pyFAI; 1 = normal towards increasing row
index, q_xy growing with the column index):

======  ======  ======
code    h       v
======  ======  ======
1       +x      +y
2       -x      +y
3       -x      -y
4       +x      -y
5       -y      -x
6       -y      +x
7       +y      +x
8       +y      -x
======  ======  ======

With incidence angle ``a_i`` and tilt ``t`` (roll about the beam; positive turns the
normal towards ``-h``) the surface normal and in-plane axis are::

    n  = cos(a_i) * (cos(t) v - sin(t) h) - sin(a_i) b
    h' = cos(t) h + sin(t) v

For a pixel seen in direction ``u`` (unit vector), k0 = 2 pi / lambda,
``q = k0 (u - b)``; ``q_z = q . n``, ``q_xy = sign(q . h') sqrt(|q|^2 - q_z^2)``,
the exit angle ``a_f = asin(u . n)``. This equals science.md's
``q_x = k0 (cos a_f cos 2th_f - cos a_i), q_y = k0 cos a_f sin 2th_f,
q_z = k0 (sin a_f + sin a_i)``, and pyFAI's FiberIntegrator ``qip`` / ``qoop``
(checked in tests/test_gi.py). ``chi = atan2(q_xy, q_z)`` (deg in files): 0 along
the surface normal, +-90 deg in the film plane.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import warnings

import numpy as np

from gixs.errors import GeometryError, GixsWarning
from gixs.io.jsonout import to_jsonable
from gixs.units import HC_KEV_A

#: (h, v) image axes of each EXIF sample orientation code: (axis, sign) with axis "x"
#: (column direction) or "y" (row direction).
ORIENTATION_AXES = {
    1: (("x", 1), ("y", 1)),
    2: (("x", -1), ("y", 1)),
    3: (("x", -1), ("y", -1)),
    4: (("x", 1), ("y", -1)),
    5: (("y", -1), ("x", -1)),
    6: (("y", -1), ("x", 1)),
    7: (("y", 1), ("x", 1)),
    8: (("y", 1), ("x", -1)),
}

_PONI_REQUIRED = ("distance", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")


@dataclasses.dataclass(frozen=True)
class DetectorGeometry:
    """pyFAI PONI geometry (SI units: metres and radians).

    Parameters
    ----------
    dist_m, poni1_m, poni2_m : float
        Sample-detector distance and point of normal incidence (m).
    rot1, rot2, rot3 : float
        Detector rotations (rad), pyFAI convention.
    wavelength_m : float
        X-ray wavelength (m).
    detector : str
        pyFAI detector name ("Pilatus1M", "Rayonix SX165", ...) or "Detector" for a
        generic one defined by ``detector_config``.
    detector_config : str
        JSON of pyFAI's detector configuration (pixel sizes, binning, orientation...).

    Examples
    --------
    >>> import json
    >>> g = DetectorGeometry(0.3, 0.01, 0.02, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 1e-4, "pixel2": 1e-4,
    ...                                  "max_shape": [200, 300]}))
    >>> round(g.wavelength_a, 6), round(g.energy_kev, 4)
    (1.0, 12.3984)
    >>> g.generic_detector()["max_shape"]
    [200, 300]
    """

    dist_m: float
    poni1_m: float
    poni2_m: float
    rot1: float
    rot2: float
    rot3: float
    wavelength_m: float
    detector: str = "Detector"
    detector_config: str = "{}"

    @property
    def wavelength_a(self) -> float:
        """Wavelength (angstrom)."""
        return self.wavelength_m * 1e10

    @property
    def energy_kev(self) -> float:
        """Photon energy (keV)."""
        return HC_KEV_A / self.wavelength_a

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_integrator(cls, ai) -> "DetectorGeometry":
        """Build from a pyFAI ``AzimuthalIntegrator`` (or any pyFAI Geometry)."""
        name, config = detector_fields(ai.detector)
        return cls(
            dist_m=float(ai.dist), poni1_m=float(ai.poni1), poni2_m=float(ai.poni2),
            rot1=float(ai.rot1), rot2=float(ai.rot2), rot3=float(ai.rot3),
            wavelength_m=float(ai.wavelength), detector=name, detector_config=config,
        )

    def make_detector(self):
        """A fresh pyFAI detector object for this geometry."""
        import pyFAI.detectors

        from gixs.io.decode import library_logs

        config = json.loads(self.detector_config)
        with library_logs("pyFAI", f"detector {self.detector}"):
            return pyFAI.detectors.detector_factory(self.detector, config or None)

    def make_integrator(self, fiber: bool = False):
        """A fresh pyFAI integrator (``FiberIntegrator`` when ``fiber``)."""
        if fiber:
            from pyFAI.integrator.fiber import FiberIntegrator as cls_
        else:
            from pyFAI.integrator.azimuthal import AzimuthalIntegrator as cls_
        return cls_(dist=self.dist_m, poni1=self.poni1_m, poni2=self.poni2_m,
                    rot1=self.rot1, rot2=self.rot2, rot3=self.rot3,
                    wavelength=self.wavelength_m, detector=self.make_detector())

    def shape(self):
        """Detector shape (rows, columns) or None when the detector does not say."""
        shape = self.make_detector().shape
        return tuple(int(s) for s in shape) if shape is not None else None

    def for_image_shape(self, shape, source="image") -> "DetectorGeometry":
        """Return a geometry whose detector matches an image of ``shape``.

        A shape that is an integer fraction of the detector's full shape is taken as
        binning (a 2048x2048 image on a 4096x4096 Rayonix SX165 is 2x2 binned). Any
        other mismatch raises :class:`GeometryError` naming ``source``.
        """
        shape = tuple(int(s) for s in shape)
        generic = self.generic_detector()
        if generic is not None:  # no pyFAI needed
            full = generic.get("max_shape")
            if full is None:
                return dataclasses.replace(self, detector_config=json.dumps(
                    to_jsonable({**generic, "max_shape": list(shape)}), sort_keys=True))
            if tuple(int(v) for v in full) == shape:
                return self
            raise GeometryError(
                f"{source}: image shape {shape[0]}x{shape[1]} does not match the PONI's "
                f"detector ({int(full[0])}x{int(full[1])} pixels of "
                f"{generic['pixel1'] * 1e6:g}x{generic['pixel2'] * 1e6:g} um); give a PONI "
                "made for this image size")
        det = self.make_detector()
        if det.shape is None or tuple(det.shape) == shape:
            if det.shape is None:
                det.shape = det.max_shape = shape
                return dataclasses.replace(self, detector_config=json.dumps(
                    to_jsonable({**json.loads(self.detector_config), "max_shape": list(shape)}),
                    sort_keys=True))
            return self
        full = tuple(int(s) for s in (det.max_shape or det.shape))
        if self.detector == "Detector":  # the PONI states pixel size and shape: no guess
            raise GeometryError(
                f"{source}: image shape {shape[0]}x{shape[1]} does not match the PONI's "
                f"detector ({full[0]}x{full[1]} pixels of {det.pixel1 * 1e6:g}x"
                f"{det.pixel2 * 1e6:g} um); give a PONI made for this image size")
        if full[0] % shape[0] == 0 and full[1] % shape[1] == 0:
            binning = (full[0] // shape[0], full[1] // shape[1])
            try:
                det.binning = binning
            except Exception as exc:  # pyFAI refuses binning for this detector
                raise GeometryError(f"{source}: image shape {shape} does not fit detector "
                                    f"{self.detector} of shape {full}: {exc}") from None
            if tuple(det.shape) == shape:
                warnings.warn(f"{source}: image {shape[0]}x{shape[1]} on detector "
                              f"{self.detector} ({full[0]}x{full[1]}) taken as {binning[0]}x"
                              f"{binning[1]} binning: pixel size {det.pixel1 * 1e6:g}x"
                              f"{det.pixel2 * 1e6:g} um", GixsWarning, stacklevel=2)
                name, config = detector_fields(det)
                return dataclasses.replace(self, detector=name, detector_config=config)
        raise GeometryError(
            f"{source}: image shape {shape[0]}x{shape[1]} does not fit detector "
            f"{self.detector} ({full[0]}x{full[1]} pixels, nor an integer binning of it)")

    # -- pixel positions and corrections (numpy, pyFAI's formulas) ---------------------
    def generic_detector(self):
        """The pixel layout of a generic flat detector (``pixel1``, ``pixel2`` in m,
        ``max_shape``, ``orientation``) as a dict, or None when the detector needs pyFAI
        (a named detector, a spline, binning or any other setting)."""
        if self.detector != "Detector":
            return None
        config = json.loads(self.detector_config)
        if not set(config) <= {"pixel1", "pixel2", "max_shape", "orientation"}:
            return None
        if config.get("pixel1") is None or config.get("pixel2") is None:
            return None
        if int(config.get("orientation", 3) or 3) not in (1, 2, 3, 4):
            return None
        return config

    def pixel_coordinates(self, shape=None):
        """Pixel centres on the detector plane (m): ``(p1, p2)``, broadcastable to the
        image shape (``p1`` a column, ``p2`` a row for a generic detector).

        pyFAI's values exactly: float32 centres ``(index + 0.5) * pixel``, counted from
        the corner that the detector orientation (1-4) names (3, the default, is the
        array's own order). Raises GeometryError for a non-flat detector.
        """
        config = self.generic_detector()
        if config is not None:
            shape = shape or config.get("max_shape")
            if shape is None:
                raise GeometryError("generic detector without a shape: give the image shape")
            n1, n2 = (int(v) for v in shape)
            orient = int(config.get("orientation", 3) or 3)
            i1 = np.arange(n1, dtype=np.float32)
            i2 = np.arange(n2, dtype=np.float32)
            if orient in (1, 2):  # rows counted from the other end
                i1 = i1[::-1].copy()
            if orient in (1, 4):  # columns counted from the other end
                i2 = i2[::-1].copy()
            p1 = float(config["pixel1"]) * (i1 + np.float32(0.5))
            p2 = float(config["pixel2"]) * (i2 + np.float32(0.5))
            return p1[:, None], p2[None, :]
        det = self.make_detector()
        p1, p2, p3 = det.calc_cartesian_positions()
        if p3 is not None:
            raise GeometryError(f"detector {self.detector} is not flat: gixs handles flat "
                                "detectors only")
        return p1, p2

    def rotation_matrix(self):
        """pyFAI's detector rotation ``R3(rot3) R2(rot2) R1(rot1)`` (3x3), acting on
        ``(p1, p2, p3)`` detector coordinates to give ``(y, x, z)`` lab ones."""
        c1, s1 = math.cos(self.rot1), math.sin(self.rot1)
        c2, s2 = math.cos(self.rot2), math.sin(self.rot2)
        c3, s3 = math.cos(self.rot3), math.sin(self.rot3)
        r1 = np.array([[1.0, 0.0, 0.0], [0.0, c1, s1], [0.0, -s1, c1]])
        r2 = np.array([[c2, 0.0, -s2], [0.0, 1.0, 0.0], [s2, 0.0, c2]])
        r3 = np.array([[c3, -s3, 0.0], [s3, c3, 0.0], [0.0, 0.0, 1.0]])
        return r3 @ r2 @ r1

    def lab_positions(self, shape=None, pixels=None):
        """Pixel centres in the lab frame (m): ``(z, y, x)`` float64 arrays of the image
        shape, as pyFAI's ``calc_pos_zyx(corners=False)`` gives them; with ``pixels``
        ``(rows, cols)`` (integer index arrays), only at those pixels.

        Examples
        --------
        >>> import json
        >>> g = DetectorGeometry(0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-10, "Detector",
        ...                      json.dumps({"pixel1": 1e-3, "pixel2": 1e-3,
        ...                                  "max_shape": [2, 3]}))
        >>> z, y, x = g.lab_positions()
        >>> float(z[0, 0]), round(float(y[1, 0]), 6), round(float(x[0, 2]), 6)
        (0.5, 0.0015, 0.0025)
        >>> [round(float(v[0]), 6) for v in g.lab_positions(pixels=([1], [2]))]
        [0.5, 0.0015, 0.0025]
        """
        p1, p2 = self.pixel_coordinates(shape)
        if pixels is not None:
            full = np.broadcast_shapes(np.shape(p1), np.shape(p2))
            rows, cols = (np.asarray(v, np.intp) for v in pixels)
            p1, p2 = np.broadcast_to(p1, full)[rows, cols], np.broadcast_to(p2, full)[rows, cols]
        t1 = np.asarray(p1, np.float64) - self.poni1_m
        t2 = np.asarray(p2, np.float64) - self.poni2_m
        rot = self.rotation_matrix()
        out = []
        for row in (rot[2], rot[0], rot[1]):  # z, y, x
            out.append(row[0] * t1 + row[1] * t2 + row[2] * self.dist_m)
        full = np.broadcast_shapes(*(o.shape for o in out))
        return tuple(np.broadcast_to(o, full).copy() if o.shape != full else o for o in out)

    def solid_angle(self, shape=None):
        """Solid angle of each pixel relative to one at the PONI: ``cos^3`` of the ray's
        incidence on the flat detector (pyFAI's ``solidAngleArray()``, in float64)."""
        p1, p2 = self.pixel_coordinates(shape)
        t1 = np.asarray(p1, np.float64) - self.poni1_m
        t2 = np.asarray(p2, np.float64) - self.poni2_m
        d2 = self.dist_m * self.dist_m
        return (d2 / (d2 + t1 * t1 + t2 * t2)) ** 1.5

    def polarization(self, factor, positions=None, shape=None):
        """pyFAI's polarization factor ``(1 + cos^2 2th - f cos 2chi sin^2 2th) / 2`` of each
        pixel (``factor`` f in -1..1; 0.99 for a horizontally polarized synchrotron beam),
        from ``positions`` ``(z, y, x)`` (:meth:`lab_positions`, computed when omitted)."""
        z, y, x = positions if positions is not None else self.lab_positions(shape)
        # in place, in the order of 0.5 (1 + (z^2 - f (x^2 - y^2)) / r^2): two image-size
        # temporaries instead of seven (the same floating-point result)
        r2 = x * x
        r2 += y * y
        r2 += z * z
        out = x * x
        out -= y * y
        out *= -float(factor)
        out += z * z
        out /= r2
        out += 1.0
        out *= 0.5
        return out

    def fit2d(self) -> dict:
        """Fit2D-style parameters: direct-beam distance (mm), centre (pixels), tilt (deg)."""
        ai = self.make_integrator()
        return {k: float(v) for k, v in ai.getFit2D().items() if isinstance(v, (int, float))}


@dataclasses.dataclass(frozen=True)
class GIGeometry:
    """Grazing-incidence settings of the sample.

    Parameters
    ----------
    incidence : float
        Incidence angle alpha_i (rad), 0 <= alpha_i < 10 deg.
    tilt : float
        Sample tilt, a roll about the beam (rad); positive turns the normal towards -h.
    orientation : int
        EXIF sample orientation code 1-8 (see module docstring).
    critical_angle : float or None
        Film critical angle alpha_c (rad) for the refraction-corrected q_z, or None.

    Examples
    --------
    >>> gi = GIGeometry.from_degrees(incidence_deg=0.2, tilt_deg=-0.5, orientation=1)
    >>> round(gi.incidence, 7)
    0.0034907
    >>> {k: round(v, 6) if isinstance(v, float) else v for k, v in gi.as_dict().items()}
    {'incidence_deg': 0.2, 'tilt_deg': -0.5, 'sample_orientation': 1, 'critical_angle_deg': None}
    >>> GIGeometry(orientation=9)
    Traceback (most recent call last):
    ...
    ValueError: orientation must be an EXIF code 1-8, got 9
    """

    incidence: float = 0.0
    tilt: float = 0.0
    orientation: int = 1
    critical_angle: float | None = None

    def __post_init__(self):
        check_incidence(self.incidence)
        if not -math.pi / 2 < float(self.tilt) < math.pi / 2:
            raise ValueError(f"tilt must lie within +-90 deg, got {math.degrees(self.tilt):g} deg")
        if self.orientation not in ORIENTATION_AXES:
            raise ValueError(f"orientation must be an EXIF code 1-8, got {self.orientation!r}")
        if self.critical_angle is not None:
            ac = float(self.critical_angle)
            if not 0 <= ac < math.radians(2):
                raise ValueError("critical_angle must lie within 0-2 deg, got "
                                 f"{math.degrees(ac):g} deg")
            if self.incidence < ac:
                warnings.warn(f"incidence {math.degrees(self.incidence):.3f} deg is below the "
                              f"critical angle {math.degrees(ac):.3f} deg: the beam does not "
                              "enter the film (evanescent wave)", GixsWarning, stacklevel=3)

    @classmethod
    def from_degrees(cls, incidence_deg=0.0, tilt_deg=0.0, orientation=1,
                     critical_angle_deg=None) -> "GIGeometry":
        """Build from angles in degrees (as users and the command line give them)."""
        for name, val in (("incidence_deg", incidence_deg), ("tilt_deg", tilt_deg)):
            if val is None or not np.isfinite(float(val)):
                raise ValueError(f"{name} must be a finite number of degrees, got {val!r}")
        check_incidence(math.radians(float(incidence_deg)), name="incidence_deg",
                        shown=float(incidence_deg))
        return cls(incidence=math.radians(float(incidence_deg)),
                   tilt=math.radians(float(tilt_deg)), orientation=int(orientation),
                   critical_angle=None if critical_angle_deg is None
                   else math.radians(float(critical_angle_deg)))

    def as_dict(self) -> dict:
        """Settings in degrees, for provenance."""
        return {"incidence_deg": math.degrees(self.incidence),
                "tilt_deg": math.degrees(self.tilt),
                "sample_orientation": self.orientation,
                "critical_angle_deg": None if self.critical_angle is None
                else math.degrees(self.critical_angle)}


def check_incidence(incidence, name="incidence", shown=None):
    """Raise ValueError unless 0 <= incidence < 10 deg (given in rad).

    Parameters
    ----------
    incidence : float
        Incidence angle (rad).
    name : str
        Argument name used in the message.
    shown : float, optional
        Value shown in the message (deg); ``degrees(incidence)`` when omitted.

    Examples
    --------
    >>> import math
    >>> check_incidence(math.radians(0.3))
    >>> check_incidence(math.radians(12.0), name="incidence_deg", shown=12.0)
    Traceback (most recent call last):
    ...
    ValueError: incidence_deg must lie within 0-10 deg (grazing incidence), got 12.0 deg
    """
    if not (np.isfinite(incidence) and 0 <= incidence < math.radians(10)):
        shown = math.degrees(incidence) if shown is None else shown
        raise ValueError(f"{name} must lie within 0-10 deg (grazing incidence), "
                         f"got {shown!r} deg")


# -- PONI files -------------------------------------------------------------------
def load_poni(path) -> DetectorGeometry:
    """Read a pyFAI PONI file, checking that every field is present.

    A PONI of a generic flat detector (pixel sizes, optional shape and orientation; no
    spline, parallax or detector name) is parsed here without importing pyFAI, to the
    same :class:`DetectorGeometry` pyFAI's reader gives; any other goes through
    ``pyFAI.load``.

    Raises
    ------
    GeometryError
        The file is missing, unreadable, or lacks a field (named in the message).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "g.poni")
    >>> _ = open(path, "w").write(
    ...     "poni_version: 2\\nDetector: Detector\\n"
    ...     'Detector_config: {"pixel1": 7.5e-05, "pixel2": 7.5e-05}\\n'
    ...     "Distance: 0.25\\nPoni1: 0.01\\nPoni2: 0.02\\nRot1: 0\\nRot2: 0\\nRot3: 0\\n"
    ...     "Wavelength: 1.0332e-10\\n")
    >>> g = load_poni(path)
    >>> g.dist_m, g.poni2_m, round(g.wavelength_a, 4), g.generic_detector()["pixel1"]
    (0.25, 0.02, 1.0332, 7.5e-05)
    >>> _ = open(path, "w").write("Distance: 0.25\\n")
    >>> load_poni(path)
    Traceback (most recent call last):
    ...
    gixs.errors.GeometryError: ...g.poni: PONI file lacks field(s) poni1, poni2, rot1, rot2, rot3, wavelength, Detector (or PixelSize1/PixelSize2)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise GeometryError(f"{path}: PONI file not found")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise GeometryError(f"{path}: cannot read PONI file ({exc.strerror})") from None
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
    keys = set(fields)
    missing = [k for k in _PONI_REQUIRED if k not in keys]
    if "detector" not in keys and not {"pixelsize1", "pixelsize2"} <= keys:
        missing.append("Detector (or PixelSize1/PixelSize2)")
    if missing:
        raise GeometryError(f"{path}: PONI file lacks field(s) {', '.join(missing)}")
    geometry = _generic_poni(fields, path)
    if geometry is not None:
        return geometry
    import pyFAI

    from gixs.io.decode import library_logs

    try:
        with library_logs("pyFAI", path):
            ai = pyFAI.load(path)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(text) > 200:  # pyFAI lists every detector it knows
            text = text[:200] + "..."
        raise GeometryError(f"{path}: pyFAI cannot read this PONI file ({text})") from None
    check_poni_values(ai, path)
    return DetectorGeometry.from_integrator(ai)


def _generic_poni(fields, path):
    """DetectorGeometry of a generic-detector PONI (lower-cased ``fields``), or None
    when the file needs pyFAI's reader."""
    version = fields.get("poni_version", "1")
    try:
        version = float(version)
        if version < 2:
            if "detector" in fields or fields.get("splinefile", "None").lower() != "none":
                return None
            config = {"pixel1": float(fields["pixelsize1"]),
                      "pixel2": float(fields["pixelsize2"]), "orientation": 3}
        elif version <= 2.1:
            if fields.get("detector") != "Detector" or "parallax" in fields:
                return None
            config = json.loads(fields.get("detector_config") or "{}")
            if not isinstance(config, dict) or not set(config) <= {
                    "pixel1", "pixel2", "max_shape", "orientation"}:
                return None
            config = {"pixel1": float(config["pixel1"]), "pixel2": float(config["pixel2"]),
                      "orientation": int(config.get("orientation", 3)),
                      **({"max_shape": [int(v) for v in config["max_shape"]]}
                         if config.get("max_shape") is not None else {})}
            if config["orientation"] not in (1, 2, 3, 4):
                return None
        else:
            return None
        values = {name: float(fields[name.lower()]) for name in
                  ("Wavelength", "Distance", "Poni1", "Poni2", "Rot1", "Rot2", "Rot3")}
    except (KeyError, TypeError, ValueError):
        return None  # pyFAI's reader gives the error message
    ai = types.SimpleNamespace(wavelength=values["Wavelength"], dist=values["Distance"],
                               poni1=values["Poni1"], poni2=values["Poni2"],
                               rot1=values["Rot1"], rot2=values["Rot2"], rot3=values["Rot3"])
    check_poni_values(ai, path)
    return DetectorGeometry(dist_m=ai.dist, poni1_m=ai.poni1, poni2_m=ai.poni2, rot1=ai.rot1,
                            rot2=ai.rot2, rot3=ai.rot3, wavelength_m=ai.wavelength,
                            detector="Detector",
                            detector_config=json.dumps(config, sort_keys=True))


#: Plausible ranges of PONI values (SI units, as PONI files hold them).
PONI_RANGES = {
    "Wavelength": (1e-12, 2e-9, "m", "0.01-20 A"),
    "Distance": (1e-3, 50.0, "m", "1 mm - 50 m"),
    "Poni1": (-10.0, 10.0, "m", "+-10 m"),
    "Poni2": (-10.0, 10.0, "m", "+-10 m"),
    "Rot1": (-math.pi, math.pi, "rad", "+-pi rad"),
    "Rot2": (-math.pi, math.pi, "rad", "+-pi rad"),
    "Rot3": (-math.pi, math.pi, "rad", "+-pi rad"),
}


def check_poni_values(ai, path="PONI") -> None:
    """GeometryError unless a pyFAI geometry's values make physical sense.

    The wavelength must lie within 0.01-20 A (given in metres: a PONI value of 1.03 is a
    wavelength written in angstrom), the distance within 1 mm - 50 m, the PONI within
    +-10 m and the rotations within +-pi rad (a larger value is degrees written as rad);
    no value may be NaN.
    """
    values = {"Wavelength": ai.wavelength, "Distance": ai.dist, "Poni1": ai.poni1,
              "Poni2": ai.poni2, "Rot1": ai.rot1, "Rot2": ai.rot2, "Rot3": ai.rot3}
    for name, value in values.items():
        lo, hi, unit, shown = PONI_RANGES[name]
        if value is None or not np.isfinite(float(value)):
            raise GeometryError(f"{path}: PONI {name} is {value!r}, expected a finite number "
                                f"of {unit} ({shown})")
        value = float(value)
        if lo <= value <= hi:
            continue
        hint = ""
        if name == "Wavelength" and 0.01 <= value <= 20:
            hint = f"; {value:g} looks like angstrom, write {value * 1e-10:g} (m)"
        elif name.startswith("Rot") and abs(value) <= 360:
            hint = f"; {value:g} looks like degrees, write {math.radians(value):.6g} (rad)"
        elif name == "Distance" and 10 <= value <= 50000:
            hint = f"; {value:g} looks like mm, write {value / 1000:g} (m)"
        raise GeometryError(f"{path}: PONI {name} {value:g} {unit} is outside the plausible "
                            f"range {shown}{hint}")


def write_poni(geometry: DetectorGeometry, path, comment: str | None = None) -> None:
    """Write ``geometry`` as a pyFAI PONI file, atomically (temp file then rename).

    Parameters
    ----------
    geometry : DetectorGeometry
        Geometry to write (SI units, as PONI files hold them).
    path : str or path
        Destination PONI file.
    comment : str, optional
        Text written as ``#`` comment lines at the top.

    Examples
    --------
    >>> import json, tempfile, os
    >>> g = DetectorGeometry(0.3, 0.01, 0.02, 0.001, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 1e-4, "pixel2": 1e-4}))
    >>> path = os.path.join(tempfile.mkdtemp(), "out.poni")
    >>> write_poni(g, path, comment="made by a doctest")
    >>> open(path).readline()
    '# made by a doctest\\n'
    >>> back = load_poni(path)
    >>> (back.dist_m, back.rot1, back.wavelength_m) == (0.3, 0.001, 1e-10)
    True
    """
    from gixs.io.frames import atomic_path

    with atomic_path(path) as tmp:
        os.unlink(tmp)  # pyFAI appends; start from no file
        geometry.make_integrator().write(tmp)
        if comment:
            with open(tmp, encoding="utf-8") as fh:
                body = fh.read()
            lines = "".join(f"# {c}\n" for c in comment.splitlines())
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(lines + body)


def detector_fields(det):
    """(name, JSON config) of a pyFAI detector, as :class:`DetectorGeometry` stores them:
    the pyFAI name of a known detector, "Detector" for a generic one.

    Examples
    --------
    >>> import pyFAI.detectors
    >>> name, config = detector_fields(pyFAI.detectors.detector_factory("Pilatus1M"))
    >>> name, json.loads(config)["pixel1"]
    ('Pilatus 1M', 0.000172)
    >>> name, config = detector_fields(pyFAI.detectors.Detector(1e-4, 2e-4))
    >>> name, json.loads(config)["pixel2"]
    ('Detector', 0.0002)
    """

    name = "Detector" if det.__class__.__name__ == "Detector" else det.name
    return name, json.dumps(to_jsonable(det.get_config()), sort_keys=True)


