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


def rod_profile(qxy, d_nm, rel_width=0.06, diffuse=0.3, shape="gaussian"):
    """Analytic in-plane profile of hexagonal rods (peak 1 at q*) plus a diffuse slope.

    ``shape``: "gaussian", "lorentzian" (same FWHM), or "skewed" (a Gaussian whose
    high-q side is 1.6 times as wide as its low-q side).
    """
    qs = 2 * math.pi / (d_nm * 10)
    a = np.abs(np.asarray(qxy, float))
    sig = rel_width * qs / 2.3548
    out = np.zeros_like(a)
    for r, h in ((1.0, 1.0), (math.sqrt(3), 0.4), (2.0, 0.25)):
        x, sr = a - r * qs, sig * r ** 0.5
        if shape == "lorentzian":
            out += h / (1 + (x / (1.1774 * sr)) ** 2)
        elif shape == "skewed":
            out += h * np.exp(-0.5 * (x / np.where(x < 0, sr, 1.6 * sr)) ** 2)
        else:
            out += h * np.exp(-0.5 * (x / sr) ** 2)
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


def ring_peak_film(kev, incidence_deg, dist_m, d_nm, *, detector="Pilatus300k", peak=200.0,
                   background=3.0, yoneda=3.0, ac_deg=0.15, rng=4, **kw):
    """Frame of a 3D powder of hexagonal domains: the analytic :func:`rod_profile` as a
    function of pyFAI's |q| (rings at q* x 1, sqrt3, 2, Gaussian FWHM ``rel_width x q*``)
    above the horizon, no q_z envelope (isotropic)."""
    g = geometry(kev, dist_m, detector)
    q, qip, qoop, af = pyfai_coords(g, incidence_deg)
    img, mask = _finish(g, peak * rod_profile(q, d_nm, **kw), q, af, background=background,
                        yoneda=yoneda, ac_deg=ac_deg, rng=rng)
    return g, GIGeometry.from_degrees(incidence_deg), img, mask


def mixed_film(kev, incidence_deg, dist_m, d_nm, *, detector="Pilatus300k", rng=3):
    """Rods and a ring of the same spacing in one frame, comparable intensities."""
    g, gi, a, mask = rod_film(kev, incidence_deg, dist_m, d_nm, detector=detector,
                              peak=150.0, background=1.5, rng=rng)
    _, _, b, _ = ring_film(kev, incidence_deg, dist_m, d_nm, detector=detector, peak=200.0,
                           background=1.5, rng=rng + 1)
    return g, gi, a + b, mask


# -- touching polydisperse dots: sasmodels sphere P(|q|) x a known S(q) -------------------
DOT_D_NM, DOT_R_NM = 12.5, 5.5


def dot_form_factor(q, radius_nm=DOT_R_NM, sigma=0.1, distribution="schulz"):
    """sasmodels ``sphere`` P(|q|) (polydisperse), normalised to P(0) = 1 (q in 1/A)."""
    from sasmodels.core import load_model
    from sasmodels.direct_model import call_kernel

    q = np.asarray(q, float)
    flat = np.concatenate([[1e-5], q.ravel()])
    out = call_kernel(load_model("sphere").make_kernel([flat]), dict(
        radius=radius_nm * 10, radius_pd=sigma, radius_pd_type=distribution,
        radius_pd_n=35, radius_pd_nsigma=3.0, sld=1.0, sld_solvent=0.0, scale=1.0,
        background=0.0))
    out = np.asarray(out, float)
    return (out[1:] / out[0]).reshape(q.shape)


def dot_structure(qxy, d_nm=DOT_D_NM, rel_width=0.1, height=3.0):
    """Known in-plane S(q_xy) = 1 + height x Lorentzian at 2 pi / d (FWHM rel_width q*)."""
    qs = 2 * math.pi / (d_nm * 10)
    w = rel_width * qs
    return 1.0 + height / (1 + 4 * ((np.abs(np.asarray(qxy, float)) - qs) / w) ** 2)


