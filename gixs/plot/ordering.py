"""Figures of superlattice metrics: profile + fit with q* and d marked; film comparison.

Only the command line and notebooks import this module. Works on
:class:`gixs.superlattice.ordering.OrderingResult` objects or on their JSON dicts.
"""

from __future__ import annotations

import math

import numpy as np

from gixs.plot.common import _figure, fit_title, log_y, save  # noqa: F401  (save re-exported for callers)


def _as_dict(res):
    return res.to_dict() if hasattr(res, "to_dict") else res


def _fit_curve(d):
    from gixs.peaks import PeakFit

    fit = d["fit"]
    pf = PeakFit(model=fit["model"], shape=fit["shape"], background=fit["background"],
                 values=fit["values"], errors=fit["errors"], x0=fit["x0"], chi2=fit["chi2"],
                 redchi=fit["redchi"], dof=fit["dof"], aic=fit["aic"], bic=fit["bic"],
                 error_scale=fit["error_scale"], f_test_p=fit["f_test_p"] or 0.0,
                 window=tuple(fit["window"]))
    x = np.linspace(fit["window"][0], fit["window"][1], 400)
    return x, pf(x), pf.baseline(x)


def draw_result(ax, res, label=None, color=None, scale=1.0):
    """Profile (log y), fitted peak + background, q* and orders marked.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from gixs.results import Profile
    >>> from gixs.superlattice.ordering import measure
    >>> q = np.linspace(0.02, 0.2, 400)
    >>> y = 50 / q + 2000 * np.exp(-0.5 * ((q - 2 * math.pi / 125) / 0.002) ** 2)
    >>> res = measure(Profile("ip", "qxy", q, y, 0.05 * np.sqrt(y) + 1, np.full(400, 100)))
    >>> ax = Figure().subplots()
    >>> draw_result(ax, res)
    >>> ax.get_xlabel(), ax.get_yscale(), len(ax.lines) >= 3
    ('|q_xy| (A^-1)', 'log', True)
    >>> ax.texts[0].get_text().splitlines()[1]
    'd = 12.51 nm'
    """
    d = _as_dict(res)
    prof = d.get("profile")
    lab = label or "profile"
    if prof:
        x = np.asarray(prof["q"], float)
        y = np.asarray(prof["intensity"], float) * scale
        line, = ax.plot(x, y, lw=0.8, color=color, label=lab)
        color = line.get_color()
    xf, yf, bf = _fit_curve(d)
    ax.plot(xf, yf * scale, color="k" if color is None else color, lw=1.8, ls="-",
            alpha=0.9, label=f"fit {d['fit']['model']}" if label is None else None)
    ax.plot(xf, bf * scale, color="0.4" if color is None else color, lw=1, ls="--")
    q = d["q_star"]
    ax.axvline(q, color=color or "C3", lw=0.8, ls=":")
    ax.annotate(f"q* = {q:.4f} A^-1\nd = {d['d_spacing']:.2f} nm", (q, float(np.max(yf)) *
                scale), xytext=(8, 8), textcoords="offset points", fontsize=8, color=color)
    for o in d.get("orders") or []:
        ax.axvline(o["q"], color=color or "C2", lw=0.6, ls="-.", alpha=0.6)
    if d.get("valley_q") is not None:
        ax.plot([d["valley_q"]], [d["valley"] * d.get("normalization", 1.0) * scale], "v",
                color=color or "C1", ms=5)
    log_y(ax)
    ax.set_xlabel("q (A^-1)" if d.get("profile_name") == "iq" else "|q_xy| (A^-1)")
    ax.set_ylabel("intensity (a.u.)")


