"""Synthetic frames with planted truth: calibrant rings, GISAXS of a hexagonal
quantum-dot superlattice and GIWAXS of a fibre-textured cubic perovskite film.

Every model is a function of the per-pixel GI coordinates (:func:`gixs.geometry.gi.pixel_q`),
so a simulated frame obeys exactly the conventions the reduction inverts. Used by the
demo, the tests and by users who want to predict a pattern. q in 1/A, lengths in nm
(film) or A (atomic lattice), angles in deg where the name says so.
"""

from __future__ import annotations

import math

import numpy as np

from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.geometry.gi import pixel_q

#: Peak positions of a 2D hexagonal lattice relative to the first order (10), (11), (20), (21)
HEX_RATIOS = (1.0, math.sqrt(3.0), 2.0, math.sqrt(7.0))
#: Their multiplicities in a powder of in-plane domains.
HEX_MULTIPLICITY = (6, 6, 6, 12)


def beam_centre_px(geometry: DetectorGeometry):
    """Direct-beam position on the detector (row, column) in pixels (float)."""
    f2d = geometry.fit2d()
    return f2d["centerY"], f2d["centerX"]


def beamstop_mask(shape, centre_rc, radius_px, arm_width_px=0):
    """Round beamstop of ``radius_px`` at ``centre_rc`` (row, col), with an optional arm
    running down to row 0 of width ``arm_width_px``. True = blocked."""
    rows, cols = np.indices(shape)
    r0, c0 = centre_rc
    mask = (rows - r0) ** 2 + (cols - c0) ** 2 <= radius_px ** 2
    if arm_width_px:
        mask |= (np.abs(cols - c0) <= arm_width_px / 2) & (rows <= r0)
    return mask


def poisson(image, rng=None):
    """Poisson counts of an expected-intensity image (float32)."""
    rng = np.random.default_rng(rng)
    return rng.poisson(np.clip(image, 0, None)).astype(np.float32)


def calibrant_image(geometry: DetectorGeometry, calibrant="LaB6", *, shape=None,
                    peak_counts=2000.0, background=20.0, width_deg=0.1, rng=None):
    """Powder-ring image of a pyFAI calibrant (expected counts plus Poisson noise).

    Parameters
    ----------
    geometry : DetectorGeometry
        Planted detector geometry.
    calibrant : str
        pyFAI calibrant name ("LaB6", "CeO2", "AgBh", "Si", ...).
    width_deg : float
        Ring FWHM in 2theta (deg); keep it above the angle a pixel subtends, or the
        pixel-centre sampling of a sub-pixel ring biases its apparent position.
    rng : int or Generator, optional
        Noise seed; ``None`` gives the noiseless expected image when ``rng is False``.
    """
    from pyFAI.calibrant import get_calibrant

    geom = geometry.for_image_shape(shape) if shape is not None else geometry
    ai = geom.make_integrator()
    cal = get_calibrant(calibrant)
    cal.wavelength = geometry.wavelength_m
    img = cal.fake_calibration_image(ai, resolution=width_deg, Imax=peak_counts, Imin=0.0)
    img = np.asarray(img, np.float64) + background
    if rng is False:
        return img.astype(np.float32)
    return poisson(img, rng)


def sphere_form_factor(q, radius_a):
    """Normalised |F|^2 of a sphere of radius ``radius_a`` (A) at q (1/A)."""
    x = np.asarray(q, float) * radius_a
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(x > 1e-6, 3 * (np.sin(x) - x * np.cos(x)) / x ** 3, 1.0)
    return f * f


def yoneda_factor(exit_angle, critical_angle, width=None):
    """Transmission-like enhancement peaking at a_f = a_c (a Yoneda band), 0 below horizon."""
    ac = max(critical_angle, 1e-5)
    width = width or ac / 2
    a = np.asarray(exit_angle, float)
    t = 1 + 1.5 * np.exp(-0.5 * ((a - ac) / width) ** 2)
    return np.where(a < 0, 0.0, t * np.clip(a / ac, 0, 1) ** 0.5)


