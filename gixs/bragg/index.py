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
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from gixs.errors import IndexingError
from gixs.bragg.lattice import CHANNELS, Phase, gi_exit_qz, surface_normal

UNITS = {"q": "A^-1", "qxy": "A^-1", "qz": "A^-1", "residual": "A^-1", "a": "A", "b": "A",
         "c": "A", "alpha": "deg", "beta": "deg", "gamma": "deg",
         "texture_tilt": "deg", "intensity": "input units (map: a.u. x A^-2)"}


@dataclasses.dataclass
class PhaseModel:
    """A phase as indexed: textured (``orientation`` = (h, k, l) parallel to the
    surface) or random powder (``orientation`` None)."""

    phase: Phase
    orientation: tuple | None = None
    refine: bool = True

    def __post_init__(self):
        if self.orientation is not None:
            self.orientation = tuple(int(v) for v in self.orientation)
            surface_normal(self.phase, self.orientation)  # validates


@dataclasses.dataclass
class IndexResult:
    """Phases (initial and refined lattices), per-peak assignments, unassigned peaks."""

    phases: list
    peaks: list
    unassigned: list
    notes: list
    #: (refined Phase, orientation or None, texture normal or None) per phase, for plots
    models: list = dataclasses.field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"phases": self.phases, "peaks": self.peaks, "unassigned": self.unassigned,
                "notes": self.notes, "units": UNITS}

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
                         "fwhm_qz": float(d.get("fwhm_qz", np.nan))})
        elif "q" in d or "x" in d:
            q = float(d.get("q", d.get("x")))
            rows.append({"kind": "ring", "q": q, "intensity": float(d.get("area", d.get(
                "intensity", np.nan))), "fwhm": float(d.get("fwhm", np.nan))})
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


def _refine(model, pred, phase0, obs_rows, hkl_idx, fit_tilt, horizon_qz, tol):
    names, x0 = _param_vector(model, phase0, fit_tilt)
    n_res = len(_residuals(obs_rows, hkl_idx, model, pred, phase0, names, x0, horizon_qz))
    if not names or n_res <= len(names):
        return phase0, {}, (0.0, 0.0)
    fun = lambda v: _residuals(obs_rows, hkl_idx, model, pred, phase0, names, v, horizon_qz)
    # soft-L1 loss: blended or mis-fitted spots (residual >> tol / 4) weigh less
    fit = optimize.least_squares(fun, x0, x_scale=np.where(np.array(
        [n.startswith("tilt") for n in names]), 0.01, np.abs(x0) * 0.01 + 1e-3),
        loss="soft_l1", f_scale=tol / 4)
    dof = max(n_res - len(names), 1)
    s2 = float(fit.fun @ fit.fun) / dof
    try:
        cov = np.linalg.pinv(fit.jac.T @ fit.jac) * s2
        err = dict(zip(names, np.sqrt(np.clip(np.diag(cov), 0, None))))
    except np.linalg.LinAlgError:
        err = {}
    vals = dict(zip(names, fit.x))
    tilt = (vals.pop("tilt_u", 0.0), vals.pop("tilt_v", 0.0))
    return (phase0.with_parameters(**vals) if vals else phase0), err, tilt


def assign(peaks, phases, *, refine=True, tol=None, scale_range=0.05, horizon_qz=None,
           refraction=None, channels=("transmitted",), fit_texture=False, ambiguity=0.5,
           iterations=4) -> IndexResult:
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
    """
    obs = _obs_table(peaks)
    if not obs:
        raise IndexingError("no peaks to index")
    models = [p if isinstance(p, PhaseModel) else PhaseModel(*p) if isinstance(p, tuple)
              else PhaseModel(p) for p in phases]
    if not models:
        raise IndexingError("no phase given to index with")
    notes = []
    if all(o["kind"] == "ring" for o in obs):
        for m in models:
            if m.orientation is not None:
                notes.append(f"{m.phase.name}: 1D peaks only, indexed as a random powder")
                m.orientation = None
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
    for it in range(iterations):
        t = tol * (2.0 if it == 0 else 1.0)
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
                current[k], errors[k], tilts[k] = m.phase, {}, (0.0, 0.0)
                continue
            current[k], errors[k], tilts[k] = _refine(
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
    if reverted:
        table = _assign_table(obs, models, preds, current, tilts, tol, ambiguity)
    for k, m in enumerate(models):
        for key in [f for f in m.phase.free_parameters if f in ("a", "b", "c")]:
            rel = getattr(current[k], key) / getattr(m.phase, key) - 1
            if abs(rel) > scale_range + 1e-9:
                warnings[k].append(f"refined {key} moved {rel:+.2%} from the start, farther "
                                   f"than the +-{scale_range:.0%} prior")
    out = _result(obs, models, preds, current, tilts, errors, table, tol, notes, refine)
    for k, ph in enumerate(out.phases):
        ph["warnings"] = warnings[k]
        if any(w.startswith("refinement refused") for w in warnings[k]):
            ph["refined"] = False
        out.notes += [f"WARNING {ph['name']}: {w}" for w in warnings[k]]
    out.notes += _refraction_check(out.peaks, models, refraction, horizon_qz, tol)
    return out


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


def _result(obs, models, preds, phases, tilts, errors, table, tol, notes, refine):
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
                      "ambiguous": bool(alts), "alternatives": alts})
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
            "source": m.phase.source})
    if not peaks:
        notes.append("no peak matched any phase within the tolerance")
    notes.append(f"match tolerance {tol:.4f} A^-1")
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
    ring. ``kwargs`` go to :func:`assign`."""
    from gixs.bragg.spots import detect_peaks_1d, detect_spots, ring_profile

    models = [p if isinstance(p, PhaseModel) else PhaseModel(*p) if isinstance(p, tuple)
              else PhaseModel(p) for p in phases]
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
