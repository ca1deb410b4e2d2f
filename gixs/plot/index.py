"""Figures of Bragg indexing: predicted spots/rings over a q_xy/q_z map, observed vs
predicted intensities, tick marks over a 1D pattern. Axes in 1/A. Only the command line
and notebooks import this."""

from __future__ import annotations

import math

import numpy as np

from gixs.bragg.lattice import predict_gi_spots
from gixs.plot.common import _figure, colorbar, fit_title, log_ticks, qmap as draw_qmap

_COLOURS = ("#00e5ff", "#7CFC00", "#ff4df0", "#ffd21f", "#ff7f0e", "#ffffff")


def overlay(ax, result, q_max, *, horizon_qz=None, refraction=None, labels=True,
            min_rel_intensity=0.01, channels=("transmitted", "reflected")):
    """Draw each indexed phase (refined lattice) over a q_xy/q_z axes: textured phases as
    circles at (+-q_xy, q_z), random phases as arcs at |G|; detected peaks as crosses
    (assigned: the phase colour, unassigned: red); hkl labels of assigned spots. With
    ``refraction`` (wavelength_a, incidence_rad, critical_angle_rad) each of ``channels``
    is drawn: transmitted as circles, reflected as squares.

    Examples
    --------
    A (111) gold film indexed from its predicted spots; the overlay draws the predicted
    spots at (+-q_xy, q_z) and a cross per found spot:

    >>> from matplotlib.figure import Figure
    >>> from gixs.bragg.index import assign
    >>> from gixs.bragg.lattice import Phase, Site
    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> s = predict_gi_spots(au, (1, 1, 1), 3.2)
    >>> res = assign([{"qxy": float(a), "qz": float(b), "fwhm_qxy": 0.03, "fwhm_qz": 0.03}
    ...               for a, b in zip(s.qxy, s.qz)], [(au, (1, 1, 1))], refine=False)
    >>> ax = Figure().subplots()
    >>> _ = ax.set_xlim(-3.2, 3.2), ax.set_ylim(0, 3.2)
    >>> overlay(ax, res, 3.2)
    >>> len(ax.collections[0].get_offsets()), len(ax.lines)  # 3 spots mirrored; 3 crosses
    (6, 3)
    """
    from gixs.bragg.lattice import apparent_qz

    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for k, (phase, orientation, normal) in enumerate(result.models):
        col = _COLOURS[k % len(_COLOURS)]
        if orientation is None:
            r = phase.reflections(q_max, min_rel_intensity=min_rel_intensity)
            t = np.linspace(-math.pi / 2, math.pi / 2, 181)
            for g in r.q:
                ax.plot(g * np.sin(t), g * np.cos(t), color=col, lw=0.6, ls="--", alpha=0.7)
            ax.plot([], [], color=col, ls="--", label=f"{phase.name} (random)")
            continue
        s = predict_gi_spots(phase, orientation, q_max, normal=normal,
                             min_rel_intensity=min_rel_intensity)
        drawn = [("transmitted", s.qz)] if refraction is None else [
            (ch, apparent_qz(s.qz, *refraction, channel=ch)) for ch in channels]
        for ch, qz in drawn:
            if horizon_qz is not None:
                qz = np.maximum(qz, horizon_qz)
            xs = np.concatenate([s.qxy, -s.qxy])
            zs = np.concatenate([qz, qz])
            tag = "" if refraction is None else f", {ch}"
            ax.scatter(xs, zs, s=40, facecolors="none", edgecolors=col, linewidths=0.8,
                       marker="o" if ch == "transmitted" else "s",
                       label=f"{phase.name} ({' '.join(map(str, orientation))}) "
                             f"textured{tag}")
    names = [m[0].name for m in result.models]
    for p in result.peaks:
        if p["kind"] != "spot":
            continue
        col = _COLOURS[names.index(p["phase"]) % len(_COLOURS)]
        ax.plot(p["qxy"], p["qz"], "x", color=col, ms=4, mew=0.8)
        if labels and p["qxy"] >= 0:
            ax.annotate("".join(str(v) if v >= 0 else f"-{-v}" for v in p["hkl"]),
                        (p["qxy"], p["qz"]), xytext=(3, 3), textcoords="offset points",
                        fontsize=6, color=col)
    for u in result.unassigned:
        if u["kind"] == "spot":
            ax.plot(u["qxy"], u["qz"], "x", color="red", ms=5, mew=1.0)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.legend(fontsize="x-small", loc="upper right")