def dot_film(kev, incidence_deg, dist_m, *, rel_width=0.1, sigma=0.1, detector="Pilatus300k",
             peak=400.0, background=2.0, yoneda=3.0, ac_deg=0.15, rng=5, noise=True):
    """Frame of touching dots (R 5.5 nm, d 12.5 nm): P(|q|) S(q_xy) above the horizon.

    Returns (geometry, gi, image, mask, (q, qip, qoop, af) of pyFAI); ``peak`` scales
    P x S so that its value at q* (q_z = 0) is ``peak`` counts.
    """
    g = geometry(kev, dist_m, detector)
    q, qip, qoop, af = pyfai_coords(g, incidence_deg)
    qs = 2 * math.pi / (DOT_D_NM * 10)
    scale = peak / (dot_form_factor(np.array([qs]), sigma=sigma)[0] *
                    dot_structure(np.array([qs]), rel_width=rel_width)[0])
    signal = scale * dot_form_factor(q, sigma=sigma) * dot_structure(qip, rel_width=rel_width)
    if noise:
        img, mask = _finish(g, signal, q, af, background=background, yoneda=yoneda,
                            ac_deg=ac_deg, rng=rng)
    else:
        ac = math.radians(ac_deg)
        yon = np.where(af < 0, 0.0,
                       1 + (yoneda - 1) * np.exp(-0.5 * ((af - ac) / (ac / 3)) ** 2))
        img, mask = signal * yon + background, None
    return g, GIGeometry.from_degrees(incidence_deg), img, mask, (q, qip, qoop, af)