def hex_superlattice(geometry: DetectorGeometry, gi: GIGeometry, d_nm: float, *,
                     shape=None, peak_counts=400.0, rel_width=0.04, dot_radius_nm=None,
                     orders=4, background=5.0, diffuse=None, critical_angle_deg=0.2,
                     exit_envelope=None, beamstop_px=12, rng=None, return_mask=False):
    """GISAXS frame of a 2D hexagonal superlattice of dots with (10) spacing ``d_nm``.

    Rods at |q_xy| = q* x (1, sqrt3, 2, sqrt7), q* = 2 pi / d; Gaussian in q_xy with
    relative FWHM ``rel_width``, modulated by the dots' sphere form factor and a
    Yoneda band at ``critical_angle_deg``; plus a low-q diffuse slope and a flat
    background; a beamstop at the direct beam. Returns counts (Poisson unless rng=False).

    ``exit_envelope``, a function of the exit angle a_f (rad, array) returning the film's
    intensity factor (e.g. a DWBA transmission computed elsewhere), replaces that Yoneda
    band (``critical_angle_deg`` is then unused); it is set to 0 below the horizon.
    """
    geom = geometry.for_image_shape(shape) if shape is not None else geometry
    pq = pixel_q(geom, gi)
    q_star = 2 * math.pi / (d_nm * 10.0)
    radius_a = (dot_radius_nm or 0.4 * d_nm) * 10.0
    sig = rel_width * q_star / 2.3548
    aqxy = np.abs(pq.qxy)
    rods = np.zeros_like(aqxy)
    for ratio, mult in list(zip(HEX_RATIOS, HEX_MULTIPLICITY))[:orders]:
        qk = q_star * ratio
        rods += mult / 6.0 / ratio * np.exp(-0.5 * ((aqxy - qk) / (sig * ratio ** 0.5)) ** 2)
    ff = sphere_form_factor(pq.q, radius_a)
    if exit_envelope is None:
        yon = yoneda_factor(pq.exit_angle, math.radians(critical_angle_deg))
    else:
        af = np.asarray(pq.exit_angle, float)
        yon = np.where(af < 0, 0.0, np.asarray(exit_envelope(np.maximum(af, 0.0)), float))
    diffuse = peak_counts * 0.05 if diffuse is None else diffuse
    slope = diffuse * (q_star / np.maximum(pq.q, q_star * 0.05)) ** 3
    img = (peak_counts * rods * ff + slope) * yon + background
    mask = beamstop_mask(pq.q.shape, beam_centre_px(geom), beamstop_px) if beamstop_px else \
        np.zeros(pq.q.shape, bool)
    img = np.where(mask, 0.0, img)
    out = img.astype(np.float32) if rng is False else poisson(img, rng)
    return (out, mask) if return_mask else out


def cubic_reflections(a_a: float, q_max: float, normal=(0, 0, 1)):
    """Reflections (h, k, l, q_xy, q_z) of a primitive cubic lattice (a in A) textured
    with plane ``normal`` parallel to the surface, |G| <= q_max (1/A)."""
    n = np.asarray(normal, float)
    n /= np.linalg.norm(n)
    hmax = int(q_max * a_a / (2 * math.pi)) + 1
    out = []
    for h in range(-hmax, hmax + 1):
        for k in range(-hmax, hmax + 1):
            for l_ in range(-hmax, hmax + 1):
                if h == k == l_ == 0:
                    continue
                g = 2 * math.pi / a_a * np.array([h, k, l_], float)
                gm = float(np.linalg.norm(g))
                if gm > q_max:
                    continue
                qz = float(g @ n)
                qxy = math.sqrt(max(gm * gm - qz * qz, 0.0))
                out.append((h, k, l_, qxy, qz))
    return out


def textured_cubic_film(geometry: DetectorGeometry, gi: GIGeometry, a_a: float, *,
                        normal=(0, 0, 1), shape=None, spot_fwhm=0.03, mosaic_deg=3.0,
                        peak_counts=500.0, background=10.0, rng=None):
    """GIWAXS frame of a fibre-textured primitive-cubic film (e.g. CsPbBr3, a ~ 5.87 A).

    Each reflection of |G| <= the detector's q range lands at (+-q_xy, q_z) as a spot
    of radial FWHM ``spot_fwhm`` (1/A) smeared along the arc by ``mosaic_deg``.
    Structure factors are set to 1/|G| (a simple decay), so the pattern tests positions.
    """
    geom = geometry.for_image_shape(shape) if shape is not None else geometry
    pq = pixel_q(geom, gi)
    q_max = float(np.nanmax(pq.q))
    chi = pq.chi
    img = np.zeros_like(pq.q)
    sr = spot_fwhm / 2.3548
    sc = math.radians(mosaic_deg) / 2.3548
    seen = set()
    for h, k, l_, qxy, qz in cubic_reflections(a_a, q_max, normal):
        key = (round(qxy, 6), round(qz, 6))
        if key in seen or qz < 0:
            continue
        seen.add(key)
        g = math.hypot(qxy, qz)
        for sign in ((1, -1) if qxy > 1e-9 else (1,)):
            chi0 = math.atan2(sign * qxy, qz)
            dchi = np.angle(np.exp(1j * (chi - chi0)))
            img += (1.0 / g) * np.exp(-0.5 * ((pq.q - g) / sr) ** 2 - 0.5 * (dchi / sc) ** 2)
    img = peak_counts * img / max(img.max(), 1e-12) + background
    img = np.where(pq.exit_angle < 0, background * 0.2, img)
    return img.astype(np.float32) if rng is False else poisson(img, rng)