def index_figure(qmap, result, *, title="", horizon_qz=None, refraction=None,
                 channels=("transmitted", "reflected")):
    """q_xy/q_z map (log) with the indexed phases drawn over it (both exit channels
    with ``refraction``, see :func:`overlay`).

    Examples
    --------
    >>> from gixs.bragg.index import assign
    >>> from gixs.bragg.lattice import Phase, Site
    >>> from gixs.results import Map2D
    >>> au = Phase.from_constants("Au", "F m -3 m", 4.078, sites=(Site("Au", 0, 0, 0),))
    >>> s = predict_gi_spots(au, (1, 1, 1), 3.2)
    >>> res = assign([{"qxy": float(a), "qz": float(b), "fwhm_qxy": 0.03, "fwhm_qz": 0.03}
    ...               for a, b in zip(s.qxy, s.qz)], [(au, (1, 1, 1))], refine=False)
    >>> m = Map2D("qmap", "qxy", "qz", np.linspace(-3.2, 3.2, 65), np.linspace(0, 3.2, 33),
    ...           np.ones((33, 65)), np.ones((33, 65), int))
    >>> fig = index_figure(m, res)
    >>> type(fig).__name__, fig.axes[0].get_xlabel()
    ('Figure', 'q_xy (A^-1)')
    """
    fig = _figure((8, 6.5))
    ax = fig.subplots()
    im = draw_qmap(ax, qmap, title or "Bragg indexing (circles: predicted, x: found)")
    colorbar(fig, im, ax, label="intensity (a.u.)")
    q_max = float(np.hypot(np.abs(qmap.x).max(), np.abs(qmap.y).max()))
    overlay(ax, result, q_max, horizon_qz=horizon_qz, refraction=refraction,
            channels=channels)
    return fig


def pattern_figure(q, intensity, result, *, title="", min_rel_intensity=0.005):
    """1D pattern I(q) with each phase's reflections as tick marks below it and the
    assigned peaks labelled (hkl).

    Examples
    --------
    >>> from gixs.bragg.index import index_pattern
    >>> from gixs.bragg.phases import builtin_phase
    >>> si = builtin_phase("Si")
    >>> q = np.linspace(1.0, 4.0, 3001)
    >>> y = 10 + sum(1e3 * np.exp(-0.5 * ((q - g) / 0.004) ** 2)
    ...              for g in si.q_of([[1, 1, 1], [2, 2, 0], [3, 1, 1]]))
    >>> fig = pattern_figure(q, y, index_pattern(q, y, [si], refine=False))
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.texts]
    ['111', '220', '311']
    >>> ax.get_xlabel()
    'q (A^-1)'
    """

    fig = _figure((9, 5))
    ax = fig.subplots()
    ax.plot(q, intensity, lw=0.8, color="k")
    ymin, ymax = np.nanmin(intensity), np.nanmax(intensity)
    span = ymax - ymin
    q_max = float(np.nanmax(q))
    for k, (phase, _, _) in enumerate(result.models):
        col = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")[k % 5]
        r = phase.reflections(q_max, min_rel_intensity=min_rel_intensity)
        y0 = ymin - span * (0.05 + 0.06 * k)
        ax.vlines(r.q, y0 - span * 0.025, y0 + span * 0.025, color=col, lw=1,
                  label=f"{phase.name} a={phase.a:.4f} A")
    for p in result.peaks:
        ax.annotate("".join(map(str, p["hkl"])), (p["q"], np.interp(p["q"], q, intensity)),
                    xytext=(0, 4), textcoords="offset points", fontsize=6, ha="center")
    ax.set_xlabel("q (A^-1)")
    ax.set_ylabel("intensity (a.u.)")
    ax.legend(fontsize="small")
    if title:
        fit_title(ax, title)
    return fig


