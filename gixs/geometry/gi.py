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
    """
    angle = np.asarray(angle, dtype=float)
    return np.sign(angle) * np.sqrt(np.clip(angle ** 2 - critical_angle ** 2, 0, None))


def pixel_q(geometry: DetectorGeometry, gi: GIGeometry, shape=None, ai=None,
            positions=None) -> PixelQ:
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

    Returns
    -------
    PixelQ
        Arrays of the image shape, q in 1/A.
    """
    if positions is not None:
        z, y, x = positions
    elif ai is not None:
        z, y, x = ai.calc_pos_zyx(corners=False)
    else:
        geom = geometry.for_image_shape(shape) if shape is not None else geometry
        z, y, x = geom.lab_positions()
    k0 = 2 * math.pi / geometry.wavelength_a
    b, hp, n = sample_axes(gi)
    # the formulas of the module docstring, evaluated in place (4 Mpx frames: few
    # temporaries); the same operations in the same order as the plain expressions
    r = x * x
    t = y * y
    r += t
    np.multiply(z, z, out=t)
    r += t
    np.sqrt(r, out=r)
    ux, uy, uz = x / r, y / r, z / r
    del r
    exit_angle = ux * n[0]
    np.multiply(uy, n[1], out=t)
    exit_angle += t
    np.multiply(uz, n[2], out=t)
    exit_angle += t
    np.clip(exit_angle, -1, 1, out=exit_angle)
    np.arcsin(exit_angle, out=exit_angle)  # a_f = asin(u . n)
    two_theta = np.clip(uz, -1, 1)
    np.arccos(two_theta, out=two_theta)
    qx, qy, qzl = ux, uy, uz  # q = k0 (u - b), b = +z
    qx *= k0
    qy *= k0
    qzl -= 1.0
    qzl *= k0
    del ux, uy, uz
    q = qx * qx
    np.multiply(qy, qy, out=t)
    q += t
    np.multiply(qzl, qzl, out=t)
    q += t  # |q|^2 for now
    qz = qx * n[0]
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
    del qx, qy, qzl, qh
    qxy = t
    np.multiply(qz, qz, out=qxy)
    np.subtract(q, qxy, out=qxy)
    np.clip(qxy, 0, None, out=qxy)
    np.sqrt(qxy, out=qxy)
    np.negative(qxy, out=qxy, where=negative)
    del negative
    np.sqrt(q, out=q)
    if gi.critical_angle:
        ai_r = float(refract(gi.incidence, gi.critical_angle))
        af_r = refract(exit_angle, gi.critical_angle)
        qz = k0 * (np.sin(af_r) + math.sin(ai_r))
        q = np.sqrt(qxy * qxy + qz * qz)
    chi = np.arctan2(qxy, qz)
    return PixelQ(qxy=qxy, qz=qz, q=q, chi=chi, exit_angle=exit_angle, two_theta=two_theta)


def analytic_q(two_theta_f, alpha_f, alpha_i, wavelength_a):
    """science.md's formulas: (q_x, q_y, q_z, q_xy) in 1/A from angles in rad.

    ``q_x = k0 (cos a_f cos 2th_f - cos a_i)``, ``q_y = k0 cos a_f sin 2th_f``,
    ``q_z = k0 (sin a_f + sin a_i)``, ``q_xy = sign(q_y) sqrt(q_x^2 + q_y^2)``.
    """
    k0 = 2 * math.pi / wavelength_a
    qx = k0 * (np.cos(alpha_f) * np.cos(two_theta_f) - np.cos(alpha_i))
    qy = k0 * np.cos(alpha_f) * np.sin(two_theta_f)
    qz = k0 * (np.sin(alpha_f) + np.sin(alpha_i))
    qxy = np.sign(qy) * np.sqrt(qx ** 2 + qy ** 2)
    return qx, qy, qz, qxy
