"""Pure grazing-incidence maths: per-pixel q_xy, q_z, |q|, chi and exit angle.

The conventions (axes, signs, orientation codes, tilt) are written once, in
:mod:`gixs.geometry.model`; this module only applies them. All q in 1/A, angles in rad.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gixs.geometry.model import ORIENTATION_AXES, DetectorGeometry, GIGeometry


@dataclasses.dataclass(frozen=True)
class PixelQ:
    """Per-pixel scattering coordinates, each an array of the image's shape.

    Attributes
    ----------
    qxy, qz, q : ndarray
        In-plane (signed), out-of-plane and total scattering vector (1/A).
        ``qz`` is refraction-corrected when the GI settings give a critical angle.
    chi : ndarray
        atan2(q_xy, q_z) (rad): 0 along the surface normal, +-pi/2 in the film plane.
    exit_angle : ndarray
        alpha_f, the exit angle above the sample surface (rad).
    two_theta : ndarray
        Scattering angle 2theta (rad).

    Examples
    --------
    >>> z = np.zeros((1, 2))
    >>> pq = PixelQ(qxy=z, qz=z + 0.1, q=z + 0.1, chi=z, exit_angle=z, two_theta=z)
    >>> pq.qz.tolist()
    [[0.1, 0.1]]
    """

    qxy: np.ndarray
    qz: np.ndarray
    q: np.ndarray
    chi: np.ndarray
    exit_angle: np.ndarray
    two_theta: np.ndarray


def sample_axes(gi: GIGeometry):
    """Unit vectors (b, h', n) in pyFAI's (x, y, z) lab frame for ``gi``.

    ``b`` beam, ``h'`` in-plane axis across the beam, ``n`` surface normal.

    Parameters
    ----------
    gi : GIGeometry
        Incidence (rad), tilt (rad) and sample orientation code.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        ``b``, ``h'`` and ``n``, unit 3-vectors in (x, y, z) order.

    Examples
    --------
    >>> b, hp, n = sample_axes(GIGeometry.from_degrees(incidence_deg=0.2))
    >>> b.tolist(), hp.tolist(), np.round(n, 5).tolist()
    ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.99999, -0.00349])
    >>> [a.tolist() for a in sample_axes(GIGeometry(orientation=3))[1:]]
    [[-1.0, -0.0, -0.0], [0.0, -1.0, 0.0]]
    """
    unit = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0])}
    (ha, hs), (va, vs) = ORIENTATION_AXES[gi.orientation]
    h = hs * unit[ha]
    v = vs * unit[va]
    b = np.array([0, 0, 1.0])
    ct, st = math.cos(gi.tilt), math.sin(gi.tilt)
    ca, sa = math.cos(gi.incidence), math.sin(gi.incidence)
    n = ca * (ct * v - st * h) - sa * b
    hp = ct * h + st * v
    return b, hp, n


def refract(angle, critical_angle):
    """Angle inside a film of critical angle a_c: sign(a) sqrt(a^2 - a_c^2), 0 below a_c.

    Below a_c the transmitted wave is evanescent; the real part (0) is used, so those
    pixels collapse onto the q_z of the refracted incident beam alone.

    Parameters
    ----------
    angle : float or array_like
        Angle to the surface outside the film (rad).
    critical_angle : float
        Critical angle a_c of the film (rad).

    Returns
    -------
    ndarray
        Angle inside the film (rad).

    Examples
    --------
    >>> import math
    >>> inside = refract(np.radians([0.1, 0.2, -0.3]), math.radians(0.15))
    >>> np.round(np.degrees(inside), 4).tolist()
    [0.0, 0.1323, -0.2598]
    """
    angle = np.asarray(angle, dtype=float)
    return np.sign(angle) * np.sqrt(np.clip(angle ** 2 - critical_angle ** 2, 0, None))


def pixel_q(geometry: DetectorGeometry, gi: GIGeometry, shape=None, ai=None,
            positions=None, fields=None) -> PixelQ:
    """Scattering coordinates of every pixel centre.

    Parameters
    ----------
    geometry : DetectorGeometry
        Detector geometry (PONI).
    gi : GIGeometry
        Incidence, tilt, orientation and optional critical angle.
    shape : tuple, optional
        Image shape; the detector's own shape when omitted.
    ai : pyFAI integrator, optional
        Take the pixel positions from this pyFAI integrator (``calc_pos_zyx``) instead of
        :meth:`DetectorGeometry.lab_positions` (the same numbers; tests compare them).
    positions : tuple of ndarray, optional
        ``(z, y, x)`` pixel positions already computed by
        :meth:`DetectorGeometry.lab_positions` (m).
    fields : sequence of str, optional
        Keep only these of :class:`PixelQ`'s arrays (the others are None; the same
        numbers for those kept): 32 MB less per float64 array left out of a 4 Mpx frame.

    Returns
    -------
    PixelQ
        Arrays of the image shape, q in 1/A.

    Examples
    --------
    A 3x4 generic detector of 1 mm pixels at 0.2 m, 1 A beam, 0.2 deg incidence:

    >>> import json
    >>> g = DetectorGeometry(0.2, -0.0005, 0.0015, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 1e-3, "pixel2": 1e-3,
    ...                                  "max_shape": [3, 4]}))
    >>> pq = pixel_q(g, GIGeometry.from_degrees(incidence_deg=0.2))
    >>> np.round(pq.qz[:, 1], 4).tolist(), np.round(pq.qxy[0], 4).tolist()
    ([0.0314, 0.0628, 0.0942], [-0.0314, 0.0, 0.0314, 0.0628])
    >>> bool(np.allclose(pq.q, 4 * math.pi / 1.0 * np.sin(pq.two_theta / 2)))
    True
    >>> bool(np.allclose(pq.qxy ** 2 + pq.qz ** 2, pq.q ** 2))
    True
    """
    if positions is not None:
        z, y, x = positions
    elif ai is not None:
        z, y, x = ai.calc_pos_zyx(corners=False)
    else:
        geom = geometry.for_image_shape(shape) if shape is not None else geometry
        z, y, x = geom.lab_positions()
    k0 = 2 * math.pi / geometry.wavelength_a
    _, hp, n = sample_axes(gi)
    full = np.broadcast_shapes(np.shape(z), np.shape(y), np.shape(x))
    z, y, x = (np.ascontiguousarray(np.broadcast_to(np.asarray(v, np.float64), full))
               .reshape(-1) for v in (z, y, x))
    keep = _PQ_FIELDS if fields is None else tuple(fields)
    unknown = set(keep) - set(_PQ_FIELDS)
    if unknown:
        raise ValueError(f"fields: unknown PixelQ arrays {sorted(unknown)}; expected some "
                         f"of {_PQ_FIELDS}")
    out = {name: np.empty(z.size) for name in keep}
    scratch = {name: np.empty(min(z.size, _PQ_BLOCK)) for name in _PQ_FIELDS
               if name not in out}  # one block's worth for the arrays not kept
    refr = None
    if gi.critical_angle:
        refr = (gi.critical_angle, float(refract(gi.incidence, gi.critical_angle)))
    # blocks of pixels small enough to stay in the CPU cache (elementwise: the same
    # numbers as whole-array expressions, 4-5x faster on 4 Mpx)
    for lo in range(0, z.size, _PQ_BLOCK):
        sl = slice(lo, lo + _PQ_BLOCK)
        m = min(_PQ_BLOCK, z.size - lo)
        _pixel_q_block(z[sl], y[sl], x[sl], k0, hp, n, refr,
                       {**{name: a[sl] for name, a in out.items()},
                        **{name: a[:m] for name, a in scratch.items()}})
    return PixelQ(**{name: out[name].reshape(full) if name in out else None
                     for name in _PQ_FIELDS})


#: PixelQ's arrays, and the pixels :func:`pixel_q` computes at a time.
_PQ_FIELDS = ("qxy", "qz", "q", "chi", "exit_angle", "two_theta")
_PQ_BLOCK = 1 << 13


def _pixel_q_block(z, y, x, k0, hp, n, refr, o):
    """The formulas of the module docstring on one block of pixels (flat arrays), into the
    arrays of ``o``; ``refr`` (critical angle, refracted incidence) or None."""
    r = x * x
    t = y * y
    r += t
    np.multiply(z, z, out=t)
    r += t
    np.sqrt(r, out=r)
    ux, uy, uz = x / r, y / r, z / r
    exit_angle = o["exit_angle"]
    np.multiply(ux, n[0], out=exit_angle)
    np.multiply(uy, n[1], out=t)
    exit_angle += t
    np.multiply(uz, n[2], out=t)
    exit_angle += t
    np.clip(exit_angle, -1, 1, out=exit_angle)
    np.arcsin(exit_angle, out=exit_angle)  # a_f = asin(u . n)
    two_theta = o["two_theta"]
    np.clip(uz, -1, 1, out=two_theta)
    np.arccos(two_theta, out=two_theta)
    qx, qy, qzl = ux, uy, uz  # q = k0 (u - b), b = +z
    qx *= k0
    qy *= k0
    qzl -= 1.0
    qzl *= k0
    q = o["q"]
    np.multiply(qx, qx, out=q)
    np.multiply(qy, qy, out=t)
    q += t
    np.multiply(qzl, qzl, out=t)
    q += t  # |q|^2 for now
    qz = o["qz"]
    np.multiply(qx, n[0], out=qz)
    np.multiply(qy, n[1], out=t)
    qz += t
    np.multiply(qzl, n[2], out=t)
    qz += t
    qh = qx  # q . h', only its sign is kept
    qh *= hp[0]
    np.multiply(qy, hp[1], out=t)
    qh += t
    np.multiply(qzl, hp[2], out=t)
    qh += t
    negative = qh < 0
    qxy = o["qxy"]
    np.multiply(qz, qz, out=qxy)
    np.subtract(q, qxy, out=qxy)
    np.clip(qxy, 0, None, out=qxy)
    np.sqrt(qxy, out=qxy)
    np.negative(qxy, out=qxy, where=negative)
    np.sqrt(q, out=q)
    if refr is not None:
        af_r = refract(exit_angle, refr[0])
        qz[:] = k0 * (np.sin(af_r) + math.sin(refr[1]))
        q[:] = np.sqrt(qxy * qxy + qz * qz)
    np.arctan2(qxy, qz, out=o["chi"])


def analytic_q(two_theta_f, alpha_f, alpha_i, wavelength_a):
    """science.md's formulas: (q_x, q_y, q_z, q_xy) in 1/A from angles in rad.

    ``q_x = k0 (cos a_f cos 2th_f - cos a_i)``, ``q_y = k0 cos a_f sin 2th_f``,
    ``q_z = k0 (sin a_f + sin a_i)``, ``q_xy = sign(q_y) sqrt(q_x^2 + q_y^2)``.

    Parameters
    ----------
    two_theta_f : float or ndarray
        In-plane scattering angle 2theta_f (rad).
    alpha_f, alpha_i : float or ndarray
        Exit and incidence angles (rad).
    wavelength_a : float
        Wavelength (A).

    Examples
    --------
    Specular reflection (2theta_f = 0, a_f = a_i) has q only along z, 2 k0 sin a_i:

    >>> a = math.radians(0.2)
    >>> qx, qy, qz, qxy = analytic_q(0.0, a, a, 1.0)
    >>> float(qx), float(qxy), round(float(qz), 6), round(4 * math.pi * math.sin(a), 6)
    (0.0, 0.0, 0.043865, 0.043865)
    """

    k0 = 2 * math.pi / wavelength_a
    qx = k0 * (np.cos(alpha_f) * np.cos(two_theta_f) - np.cos(alpha_i))
    qy = k0 * np.cos(alpha_f) * np.sin(two_theta_f)
    qz = k0 * (np.sin(alpha_f) + np.sin(alpha_i))
    qxy = np.sign(qy) * np.sqrt(qx ** 2 + qy ** 2)
    return qx, qy, qz, qxy