def intensity_figure(result, *, phase=None, title=""):
    """Observed against predicted integrated intensities of the assigned peaks (log-log,
    the prediction already scaled by the fitted factor): filled markers entered the
    agreement, open ones were left out (their ``intensity_note`` gives the reason: Yoneda,
    reflected channel, blended channels, cut by the horizon or a gap). The diagonal is
    perfect agreement; each phase's Spearman rank correlation and R factor in the legend.

    Parameters
    ----------
    result : IndexResult
        From :func:`gixs.bragg.index.assign` / ``index_map`` with intensities predicted.
    phase : str, optional
        Only this phase (by name).
    title : str

    Examples
    --------
    >>> from gixs.bragg.index import assign
    >>> from gixs.bragg.intensity import fibre_intensities
    >>> from gixs.bragg.phases import builtin_phase
    >>> p = builtin_phase("CsPbBr3")
    >>> s = fibre_intensities(p, (0, 0, 1), 2.6, energy_kev=12.0)
    >>> ok = np.isfinite(s.intensity)
    >>> res = assign([{"qxy": float(a), "qz": float(b), "intensity": float(i),
    ...                "fwhm_qxy": 0.03, "fwhm_qz": 0.03}
    ...               for a, b, i in zip(s.qxy[ok], s.qz[ok], s.intensity[ok])],
    ...              [(p, (0, 0, 1))], refine=False, wavelength_a=12.398419843320026 / 12.0)
    >>> fig = intensity_figure(res)
    >>> ax = fig.axes[0]
    >>> ax.get_xscale(), ax.get_xlabel()
    ('log', 'predicted intensity (scaled, a.u.)')
    >>> ax.get_legend().get_texts()[0].get_text()
    'CsPbBr3: rank correlation 1.000, R 0.000 (8 in fit)'
    """
    fig = _figure((6, 5.5))
    ax = fig.subplots()
    lo, hi = np.inf, -np.inf
    for k, ph in enumerate(result.phases):
        if phase is not None and ph["name"] != phase:
            continue
        rows = [p for p in result.assigned(ph["name"])
                if p.get("intensity_pred") and p.get("intensity") and p["intensity"] > 0]
        if not rows:
            continue
        col = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")[k % 5]
        pred = np.array([p["intensity_pred"] for p in rows])
        obs = np.array([p["intensity"] for p in rows])
        fit = np.array([bool(p.get("intensity_in_fit")) for p in rows])
        ag = ph["intensity_agreement"]
        rho = "-" if ag.get("spearman") is None else f"{ag['spearman']:.3f}"
        r = "-" if ag.get("r_factor") is None else f"{ag['r_factor']:.3f}"
        ax.scatter(pred[fit], obs[fit], color=col, s=18,
                   label=f"{ph['name']}: rank correlation {rho}, R {r} ({ag['n']} in fit)")
        if (~fit).any():
            ax.scatter(pred[~fit], obs[~fit], facecolors="none", edgecolors=col, s=18,
                       label=f"{ph['name']}: left out ({int((~fit).sum())})")
        lo, hi = min(lo, pred.min(), obs.min()), max(hi, pred.max(), obs.max())
    if np.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        log_ticks(ax.xaxis, lo, hi)
        log_ticks(ax.yaxis, lo, hi)
        ax.legend(fontsize="small")
    ax.set_xlabel("predicted intensity (scaled, a.u.)")
    ax.set_ylabel("observed intensity (a.u.)")
    if title:
        fit_title(ax, title)
    return fig
