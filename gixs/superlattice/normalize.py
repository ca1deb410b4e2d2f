"""Intensity normalisation that makes two films on one beamline comparable.

A scattered intensity I is divided by the product of the terms switched on, each
recorded with its value and definition (:func:`normalization`):

- ``exposure``: exposure time t (s) from the header or given;
- ``monitor``: incident-flux monitor counts M (same monitor for both films);
- ``thickness``: film thickness d (nm): scattering volume per illuminated area;
- ``footprint``: 1 / sin a_i: a beam of height h lights a length h / sin a_i of the
  sample (while that is shorter than the sample), so the illuminated volume, and the
  intensity, scale as 1 / sin a_i;
- ``fresnel``: |t(a_i)|^2 |t(a_f)|^2, the Fresnel transmission of the film surface into
  the film at incidence a_i and at the peak's exit angle a_f (distorted-wave Born
  approximation: the field inside the film carries t on the way in and out),
  t(a) = 2 sin a / (sin a + sqrt(n^2 - cos^2 a)), n = 1 - delta + i beta.

Below the film's critical angle (a_i or a_f < a_c) the wave in the film is
evanescent: the field at depth z below the surface decays as exp(i k_z,t z) with
k_z,t(a) = k0 sqrt(n^2 - cos^2 a) nearly imaginary, so the intensity scattered by a
scatterer at depth z carries exp(-z / Lambda), the scattering depth
Lambda = 1 / (2 k0 (Im s(a_i) + Im s(a_f))), s(a) = sqrt(n^2 - cos^2 a)
(:func:`scattering_depth_nm`; Dosch, *Critical Phenomena at Surfaces and Interfaces*
(1992) ch. 3). |t|^2 alone leaves it out: BornAgain (DWBA, 2 nm spheres just below the
surface of films with a_c = 0.13 / 0.15 deg, a_i 0.2-0.5 deg, 0.08-0.124 nm) gives the
treated/control ratio 7-17% low at a_f = 0.05-0.12 deg after |t|^2 alone (25-44% for dots
centred 6 nm deep, 19-23% at a_i = 0.1 deg), within +0.5..+1.9% with the depth term. With
``film["depth_nm"]`` (the scatterers' depth: a number for a layer of dot centres, or
(top, bottom) for scatterers spread evenly between two depths, nm) the Fresnel term is
|t(a_i)|^2 |t(a_f)|^2 times exp(-z / Lambda), or its mean over the depths,
Lambda / (z2 - z1) (exp(-z1 / Lambda) - exp(-z2 / Lambda)). Without a depth below the
critical angle :func:`normalization` warns (``GixsWarning``) and records it under
``film["below_critical"]``. Above both critical angles Lambda is set by absorption
(0.1-1 um) and the depth term is close to 1, but not for absorbing films: dots 3 nm
deep in PbS-rich films (Lambda 110 and 255 nm at a_i 0.3, a_f 0.35 deg, 12 keV) differ
by 1.5% (the superlattice notebook). The rest of the error there (within 4% at 0.08-0.124
nm) is refraction's shift of q_z inside the film, seen through the dots' form factor,
which no Fresnel factor holds (+7.8% at 0.07 nm, a_i 0.5 deg, a_f 0.2 deg for 2 nm
spheres). The film is taken as semi-infinite: waves reflected from a substrate under a
thin film (waveguide modes) are not modelled.

delta and beta come from the film's composition (chemical formula) and mass density
through xraydb (``xraydb.xray_delta_beta``, Elam/Chantler tables), or are given; the
critical angle is a_c = sqrt(2 delta). References: Als-Nielsen & McMorrow, *Elements of
Modern X-ray Physics* (2011) sec. 3.4 (Fresnel equations); Renaud, Lazzari & Leroy,
Surf. Sci. Rep. 64, 255 (2009) (DWBA transmission factors in GISAXS).

Examples
--------
>>> n = normalization(exposure_s=2.0, incidence_deg=0.3, exit_deg=0.3, footprint=True,
...                   fresnel=True, film={"formula": "PbS", "density": 7.6}, energy_kev=12.0)
>>> sorted(n["terms"])
['exposure', 'footprint', 'fresnel']
"""

from __future__ import annotations

import math
import warnings

from gixs.errors import GixsWarning

__all__ = ["optical_constants", "critical_angle_deg", "transmission_sq", "scattering_depth_nm",
           "depth_attenuation", "normalization"]

_HC_KEV_A = 12.398419843320026


def optical_constants(formula, density, energy_kev):
    """(delta, beta) of a material at ``energy_kev`` from xraydb.

    Parameters
    ----------
    formula : str
        Chemical formula (``"PbS"``, ``"C8H8"``...).
    density : float
        Mass density (g/cm^3).
    energy_kev : float
        Photon energy (keV).

    Examples
    --------
    >>> d, b = optical_constants("Si", 2.33, 8.048)
    >>> round(math.degrees(math.sqrt(2 * d)), 3)  # Si critical angle at Cu K-alpha
    0.223
    """
    import xraydb

    if not (density > 0 and energy_kev > 0):
        raise ValueError(f"density (g/cm^3) and energy (keV) must be > 0, got {density}, "
                         f"{energy_kev}")
    delta, beta, _ = xraydb.xray_delta_beta(formula, float(density), float(energy_kev) * 1e3)
    return float(delta), float(beta)


