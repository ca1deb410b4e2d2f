"""Form factor of the dots in the superlattice peak fit: I = A P(q) S(q) + background.

A film of dots scatters I(q) = P(q) S(q): the dots' form factor P times the
structure factor S of their arrangement. Dots that nearly touch (q* R ~ 2.8) put the
first-order peak on the steep fall of P, so the maximum of the measured profile (the
observed peak, ``q_star``) lies below the structure-factor peak (the lattice,
``q_star_structure``) by about 1% for a peak 10% wide and 3% for one 20% wide.
:func:`fit_form_factor` fits both factors jointly; the form and structure factors come
from sasmodels (``sphere``, ``hardsphere``), never from code of ours.

Model, on the analysed profile (q in 1/A, R in nm, sigma relative)::

    I(x) = A P(|q|; R, sigma) S(x) + b0 + b1 (x - x_c)

* P: sasmodels ``sphere`` with a Schulz (default) or Gaussian distribution of radius
  of relative width ``sigma`` (``radius_pd``), normalised to P(0) = 1. On an in-plane
  cut (x = q_xy) its argument is |q| = sqrt(q_xy^2 + q_z^2) with q_z the rms of the
  cut's q_z band (the dots are spheres; the distorted-wave terms of GISAXS are left
  out).
* S: ``peak`` (default): c + h pV(x; q_s, w, eta), a pseudo-Voigt peak of the lattice
  on a flat level c >= 0 (the structure-factor peak is q_s); ``hardsphere``: the
  Percus-Yevick S(q) of sasmodels (effective radius and volume fraction fitted; the
  structure-factor peak is the maximum of the fitted S).
* The linear parameters (A c, A h, b0, b1) are solved exactly for each set of the
  nonlinear ones (variable projection); errors come from the covariance of all
  parameters, scaled by sqrt(reduced chi2) when > 1.

Spec (``--form-factor``): ``sphere:R=5.5[,sigma=0.1][,pd=schulz|gaussian]
[,sq=peak|hardsphere]`` (R fixed, sigma fixed, default 0) or ``auto[:pd=..,sq=..]``
(R and sigma fitted from the high-q decay; refused with the reason when the profile
does not reach past the first minimum of P, q R = 4.49, or when the radius is not
determined to 10%).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from gixs.errors import GixsError
from gixs.peaks import pseudo_voigt
from gixs.superlattice.ffspec import FormFactorSpec, parse_form_factor

__all__ = ["FormFactorError", "sphere_form_factor",
           "hardsphere_structure_factor", "fit_form_factor", "FormFactorFit"]

#: q R of the first zero of the sphere form factor (tan x = x).
FIRST_MINIMUM_QR = 4.4934
#: An auto fit needs the profile to reach this q R (past the first minimum).
AUTO_MIN_QR = 5.0
#: Largest dot radius x q* a spacing allows: touching neighbours, nn / 2 (hex rods
#: nn = 2 d / sqrt3: q* R = 3.63; fcc (111) ring nn = sqrt(3/2) d: q* R = 3.85).
R_MAX_QSTAR = 3.9
#: P(q) is computed by sasmodels on at most this many |q| points across the fit window
#: and interpolated (cubic spline): >= 60 points per oscillation period 2 pi / R for
#: R <= 4 / q*, where the polydisperse P is smooth.
GRID_POINTS = 128
#: Points of the radius distribution (sasmodels radius_pd_n) and its width in sigmas.
PD_N, PD_NSIGMA = 35, 3.0


class FormFactorError(GixsError):
    """The form factor cannot be fitted from this profile; the message says why.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.02, 0.06, 200)  # ends at 1.2 q*: no form-factor minimum
    >>> try:
    ...     fit_form_factor(x, np.ones_like(x), np.ones_like(x), "auto", q_star=0.05,
    ...                     fwhm=0.005)
    ... except FormFactorError as err:
    ...     print(str(err).split(",")[0])
    form factor auto: the profile ends at |q| = 0.0600 A^-1 (1.20 q*)
    """


# -- sasmodels ------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _model(name):
    try:
        from sasmodels.core import load_model
    except ImportError:  # pragma: no cover - depends on the installation
        raise FormFactorError("the form-factor fit needs sasmodels: pip install "
                              "'gixs[formfactor]' (or pip install sasmodels)") from None
    return load_model(name, dtype="double")


def _call(name, q, pars):
    from sasmodels.direct_model import call_kernel

    model = _model(name)
    return np.asarray(call_kernel(model.make_kernel([np.asarray(q, float)]), pars), float)


def sphere_form_factor(q, radius_nm, sigma=0.0, distribution="schulz"):
    """Polydisperse sphere P(|q|) from sasmodels ``sphere``, normalised to P(0) = 1.

    Parameters
    ----------
    q : array_like
        |q| (1/A).
    radius_nm : float
        Mean radius (nm).
    sigma : float
        Relative width of the radius distribution (sasmodels ``radius_pd``).
    distribution : {"schulz", "gaussian"}

    Examples
    --------
    >>> import numpy as np
    >>> p = sphere_form_factor(np.array([1e-4, 4.4934 / 55]), 5.5)
    >>> round(float(p[0]), 4), bool(p[1] < 1e-6)
    (1.0, True)
    """
    q = np.atleast_1d(np.asarray(q, float))
    pars = dict(radius=10.0 * float(radius_nm), radius_pd=float(sigma),
                radius_pd_type=distribution, radius_pd_n=PD_N if sigma > 0 else 1,
                radius_pd_nsigma=PD_NSIGMA, sld=1.0, sld_solvent=0.0, scale=1.0,
                background=0.0)
    out = _call("sphere", np.concatenate([[1e-5], q]), pars)
    return out[1:] / out[0]


def hardsphere_structure_factor(q, radius_effective_nm, volfraction):
    """Percus-Yevick hard-sphere S(|q|) from sasmodels ``hardsphere``.

    Examples
    --------
    >>> import numpy as np
    >>> s = hardsphere_structure_factor(np.array([1e-3, 0.0545]), 6.25, 0.45)
    >>> bool(s[0] < 0.1), bool(s[1] > 2)
    (True, True)
    """
    q = np.atleast_1d(np.asarray(q, float))
    return _call("hardsphere", q, dict(radius_effective=10.0 * float(radius_effective_nm),
                                       volfraction=float(volfraction), scale=1.0,
                                       background=0.0))


# -- the joint fit --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FormFactorFit:
    """Result of :func:`fit_form_factor` (q in 1/A, lengths in nm).

    ``q_star_structure`` is the structure-factor peak, ``q_profile_maximum`` the
    maximum of the fitted A P S + background (the observed peak of the joint model).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.02, 0.12, 600)
    >>> y = 1e3 * sphere_form_factor(x, 5.5, 0.1) * (1 + 3 / (1 + ((x - 0.05) / 0.0025) ** 2))
    >>> f = fit_form_factor(x, y + 5, np.sqrt(y + 5), "sphere:R=5.5,sigma=0.1",
    ...                     q_star=0.05, fwhm=0.005)
    >>> d = f.as_dict()
    >>> d["model"], d["radius_nm"], d["fitted"], round(f.q_star_structure, 4)
    ('sphere', 5.5, False, 0.05)
    """

    q_star_structure: float
    q_star_structure_err: float
    q_profile_maximum: float
    q_profile_maximum_err: float
    spec: FormFactorSpec
    radius_nm: float
    sigma: float
    radius_err_nm: float
    sigma_err: float
    structure_params: dict
    redchi: float
    window: tuple
    qz_A: float
    n_points: int
    curve: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def as_dict(self) -> dict:
        """The ``form_factor`` entry of the ordering JSON."""
        return {"model": self.spec.model, "distribution": self.spec.distribution,
                "structure_factor": self.spec.structure, "radius_nm": self.radius_nm,
                "sigma": self.sigma, "radius_err_nm": self.radius_err_nm,
                "sigma_err": self.sigma_err, "fitted": self.spec.fitted,
                "structure_params": dict(self.structure_params), "redchi": self.redchi,
                "window_A^-1": list(self.window), "q_profile_maximum": self.q_profile_maximum,
                "q_profile_maximum_err": self.q_profile_maximum_err,
                "form_factor_qz_A^-1": self.qz_A, "n_points": self.n_points,
                "abscissa": ("|q| = sqrt(x^2 + q_z^2) with q_z the rms of the cut's band"
                             if self.qz_A > 0 else "|q| = x")}


class _Model:
    """Nonlinear parameters -> design matrix of the linear ones, on the fit points."""

    def __init__(self, x, spec, qz, q_star, fwhm):
        self.x, self.spec, self.qz = x, spec, qz
        self.qabs = np.sqrt(x ** 2 + qz ** 2)
        self.xc = 0.5 * (x[0] + x[-1])
        self.span = max(x[-1] - x[0], 1e-12)
        n = min(x.size, GRID_POINTS)
        self.grid = np.linspace(self.qabs.min(), self.qabs.max(), n)
        self.direct = n == x.size
        self._pcache = {}
        #: linear coefficients kept >= 0: the flat level A c of S = c + h pV
        self.nonneg = (0,) if spec.structure == "peak" else ()
        names, p0, lo, hi = [], [], [], []
        if spec.structure == "peak":
            names += ["q_s", "w", "eta"]
            p0 += [q_star, fwhm, 0.5]
            lo += [0.8 * q_star, 0.15 * fwhm, 0.0]
            hi += [1.25 * q_star, 3.0 * fwhm, 1.0]
        else:
            names += ["r_eff", "phi"]
            p0 += [3.4 / q_star / 10.0, 0.4]
            lo += [2.2 / q_star / 10.0, 0.05]
            hi += [4.8 / q_star / 10.0, 0.6]
        if spec.fitted:
            names += ["radius", "sigma"]
            p0 += [2.8 / q_star / 10.0, 0.1]
            lo += [1.2 / q_star / 10.0, 0.0]
            hi += [R_MAX_QSTAR / q_star / 10.0, 0.35]
        self.names, self.p0 = names, np.array(p0)
        self.lo, self.hi = np.array(lo), np.array(hi)

    def form(self, radius, sigma):
        key = (radius, sigma)
        p = self._pcache.get(key)
        if p is None:
            if self.direct:
                p = sphere_form_factor(self.qabs, radius, sigma, self.spec.distribution)
            else:
                from scipy.interpolate import CubicSpline

                g = sphere_form_factor(self.grid, radius, sigma, self.spec.distribution)
                p = CubicSpline(self.grid, g)(self.qabs)
            if len(self._pcache) > 64:
                self._pcache.clear()
            self._pcache[key] = p
        return p

    def split(self, theta):
        d = dict(zip(self.names, theta))
        if self.spec.fitted:
            return d, d["radius"], d["sigma"]
        return d, self.spec.radius_nm, self.spec.sigma

    def columns(self, theta, x=None):
        """Design matrix (n, k) of the linear parameters at ``x`` (default fit points)."""
        d, r, sg = self.split(theta)
        if x is None:
            x, p = self.x, self.form(r, sg)
        else:
            p = sphere_form_factor(np.sqrt(x ** 2 + self.qz ** 2), r, sg,
                                   self.spec.distribution)
        lin = [np.ones_like(x), (x - self.xc) / self.span]
        if self.spec.structure == "peak":
            return np.column_stack([p, p * pseudo_voigt(x, 1.0, d["q_s"], d["w"], d["eta"])]
                                   + lin)
        s = hardsphere_structure_factor(x, d["r_eff"], d["phi"])
        return np.column_stack([p * s] + lin)


def _top(x, y):
    """Abscissa of the maximum of samples ``y(x)``, refined by a parabola."""
    k = int(np.argmax(y))
    if 0 < k < x.size - 1:
        a, b, cc = y[k - 1], y[k], y[k + 1]
        if a - 2 * b + cc < 0:
            return float(x[k] + 0.5 * (a - cc) / (a - 2 * b + cc) * (x[1] - x[0]))
    return float(x[k])


def _solve(cols, y, wt, nonneg=()):
    """Weighted linear least squares; a coefficient in ``nonneg`` that comes out
    negative is pinned to 0 and the others solved again (one active constraint)."""
    a = cols * wt[:, None]
    c, *_ = np.linalg.lstsq(a, y * wt, rcond=None)
    for j in nonneg:
        if c[j] < 0:
            keep = np.arange(cols.shape[1]) != j
            c = np.zeros(cols.shape[1])
            c[keep], *_ = np.linalg.lstsq(a[:, keep], y * wt, rcond=None)
    return c


def fit_form_factor(x, y, sigma, spec, *, q_star, fwhm, qz=0.0, exclude=(),
                    q_max=None) -> FormFactorFit:
    """Fit A P(|q|) S(x) + b0 + b1 x to a profile around its first-order peak.

    Parameters
    ----------
    x, y, sigma : ndarray
        Profile abscissa (1/A; |q|, or |q_xy| of an in-plane cut), intensity, errors.
    spec : FormFactorSpec or str
        What to fit (see :func:`parse_form_factor`).
    q_star, fwhm : float
        Line-shape centre and FWHM of the first-order peak from the plain fit (1/A).
    qz : float
        q_z (1/A) added in quadrature to ``x`` for P's argument (in-plane cuts).
    exclude : sequence of (float, float)
        x ranges left out of the fit (higher orders the single S peak does not model).
    q_max : float, optional
        Upper end of the fit window (1/A); default q* + 2.5 FWHM when R is given, the
        end of the profile (at most 3.5 q*) for ``auto``.

    Raises
    ------
    FormFactorError
        ``auto`` on a profile that does not reach past the first form-factor minimum,
        or a fit that does not determine the radius; too few points; a negative
        amplitude.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.02, 0.12, 600)
    >>> qs = 2 * np.pi / 125
    >>> s_q = 1 + 3 / (1 + 4 * ((x - qs) / (0.1 * qs)) ** 2)
    >>> y = 1e3 * sphere_form_factor(x, 5.5, 0.1) * s_q + 5
    >>> f = fit_form_factor(x, y, np.sqrt(y), "sphere:R=5.5,sigma=0.1", q_star=0.05, fwhm=0.005)
    >>> round(2 * np.pi / f.q_star_structure / 10, 2), bool(f.q_profile_maximum < qs)
    (12.5, True)
    """
    import scipy.optimize

    spec = parse_form_factor(spec)
    if spec is None:
        raise ValueError("--form-factor: fit_form_factor needs a spec, got None")
    x, y, sigma = (np.asarray(a, float) for a in (x, y, sigma))
    lo = max(float(x[0]), q_star - 2.5 * fwhm, 0.5 * q_star)
    if q_max is not None:
        hi = float(q_max)
    elif spec.fitted:
        hi = min(float(x[-1]), 3.5 * q_star)
    else:
        hi = min(float(x[-1]), q_star + 2.5 * fwhm)
    sel = (x >= lo) & (x <= hi) & np.isfinite(y) & (sigma > 0)
    for a, b in exclude:
        sel &= ~((x >= a) & (x <= b))
    if sel.sum() < 15:
        raise FormFactorError(f"form factor: only {int(sel.sum())} profile points in "
                              f"{lo:.4f}..{hi:.4f} A^-1 (need 15)")
    xs, ys, ws = x[sel], y[sel], 1.0 / sigma[sel]
    qabs_end = math.hypot(float(xs[-1]), qz)
    if spec.fitted and qabs_end * R_MAX_QSTAR / q_star < AUTO_MIN_QR:
        # even dots touching their neighbours (the largest radius the spacing allows)
        # would not show their first minimum before the profile ends
        raise FormFactorError(
            f"form factor auto: the profile ends at |q| = {qabs_end:.4f} A^-1 "
            f"({qabs_end / q_star:.2f} q*), before the first form-factor minimum "
            f"(q R = {FIRST_MINIMUM_QR}) of any dot that fits the spacing; give "
            "--form-factor sphere:R=..,sigma=.. or measure to higher q")
    m = _Model(xs, spec, float(qz), float(q_star), float(fwhm))
    theta0 = m.p0.copy()
    if spec.fitted:
        # coarse start of the radius: best linear fit on a grid (peak from the plain fit)
        ir = m.names.index("radius")
        best = None
        for r in np.linspace(m.lo[ir], m.hi[ir], 10)[1:-1]:
            th = theta0.copy()
            th[ir] = r
            cols = m.columns(th)
            c = _solve(cols, ys, ws, m.nonneg)
            chi = float(np.sum(((cols @ c - ys) * ws) ** 2))
            if best is None or chi < best[0]:
                best = (chi, r)
        theta0[ir] = best[1]
    theta0 = np.clip(theta0, m.lo + 1e-9 * abs(m.lo), m.hi - 1e-9 * abs(m.hi))

    def resid(th):
        cols = m.columns(th)
        return (cols @ _solve(cols, ys, ws, m.nonneg) - ys) * ws

    sol = scipy.optimize.least_squares(resid, theta0, bounds=(m.lo, m.hi), x_scale="jac",
                                       method="trf", xtol=1e-10, ftol=1e-10, max_nfev=300)
    th = sol.x
    cols = m.columns(th)
    c = _solve(cols, ys, ws, m.nonneg)
    amp = c[1] if spec.structure == "peak" else c[0]
    if not amp > 0:
        raise FormFactorError(
            f"form factor: the fitted {'S(q) peak' if spec.structure == 'peak' else 'P S'}"
            f" amplitude is not positive ({spec.describe()}): the profile does not look "
            "like P(q) S(q) here; check R and sigma or try another sq=")
    dof = max(xs.size - th.size - c.size, 1)
    redchi = float(np.sum(resid(th) ** 2) / dof)
    # covariance of all parameters (nonlinear by finite differences, linear exact)
    jac = np.empty((xs.size, th.size + c.size))
    for i in range(th.size):
        h = 1e-6 * max(abs(th[i]), 1e-3 * (m.hi[i] - m.lo[i]))
        tp, tm = th.copy(), th.copy()
        tp[i] = min(th[i] + h, m.hi[i])
        tm[i] = max(th[i] - h, m.lo[i])
        jac[:, i] = (m.columns(tp) @ c - m.columns(tm) @ c) / (tp[i] - tm[i])
    jac[:, th.size:] = cols
    jac *= ws[:, None]
    try:
        cov = np.linalg.pinv(jac.T @ jac) * max(redchi, 1.0)
    except np.linalg.LinAlgError:
        cov = np.full((jac.shape[1],) * 2, np.nan)
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    d, radius, sg = m.split(th)
    r_err = s_err = 0.0
    if spec.fitted:
        r_err = float(err[m.names.index("radius")])
        s_err = float(err[m.names.index("sigma")])
        if not (math.isfinite(r_err) and r_err <= 0.1 * radius):
            raise FormFactorError(f"form factor auto: radius not determined ({radius:.2f} "
                                  f"+- {r_err:.2g} nm); give --form-factor sphere:R=..")
        if qabs_end * radius * 10 < AUTO_MIN_QR:
            raise FormFactorError(
                f"form factor auto: the profile ends at |q| = {qabs_end:.4f} A^-1, q R = "
                f"{qabs_end * radius * 10:.2f} for the fitted R = {radius:.2f} nm: it does "
                f"not reach past the first form-factor minimum (q R = {FIRST_MINIMUM_QR});"
                " give --form-factor sphere:R=..,sigma=.. or measure to higher q")
    # structure-factor peak
    if spec.structure == "peak":
        iq = m.names.index("q_s")
        qs, qs_err = float(th[iq]), float(err[iq])
        sp = {"q_s_A^-1": qs, "fwhm_A^-1": float(d["w"]), "eta": float(d["eta"]),
              "peak_over_level": float(c[1] / c[0]) if c[0] > 0 else float("inf")}
    else:
        ir, ip = m.names.index("r_eff"), m.names.index("phi")

        def smax(r_eff, phi):
            g = np.linspace(0.7 * q_star, 1.4 * q_star, 1401)
            return _top(g, hardsphere_structure_factor(g, r_eff, phi))

        qs = smax(d["r_eff"], d["phi"])
        grad = np.zeros(th.size + c.size)
        for i, key in ((ir, "r_eff"), (ip, "phi")):
            h = 1e-4 * th[i]
            a = dict(r_eff=d["r_eff"], phi=d["phi"])
            b = dict(a)
            a[key] += h
            b[key] -= h
            grad[i] = (smax(**a) - smax(**b)) / (2 * h)
        qs_err = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
        sp = {"radius_effective_nm": float(d["r_eff"]), "volfraction": float(d["phi"]),
              "radius_effective_err_nm": float(err[ir]), "volfraction_err": float(err[ip])}
    # observed peak of the joint model, its error from the covariance of all parameters
    g = np.linspace(max(lo, q_star - 0.75 * fwhm), min(hi, q_star + 0.75 * fwhm), 301)
    cg = m.columns(th, g)
    qmax = _top(g, cg @ c)
    grad = np.zeros(th.size + c.size)
    for i in range(th.size):
        h = 1e-5 * max(abs(th[i]), 1e-3 * (m.hi[i] - m.lo[i]))
        tp, tm = th.copy(), th.copy()
        tp[i], tm[i] = th[i] + h, th[i] - h
        grad[i] = (_top(g, m.columns(tp, g) @ c) - _top(g, m.columns(tm, g) @ c)) / (2 * h)
    for j in range(c.size):
        h = 1e-6 * max(abs(c[j]), 1e-12)
        dc = np.zeros_like(c)
        dc[j] = h
        grad[th.size + j] = (_top(g, cg @ (c + dc)) - _top(g, cg @ (c - dc))) / (2 * h)
    qmax_err = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
    return FormFactorFit(
        q_star_structure=qs, q_star_structure_err=qs_err, q_profile_maximum=qmax,
        q_profile_maximum_err=qmax_err, spec=spec,
        radius_nm=float(radius), sigma=float(sg), radius_err_nm=r_err, sigma_err=s_err,
        structure_params=sp, redchi=redchi, window=(float(lo), float(hi)), qz_A=float(qz),
        n_points=int(xs.size), curve=(xs, cols @ c))