def dot_band_maximum(coords, band, *, rel_width=0.1, sigma=0.1, ac_deg=0.15, yoneda=3.0):
    """Maximum (1/A) of the noise-free in-plane profile in the q_z ``band``.

    The mean over the band's pixels (pyFAI q_z, exit angle) of P(sqrt(q_xy^2 + q_z^2))
    x Yoneda factor, times S(q_xy), on a fine q_xy grid near q*.
    """
    q, qip, qoop, af = coords
    qs = 2 * math.pi / (DOT_D_NM * 10)
    sel = (qoop >= band[0]) & (qoop <= band[1]) & (np.abs(np.abs(qip) - qs) < 0.3 * qs)
    qz, a = qoop[sel], af[sel]
    ac = math.radians(ac_deg)
    wt = 1 + (yoneda - 1) * np.exp(-0.5 * ((a - ac) / (ac / 3)) ** 2)
    grid = np.linspace(0.85, 1.1, 2501) * qs
    pf = dot_form_factor(np.sqrt(grid[:, None] ** 2 + qz[None, ::max(1, qz.size // 400)] ** 2),
                         sigma=sigma)
    prof = (pf * wt[None, ::max(1, qz.size // 400)]).mean(axis=1) * dot_structure(
        grid, rel_width=rel_width)
    return float(grid[int(np.argmax(prof))])


# -- BornAgain: GISAXS of a 2D hexagonal paracrystal of polydisperse spheres ----------------
def _ba_sample(radius_nm, sigma, d_nm, disorder):
    import bornagain as ba

    col = (0.5, 0.5, 0.5)
    sub = ba.RefractiveMaterial("Si", col, 3.2e-6, 4e-8)
    dot = ba.RefractiveMaterial("PbS", col, 1.2e-5, 8e-7)
    lattice = 2 * d_nm / math.sqrt(3)  # (10) spacing d of a hexagonal lattice
    if sigma > 0:
        mix = ba.Mixture()
        for smp in ba.DistributionGaussian(radius_nm, sigma * radius_nm, 15,
                                           2.5).distributionSamples():
            mix.addParticle(ba.Particle(dot, ba.Sphere(smp.value)), smp.weight)
        part = mix
    else:
        part = ba.Particle(dot, ba.Sphere(radius_nm))
    pc = ba.Paracrystal2D(part, ba.HexagonalLattice2D(lattice, 0.0), 0.0, 2000.0, 2000.0)
    pc.setIntegrationOverXi(True)
    w = disorder * lattice
    pc.setProbabilityDistributions(ba.Profile2DCauchy(w, w, 0.0), ba.Profile2DCauchy(w, w, 0.0))
    sample = ba.Sample()
    top = ba.Layer(ba.Vacuum())
    top.deposit2D(pc)
    sample.addLayer(top)
    sample.addLayer(ba.Layer(sub))
    return sample


@functools.lru_cache(maxsize=4)
def ba_grid(kev, incidence_deg, radius_nm, sigma, d_nm=DOT_D_NM, disorder=0.1, n_phi=220,
            n_alpha=36, alpha_max_deg=0.45):
    """BornAgain DWBA intensity on a (exit angle, in-plane angle) grid (rad), n_alpha x n_phi.

    In-plane angles cover 0.35..2.3 q* of the lattice; ``radius_nm`` = 0.3 gives the
    paracrystal's interference function alone (its form factor is flat there).
    """
    import bornagain as ba

    k0 = 2 * math.pi / (HC_KEV_A / kev)
    qs = 2 * math.pi / (d_nm * 10)
    lo, hi = 2 * math.asin(0.35 * qs / (2 * k0)), 2 * math.asin(2.3 * qs / (2 * k0))
    beam = ba.Beam(1e8, HC_KEV_A / kev / 10, math.radians(incidence_deg))
    det = ba.SphericalDetector(n_phi, lo, hi, n_alpha, 0.0, math.radians(alpha_max_deg))
    res = ba.ScatteringSimulation(beam, _ba_sample(radius_nm, sigma, d_nm, disorder),
                                  det).simulate()
    return (np.asarray(res.yCenters(), float), np.asarray(res.xCenters(), float),
            np.asarray(res.intensities(), float))


def _phi_f(qip, af, ai, k0):
    """In-plane exit angle (rad) of pixels from pyFAI's q_ip and the exit angle."""
    c = (np.cos(af) ** 2 + math.cos(ai) ** 2 - (qip / k0) ** 2) / (2 * np.cos(af) * math.cos(ai))
    return np.sign(qip) * np.arccos(np.clip(c, -1, 1))


def ba_band_maximum(kev, incidence_deg, band, radius_nm, sigma, **kw):
    """q_xy (1/A) of the maximum of the BornAgain intensity averaged over the exit angles
    of the q_z ``band`` (rows of the grid), refined by a parabola."""
    alpha, phi, inten = ba_grid(kev, incidence_deg, radius_nm, sigma, **kw)
    k0 = 2 * math.pi / (HC_KEV_A / kev)
    ai = math.radians(incidence_deg)
    af = np.arcsin(np.clip(np.asarray(band) / k0 - math.sin(ai), -1, 1))
    rows = (alpha >= af[0]) & (alpha <= af[1])
    prof = inten[rows].mean(axis=0)
    a_mid = float(alpha[rows].mean())
    qxy = k0 * np.sqrt(np.cos(a_mid) ** 2 + math.cos(ai) ** 2
                       - 2 * np.cos(a_mid) * math.cos(ai) * np.cos(phi))
    k = int(np.argmax(prof[5:-5])) + 5
    a, b, c = prof[k - 1], prof[k], prof[k + 1]
    return float(qxy[k] + 0.5 * (a - c) / (a - 2 * b + c) * (qxy[k + 1] - qxy[k - 1]) / 2)


def ba_phi_points(kev, dist_m, detector="Pilatus300k", d_nm=DOT_D_NM):
    """In-plane grid points for BornAgain: two per pixel angle over 0.35..2.3 q*."""
    k0 = 2 * math.pi / (HC_KEV_A / kev)
    qs = 2 * math.pi / (d_nm * 10)
    span = 2 * math.asin(2.3 * qs / (2 * k0)) - 2 * math.asin(0.35 * qs / (2 * k0))
    return int(math.ceil(span / (0.5 * DETECTORS[detector][2] / dist_m)))


def ba_dot_film(kev, incidence_deg, dist_m, *, radius_nm=DOT_R_NM, sigma=0.1,
                detector="Pilatus300k", peak=400.0, background=2.0, rng=7, **kw):
    """Frame from the BornAgain grid on pyFAI's pixels (bilinear in exit and in-plane
    angle, grid twice as fine as the pixels); pixels outside the simulated angles are
    masked. Poisson counts."""
    from scipy.interpolate import RegularGridInterpolator

    alpha, phi, inten = ba_grid(kev, incidence_deg, radius_nm, sigma, **kw)
    g = geometry(kev, dist_m, detector)
    q, qip, qoop, af = pyfai_coords(g, incidence_deg)
    k0 = 2 * math.pi / g.wavelength_a
    ph = np.abs(_phi_f(qip, af, math.radians(incidence_deg), k0))
    inside = (af >= alpha[0]) & (af <= alpha[-1]) & (ph >= phi[0]) & (ph <= phi[-1])
    val = np.zeros(q.shape)
    val[inside] = RegularGridInterpolator((alpha, phi), inten)(
        np.column_stack([af[inside], ph[inside]]))
    scale = peak / inten.max()
    img = np.random.default_rng(rng).poisson(scale * val + background).astype(np.float32)
    return g, GIGeometry.from_degrees(incidence_deg), img, ~inside
