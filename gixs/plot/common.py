"""Matplotlib figures of frames, q maps and profiles (axes labelled with units).

Nothing in the library imports this module; the command line and notebooks do.
Figures are built with the object API (no pyplot state), so this works headless.
"""

from __future__ import annotations

import numpy as np


def _figure(size=(6, 5), layout="constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout=layout)


def _log_norm(values):
    from matplotlib.colors import LogNorm

    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        return None
    lo, hi = np.percentile(v, [2, 99.8])
    return LogNorm(vmin=max(lo, hi * 1e-6), vmax=max(hi, lo * 10))


#: Largest image side drawn (pixels); larger detector images are block-averaged first.
MAX_IMAGE_PX = 512


def downsample(data, mask=None, max_px: int = MAX_IMAGE_PX):
    """Block mean of the valid pixels, so that no side exceeds ``max_px``.

    Returns ``(image, factor)``: a float image with NaN where a block has no valid pixel,
    and the integer block size (1 = unchanged). Masked (True) and non-finite pixels are
    left out of the means.
    """
    data = np.asarray(data)
    bad = ~np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else \
        np.zeros(data.shape, bool)
    if mask is not None:
        bad = bad | np.asarray(mask, bool)
    factor = max(1, int(np.ceil(max(data.shape) / max_px)))
    if factor == 1:
        out = data.astype(np.float32)
        out[bad] = np.nan
        return out, 1
    rows, cols = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    shape = (rows // factor, factor, cols // factor, factor)
    good = ~bad[:rows, :cols]
    vals = np.where(good, data[:rows, :cols], 0).astype(np.float64)
    total = vals.reshape(shape).sum(axis=(1, 3))
    count = good.reshape(shape).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / count, np.nan).astype(np.float32)
    return out, factor


def detector_image(ax, data, mask=None, title=None):
    """Draw a detector image (log scale; masked pixels grey), row 0 at the bottom.

    Images larger than :data:`MAX_IMAGE_PX` are drawn from their block means
    (:func:`downsample`); the axes stay in detector pixels.
    """
    import matplotlib

    small, factor = downsample(data, mask)
    img = np.ma.masked_invalid(small)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.6")
    h, w = small.shape[0] * factor, small.shape[1] * factor
    im = ax.imshow(img, origin="lower", cmap=cmap, norm=_log_norm(small),
                   interpolation="nearest", extent=(-0.5, w - 0.5, -0.5, h - 0.5))
    ax.set_xlabel("column (pixel)" if factor == 1 else f"column (pixel; {factor}x{factor} "
                  "block means)")
    ax.set_ylabel("row (pixel)")
    if title:
        ax.set_title(title)
    return im


def qmap(ax, m, title=None):
    """Draw a q_xy/q_z (or q/chi) map; the missing wedge (NaN) is drawn white."""
    import matplotlib

    from gixs.units import LABELS

    cmap = matplotlib.colormaps["magma"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(m.intensity), origin="lower", extent=m.extent,
                   aspect="auto", cmap=cmap, norm=_log_norm(m.intensity),
                   interpolation="nearest")
    ax.set_xlabel(LABELS[m.x_axis])
    ax.set_ylabel(LABELS[m.y_axis])
    if title:
        ax.set_title(title)
    return im


def profiles(ax, profs, logy=True, title=None):
    """Draw 1D profiles (same axis kind) with error bands."""
    for p in profs:
        v = p.valid()
        ax.plot(v.x, v.intensity, lw=1, label=p.name)
        ax.fill_between(v.x, v.intensity - v.sigma, v.intensity + v.sigma, alpha=0.3)
    if profs:
        ax.set_xlabel(profs[0].x_label)
    ax.set_ylabel("intensity (a.u.)")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)


def reduction_figure(reduced, frame=None, mask=None, title=""):
    """Overview: detector image, q_xy/q_z map, azimuthal and cut profiles."""
    fig = _figure((11, 8.5), layout=None)  # fixed margins: constrained layout costs ~1 s
    axes = fig.subplots(2, 2, gridspec_kw=dict(left=0.08, right=0.95, bottom=0.07,
                                               top=0.92, wspace=0.3, hspace=0.28))
    if frame is not None:
        fig.colorbar(detector_image(axes[0, 0], frame, mask, "detector"), ax=axes[0, 0])
    else:
        axes[0, 0].axis("off")
    if "qmap" in reduced.maps:
        fig.colorbar(qmap(axes[0, 1], reduced.maps["qmap"], "q_xy / q_z map (white: no data)"),
                     ax=axes[0, 1], label="intensity (a.u.)")
    pr = reduced.profiles
    profiles(axes[1, 0], [p for k, p in pr.items() if p.axis == "q"], title="I(q)")
    cuts = [pr[k] for k in ("ip", "oop") if k in pr]
    for p in cuts:
        v = p.valid()
        axes[1, 1].plot(v.x, v.intensity, lw=1, label=f"{p.name}: I({p.axis})")
    axes[1, 1].set_yscale("log")
    axes[1, 1].set_xlabel("q_xy or q_z (A^-1)")
    axes[1, 1].set_ylabel("intensity (a.u.)")
    axes[1, 1].legend(fontsize="small")
    axes[1, 1].set_title("in-plane and out-of-plane cuts")
    if title:
        fig.suptitle(title)
    return fig


def qmap_figure(reduced, title=""):
    """A single q_xy/q_z map figure."""
    fig = _figure((6.5, 5))
    ax = fig.subplots()
    fig.colorbar(qmap(ax, reduced.maps["qmap"], title or "q_xy / q_z map"), ax=ax,
                 label="intensity (a.u.)")
    return fig


def save(fig, path, dpi=110):
    """Save a figure atomically (PNG, PDF or SVG by extension)."""
    import os

    from gixs.io.frames import atomic_path

    ext = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=ext)
