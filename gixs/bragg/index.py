"""Assign Bragg peaks to (hkl) of one or more phases and refine their lattices.

Observed peaks are 2D spots (q_xy, q_z) of a q_xy/q_z map, matched to the fibre-texture
spots of textured phases (:func:`gixs.bragg.lattice.predict_gi_spots`), or |q| peaks (rings of
a GIWAXS map, lab powder XRD), matched to the rings of randomly oriented phases.

How (per phase, from a guess that may be several % off):

1. scale search: every cell length times ``s`` on a grid over ``1 +- scale_range``; the
   ``s`` with the highest match score ``sum(max(0, 1 - (d / tol)^2))`` over observed
   peaks wins (d = distance to the nearest prediction, 1/A);
2. exclusive assignment: each peak goes to the nearest prediction of all phases; a
   second prediction (another position or phase) almost as close makes it ambiguous;
3. least squares (:func:`scipy.optimize.least_squares`) of the free lattice constants
   of the crystal system (and, if asked, the tilt of the texture axis) on the
   peaks assigned to the phase; steps 2-3 repeat with the refined lattices.

Residuals are in 1/A: ``|q_xy|, q_z`` differences for spots, ``|q|`` for rings. Spots
at the sample horizon (the q_z of in-plane reflections is clipped there) are fitted on
q_xy only. Standard errors come from the Jacobian (scaled by the residual rms).

Intensities: every assignment carries its observed integrated intensity and the one
predicted for the refined lattice (:mod:`gixs.bragg.intensity`: |F|^2 at the beam energy
times the geometry's Lorentz-polarization factor, summed over the predictions blended
within the observed FWHM), scaled by one factor fitted per phase; each phase reports
the agreement (Spearman rank correlation, R factor) and a strong peak assigned to a
predicted-very-weak reflection is flagged.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from gixs.errors import IndexingError
from gixs.bragg.intensity import (agreement, contradicts, lorentz_polarization,
                                  march_dollase_rows)
from gixs.bragg.lattice import CHANNELS, Phase, gi_exit_qz, surface_normal

UNITS = {"q": "A^-1", "qxy": "A^-1", "qz": "A^-1", "residual": "A^-1", "a": "A", "b": "A",
         "c": "A", "alpha": "deg", "beta": "deg", "gamma": "deg",
         "texture_tilt": "deg", "intensity": "input units (map: a.u. x A^-2)",
         "intensity_pred": "input units (scaled prediction)", "energy_kev": "keV"}


@dataclasses.dataclass(frozen=True)
class PhaseModel:
    """A phase as indexed: textured (``orientation`` = (h, k, l) parallel to the
    surface) or random powder (``orientation`` None). Immutable: :func:`assign` never
    changes a caller's model.

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> PhaseModel(builtin_phase("Si"), [0, 0, 1]).orientation
    (0, 0, 1)
    """

    phase: Phase
    orientation: tuple | None = None
    refine: bool = True
    #: March-Dollase preferred orientation of a random powder, ((h, k, l), r), applied
    #: to its predicted ring intensities (:func:`gixs.bragg.intensity.march_dollase`).
    texture: tuple | None = None

    def __post_init__(self):
        if self.texture is not None:
            pref, r = self.texture
            object.__setattr__(self, "texture", (tuple(int(v) for v in pref), float(r)))
            march_dollase_rows(self.phase, [pref], pref, float(r))  # validates
            if self.orientation is not None:
                raise ValueError(f"phase {self.phase.name}: a March-Dollase texture is "
                                 "for random powders (orientation None); a fibre-"
                                 "textured film has its orientation instead")
        if self.orientation is not None:
            # normalise at construction (the instance is not visible to anyone yet)
            object.__setattr__(self, "orientation", tuple(int(v) for v in self.orientation))
            surface_normal(self.phase, self.orientation)  # validates


def as_models(phases) -> list:
    """PhaseModel list from Phase, PhaseModel or (Phase, orientation[, refine]) items.

    Parameters
    ----------
    phases : sequence
        Phase (random powder), PhaseModel, or tuple of PhaseModel arguments.

    Returns
    -------
    list of PhaseModel

    Examples
    --------
    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> [(m.orientation, m.refine) for m in as_models([si, (si, (0, 0, 1), False)])]
    [(None, True), ((0, 0, 1), False)]
    """
    return [p if isinstance(p, PhaseModel) else PhaseModel(*p) if isinstance(p, tuple)
            else PhaseModel(p) for p in phases]


@dataclasses.dataclass(frozen=True)
class IndexResult:
    """Phases (initial and refined lattices), per-peak assignments, unassigned peaks.
    Frozen: a derived result is a new object (:func:`dataclasses.replace`).

    Examples
    --------
    Made by :func:`assign`; ``to_dict()`` is its JSON form with units:

    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> peaks = [{"q": float(q), "fwhm": 0.01} for q in si.q_of([[1, 1, 1], [2, 2, 0]])]
    >>> res = assign(peaks, [si], refine=False)
    >>> len(res.assigned("Si")), res.unassigned, res.to_dict()["units"]["q"]
    (2, (), 'A^-1')
    """

    phases: tuple
    peaks: tuple
    unassigned: tuple
    notes: tuple
    #: (refined Phase, orientation or None, texture normal or None) per phase, for plots
    models: tuple = dataclasses.field(default_factory=tuple, repr=False)

    def __post_init__(self):
        # the sequences are tuples: nobody appends to a result after it is made
        for name in ("phases", "peaks", "unassigned", "notes", "models"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_dict(self) -> dict:
        return {"phases": list(self.phases), "peaks": list(self.peaks),
                "unassigned": list(self.unassigned), "notes": list(self.notes),
                "units": UNITS}

    def assigned(self, phase=None):
        return [p for p in self.peaks if phase is None or p["phase"] == phase]


def _obs_table(peaks):
    rows = []
    for p in peaks:
        d = p if isinstance(p, dict) else (p.as_dict() if hasattr(p, "as_dict") else vars(p))
        if "qz" in d and d.get("qz") is not None and d.get("qxy") is not None:
            rows.append({"kind": "spot", "qxy": float(d["qxy"]), "qz": float(d["qz"]),
                         "q": float(math.hypot(d["qxy"], d["qz"])),
                         "intensity": float(d.get("intensity", np.nan)),
                         "fwhm": float(np.nanmean([d.get("fwhm_qxy", np.nan),
                                                   d.get("fwhm_qz", np.nan)])),
                         "fwhm_qxy": float(d.get("fwhm_qxy", np.nan)),
                         "fwhm_qz": float(d.get("fwhm_qz", np.nan)),
                         "sigma_qxy": float(d.get("sigma_qxy", np.nan)),
                         "sigma_qz": float(d.get("sigma_qz", np.nan)),
                         "coverage": float(d.get("coverage", 1.0))})
        elif "q" in d or "x" in d:
            q = float(d.get("q", d.get("x")))
            rows.append({"kind": "ring", "q": q, "intensity": float(d.get("area", d.get(
                "intensity", np.nan))), "fwhm": float(d.get("fwhm", np.nan)),
                "sigma_q": float(d.get("sigma_q", d.get("sigma", np.nan)))})
        else:
            raise ValueError(f"peak {d!r} has neither (qxy, qz) nor q")
    return rows


class _Predictor:
    """Fast predicted positions of one phase model for trial lattices.

    Textured phases get one row per (hkl, channel); ``rows`` and ``channel`` give the
    reflection and the exit channel of each row. ``positions`` returns
    ``(qxy, qz, q, qz_lo)``: a spot may sit anywhere in ``[qz_lo, qz]`` on q_z (equal
    except for in-plane reflections placed at the Yoneda, which spread from the
    sample horizon up to it).
    """

    def __init__(self, model, q_max, horizon_qz, refraction, channels=("transmitted",)):
        self.model = model
        hkl = model.phase.all_hkl(q_max)
        f2 = model.phase.structure_factor2(hkl) if len(hkl) else np.zeros(0)
        keep = f2 > 1e-4 * f2.max(initial=0)
        self.hkl, self.f2 = hkl[keep], f2[keep]
        self.horizon_qz = horizon_qz
        self.refraction = refraction
        self.channels = tuple(channels) if (refraction is not None
                                            and model.orientation is not None) else (
            "transmitted",)
        n = len(self.hkl)
        self.rows = np.tile(self.hkl, (len(self.channels), 1))
        self.channel = np.repeat(np.array(self.channels), n)

    def positions(self, phase, tilt=(0.0, 0.0)):
        """(qxy, qz, q, qz_lo) per row for the trial phase (rings: qz, qz_lo NaN)."""
        g = self.hkl @ phase.reciprocal_matrix()
        q = np.linalg.norm(g, axis=1)
        if self.model.orientation is None:
            nan = np.full_like(q, np.nan)
            return q, nan, q, nan
        n = surface_normal(phase, self.model.orientation)
        if any(tilt):
            n = _tilted(n, tilt)
        qz_in = g @ n
        qxy = np.sqrt(np.clip(q * q - qz_in * qz_in, 0, None))
        qz_in = np.where(qz_in < -1e-6, np.nan, np.clip(qz_in, 0, None))  # mirrors exist
        if self.refraction is None:
            qz = qz_in if self.horizon_qz is None else np.maximum(qz_in, self.horizon_qz)
            return qxy, qz, q, qz
        wl, ai, ac = self.refraction
        out_z, out_lo = [], []
        horizon = 2 * math.pi / wl * math.sin(ai)
        for ch in self.channels:
            with np.errstate(invalid="ignore"):
                qz, yon = gi_exit_qz(qz_in, wl, ai, ac, channel=ch)
            qz = np.where(np.isnan(qz_in), np.nan, qz)
            out_z.append(qz)
            out_lo.append(np.where(yon, horizon, qz))
        k = len(self.channels)
        return (np.tile(qxy, k), np.concatenate(out_z), np.tile(q, k),
                np.concatenate(out_lo))


def _qz_gap(obs_qz, qz, qz_lo):
    """Signed q_z distance (1/A) from an observed q_z to the interval [qz_lo, qz]."""
    gap = np.where(obs_qz > qz, obs_qz - qz, np.where(obs_qz < qz_lo, obs_qz - qz_lo, 0.0))
    return np.where(np.isnan(qz), np.nan, gap)  # NaN: not seen (below the film plane)


def _tilted(n, tilt):
    """Unit normal ``n`` tilted by two small angles (rad) about two perpendicular axes."""
    u1 = np.cross(n, [0, 0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0, 0])
    u1 /= np.linalg.norm(u1)
    u2 = np.cross(n, u1)
    n = n + tilt[0] * u1 + tilt[1] * u2
    return n / np.linalg.norm(n)


def _distances(obs, pred, textured):
    """(n_obs, n_pred) distances (1/A); spots vs textured spots, rings vs rings."""
    qxy, qz, q, qz_lo = pred
    d = np.full((len(obs), len(q)), np.inf)
    for i, o in enumerate(obs):
        if o["kind"] == "spot" and textured:
            d[i] = np.nan_to_num(np.hypot(abs(o["qxy"]) - qxy, _qz_gap(o["qz"], qz, qz_lo)),
                                 nan=np.inf)
        elif o["kind"] == "ring" and not textured:
            d[i] = np.abs(o["q"] - q)
    return d


def _score(dmin, tol):
    return float(np.clip(1 - (dmin / tol) ** 2, 0, None).sum())


def _scale_search(obs, pred, model, tol, scale_range):
    qmax = max((o["q"] for o in obs), default=1.0)
    step = max(tol / qmax / 3, 2e-4)
    best = (-1.0, 1.0)
    for s in np.arange(1 - scale_range, 1 + scale_range + step / 2, step):
        d = _distances(obs, pred.positions(model.phase.scaled(s)),
                       model.orientation is not None)
        score = _score(d.min(axis=1) if d.size else np.zeros(0), tol) if d.size else 0.0
        if score > best[0] + 1e-9 or (abs(score - best[0]) < 1e-9 and abs(s - 1) < abs(
                best[1] - 1)):
            best = (score, s)
    return best[1]


def _param_vector(model, phase, fit_tilt):
    names = list(phase.free_parameters) if model.refine else []
    vals = [getattr(phase, k) for k in names]
    if fit_tilt and model.orientation is not None:
        names += ["tilt_u", "tilt_v"]
        vals += [0.0, 0.0]
    return names, np.array(vals, float)


def _residuals(obs_rows, hkl_idx, model, pred, phase0, names, vals, horizon_qz):
    lat = {k: v for k, v in zip(names, vals) if not k.startswith("tilt")}
    phase = phase0.with_parameters(**lat) if lat else phase0
    tilt = tuple(vals[names.index(k)] for k in ("tilt_u", "tilt_v")) if "tilt_u" in names \
        else (0.0, 0.0)
    qxy, qz, q, qz_lo = pred.positions(phase, tilt)
    res = []
    for o, j in zip(obs_rows, hkl_idx):
        if o["kind"] == "ring":
            res.append(o["q"] - q[j])
        else:
            res.append(abs(o["qxy"]) - qxy[j])
            near = pred.refraction is None and horizon_qz is not None and \
                qz[j] <= horizon_qz + 1e-9
            res.append(0.0 if near else float(_qz_gap(o["qz"], qz[j], qz_lo[j])))
    return np.array(res)


#: Smallest position uncertainty (1/A) a peak is given in the refinement: q-map binning,
#: geometry and the fitted peak shape limit any position to about this.
SIGMA_FLOOR = 1e-4

#: Smallest measured fraction of a spot's fit patch (``Spot.coverage``) for its
#: intensity to enter the intensity agreement (isolated empty bins tolerated).
MIN_COVERAGE = 0.95


def _sigmas(obs_rows):
    """Per-residual position standard errors (1/A, same order as :func:`_residuals`), or
    None when the peaks carry none (then all weigh the same)."""
    sig = []
    for o in obs_rows:
        if o["kind"] == "ring":
            sig.append(o.get("sigma_q", np.nan))
        else:
            sig += [o.get("sigma_qxy", np.nan), o.get("sigma_qz", np.nan)]
    sig = np.array(sig, float)
    if not np.isfinite(sig).any():
        return None
    # a peak without its own error gets the median of the others (never a free ride)
    sig = np.where(np.isfinite(sig), sig, np.nanmedian(sig))
    return np.maximum(sig, SIGMA_FLOOR)


def _refine(model, pred, phase0, obs_rows, hkl_idx, fit_tilt, horizon_qz, tol):
    """Least squares of the free lattice constants (and tilt) on the assigned peaks.

    Residuals are divided by the peaks' position standard errors (``sigma_*`` of the
    observations, at least :data:`SIGMA_FLOOR`) when they carry them. Parameter
    standard errors: ``sqrt(diag(inv(J_w^T J_w)) * max(1, chi2_w / dof))``: the stated
    position errors, scaled up when the residuals scatter more than they say (Birge
    ratio); without position errors, ``chi2 / dof`` of the unweighted residuals.
    Returns (phase, errors, tilt, stats).
    """
    names, x0 = _param_vector(model, phase0, fit_tilt)
    n_res = len(_residuals(obs_rows, hkl_idx, model, pred, phase0, names, x0, horizon_qz))
    if not names or n_res <= len(names):
        return phase0, {}, (0.0, 0.0), {}
    sig = _sigmas(obs_rows)
    w = np.ones(n_res) if sig is None else 1.0 / sig
    scale = 1.0 if sig is None else float(np.median(sig))

    def fun(v):
        return _residuals(obs_rows, hkl_idx, model, pred, phase0, names, v, horizon_qz) * w
    # soft-L1 loss: blended or mis-fitted peaks (residual >> tol / 4) weigh less
    fit = optimize.least_squares(fun, x0, x_scale=np.where(np.array(
        [n.startswith("tilt") for n in names]), 0.01, np.abs(x0) * 0.01 + 1e-3),
        loss="soft_l1", f_scale=tol / 4 / scale)
    dof = max(n_res - len(names), 1)
    chi2 = float(fit.fun @ fit.fun) / dof
    s2 = chi2 if sig is None else max(1.0, chi2)
    try:
        cov = np.linalg.pinv(fit.jac.T @ fit.jac) * s2
        err = dict(zip(names, np.sqrt(np.clip(np.diag(cov), 0, None))))
    except np.linalg.LinAlgError:
        err = {}
    vals = dict(zip(names, fit.x))
    tilt = (vals.pop("tilt_u", 0.0), vals.pop("tilt_v", 0.0))
    stats = {"n_residuals": int(n_res), "n_free": len(names),
             "position_errors": "peak fits" if sig is not None else "residual scatter",
             "chi2_reduced": chi2 if sig is not None else None}
    return (phase0.with_parameters(**vals) if vals else phase0), err, tilt, stats


def assign(peaks, phases, *, refine=True, tol=None, scale_range=0.05, horizon_qz=None,
           refraction=None, channels=("transmitted",), fit_texture=False, ambiguity=0.5,
           iterations=4, prior=None, wavelength_a=None,
           powder_geometry="powder_2d") -> IndexResult:
    """Index observed peaks with one or more phases and refine their lattices.

    Parameters
    ----------
    peaks : sequence
        :class:`gixs.bragg.spots.Spot` / dicts with ``qxy, qz`` (1/A) for 2D spots, and/or
        :class:`gixs.bragg.spots.Peak1D` / dicts with ``q`` (1/A) for rings or powder peaks.
    phases : sequence of Phase, PhaseModel or (Phase, orientation)
        ``orientation`` (h, k, l) parallel to the surface, or None for random powder.
    refine : bool
        Refine lattice constants (free ones of the crystal system).
    tol : float, optional
        Match tolerance (1/A); default 0.7 x the median observed FWHM, within 0.01-0.05.
    scale_range : float
        Relative range of the starting scale search (0.05 = +-5 %).
    horizon_qz : float, optional
        q_z of the sample horizon (1/A): predicted q_z below it are clipped to it.
    refraction : (wavelength_a, incidence_rad, critical_angle_rad), optional
        Predicted q_z shifted to where a map without refraction correction shows them
        (:func:`gixs.bragg.lattice.gi_exit_qz`); in-plane reflections of the transmitted
        channel sit at the Yoneda (``at_yoneda`` in the peak entry) and match anywhere
        between the sample horizon and it.
    channels : tuple of str
        Exit channels predicted with ``refraction``: "transmitted" and/or "reflected"
        (Busch et al., J. Appl. Cryst. 39, 433 (2006)); each peak names its channel.
    fit_texture : bool
        Also refine the tilt of the texture axis (two small angles).
    ambiguity : float
        A second candidate within ``d_best + ambiguity * tol`` marks the peak ambiguous.
    wavelength_a : float, optional
        Beam wavelength (A) for the predicted intensities (anomalous f', f''; the
        Bragg-Brentano factor); default the refraction wavelength, else f0 only.
    powder_geometry : {"powder_2d", "bragg_brentano"}
        Lorentz-polarization of ring intensities (:mod:`gixs.bragg.intensity`):
        polarization-corrected 2D data, or a lab diffractometer pattern.
    prior : float, optional
        Relative prior on the cell lengths (0.02 = +-2 %; default ``scale_range``): a
        refined length farther from its start is warned about.

    Notes
    -----
    Guard rails, each said in the phase's ``warnings``: the scale search or a refined
    length ending at the edge of the +-``scale_range`` search (warned), a length beyond
    the prior (warned), fewer assigned peaks than free parameters + 2 (refused: lattice
    kept at its start, ``refined`` false), a figure of merit below its threshold
    (:func:`figure_of_merit`, warned). ``fit`` gives chi2/dof of the weighted
    refinement; ``errors`` include the peaks' position uncertainties (:func:`_refine`).

    Examples
    --------
    Rings of silicon expanded to a = 5.5 A, indexed from the tabulated 5.431 A (1.3 %
    off) and refined back:

    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> rings = si.with_parameters(a=5.5).reflections(4.6, min_rel_intensity=1e-3).q
    >>> res = assign([{"q": float(q), "fwhm": 0.01} for q in rings], [si])
    >>> [p["hkl"] for p in res.peaks]
    [[1, 1, 1], [2, 2, 0], [3, 1, 1], [4, 0, 0]]
    >>> ph = res.phases[0]
    >>> ph["initial"]["a"], round(ph["lattice"]["a"], 4), ph["refined"]
    (5.43102, 5.5, True)
    """
    obs = _obs_table(peaks)
    if not obs:
        raise IndexingError("no peaks to index")
    models = as_models(phases)
    if not models:
        raise IndexingError("no phase given to index with")
    if powder_geometry not in ("powder_2d", "bragg_brentano"):
        raise ValueError("powder_geometry must be 'powder_2d' or 'bragg_brentano', got "
                         f"{powder_geometry!r}")
    if wavelength_a is None and refraction is not None:
        wavelength_a = refraction[0]
    notes = []
    if all(o["kind"] == "ring" for o in obs):
        for i, m in enumerate(models):
            if m.orientation is not None:
                notes.append(f"{m.phase.name}: 1D peaks only, indexed as a random powder")
                models[i] = dataclasses.replace(m, orientation=None)
    if tol is None:
        widths = np.array([o["fwhm"] for o in obs], float)
        widths = widths[np.isfinite(widths)]
        tol = float(np.clip(0.7 * np.median(widths), 0.01, 0.05)) if widths.size else 0.03
    q_max = max(o["q"] for o in obs) * (1 + scale_range) + 2 * tol
    bad = [c for c in channels if c not in CHANNELS]
    if bad or not channels:
        raise ValueError(f"channels must be some of {CHANNELS}, got {channels!r}")
    preds = [_Predictor(m, q_max, horizon_qz, refraction, channels) for m in models]
    current, warnings = [], [[] for _ in models]
    for k, (m, pr) in enumerate(zip(models, preds)):
        s = _scale_search(obs, pr, m, 2 * tol, scale_range) if refine and m.refine else 1.0
        if abs(s - 1) >= 0.98 * scale_range:
            warnings[k].append(f"lattice scale search ended at its edge ({s - 1:+.1%} of the "
                               f"+-{scale_range:.0%} range): the start lattice or the phase "
                               "may be wrong")
        current.append(m.phase.scaled(s))
    tilts = [(0.0, 0.0)] * len(models)
    errors = [{} for _ in models]
    stats = [{} for _ in models]
    for it in range(iterations):
        # a first pass at twice the tolerance lets the refinement pull a start lattice
        # in; without refinement the table is final, so it uses the stated tolerance
        t = tol * (2.0 if it == 0 and refine else 1.0)
        table = _assign_table(obs, models, preds, current, tilts, t, ambiguity)
        if not refine:
            break
        for k, (m, pr) in enumerate(zip(models, preds)):
            rows = [(obs[i], c["hkl_index"]) for i, c in table.items()
                    if c["phase"] == k and not c["cross_phase"]]
            if not rows:
                continue
            n_free = len(_param_vector(m, current[k], fit_texture)[0])
            if n_free and len(rows) < n_free + 2:
                if it == iterations - 1 or current[k] is not m.phase:
                    msg = (f"refinement refused: {len(rows)} peaks for {n_free} free "
                           f"parameters (needs >= {n_free + 2}); lattice kept at its start")
                    if msg not in warnings[k]:
                        warnings[k].append(msg)
                current[k], errors[k], tilts[k], stats[k] = m.phase, {}, (0.0, 0.0), {}
                continue
            current[k], errors[k], tilts[k], stats[k] = _refine(
                m, pr, current[k], [r[0] for r in rows], [r[1] for r in rows],
                fit_texture, horizon_qz, tol)
    reverted = False
    for k, m in enumerate(models):
        n_free = len(_param_vector(m, m.phase, fit_texture)[0])
        n_k = sum(1 for c in table.values() if c["phase"] == k and not c["cross_phase"])
        if refine and n_free and n_k < n_free + 2 and current[k] is not m.phase:
            msg = (f"refinement refused: {n_k} peaks for {n_free} free parameters (needs "
                   f">= {n_free + 2}); lattice kept at its start")
            warnings[k] = [w for w in warnings[k] if not w.startswith("refinement refused")]
            warnings[k].append(msg)
            current[k], errors[k], tilts[k], reverted = m.phase, {}, (0.0, 0.0), True
            stats[k] = {}
    if reverted:
        table = _assign_table(obs, models, preds, current, tilts, tol, ambiguity)
    prior = scale_range if prior is None else float(prior)
    for k, m in enumerate(models):
        for key in [f for f in m.phase.free_parameters if f in ("a", "b", "c")]:
            rel = getattr(current[k], key) / getattr(m.phase, key) - 1
            if abs(rel) > prior + 1e-9:
                warnings[k].append(f"refined {key} moved {rel:+.2%} from the start, farther "
                                   f"than the +-{prior:.1%} prior")
            elif refine and m.refine and abs(rel) >= 0.98 * scale_range:
                warnings[k].append(f"refined {key} ends at the edge of its +-"
                                   f"{scale_range:.0%} search ({rel:+.2%}): the start lattice "
                                   "or the phase may be wrong")
    out = _result(obs, models, preds, current, tilts, errors, table, tol, notes, refine,
                  wavelength_a=wavelength_a, powder_geometry=powder_geometry)
    more = []
    for k, ph in enumerate(out.phases):
        ph["fit"] = stats[k]
        fom = figure_of_merit(out.peaks, obs, preds[k], current[k], tilts[k], ph["name"],
                              models[k].orientation is not None)
        ph["figure_of_merit"] = fom
        if fom and fom["value"] is not None and fom["value"] < fom["threshold"]:
            warnings[k].append(f"{fom['name']} = {fom['value']:.1f} < {fom['threshold']:g}: "
                               "the assignment is hardly better than chance")
        ph["warnings"] = warnings[k] + ph["warnings"]
        if any(w.startswith("refinement refused") for w in warnings[k]):
            ph["refined"] = False
        more += [f"WARNING {ph['name']}: {w}" for w in ph["warnings"]]
    more += _refraction_check(out.peaks, models, refraction, horizon_qz, tol)
    return dataclasses.replace(out, notes=out.notes + tuple(more))


#: Below these the assignment of a phase is warned about: de Wolff's M20 < 10 is rarely
#: a right indexing (J. Appl. Cryst. 1, 108 (1968)); F_2D < 3: the assigned spots sit
#: less than 3x closer to their predictions than random spots would.
FOM_THRESHOLDS = {"M": 10.0, "F_2D": 3.0}


def figure_of_merit(peaks, obs, pred, phase, tilt, name, textured):
    """Figure of merit of one phase's assignment (None without assigned peaks).

    1D (rings, powder lines): de Wolff's ``M_N = Q_N / (2 <|dQ|> N_calc)`` on the first
    ``N = min(20, n)`` assigned lines (``Q = 1/d^2 = (q / 2 pi)^2`` in A^-2, ``Q_N`` of
    the N-th line, ``<|dQ|>`` the mean observed - calculated discrepancy, ``N_calc``
    the distinct calculated lines up to ``Q_N``): "M20" for 20 lines.

    2D (textured spots): ``F_2D = 1 / (2 sqrt(rho) <d>)``: the mean nearest-neighbour
    distance of random points among the predicted spots (density ``rho`` of distinct
    predicted positions per (1/A)^2 over the box holding the observed spots) divided by
    the mean distance ``<d>`` (1/A) of the assigned spots to their predictions. 1 is
    chance; larger is better. Both come with the number of lines/spots and the
    fraction of observed peaks of that kind assigned to the phase.

    Examples
    --------
    :func:`assign` reports it per phase. Four silicon rings observed 0.002 1/A high,
    against de Wolff's formula by hand (Q_N of the observed 4th line, N_calc = 4):

    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> q = si.reflections(4.7, min_rel_intensity=1e-3).q
    >>> fom = assign([{"q": float(v), "fwhm": 0.01} for v in q + 0.002], [si],
    ...              refine=False).phases[0]["figure_of_merit"]
    >>> fom["name"], fom["n"], fom["fraction_assigned"], round(fom["value"], 1)
    ('M4', 4, 1.0, 194.9)
    >>> Q, Q_obs = (q / (2 * math.pi)) ** 2, ((q + 0.002) / (2 * math.pi)) ** 2
    >>> round(float(Q_obs[-1] / (2 * np.mean(Q_obs - Q) * 4)), 1)
    194.9
    """

    mine = [p for p in peaks if p["phase"] == name]
    kind = "spot" if textured else "ring"
    n_obs = sum(1 for o in obs if o["kind"] == kind)
    mine = [p for p in mine if p["kind"] == kind]
    if not mine:
        return None
    qxy, qz, q, _ = pred.positions(phase, tilt)
    if not textured:
        lines = sorted(mine, key=lambda p: p["q"])[:20]
        qo = np.array([p["q"] for p in lines])
        qc = np.array([p["q_pred"] for p in lines])
        Q = lambda v: (np.asarray(v) / (2 * math.pi)) ** 2  # noqa: E731
        eps = float(np.mean(np.abs(Q(qo) - Q(qc))))
        qn = float(qo[-1])
        calc = np.unique(np.round(q[np.isfinite(q) & (q <= qn + 1e-9)], 6))
        value = float(Q(qn) / (2 * eps * max(len(calc), 1))) if eps > 0 else float("inf")
        return {"name": f"M{len(lines)}", "value": value, "threshold": FOM_THRESHOLDS["M"],
                "n": len(lines), "fraction_assigned": len(mine) / max(n_obs, 1),
                "definition": "de Wolff M_N = Q_N / (2 <|dQ|> N_calc), Q = 1/d^2"}
    ox = np.array([abs(p["qxy"]) for p in mine])
    oz = np.array([p["qz"] for p in mine])
    ok = np.isfinite(qxy) & np.isfinite(qz)
    box = (qxy >= ox.min()) & (qxy <= ox.max()) & (qz >= oz.min()) & (qz <= oz.max()) & ok
    area = max((ox.max() - ox.min()) * (oz.max() - oz.min()), 1e-12)
    n_pred = len({(round(float(a), 4), round(float(b), 4)) for a, b in zip(qxy[box], qz[box])})
    d = float(np.mean([p["residual"] for p in mine]))
    value = None
    if n_pred >= 2 and d > 0 and len(mine) >= 3:
        value = float(1.0 / (2 * math.sqrt(n_pred / area) * d))
    return {"name": "F_2D", "value": value, "threshold": FOM_THRESHOLDS["F_2D"],
            "n": len(mine), "fraction_assigned": len(mine) / max(n_obs, 1),
            "definition": "F_2D = 1 / (2 sqrt(rho) <d>): random over observed mean "
                          "distance to the predicted spots"}


def _assign_table(obs, models, preds, phases, tilts, tol, ambiguity):
    cands = []
    for k, (pr, ph) in enumerate(zip(preds, phases)):
        pos = pr.positions(ph, tilts[k])
        d = _distances(obs, pos, models[k].orientation is not None)
        cands.append((d, pos))
    table = {}
    for i in range(len(obs)):
        options = []
        for k, (d, pos) in enumerate(cands):
            if d.shape[1] == 0:
                continue
            within = np.nonzero(d[i] <= tol)[0]
            # distinct positions only (equivalent hkl land on the same spot)
            seen = {}
            for j in within[np.argsort(d[i][within])]:
                key = (round(float(pos[0][j]), 4), round(float(np.nan_to_num(pos[1][j])), 4))
                seen.setdefault(key, j)
            options += [(float(d[i][j]), k, int(j)) for j in seen.values()]
        if not options:
            continue
        options.sort()
        best = options[0]
        alts = [o for o in options[1:] if o[0] <= best[0] + ambiguity * tol]
        table[i] = {"phase": best[1], "hkl_index": best[2], "distance": best[0],
                    "alternatives": alts, "cross_phase": any(a[1] != best[1] for a in alts)}
    return table


def _members(pred, phase, tilt, j):
    qxy, qz, q, qz_lo = pred.positions(phase, tilt)
    same_z = (np.abs(qz - qz[j]) < 1e-6) if np.isfinite(qz[j]) else np.isnan(qz)
    same = np.nonzero((np.abs(qxy - qxy[j]) < 1e-6) & same_z
                      & (pred.channel == pred.channel[j]))[0]
    hkls = [tuple(int(v) for v in pred.rows[m]) for m in same]
    rep = max(hkls, key=lambda t: (sum(v >= 0 for v in t), t))
    at_yoneda = bool(np.isfinite(qz[j]) and qz_lo[j] < qz[j] - 1e-9 and
                     pred.refraction is not None)
    return rep, hkls, float(qxy[j]), float(qz[j]), float(q[j]), str(pred.channel[j]), at_yoneda


def _feature_intensities(pred, phase, tilt, geometry, wavelength_a):
    """Per predictor row: the predicted integrated intensity of the feature (spot or
    ring) it lands on (sum of |F|^2 of the rows at the same position and channel, times
    the Lorentz-polarization of ``geometry``), and a feature id. NaN below the film."""
    qxy, qz, q, _ = pred.positions(phase, tilt)
    f2 = np.tile(phase.structure_factor2(pred.hkl, wavelength_a=wavelength_a)
                 if len(pred.hkl) else np.zeros(0), len(pred.channels))
    textured = pred.model.orientation is not None
    ok = np.isfinite(q) & (np.isfinite(qz) if textured else True)
    chan = np.searchsorted(np.array(CHANNELS), pred.channel) if len(pred.channel) else \
        np.zeros(0, int)
    keys = np.stack([np.round(np.nan_to_num(qxy, nan=-1.0), 5),
                     np.round(np.nan_to_num(qz, nan=-1.0), 5) if textured else
                     np.zeros_like(q), chan], 1)
    ids = np.full(len(q), -1)
    inten = np.full(len(q), np.nan)
    if not textured and pred.model.texture is not None and len(f2):
        pref, r = pred.model.texture
        f2 = f2 * march_dollase_rows(phase, pred.rows, pref, r)
    if ok.any():
        _, inv = np.unique(keys[ok], axis=0, return_inverse=True)
        inv = inv.ravel()
        sums = np.bincount(inv, weights=f2[ok])
        ids[ok] = inv
        if textured:
            lp = lorentz_polarization(q, geometry="gi_fibre", qxy=qxy)
        else:
            lp = lorentz_polarization(q, geometry=geometry, wavelength_a=wavelength_a)
        inten[ok] = sums[inv] * lp[ok]
    return inten, ids


def _predicted_for(peak, pred_pos, inten, ids, channel, j, radius, textured):
    """Predicted intensity of assignment ``j`` (row): the distinct features of the same
    channel within ``radius`` (1/A) of it, summed (blended reflections)."""
    qxy, qz, q, _ = pred_pos
    if textured:
        d = np.hypot(qxy - qxy[j], np.nan_to_num(qz - qz[j], nan=np.inf))
        near = (d <= radius) & (channel == channel[j])
    else:
        near = np.abs(q - q[j]) <= radius
    near &= ids >= 0
    if not near.any() or not np.isfinite(inten[j]):
        return float(inten[j])
    _, first = np.unique(ids[near], return_index=True)
    vals = inten[near][first]
    # a neighbour without a prediction (on the q_z axis) makes the blend unpredictable
    return float(vals.sum()) if np.all(np.isfinite(vals)) else float("nan")


def _channel_blend(pred, pos, peak):
    """q_z distance (1/A) of a transmitted spot to the reflected-channel spot of the
    same reflection when both channels are modelled and they lie within 2 FWHM (the
    detected areas then mix the channels), else None."""
    if pred.refraction is None or "reflected" not in pred.channels or \
            peak.get("channel") != "transmitted":
        return None
    n = len(pred.hkl)
    partner = peak["_j"] % n + n * pred.channels.index("reflected")
    gap = abs(float(pos[1][partner] - pos[1][peak["_j"]]))
    width = peak.get("fwhm_qz") or 0.0
    return gap if np.isfinite(gap) and gap < 2 * width else None


def _left_out(pred, pos, peak, textured):
    """Why a spot's observed area cannot be compared with its predicted one (None if it
    can): the first of partly hidden below the sample horizon (no refraction model),
    partly unmeasured (gap, edge, missing wedge), at the Yoneda or in the reflected
    channel (GI transmission functions not modelled), blended with its own
    reflected-channel spot."""
    if not textured:
        return None
    j = peak["_j"]
    if pred.refraction is None and pred.horizon_qz is not None and \
            pos[1][j] <= pred.horizon_qz + (peak.get("fwhm_qz") or 0.0):
        return "within a FWHM of the sample horizon (partly hidden below it)"
    if peak.get("coverage", 1.0) < MIN_COVERAGE:
        return (f"only {peak['coverage']:.0%} of the fitted spot measured (detector gap, "
                "edge or missing wedge): its intensity is an extrapolation")
    if pred.refraction is not None and peak["at_yoneda"]:
        return "at the Yoneda (the transmission function's enhancement is not modelled)"
    if pred.refraction is not None and peak["channel"] != "transmitted":
        return ("reflected channel (its weight, the reflectivity below the film, is not "
                "modelled)")
    blend = _channel_blend(pred, pos, peak)
    if blend:
        return (f"{blend:.3f} A^-1 in q_z from its reflected-channel spot (< 2 FWHM: "
                "blended, the channels' relative weight not modelled)")
    return None


def _intensity_report(peaks, models, preds, phases, tilts, wavelength_a, powder_geometry,
                      obs):
    """Fill intensity_pred / intensity_in_fit of each assigned peak; per phase the
    agreement dict and warnings for contradicting intensities."""
    summary, warn = [], []
    for k, m in enumerate(models):
        pr, textured = preds[k], m.orientation is not None
        mine = [p for p in peaks if p["_k"] == k]
        kinds = [o for o in obs if o["kind"] == ("spot" if textured else "ring")]
        geometry = "gi_fibre" if textured else powder_geometry
        why = None
        if not phases[k].sites:
            why = "phase without atoms: intensities not predicted"
        elif not textured and geometry == "bragg_brentano" and wavelength_a is None:
            why = "no wavelength: Bragg-Brentano intensities not predicted"
        if why:
            summary.append({"geometry": geometry, "n": 0, "scale": None, "r_factor": None,
                            "spearman": None, "note": why})
            warn.append([])
            for p in mine:
                p.update(intensity_pred=None, intensity_in_fit=False,
                         intensity_contradiction=False)
            continue
        pos = pr.positions(phases[k], tilts[k])
        inten, ids = _feature_intensities(pr, phases[k], tilts[k], geometry, wavelength_a)
        raw, in_fit = [], []
        for p in mine:
            width = p.get("fwhm")
            radius = width if width else 0.0  # closer than a FWHM: unresolved
            val = _predicted_for(p, pos, inten, ids, pr.channel, p["_j"], radius, textured)
            raw.append(val)
            why = _left_out(pr, pos, p, textured)
            if why:
                p["intensity_note"] = why + ": left out of the intensity agreement"
            fit = (np.isfinite(val) and p.get("intensity") is not None
                   and np.isfinite(p["intensity"]) and p["intensity"] > 0 and not why)
            in_fit.append(bool(fit))
        o = np.array([p["intensity"] if f else np.nan for p, f in zip(mine, in_fit)], float)
        a = agreement(o, np.array(raw))
        scale = a["scale"]
        lo = min((x["q"] for x in kinds), default=0.0)
        hi = max((x["q"] for x in kinds), default=0.0)
        qrow = pos[2]
        sel = np.isfinite(inten) & (qrow >= lo - 1e-9) & (qrow <= hi + 1e-9)
        if textured and pr.refraction is not None:
            sel &= pr.channel == "transmitted"
        pmax = float(np.nanmax(inten[sel])) if sel.any() else np.nan
        ws = []
        for p, val, f in zip(mine, raw, in_fit):
            p["intensity_pred"] = None if scale is None or not np.isfinite(val) else \
                float(scale * val)
            p["intensity_in_fit"] = f
            p["intensity_contradiction"] = False
            if textured and not np.isfinite(val):
                p["intensity_note"] = ("on or next to the q_z axis (missing wedge): the "
                                       "fibre Lorentz factor 1/q_xy diverges, intensity "
                                       "set by the orientation spread, not predicted")
        if scale is not None and np.isfinite(pmax):
            bad = contradicts(o, scale * np.array(raw), scale * pmax)
            for p, b, val in zip(mine, bad, raw):
                if b:
                    p["intensity_contradiction"] = True
                    ws.append(f"({' '.join(map(str, p['hkl']))}) at q = {p['q']:.4f} A^-1 "
                              f"is a strong peak but predicted very weak ({val / pmax:.1%} "
                              "of the strongest reflection in range): wrong hkl or phase?")
        summary.append({"geometry": geometry, **a,
                        "energy_kev": None if wavelength_a is None else
                        12.398419843320026 / wavelength_a})
        warn.append(ws)
    return summary, warn


def _result(obs, models, preds, phases, tilts, errors, table, tol, notes, refine, *,
            wavelength_a=None, powder_geometry="powder_2d"):
    peaks, unassigned = [], []
    for i, o in enumerate(obs):
        entry = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                 for k, v in o.items()}
        c = table.get(i)
        if c is None:
            unassigned.append({"index": i, **entry})
            continue
        k = c["phase"]
        rep, hkls, qxy_p, qz_p, q_p, channel, at_yoneda = _members(
            preds[k], phases[k], tilts[k], c["hkl_index"])
        textured = models[k].orientation is not None
        alts = []
        for d, kk, jj in c["alternatives"]:
            r2 = _members(preds[kk], phases[kk], tilts[kk], jj)[0]
            alts.append({"phase": models[kk].phase.name, "hkl": list(r2), "residual": d})
        peaks.append({"index": i, **entry, "phase": models[k].phase.name, "hkl": list(rep),
                      "equivalent_hkl": [list(h) for h in hkls[:24]],
                      "q_pred": q_p, "qxy_pred": qxy_p if textured else None,
                      "qz_pred": qz_p if textured else None, "residual": c["distance"],
                      "channel": channel if textured else None,
                      "at_yoneda": at_yoneda,
                      "ambiguous": bool(alts), "alternatives": alts,
                      "_k": k, "_j": c["hkl_index"]})
    summary, iwarn = _intensity_report(peaks, models, preds, phases, tilts, wavelength_a,
                                       powder_geometry, obs)
    for p in peaks:
        del p["_k"], p["_j"]
    out_phases = []
    for k, m in enumerate(models):
        mine = [p for p in peaks if p["phase"] == m.phase.name]
        res = np.array([p["residual"] for p in mine])
        out_phases.append({
            "name": m.phase.name, "spacegroup": m.phase.spacegroup,
            "crystal_system": m.phase.crystal_system,
            "orientation": list(m.orientation) if m.orientation is not None else "random",
            "initial": m.phase.constants, "lattice": phases[k].constants,
            "refined": bool(refine and m.refine),
            "errors": {n: float(v) for n, v in errors[k].items() if not n.startswith("tilt")},
            "texture_tilt": float(math.degrees(math.hypot(*tilts[k]))),
            "n_peaks": len(mine),
            "rms_residual": float(np.sqrt(np.mean(res ** 2))) if len(res) else None,
            "intensity_agreement": summary[k], "warnings": iwarn[k],
            "march_dollase": None if m.texture is None else {"axis": list(m.texture[0]),
                                                             "r": m.texture[1]},
            "source": m.phase.source})
    if not peaks:
        notes.append("no peak matched any phase within the tolerance")
    notes.append(f"match tolerance {tol:.4f} A^-1")
    notes.append("predicted intensities: |F|^2 " + (
        f"at {12.398419843320026 / wavelength_a:.3f} keV (f0 + f' + i f'' from xraydb)"
        if wavelength_a is not None else "with f0 only (no wavelength given)") +
        " x Lorentz-polarization of the geometry; absorption and GI transmission "
        "functions not modelled (spots at the Yoneda and the reflected channel are left "
        "out of the intensity agreement)")
    fitted = []
    for k, m in enumerate(models):
        normal = None
        if m.orientation is not None:
            normal = surface_normal(phases[k], m.orientation)
            if any(tilts[k]):
                normal = _tilted(normal, tilts[k])
        fitted.append((phases[k], m.orientation, normal))
    return IndexResult(out_phases, peaks, unassigned, notes, fitted)


def _refraction_check(peaks, models, refraction, horizon_qz, tol):
    """A note when the q_z residuals of textured spots are systematically positive
    (observed above predicted), the signature of refraction left out."""
    if refraction is not None:
        return []
    textured = {m.phase.name for m in models if m.orientation is not None}
    dz = np.array([p["qz"] - p["qz_pred"] for p in peaks
                   if p["kind"] == "spot" and p["phase"] in textured
                   and not (horizon_qz is not None and p["qz_pred"] <= horizon_qz + 1e-9)])
    if dz.size < 3:
        return []
    mean, sem = float(dz.mean()), float(dz.std(ddof=1) / math.sqrt(dz.size))
    if mean > max(3 * sem, tol / 8):
        return [f"q_z residuals of textured spots are systematically positive "
                f"({mean:+.4f} +- {sem:.4f} A^-1 over {dz.size} spots): refraction is "
                "likely needed (give the film critical angle)"]
    return []


def index_map(qmap, phases, *, spot_fwhm=0.03, min_snr=6.0, horizon_qz=None,
              ring_min_snr=8.0, **kwargs) -> IndexResult:
    """Detect spots (textured phases) and rings (random phases) in a q_xy/q_z map and
    :func:`assign` them. Spots below ``horizon_qz - spot_fwhm`` are ignored; rings come
    from the chi-median profile (:func:`gixs.bragg.spots.ring_profile`), so spots make no
    ring. ``kwargs`` go to :func:`assign`.

    Parameters
    ----------
    qmap : Map2D
        q_xy/q_z map (1/A), NaN where no pixel lands.
    phases : sequence of Phase, PhaseModel or (Phase, orientation)
        As :func:`assign`.
    spot_fwhm : float
        Expected spot and ring FWHM (1/A).
    min_snr, ring_min_snr : float
        Detection thresholds (sigma) of spots and rings.
    horizon_qz : float, optional
        q_z of the sample horizon (1/A).

    Examples
    --------
    Poisson spots of a (111)-textured gold film (a = 4.078 A) on a synthetic map,
    indexed from a = 4.0 A (2 % off) and refined back:

    >>> from gixs.results import Map2D
    >>> from gixs.bragg.lattice import Site, predict_gi_spots
    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> spots = predict_gi_spots(au, (1, 1, 1), 3.2)
    >>> x, y = np.linspace(-3.2, 3.2, 321), np.linspace(0.0, 3.2, 161)
    >>> X, Y = np.meshgrid(x, y)
    >>> s = 0.03 / (2 * math.sqrt(2 * math.log(2)))
    >>> img = 10 + sum(300 * np.exp(-0.5 * ((X - sg * a) ** 2 + (Y - b) ** 2) / s ** 2)
    ...                for a, b in zip(spots.qxy, spots.qz) for sg in (1, -1))
    >>> img = np.random.default_rng(0).poisson(img).astype(float)
    >>> qmap = Map2D("qmap", "qxy", "qz", x, y, img, np.ones(img.shape, int))
    >>> res = index_map(qmap, [(au.with_parameters(a=4.0), (1, 1, 1))])
    >>> sorted(tuple(p["hkl"]) for p in res.peaks), res.unassigned
    ([(1, 1, -1), (1, 1, -1), (1, 1, 1), (2, 0, 0), (2, 0, 0)], ())
    >>> round(res.phases[0]["lattice"]["a"], 3)
    4.078
    """
    from gixs.bragg.spots import detect_peaks_1d, detect_spots, ring_profile

    models = as_models(phases)
    peaks = []
    if any(m.orientation is not None for m in models):
        qz_min = None if horizon_qz is None else horizon_qz - spot_fwhm
        peaks += detect_spots(qmap, spot_fwhm=spot_fwhm, min_snr=min_snr, qz_min=qz_min)
    if any(m.orientation is None for m in models):
        step = max(spot_fwhm / 6, abs(qmap.x[1] - qmap.x[0]) / 2)
        q, prof = ring_profile(qmap, step)
        peaks += detect_peaks_1d(q, prof, fwhm=spot_fwhm, min_snr=ring_min_snr)
    if not peaks:
        raise IndexingError("no spot or ring found in the map (try a lower --min-snr)")
    return assign(peaks, models, horizon_qz=horizon_qz, **kwargs)


#: Default FWHM (1/A) of peaks in a 1D pattern: 1/3 of a GIWAXS spot (lab XRD peaks
#: are narrower), never below 3 abscissa steps.
PATTERN_FWHM = 0.01


def index_pattern(q, intensity, phases, *, peak_fwhm=None, min_snr=6.0,
                  **kwargs) -> IndexResult:
    """Detect the peaks of a 1D pattern I(q) (q in 1/A, increasing) and :func:`assign`
    them (random powders). ``peak_fwhm`` (1/A) defaults to ``max(PATTERN_FWHM, 3 x
    step)``; ``kwargs`` go to :func:`assign` (``wavelength_a``, ``powder_geometry``:
    "bragg_brentano" for a lab diffractometer).

    Examples
    --------
    >>> import numpy as np
    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> q = np.linspace(1.0, 4.0, 3001)
    >>> y = 10 + sum(1e3 * np.exp(-0.5 * ((q - g) / 0.004) ** 2)
    ...              for g in si.q_of([[1, 1, 1], [2, 2, 0], [3, 1, 1]]))
    >>> res = index_pattern(q, y, [si], refine=False)
    >>> [p["hkl"] for p in res.peaks]
    [[1, 1, 1], [2, 2, 0], [3, 1, 1]]
    """
    from gixs.bragg.spots import detect_peaks_1d

    q = np.asarray(q, float)
    if q.ndim != 1 or q.size < 10:
        raise IndexingError(f"a 1D pattern needs >= 10 points, got shape {q.shape}")
    step = float(np.nanmedian(np.abs(np.diff(q))))
    fwhm = max(PATTERN_FWHM, 3 * step) if peak_fwhm is None else float(peak_fwhm)
    peaks = detect_peaks_1d(q, intensity, fwhm=fwhm, min_snr=min_snr)
    if not peaks:
        raise IndexingError(f"no peak above min_snr {min_snr} in the pattern")
    return assign(peaks, phases, **kwargs)