def critical_angle_deg(delta):
    """Critical angle (deg) sqrt(2 delta).

    Examples
    --------
    >>> round(critical_angle_deg(7.576e-6), 3)
    0.223
    """
    return math.degrees(math.sqrt(2 * delta))


def transmission_sq(angle_deg, delta, beta):
    """|t(a)|^2, Fresnel transmission into a medium n = 1 - delta + i beta at glancing a.

    Examples
    --------
    >>> round(transmission_sq(5.0, 7.6e-6, 1.8e-7), 2)  # far above a_c: ~1
    1.0
    >>> 3.5 < transmission_sq(critical_angle_deg(7.6e-6), 7.6e-6, 1e-9) <= 4.0
    True
    """
    a = math.radians(angle_deg)
    if a <= 0:
        return 0.0
    n = complex(1 - delta, beta)
    kz_t = (n * n - math.cos(a) ** 2) ** 0.5
    if kz_t.imag < 0:
        kz_t = -kz_t
    t = 2 * math.sin(a) / (math.sin(a) + kz_t)
    return abs(t) ** 2


def _kz_imag(angle_deg, delta, beta):
    """Im sqrt(n^2 - cos^2 a) (dimensionless; k_z in the film over k0)."""
    n = complex(1 - delta, beta)
    return abs(((n * n - math.cos(math.radians(angle_deg)) ** 2) ** 0.5).imag)


def scattering_depth_nm(incidence_deg, exit_deg, delta, beta, energy_kev):
    """Scattering depth Lambda (nm): intensity from depth z carries exp(-z / Lambda).

    Lambda = 1 / (2 k0 (Im s(a_i) + Im s(a_f))), s(a) = sqrt(n^2 - cos^2 a),
    n = 1 - delta + i beta, k0 = 2 pi E / hc.

    Parameters
    ----------
    incidence_deg, exit_deg : float
        Incidence a_i and exit angle a_f (deg).
    delta, beta : float
        The film's optical constants.
    energy_kev : float
        Photon energy (keV).

    Examples
    --------
    >>> d = math.radians(0.13) ** 2 / 2          # a_c = 0.13 deg
    >>> round(scattering_depth_nm(0.3, 0.1, d, 2e-8, 12.398), 1)   # a_f below a_c
    5.5
    >>> round(scattering_depth_nm(0.3, 0.3, d, 2e-8, 12.398))   # above a_c: absorption
    939
    """
    if not energy_kev > 0:
        raise ValueError(f"energy_kev must be > 0, got {energy_kev!r}")
    k0 = 2 * math.pi * energy_kev / _HC_KEV_A * 10  # 1/nm
    im = _kz_imag(incidence_deg, delta, beta) + _kz_imag(exit_deg, delta, beta)
    return math.inf if im <= 0 else 1 / (2 * k0 * im)


def depth_attenuation(depth_nm, scattering_depth):
    """exp(-z / Lambda) at depth z, or its mean over z1..z2 for ``depth_nm=(z1, z2)``.

    Parameters
    ----------
    depth_nm : float or (float, float)
        Depth of the scatterers below the film surface (nm, >= 0).
    scattering_depth : float
        Lambda (nm), from :func:`scattering_depth_nm`.

    Examples
    --------
    >>> round(depth_attenuation(2.0, 10.0), 4)
    0.8187
    >>> round(depth_attenuation((0.0, 50.0), 10.0), 4)   # Lambda / d (1 - exp(-d / Lambda))
    0.1987
    """
    lam = float(scattering_depth)
    if isinstance(depth_nm, (tuple, list)):
        if len(depth_nm) != 2:
            raise ValueError(f"depth_nm must be a depth or (top, bottom) in nm, got "
                             f"{depth_nm!r}")
        z1, z2 = (float(z) for z in depth_nm)
        if not (0 <= z1 < z2):
            raise ValueError(f"depth_nm (top, bottom) needs 0 <= top < bottom (nm), got "
                             f"{depth_nm!r}")
        if math.isinf(lam):
            return 1.0
        return lam / (z2 - z1) * (math.exp(-z1 / lam) - math.exp(-z2 / lam))
    z = float(depth_nm)
    if not (math.isfinite(z) and z >= 0):
        raise ValueError(f"depth_nm must be >= 0 (nm), got {depth_nm!r}")
    return 1.0 if math.isinf(lam) else math.exp(-z / lam)


def _term(value, definition, unit=""):
    return {"value": float(value), "definition": definition, "unit": unit}


