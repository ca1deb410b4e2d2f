"""Synthetic GISAXS films whose truth comes from other tools than gixs.

* Pixel coordinates: pyFAI's own arrays (``qArray`` for |q|, the fibre units
  ``qip_A^-1`` / ``qoop_A^-1`` for q_xy / q_z), never gixs.geometry.
* Rings (3D-isotropic films): sasmodels ``fcc_paracrystal`` I(q) (the powder average
  of an fcc superlattice of spheres), a function of |q| only; truth = the maximum of
  that I(q) on a fine grid near the (111) ring.
* Rods (2D films): an analytic hexagonal rod profile in |q_xy| (Gaussians at
  q* x 1, sqrt3, 2) times a smooth q_z envelope; truth = the maximum of the analytic
  in-plane profile on a fine grid.

The film scatters only above the sample horizon (q_z >= k0 sin a_i, pyFAI's qoop); an
optional Yoneda enhancement (factor up to ``yoneda`` at the exit angle ``a_c``) is a
function of the exit angle computed from pyFAI's qoop.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gixs.geometry.model import DetectorGeometry, GIGeometry

HC_KEV_A = 12.398419843320026
DETECTORS = {"Pilatus300k": (619, 487, 172e-6), "Eiger500k": (514, 1030, 75e-6),
             "Pilatus1M": (1043, 981, 172e-6)}


def geometry(kev, dist_m, detector="Pilatus300k", row=30):
    rows, cols, px = DETECTORS[detector]
    return DetectorGeometry(dist_m=dist_m, poni1_m=row * px, poni2_m=cols / 2 * px,
                            rot1=0.0, rot2=0.0, rot3=0.0,
                            wavelength_m=HC_KEV_A / kev * 1e-10, detector=detector)


def pyfai_coords(g, incidence_deg):
    """(|q|, q_xy, q_z, exit angle rad) of every pixel from pyFAI (1/A)."""
    import pyFAI.units as U

    fi = g.make_integrator(fiber=True)
    kw = dict(incident_angle=math.radians(incidence_deg), tilt_angle=0.0,
              sample_orientation=1)
    q = fi.qArray() / 10.0
    qip = fi.array_from_unit(unit=U.get_unit_fiber("qip_A^-1", **kw), typ="center")
    qoop = fi.array_from_unit(unit=U.get_unit_fiber("qoop_A^-1", **kw), typ="center")
    k0 = 2 * math.pi / g.wavelength_a
    sin_af = np.clip(qoop / k0 - math.sin(math.radians(incidence_deg)), -1, 1)
    return q, np.asarray(qip, float), np.asarray(qoop, float), np.arcsin(sin_af)


def _finish(g, signal, q, af, *, background, yoneda, ac_deg, rng, beamstop_px=8):
    ac = math.radians(ac_deg)
    yon = np.where(af < 0, 0.0, 1 + (yoneda - 1) * np.exp(-0.5 * ((af - ac) / (ac / 3)) ** 2))
    img = signal * yon + background
    rows, cols = np.indices(img.shape)
    r0, c0 = g.poni1_m / DETECTORS[g.detector][2], g.poni2_m / DETECTORS[g.detector][2]
    mask = (rows - r0) ** 2 + (cols - c0) ** 2 <= beamstop_px ** 2
    img = np.where(mask, 0.0, img)
    gen = np.random.default_rng(rng)
    return gen.poisson(img).astype(np.float32), mask


@functools.lru_cache(maxsize=16)
def _fcc_grid(d_nm, d_factor, radius_frac):
    """sasmodels fcc_paracrystal I(q) on a fine |q| grid (1/A); its (111) spacing is d."""
    from sasmodels.core import load_model
    from sasmodels.direct_model import call_kernel

    qs = 2 * math.pi / (d_nm * 10)
    q = np.linspace(0.3 * qs, 2.2 * qs, 1500)
    dnn = d_nm * 10 * math.sqrt(1.5)  # (111) spacing d = a / sqrt3, a = sqrt2 dnn
    model = load_model("fcc_paracrystal")
    out = call_kernel(model.make_kernel([q]), dict(
        dnn=dnn, d_factor=d_factor, radius=radius_frac * dnn, sld=6.0, sld_solvent=1.0,
        background=0.0, scale=1.0))
    return q, np.asarray(out, float)


def sas_curve(q, d_nm, *, d_factor=0.1, radius_frac=0.3):
    """sasmodels fcc_paracrystal I(|q|) (powder average), interpolated at ``q`` (1/A)."""
    qg, ig = _fcc_grid(float(d_nm), float(d_factor), float(radius_frac))
    return np.interp(np.asarray(q, float), qg, ig)


def sas_truth(d_nm, **kw):
    """|q| (1/A) of the maximum of the sasmodels I(q) near the (111) ring."""
    qs = 2 * math.pi / (d_nm * 10)
    q = np.linspace(0.85 * qs, 1.1 * qs, 20001)
    return float(q[int(np.argmax(sas_curve(q, d_nm, **kw)))])


def ring_film(kev, incidence_deg, dist_m, d_nm, *, detector="Pilatus300k", peak=300.0,
              background=3.0, yoneda=3.0, ac_deg=0.15, rng=1, texture_m=0.0, **kw):
    """Frame of a 3D film: sasmodels I(|q|) above the horizon; with ``texture_m`` a fibre
    texture about the normal, I x exp(m cos^2 chi), cos chi = q_z / |q| (pyFAI's qoop
    over qArray)."""
    g = geometry(kev, dist_m, detector)
    q, qip, qoop, af = pyfai_coords(g, incidence_deg)
    cur = sas_curve(q, d_nm, **kw)
    if texture_m:
        cur = cur * np.exp(texture_m * (qoop / q) ** 2)
    top = sas_curve(np.array([sas_truth(d_nm, **kw)]), d_nm, **kw)[0]
    img, mask = _finish(g, peak * cur / top, q, af, background=background, yoneda=yoneda,
                        ac_deg=ac_deg, rng=rng)
    return g, GIGeometry.from_degrees(incidence_deg), img, mask


def rod_profile(qxy, d_nm, rel_width=0.06, diffuse=0.3):
    """Analytic in-plane profile of hexagonal rods (peak 1 at q*) plus a diffuse slope."""
    qs = 2 * math.pi / (d_nm * 10)
    a = np.abs(np.asarray(qxy, float))
    sig = rel_width * qs / 2.3548
    out = np.zeros_like(a)
    for r, h in ((1.0, 1.0), (math.sqrt(3), 0.4), (2.0, 0.25)):
        out += h * np.exp(-0.5 * ((a - r * qs) / (sig * r ** 0.5)) ** 2)
    return out + diffuse / (1 + (a / (0.3 * qs)) ** 2)


def rod_truth(d_nm, **kw):
    qs = 2 * math.pi / (d_nm * 10)
    q = np.linspace(0.8, 1.2, 40001) * qs
    return float(q[int(np.argmax(rod_profile(q, d_nm, **kw)))])


def rod_film(kev, incidence_deg, dist_m, d_nm, *, detector="Pilatus300k", peak=200.0,
             background=3.0, yoneda=3.0, ac_deg=0.15, rng=2, **kw):
    """Frame of a 2D film: rods constant along q_z (envelope exp(-(q_z d/4)^2 / 2))."""
    g = geometry(kev, dist_m, detector)
    q, qip, qoop, af = pyfai_coords(g, incidence_deg)
    env = np.exp(-0.5 * (qoop * d_nm * 10 / 8) ** 2)
    img, mask = _finish(g, peak * rod_profile(qip, d_nm, **kw) * env, q, af,
                        background=background, yoneda=yoneda, ac_deg=ac_deg, rng=rng)
    return g, GIGeometry.from_degrees(incidence_deg), img, mask


def mixed_film(kev, incidence_deg, dist_m, d_nm, *, detector="Pilatus300k", rng=3):
    """Rods and a ring of the same spacing in one frame, comparable intensities."""
    g, gi, a, mask = rod_film(kev, incidence_deg, dist_m, d_nm, detector=detector,
                              peak=150.0, background=1.5, rng=rng)
    _, _, b, _ = ring_film(kev, incidence_deg, dist_m, d_nm, detector=detector, peak=200.0,
                           background=1.5, rng=rng + 1)
    return g, gi, a + b, mask