def result_figure(res, title=""):
    """One film: full profile and a zoom on the fitted window.

    Examples
    --------
    >>> from gixs.results import Profile
    >>> from gixs.superlattice.ordering import measure
    >>> q = np.linspace(0.02, 0.2, 400)
    >>> y = 50 / q + 2000 * np.exp(-0.5 * ((q - 2 * math.pi / 125) / 0.002) ** 2)
    >>> res = measure(Profile("ip", "qxy", q, y, 0.05 * np.sqrt(y) + 1, np.full(400, 100)))
    >>> fig = result_figure(res, title="film A")
    >>> type(fig).__name__, len(fig.axes)
    ('Figure', 2)
    >>> fig.axes[1].get_xlim() == tuple(res.fit["window"])
    True
    """
    d = _as_dict(res)
    fig = _figure((10, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    draw_result(ax1, d)
    ax1.legend(fontsize=8)
    fit_title(ax1, title or f"{d.get('source') or 'profile'} ({d.get('profile_name')})",
                  fontsize=9)
    draw_result(ax2, d)
    lo, hi = d["fit"]["window"]
    ax2.set_xlim(lo, hi)
    prof = d.get("profile")
    if prof:
        x = np.asarray(prof["q"])
        y = np.asarray(prof["intensity"])
        sel = (x >= lo) & (x <= hi) & (y > 0)
        if sel.any():
            ax2.set_ylim(y[sel].min() * 0.8, y[sel].max() * 1.25)
    fit_title(ax2, f"fit window: FWHM {d['fwhm']:.4f} A^-1, xi {d['coherence_length']:.1f} nm",
                  fontsize=9)
    return fig


def compare_figure(results, labels):
    """Profiles of several films overlaid, plus bars of d and intensity ratios.

    Examples
    --------
    >>> from gixs.results import Profile
    >>> from gixs.superlattice.ordering import measure
    >>> q = np.linspace(0.02, 0.2, 400)
    >>> def film(d_nm, height):
    ...     y = 50 / q + height * np.exp(-0.5 * ((q - 2 * math.pi / (10 * d_nm)) / 0.002) ** 2)
    ...     return measure(Profile("ip", "qxy", q, y, 0.05 * np.sqrt(y) + 1,
    ...                            np.full(400, 100)))
    >>> fig = compare_figure([film(12.5, 2000), film(13.0, 1000)], ["control", "annealed"])
    >>> type(fig).__name__, [round(float(b.get_height()), 1) for b in fig.axes[1].patches]
    ('Figure', [12.5, 13.0])
    """

    ds = [_as_dict(r) for r in results]
    fig = _figure((11, 4.2))
    ax1, ax2, ax3 = fig.subplots(1, 3, width_ratios=(2, 1, 1))
    for i, (d, lab) in enumerate(zip(ds, labels)):
        draw_result(ax1, d, label=lab, color=f"C{i}")
    ax1.legend(fontsize=8)
    fit_title(ax1, "profiles and fits", fontsize=9)
    xs = np.arange(len(ds))
    dd = [d["d_spacing"] for d in ds]
    de = [d.get("d_spacing_err") or 0 for d in ds]
    ax2.bar(xs, dd, yerr=de, color=[f"C{i}" for i in xs])
    ax2.set_xticks(xs, labels, rotation=30, fontsize=8)
    ax2.set_ylabel("d = 2 pi / q* (nm)")
    lo = min(dd) * 0.9
    ax2.set_ylim(lo, max(dd) * 1.05)
    ref = ds[0]
    hr = [d["peak_height"] / ref["peak_height"] for d in ds]
    pr = [d["peak_to_valley"] / ref["peak_to_valley"] if ref["peak_to_valley"] else math.nan
          for d in ds]
    w = 0.38
    ax3.bar(xs - w / 2, hr, w, label="peak height")
    ax3.bar(xs + w / 2, pr, w, label="peak - valley")
    ax3.set_xticks(xs, labels, rotation=30, fontsize=8)
    ax3.set_ylabel(f"ratio to {labels[0]} (1)")
    ax3.legend(fontsize=8)
    return fig


def failure_figure(d):
    """Figure of a failed ``gixs spacing``: the profiles looked at, the candidates, the error."""
    fig = _figure((10, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for name, p in (d.get("profiles") or {}).items():
        x = np.asarray(p["q"], float)
        y = np.asarray([np.nan if v is None else v for v in p["intensity"]], float)
        ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
        if ok.any():
            ax.plot(np.abs(x[ok]), y[ok], lw=1, label=f"{name} ({p['axis']})")
    for name, c in (d.get("candidates") or {}).items():
        if isinstance(c, dict) and c.get("q"):
            ax.axvline(c["q"], ls=":", color="0.4")
            ax.text(c["q"], 1, f" {name} candidate", rotation=90, va="bottom", fontsize=7,
                    transform=ax.get_xaxis_transform())
    log_y(ax)
    ax.set_xlabel("q_xy or |q| (A^-1)")
    ax.set_ylabel("intensity (a.u.)")
    err = d.get("error", "")
    fit_title(ax, "no measurement: " + err, fontsize=8, max_lines=4)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return fig
