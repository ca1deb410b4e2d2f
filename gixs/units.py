"""Physical constants, unit conversions and the unit labels written for people.

Inside gixs every scattering vector is in inverse angstrom (1/A), every angle in
radians, every wavelength in angstrom and every film length (d-spacing, distances,
coherence length) in nanometres. Names of anything not in those units carry the unit
(``incidence_deg``, ``energy_kev``, ``dist_m``).
"""

import math

#: h*c in keV*angstrom (CODATA 2018), so that lambda[A] = HC_KEV_A / E[keV].
HC_KEV_A = 12.398419843320026

#: Label of the one q unit used in code, files and plots.
Q_UNIT = "A^-1"

#: Column/axis labels for people, keyed by quantity.
LABELS = {
    "q": "q (A^-1)",
    "qxy": "q_xy (A^-1)",
    "qz": "q_z (A^-1)",
    "chi": "chi (deg)",
    "intensity": "intensity (a.u.)",
}

#: CSV header names of profile abscissae, keyed by profile kind.
CSV_AXIS = {
    "q": "q_A^-1",
    "qxy": "qxy_A^-1",
    "qz": "qz_A^-1",
    "chi": "chi_deg",
}


def energy_kev_to_wavelength_a(energy_kev):
    """Photon energy (keV) -> wavelength (angstrom)."""
    energy_kev = float(energy_kev)
    if not energy_kev > 0:
        raise ValueError(f"energy_kev must be > 0 keV, got {energy_kev!r}")
    return HC_KEV_A / energy_kev


def wavelength_a_to_energy_kev(wavelength_a):
    """Wavelength (angstrom) -> photon energy (keV)."""
    wavelength_a = float(wavelength_a)
    if not wavelength_a > 0:
        raise ValueError(f"wavelength_a must be > 0 A, got {wavelength_a!r}")
    return HC_KEV_A / wavelength_a


def two_theta_deg_to_q(two_theta_deg, wavelength_a):
    """Scattering angle 2theta (deg) -> q = 4 pi sin(theta) / lambda (1/A); arrays too.

    Examples
    --------
    >>> round(float(two_theta_deg_to_q(28.44, 1.5406)), 4)  # Si (111), Cu K-alpha1
    2.0037
    """
    import numpy as np

    wavelength_a = float(wavelength_a)
    if not wavelength_a > 0:
        raise ValueError(f"wavelength_a must be > 0 A, got {wavelength_a!r}")
    return 4 * math.pi * np.sin(np.radians(np.asarray(two_theta_deg, float) / 2)) / wavelength_a


def q_to_d_nm(q):
    """Scattering vector (1/A) -> real-space period d = 2*pi/q (nm)."""
    return 2 * math.pi / q / 10.0


def d_nm_to_q(d_nm):
    """Real-space period (nm) -> scattering vector q = 2*pi/d (1/A)."""
    return 2 * math.pi / (d_nm * 10.0)


def metric_column(key: str, unit: str | None) -> str:
    """The one name of a metric column in tables, CSV and text: key + unit suffix.

    Examples
    --------
    >>> metric_column("d_spacing", "nm"), metric_column("q_star", "A^-1")
    ('d_spacing_nm', 'q_star_A^-1')
    >>> metric_column("peak_height", "intensity/normalization (a.u.)")
    'peak_height_au'
    >>> metric_column("peak_area", "intensity/normalization x A^-1")
    'peak_area_au_A^-1'
    >>> metric_column("peak_to_valley_ratio", "1")
    'peak_to_valley_ratio'
    """
    if not unit or unit == "1":
        return key
    if "a.u." in unit or "intensity" in unit:
        return f"{key}_au_A^-1" if "A^-1" in unit else f"{key}_au"
    return f"{key}_{unit.replace(' ', '')}"
