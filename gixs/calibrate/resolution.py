"""Instrument resolution as data: calibrant ring FWHM versus angle, and a model of it.

A calibrant (LaB6, AgBh, CeO2...) has sharp lines, so the widths of its rings measure the
instrument: beam divergence and energy spread, beam size, pixel size and sample
thickness. :func:`measure_ring_widths` fits each isolated ring of a 1D powder pattern
I(2theta) (pseudo-Voigt, Gaussian or Lorentzian by BIC, :func:`gixs.peaks.fit_peak`);
:func:`fit_caglioti` fits the Caglioti law (Caglioti, Paoletti & Ricci, Nucl. Instrum. 3,
223 (1958)) in 2theta::

    FWHM_2theta^2 = U tan^2(theta) + V tan(theta) + W        (deg^2)

by weighted linear least squares on FWHM^2 (W alone with fewer than three rings, and the
model says so). :class:`ResolutionModel` converts to q: ``Delta q = (2 pi / lambda)
cos(theta) Delta(2 theta)`` (1/A), which is the Gaussian instrument width that
:mod:`gixs.superlattice.widths` removes in quadrature. A calibrant's own size broadening is
included in the widths (an upper bound on the instrument width).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gixs.units import two_theta_deg_to_q

__all__ = ["ResolutionModel", "measure_ring_widths", "fit_caglioti", "resolution_from_image"]


@dataclasses.dataclass
class ResolutionModel:
    """Caglioti resolution in 2theta (U, V, W in deg^2) at ``wavelength_a`` (A).

    Attributes
    ----------
    U, V, W : float
        Caglioti parameters (deg^2).
    wavelength_a : float
        Wavelength of the calibrant frame (A).
    tth_range_deg : (float, float)
        2theta range of the rings used (deg): outside it the model is extrapolated.
    points : list of dict
        The measured rings (``tth_deg``, ``fwhm_deg``, ``fwhm_err_deg``, ``q``, ``shape``).
    form : str
        Text of the model.

    Examples
    --------
    >>> m = ResolutionModel(U=0.0, V=0.0, W=0.01, wavelength_a=1.0)
    >>> round(m.fwhm_deg(10.0), 3)
    0.1
    """

    U: float
    V: float
    W: float
    wavelength_a: float
    tth_range_deg: tuple = (float("nan"), float("nan"))
    points: list = dataclasses.field(default_factory=list)
    form: str = "FWHM_2theta^2 = U tan^2(theta) + V tan(theta) + W (deg^2; Caglioti 1958)"

    def fwhm_deg(self, tth_deg):
        """Instrument FWHM in 2theta (deg) at 2theta (deg)."""
        t = np.tan(np.radians(np.asarray(tth_deg, float)) / 2)
        f2 = self.U * t ** 2 + self.V * t + self.W
        return np.sqrt(np.clip(f2, 0, None)) if np.ndim(f2) else math.sqrt(max(float(f2), 0))

    def fwhm_q(self, q):
        """Instrument FWHM in q (1/A) at q (1/A), for the calibrant frame's wavelength.

        Examples
        --------
        >>> m = ResolutionModel(U=0.0, V=0.0, W=0.01, wavelength_a=1.0)
        >>> round(m.fwhm_q(1.0), 5)  # (2 pi / 1 A) cos(4.57 deg) x 0.1 deg
        0.01093
        """
        q = np.asarray(q, float)
        s = q * self.wavelength_a / (4 * math.pi)
        if np.any((s < 0) | (s >= 1)):
            raise ValueError(f"q beyond 4 pi / lambda = {4 * math.pi / self.wavelength_a:.3f}"
                             " 1/A")
        theta = np.arcsin(s)
        out = 2 * math.pi / self.wavelength_a * np.cos(theta) * \
            np.radians(self.fwhm_deg(np.degrees(2 * theta)))
        return float(out) if out.ndim == 0 else out

    @classmethod
    def from_dict(cls, d):
        """The model back from :meth:`to_dict` (a calibration report's ``resolution``).

        Examples
        --------
        >>> m = ResolutionModel(U=0.0, V=0.0, W=0.01, wavelength_a=1.0)
        >>> ResolutionModel.from_dict(m.to_dict()).fwhm_q(1.0) == m.fwhm_q(1.0)
        True
        """
        keys = ("U_deg2", "V_deg2", "W_deg2", "wavelength_A")
        missing = [k for k in keys if not isinstance(d.get(k), (int, float))]
        if missing:
            raise ValueError(f"resolution model lacks {', '.join(missing)}")
        return cls(U=float(d["U_deg2"]), V=float(d["V_deg2"]), W=float(d["W_deg2"]),
                   wavelength_a=float(d["wavelength_A"]),
                   tth_range_deg=tuple(d.get("tth_range_deg", (float("nan"),) * 2)),
                   points=list(d.get("points", [])), form=d.get("form", cls.form))

    def to_dict(self):
        return {"U_deg2": self.U, "V_deg2": self.V, "W_deg2": self.W,
                "wavelength_A": self.wavelength_a, "tth_range_deg": list(self.tth_range_deg),
                "form": self.form, "points": list(self.points),
                "q_conversion": "Delta q = (2 pi / lambda) cos(theta) Delta(2 theta)"}


def measure_ring_widths(tth_deg, intensity, sigma=None, *, ring_tth_deg, guess_fwhm_deg=0.1,
                        min_separation=3.0):
    """FWHM (deg) of each isolated calibrant ring in a 1D pattern I(2theta).

    Parameters
    ----------
    tth_deg, intensity, sigma : array
        The pattern (2theta in deg).
    ring_tth_deg : sequence of float
        Expected ring positions (deg), e.g. from the calibrant and the fitted geometry.
    guess_fwhm_deg : float
        Starting width (deg).
    min_separation : float
        Rings closer than this many ``guess_fwhm_deg`` to a neighbour are skipped
        (overlapping lines would be fitted as one).

    Returns
    -------
    list of dict
        ``tth_deg``, ``fwhm_deg``, ``fwhm_err_deg``, ``shape`` per fitted ring.
    """
    from gixs.peaks import fit_peak

    x = np.asarray(tth_deg, float)
    y = np.asarray(intensity, float)
    rings = sorted(float(r) for r in ring_tth_deg if x[0] < r < x[-1])
    out = []
    for i, r in enumerate(rings):
        near = [abs(r - o) for j, o in enumerate(rings) if j != i]
        if near and min(near) < min_separation * guess_fwhm_deg:
            continue
        half = 0.5 * min(near + [6 * guess_fwhm_deg]) if near else 3 * guess_fwhm_deg
        window = (r - min(half, 3 * guess_fwhm_deg), r + min(half, 3 * guess_fwhm_deg))
        try:
            fit = fit_peak(x, y, sigma, centre=r, fwhm=guess_fwhm_deg, window=window,
                           backgrounds=("linear",))
        except (ValueError, RuntimeError):
            continue
        f, fe = fit.values["fwhm"], fit.errors.get("fwhm", float("nan"))
        if not (math.isfinite(f) and f > 0 and math.isfinite(fe) and fe < 0.5 * f):
            continue
        out.append({"tth_deg": float(fit.values["centre"]), "fwhm_deg": float(f),
                    "fwhm_err_deg": float(fe), "shape": fit.shape})
    return out


def fit_caglioti(points, *, wavelength_a):
    """:class:`ResolutionModel` from ring widths (see :func:`measure_ring_widths`).

    Examples
    --------
    >>> pts = [{"tth_deg": t, "fwhm_deg": 0.1, "fwhm_err_deg": 0.002} for t in (10, 20, 30)]
    >>> m = fit_caglioti(pts, wavelength_a=1.0)
    >>> round(m.fwhm_deg(25.0), 3)
    0.1
    """
    if not points:
        raise ValueError("no calibrant ring width measured: cannot build a resolution model")
    tth = np.array([p["tth_deg"] for p in points])
    f = np.array([p["fwhm_deg"] for p in points])
    fe = np.array([p["fwhm_err_deg"] for p in points])
    t = np.tan(np.radians(tth) / 2)
    w = 1.0 / np.clip(2 * f * fe, 1e-12, None)  # error of FWHM^2
    form = ResolutionModel.form
    if len(points) >= 3:
        a = np.stack([t ** 2, t, np.ones_like(t)], axis=1)
        u, v, ww = np.linalg.lstsq(a * w[:, None], f ** 2 * w, rcond=None)[0]
    else:
        u = v = 0.0
        ww = float(np.sum(w ** 2 * f ** 2) / np.sum(w ** 2))
        form = "FWHM_2theta^2 = W (constant: fewer than 3 rings measured; deg^2)"
    q = two_theta_deg_to_q(tth, wavelength_a)
    pts = [dict(p, q=float(qq)) for p, qq in zip(points, q)]
    return ResolutionModel(U=float(u), V=float(v), W=float(ww), wavelength_a=wavelength_a,
                           tth_range_deg=(float(tth.min()), float(tth.max())), points=pts,
                           form=form)


def resolution_from_image(image, geometry, calibrant, *, mask=None, npt=4000,
                          guess_fwhm_deg=0.1):
    """Resolution model from a calibrant frame and its (fitted) geometry.

    ``image`` is the 2D array, ``geometry`` a DetectorGeometry, ``calibrant`` a pyFAI
    calibrant name; the pattern is pyFAI's 1D integration in 2theta (deg).
    """
    from pyFAI.calibrant import get_calibrant

    ai = geometry.make_integrator()
    res = ai.integrate1d(np.asarray(image, float), npt, unit="2th_deg", mask=mask,
                         error_model="poisson")
    cal = get_calibrant(calibrant)
    cal.wavelength = geometry.wavelength_m
    rings = np.degrees(np.asarray(cal.get_2th(), float))
    sigma = res.sigma if res.sigma is not None else None
    if sigma is not None:
        sigma = np.where(np.asarray(sigma) > 0, sigma, np.nan)
    pts = measure_ring_widths(res.radial, res.intensity, sigma, ring_tth_deg=rings,
                              guess_fwhm_deg=guess_fwhm_deg)
    return fit_caglioti(pts, wavelength_a=geometry.wavelength_m * 1e10)
