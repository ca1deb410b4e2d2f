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
evanescent and the scattered intensity depends on how deep the scatterers sit, which
|t|^2 alone does not hold: BornAgain (DWBA, dots just below the surface of films with
a_c = 0.13 / 0.15 deg) gives a treated/control ratio 9-15% low at a_f = 0.07-0.12 deg
after this normalisation, within 4% above both critical angles at 0.08-0.124 nm (the rest
is refraction's shift of q_z inside the film, seen through the dots' form factor, which
no Fresnel factor holds: +7.8% at 0.07 nm, a_i 0.5 deg, a_f 0.2 deg for 2 nm spheres). :func:`normalization`
then warns (``GixsWarning``) and records it under ``film["below_critical"]``.

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

__all__ = ["optical_constants", "critical_angle_deg", "transmission_sq", "normalization"]

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
        needed for ``fresnel``.
    energy_kev : float, optional
        Photon energy (keV), needed for ``fresnel`` with a formula.

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
        terms["fresnel"] = _term(ti * tf, f"|t(a_i={incidence_deg:g} deg)|^2 = {ti:.4f} x "
                                 f"|t(a_f={exit_deg:g} deg)|^2 = {tf:.4f}")
        ac = critical_angle_deg(delta)
        info = {"delta": delta, "beta": beta, "critical_angle_deg": ac, "source": src}
        low = [f"{n} {v:g} deg" for n, v in (("a_i", incidence_deg), ("a_f", exit_deg))
               if v < ac]
        if low:
            info["below_critical"] = (", ".join(low) + f" below the film's critical angle "
                                      f"{ac:.3f} deg: evanescent wave, the Fresnel term "
                                      "ignores the scatterers' depth")
            warnings.warn(f"fresnel normalisation: {info['below_critical']}", GixsWarning,
                          stacklevel=2)
    else:
        off.append("fresnel")
    total = math.prod(t["value"] for t in terms.values())
    out = {"factor": total, "terms": terms, "off": off}
    if info:
        out["film"] = info
    return out
