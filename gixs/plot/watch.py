"""Live figure of ``gixs watch``: latest q map (or profile), d and ordering vs time."""

from __future__ import annotations

import numpy as np

from gixs.plot.common import _figure, _log_norm, fit_title


def _column(rows, prefixes):
    for prefix in prefixes:
        keys = [k for r in rows for k in r if k.startswith(prefix)]
        if keys:
            return keys[0]
    return None


def live_figure(output, rows, times=None, title="gixs watch"):
    """Figure of a watch so far.

    Parameters
    ----------
    output : path
        The watch's NeXus file; its last entry's q map (``qmap``, with ``--maps``) or
        else its I(q) profile is drawn.
    rows : list of dict
        The table rows (:class:`gixs.batch.run.BatchResult` ``rows``).
    times : sequence of float, optional
        Time (s) of each row (e.g. from ``--name-pattern``); default the rows'
        ``time_s`` relative to the first, else the frame position.
    """
    import h5py

    fig = _figure((11, 4))
    axes = fig.subplots(1, 3)
    with h5py.File(output, "r") as f:
        names = sorted(k for k in f if k.startswith("entry_"))
        last = f[names[-1]] if names else None
        if last is not None and "qmap" in last:
            g = last["qmap"]
            img = np.asarray(g["intensity"])
            ax_names = [a.decode() if isinstance(a, bytes) else a for a in g.attrs["axes"]]
            y, x = np.asarray(g[ax_names[0]]), np.asarray(g[ax_names[1]])
            axes[0].pcolormesh(x, y, img, norm=_log_norm(img), shading="auto")
            axes[0].set_xlabel("q_xy (A^-1)")
            axes[0].set_ylabel("q_z (A^-1)")
            fit_title(axes[0], f"latest: {names[-1]}", fontsize=9)
        elif last is not None and "iq" in last:
            q, i = np.asarray(last["iq/q"]), np.asarray(last["iq/intensity"])
            axes[0].semilogy(q, np.where(i > 0, i, np.nan))
            axes[0].set_xlabel("q (A^-1)")
            axes[0].set_ylabel("I (a.u.)")
            fit_title(axes[0], f"latest I(q): {names[-1]}", fontsize=9)
    ok = [r for r in rows if r.get("status") == "ok"]
    if times is not None:
        t = np.asarray([times[i] for i, r in enumerate(rows) if r.get("status") == "ok"], float)
        tlabel = "time (s)"
    elif ok and all(r.get("time_s") is not None for r in ok):
        t = np.asarray([r["time_s"] for r in ok], float)
        t = t - t[0]
        tlabel = "time since first frame (s)"
    else:
        t = np.asarray([r.get("index", i) for i, r in enumerate(ok)], float)
        tlabel = "frame"
    for ax, prefixes, label in ((axes[1], ("d_spacing",), "d"),
                                (axes[2], ("peak_to_valley_ratio", "peak_to_valley"),
                                 "peak/valley")):
        col = _column(ok, prefixes)
        if col is None:
            fit_title(ax, f"{label}: no such column yet", fontsize=9)
            continue
        v = np.asarray([np.nan if r.get(col) is None else r[col] for r in ok], float)
        ax.plot(t, v, "o-", ms=3)
        ax.set_xlabel(tlabel)
        ax.set_ylabel(col)
    fit_title(fig, f"{title}: {len(rows)} frame(s)", fontsize=10)
    return fig