def normalization(*, exposure_s=None, monitor=None, thickness_nm=None, factor=None,
                  incidence_deg=None, exit_deg=None, footprint=False, fresnel=False, film=None,
                  energy_kev=None):
    """Product of the normalisation terms switched on, with each term recorded.

    Parameters
    ----------
    exposure_s, monitor, thickness_nm : float, optional
        Applied when given (s, counts, nm).
    factor : float, optional
        A further given factor (no unit), applied when given.
    incidence_deg, exit_deg : float, optional
        Incidence a_i and the peak's exit angle a_f (deg) for ``footprint``/``fresnel``.
    footprint, fresnel : bool
        Switch the footprint (1/sin a_i) and Fresnel (|t(a_i)|^2 |t(a_f)|^2) terms on.
    film : dict, optional
        ``{"formula": str, "density": g/cm^3}`` (xraydb) or ``{"delta": d, "beta": b}``;
        needed for ``fresnel``. An optional ``"depth_nm"`` (the scatterers' depth below
        the surface, nm, or (top, bottom)) adds the evanescent-wave depth term
        (:func:`depth_attenuation`); below the critical angle the comparison needs it.
    energy_kev : float, optional
        Photon energy (keV), needed for ``fresnel`` with a formula or a depth.

    Returns
    -------
    dict
        ``factor`` (divide intensities by it), ``terms`` ({name: {value, definition,
        unit}}), ``off`` (terms not applied) and, with ``fresnel``, ``film`` (delta,
        beta, critical angle deg, source of the optical constants).

    Examples
    --------
    >>> normalization(exposure_s=2.0, monitor=1e5)["factor"]
    200000.0
    """
    terms, off, info = {}, [], None
    for name, value, unit, text in (("exposure", exposure_s, "s", "exposure time"),
                                    ("monitor", monitor, "counts", "incident-flux monitor"),
                                    ("thickness", thickness_nm, "nm", "film thickness"),
                                    ("factor", factor, "", "given factor")):
        if value is None:
            if name != "factor":  # a plain factor is no standard term: not listed as off
                off.append(name)
            continue
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be > 0 ({unit}), got {value!r}")
        terms[name] = _term(value, text, unit)
    if footprint or fresnel:
        if incidence_deg is None or not incidence_deg > 0:
            raise ValueError(f"footprint/fresnel normalisation needs incidence_deg > 0, got "
                             f"{incidence_deg!r}")
    if footprint:
        terms["footprint"] = _term(1 / math.sin(math.radians(incidence_deg)),
                                   "1/sin(a_i): illuminated length per beam height")
    else:
        off.append("footprint")
    if fresnel:
        if exit_deg is None:
            raise ValueError("fresnel normalisation needs the peak's exit angle exit_deg "
                             "(deg)")
        if not film:
            raise ValueError("fresnel normalisation needs film={'formula', 'density'} or "
                             "{'delta', 'beta'}")
        if "delta" in film:
            delta, beta, src = float(film["delta"]), float(film.get("beta", 0.0)), "given"
        else:
            if energy_kev is None:
                raise ValueError("fresnel normalisation with a formula needs energy_kev")
            delta, beta = optical_constants(film["formula"], film["density"], energy_kev)
            src = (f"xraydb.xray_delta_beta({film['formula']!r}, {film['density']} g/cm^3, "
                   f"{energy_kev} keV)")
        ti = transmission_sq(incidence_deg, delta, beta)
        tf = transmission_sq(exit_deg, delta, beta)
        value = ti * tf
        text = (f"|t(a_i={incidence_deg:g} deg)|^2 = {ti:.4f} x |t(a_f={exit_deg:g} deg)|^2 "
                f"= {tf:.4f}")
        ac = critical_angle_deg(delta)
        info = {"delta": delta, "beta": beta, "critical_angle_deg": ac, "source": src}
        depth = film.get("depth_nm")
        if depth is not None:
            if energy_kev is None:
                raise ValueError("fresnel normalisation with film depth_nm needs energy_kev")
            lam = scattering_depth_nm(incidence_deg, exit_deg, delta, beta, energy_kev)
            att = depth_attenuation(depth, lam)
            value *= att
            text += (f" x depth term {att:.4f} (scatterers at {depth} nm, scattering depth "
                     f"{lam:.4g} nm)")
            info.update(depth_nm=depth, scattering_depth_nm=lam, depth_term=att)
        terms["fresnel"] = _term(value, text)
        low = [f"{n} {v:g} deg" for n, v in (("a_i", incidence_deg), ("a_f", exit_deg))
               if v < ac]
        if low:
            where = ", ".join(low) + f" below the film's critical angle {ac:.3f} deg"
            if depth is None:
                info["below_critical"] = (
                    where + ": evanescent wave, the intensity depends on the scatterers' "
                    "depth, which |t|^2 alone leaves out (BornAgain: the treated/control "
                    "ratio 7-17% low for dots 2 nm deep); give the film's depth_nm")
                warnings.warn(f"fresnel normalisation: {info['below_critical']}", GixsWarning,
                              stacklevel=2)
            else:
                info["below_critical"] = (where + ": evanescent wave, depth term applied "
                                          f"(scattering depth {lam:.3g} nm)")
    else:
        off.append("fresnel")
    total = math.prod(t["value"] for t in terms.values())
    out = {"factor": total, "terms": terms, "off": off}
    if info:
        out["film"] = info
    return out
