"""Matplotlib figures of frames, q maps and profiles (axes labelled with units).

Nothing in the library imports this module; the command line and notebooks do.
Figures are built with the object API (no pyplot state), so this works headless.
"""

from __future__ import annotations

import math

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


def log_ticks(axis, lo, hi):
    """Plain ticks on a log axis spanning ``lo``..``hi`` (> 0): decades; 1-2-5 in each
    decade when the span is under two decades, 1-9 under half a decade; labels as plain
    numbers ("20", "0.05"), no minor ticks. Matplotlib's default (minor ticks, TeX-like "10^2" labels)
    cost the reduce overview ~0.2 s of its ~0.5 s draw.

    ``axis``: an Axes' ``xaxis`` / ``yaxis`` or a colour bar's ``ax.yaxis``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> _ = ax.plot([1, 2, 3], [4.0, 9.0, 40.0])
    >>> ax.set_yscale("log")
    >>> log_ticks(ax.yaxis, 4.0, 40.0)
    >>> [ax.yaxis.get_major_formatter()(v) for v in (5.0, 10.0, 20.0)]
    ['5', '10', '20']
    >>> ax.yaxis.get_minor_locator()()
    []
    >>> _ = ax.set_ylim(30, 45)
    >>> log_ticks(ax.yaxis, 30, 45)
    >>> [float(t) for t in ax.yaxis.get_major_locator()() if 30 <= t <= 45]
    [30.0, 40.0]
    """
    from matplotlib.ticker import LogFormatter, LogLocator, NullLocator

    span = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = (1.0,) if span >= 2 else (1.0, 2.0, 5.0) if span >= 0.5 else np.arange(1.0, 10.0)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(LogFormatter(labelOnlyBase=False,
                                          minor_thresholds=(math.inf, math.inf)))
    axis.set_minor_locator(NullLocator())


def log_y(ax):
    """Log intensity axis with :func:`log_ticks` over the current limits (call after the
    data are drawn)."""
    ax.set_yscale("log")
    log_ticks(ax.yaxis, *sorted(ax.get_ylim()))


def colorbar(fig, im, ax, **kw):
    """``fig.colorbar(im, ax=ax, **kw)``, with :func:`log_ticks` on a log-scaled image."""
    from matplotlib.colors import LogNorm

    cb = fig.colorbar(im, ax=ax, **kw)
    if isinstance(im.norm, LogNorm):
        log_ticks(cb.ax.yaxis, im.norm.vmin, im.norm.vmax)
    return cb


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


def image_axes(orientation=1, geometry=None, shape=None):
    """((axis, sign) of q_xy, (axis, sign) of the sample normal) on the image: axis
    "x" = columns, "y" = rows, sign +1 = towards increasing index.

    The orientation code (:data:`gixs.geometry.model.ORIENTATION_AXES`) names pyFAI's
    lab axes; they are the image's columns and rows unless the detector is turned about
    its normal (``rot3``, e.g. 90 deg for a geometry stated on a turned image): given
    the ``geometry`` (and image ``shape``), the image axis along each lab axis is read
    from the pixel positions.

    Examples
    --------
    >>> image_axes(4)
    (('x', 1), ('y', -1))
    """
    from gixs.geometry.model import ORIENTATION_AXES

    if orientation not in ORIENTATION_AXES:
        raise ValueError(f"orientation must be an EXIF code 1-8, got {orientation!r}")
    (h_lab, h_sign), (v_lab, v_sign) = ORIENTATION_AXES[orientation]
    if geometry is None:
        return (h_lab, h_sign), (v_lab, v_sign)
    r0, c0 = (0, 0) if shape is None else (shape[0] // 2, shape[1] // 2)
    _, y, x = geometry.lab_positions(shape, pixels=([r0, r0 + 1, r0], [c0, c0, c0 + 1]))
    step = {"y": np.array([y[1] - y[0], y[2] - y[0]]),   # lab y per (row, column) step
            "x": np.array([x[1] - x[0], x[2] - x[0]])}

    def on_image(lab, sign):
        d = step[lab]
        k = int(np.argmax(np.abs(d)))  # 0: rows carry this lab axis, 1: columns
        return ("y", "x")[k], int(sign * np.sign(d[k]))

    return on_image(h_lab, h_sign), on_image(v_lab, v_sign)


def detector_image(ax, data, mask=None, title=None, orientation=1, geometry=None):
    """Draw a detector image (log scale; masked pixels grey) with the sample normal up.

    ``orientation`` is the sample orientation code (EXIF 1-8,
    :data:`gixs.geometry.model.ORIENTATION_AXES`): the image is turned and flipped so
    that the normal points up and q_xy grows to the right, as on the q_xy/q_z map
    beside it (code 1: row 0 at the bottom; code 4: row 0 at the top); with the
    ``geometry``, a detector turned about its normal is drawn right too
    (:func:`image_axes`). The axes stay in detector pixels (rows and columns as read).
    Images larger than :data:`MAX_IMAGE_PX` are drawn from their block means
    (:func:`downsample`).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> data = np.arange(1.0, 1201.0).reshape(30, 40)
    >>> im = detector_image(ax, data, mask=data < 10, title="frame 1")
    >>> im.get_array().shape, ax.get_ylabel()
    ((30, 40), 'row (pixel; sample normal up)')
    >>> int(np.ma.count_masked(im.get_array()))  # masked pixels drawn grey
    9
    """
    import matplotlib

    (h_axis, h_sign), (_, v_sign) = image_axes(orientation, geometry, np.shape(data))
    small, factor = downsample(data, mask)
    h, w = small.shape[0] * factor, small.shape[1] * factor
    img = np.ma.masked_invalid(small)
    labels = ["column (pixel)", "row (pixel)"]
    extent = (-0.5, w - 0.5, -0.5, h - 0.5)
    if h_axis == "y":  # the normal runs along the columns: rows across, columns up
        img, labels, extent = img.T, labels[::-1], (-0.5, h - 0.5, -0.5, w - 0.5)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.6")
    im = ax.imshow(img, origin="lower", cmap=cmap, norm=_log_norm(small),
                   interpolation="nearest", extent=extent)
    if h_sign < 0:
        ax.invert_xaxis()
    if v_sign < 0:
        ax.invert_yaxis()
    note = "" if factor == 1 else f"; {factor}x{factor} block means"
    ax.set_xlabel(labels[0].replace(")", f"{note})"))
    ax.set_ylabel(labels[1].replace(")", "; sample normal up)"))
    if title:
        fit_title(ax, title)
    return im


#: Mean printed width of a character in a title (em; DejaVu Sans letters, digits, '_').
CHAR_EM = 0.65


def wrap_title(text, width_in, fontsize, max_lines=3):
    """Lines of ``text`` that fit ``width_in`` inches at ``fontsize`` points, broken
    after spaces, ``_``, ``/``, ``,`` or ``-`` (file names have no spaces) and, at worst,
    shortened in the middle with '...'.

    Examples
    --------
    >>> wrap_title("short", 5.0, 10)
    ['short']
    >>> wrap_title("900KW_TC_TT1_14keV_ai0.11deg_wa10.6_000001_WAXS", 1.7, 10)
    ['900KW_TC_TT1_', '14keV_ai0.11deg_', 'wa10.6_000001_WAXS']
    """
    import re

    chars = max(8, int(width_in * 72 / (CHAR_EM * fontsize)))
    lines = []
    for para in str(text).split("\n"):
        line = ""
        for tok in re.split(r"(?<=[ _/,\-])", para):
            if line and len(line) + len(tok) > chars:
                lines.append(line.rstrip())
                line = ""
            while len(tok) > chars:  # a token longer than a line: cut it
                lines.append(tok[:chars])
                tok = tok[chars:]
            line += tok
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        keep = lines[:max_lines - 1] + [lines[-1]]
        keep[max_lines - 2] = keep[max_lines - 2][:max(1, chars - 3)] + "..."
        lines = keep
    return lines


def fit_title(target, text, fontsize=None, max_lines=3):
    """Set a title that fits: ``target`` is an Axes (its title) or a Figure (its
    suptitle); long titles are wrapped onto up to ``max_lines`` lines, in a smaller font
    (down to 7 pt) when they still do not fit.
    """
    from matplotlib.figure import Figure

    is_fig = isinstance(target, Figure)
    fig = target if is_fig else target.figure
    width = fig.get_figwidth() * (0.94 if is_fig else target.get_position().width)
    size = fontsize or (12.0 if is_fig else 10.0)
    while True:
        lines = wrap_title(text, width, size, max_lines=max_lines)
        if len(lines) <= 2 or size <= 7:
            break
        size -= 1
    lines = wrap_title(text, width, size, max_lines=max_lines)
    out = "\n".join(lines)
    if is_fig:
        return target.suptitle(out, fontsize=size)
    # y given: the title sits at the top edge (+ its pad) without matplotlib measuring
    # every tick label first to lift it over top tick labels (none here; ~0.1 s a figure)
    return target.set_title(out, fontsize=size, y=1.0)


def qmap(ax, m, title=None):
    """Draw a q_xy/q_z (or q/chi) map; the missing wedge (NaN) is drawn white.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from gixs.results import Map2D
    >>> m = Map2D("qmap", "qxy", "qz", np.linspace(-0.1, 0.1, 5), np.linspace(0, 0.2, 4),
    ...           np.ones((4, 5)), np.ones((4, 5), int))
    >>> ax = Figure().subplots()
    >>> im = qmap(ax, m, title="map")
    >>> ax.get_xlabel(), ax.get_ylabel(), im.get_array().shape
    ('q_xy (A^-1)', 'q_z (A^-1)', (4, 5))
    """
    import matplotlib

    from gixs.units import LABELS

    cmap = matplotlib.colormaps["magma"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(m.intensity), origin="lower", extent=m.extent,
                   aspect="auto", cmap=cmap, norm=_log_norm(m.intensity),
                   interpolation="nearest")
    ax.set_xlabel(LABELS[m.x_axis])
    ax.set_ylabel(LABELS[m.y_axis])
    if title:
        fit_title(ax, title)
    return im


def profiles(ax, profs, logy=True, title=None):
    """Draw 1D profiles (same axis kind) with error bands.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from gixs.results import Profile
    >>> p = Profile("iq", "q", np.array([0.1, 0.2, 0.3]), np.array([5.0, np.nan, 3.0]),
    ...             np.array([0.5, np.nan, 0.3]), np.array([10, 0, 12]))
    >>> ax = Figure().subplots()
    >>> profiles(ax, [p], title="I(q)")
    >>> ax.get_xlabel(), ax.get_yscale(), ax.lines[0].get_xdata().tolist()
    ('q (A^-1)', 'log', [0.1, 0.3])
    """
    for p in profs:
        v = p.valid()
        ax.plot(v.x, v.intensity, lw=1, label=p.name)
        ax.fill_between(v.x, v.intensity - v.sigma, v.intensity + v.sigma, alpha=0.3)
    if profs:
        ax.set_xlabel(profs[0].x_label)
    ax.set_ylabel("intensity (a.u.)")
    if logy:
        log_y(ax)
    ax.legend(fontsize="small")
    if title:
        fit_title(ax, title)


def reduction_figure(reduced, frame=None, mask=None, title=""):
    """Overview: detector image (sample normal up, as on the q map), q_xy/q_z map,
    azimuthal and cut profiles. The sample orientation comes from the provenance.

    Examples
    --------
    >>> from gixs.results import Map2D, Profile, ReducedFrame
    >>> x = np.array([0.1, 0.2, 0.3])
    >>> prof = {k: Profile(k, a, x, np.array([5.0, 4.0, 3.0]), np.full(3, 0.2),
    ...                    np.full(3, 9)) for k, a in (("iq", "q"), ("ip", "qxy"),
    ...                                                ("oop", "qz"))}
    >>> m = Map2D("qmap", "qxy", "qz", np.linspace(-0.1, 0.1, 5), np.linspace(0, 0.2, 4),
    ...           np.ones((4, 5)), np.ones((4, 5), int))
    >>> red = ReducedFrame(prof, {"qmap": m}, {"source": "a.tif"})
    >>> fig = reduction_figure(red, frame=np.ones((20, 30)), title="a.tif")
    >>> type(fig).__name__, len(fig.axes)  # 4 panels and 2 colour bars
    ('Figure', 6)
    """
    fig = _figure((11, 8.5), layout=None)  # fixed margins: constrained layout costs ~1 s
    axes = fig.subplots(2, 2, gridspec_kw=dict(left=0.08, right=0.95, bottom=0.07,
                                               top=0.9, wspace=0.3, hspace=0.3))
    if frame is not None:
        prov = reduced.provenance
        code = (prov.get("grazing_incidence") or {}).get("sample_orientation", 1)
        geo = None
        if prov.get("geometry"):
            from gixs.geometry.model import DetectorGeometry

            geo = DetectorGeometry(**prov["geometry"]).for_image_shape(np.shape(frame))
        colorbar(fig, detector_image(axes[0, 0], frame, mask, "detector", orientation=code,
                                     geometry=geo), axes[0, 0])
    else:
        axes[0, 0].axis("off")
    if "qmap" in reduced.maps:
        colorbar(fig, qmap(axes[0, 1], reduced.maps["qmap"], "q_xy / q_z map (white: no data)"),
                 axes[0, 1], label="intensity (a.u.)")
    pr = reduced.profiles
    profiles(axes[1, 0], [p for k, p in pr.items() if p.axis == "q"], title="I(q)")
    cuts = [pr[k] for k in ("ip", "oop") if k in pr]
    for p in cuts:
        v = p.valid()
        axes[1, 1].plot(v.x, v.intensity, lw=1, label=f"{p.name}: I({p.axis})")
    log_y(axes[1, 1])
    axes[1, 1].set_xlabel("q_xy or q_z (A^-1)")
    axes[1, 1].set_ylabel("intensity (a.u.)")
    axes[1, 1].legend(fontsize="small")
    fit_title(axes[1, 1], "in-plane and out-of-plane cuts")
    if title:
        fit_title(fig, title)
    return fig


def qmap_figure(reduced, title=""):
    """A single q_xy/q_z map figure.

    Examples
    --------
    >>> from gixs.results import Map2D, ReducedFrame
    >>> m = Map2D("qmap", "qxy", "qz", np.linspace(-0.1, 0.1, 5), np.linspace(0, 0.2, 4),
    ...           np.ones((4, 5)), np.ones((4, 5), int))
    >>> fig = qmap_figure(ReducedFrame({}, {"qmap": m}, {}))
    >>> type(fig).__name__, fig.axes[0].get_xlabel()
    ('Figure', 'q_xy (A^-1)')
    """
    fig = _figure((6.5, 5))
    ax = fig.subplots()
    colorbar(fig, qmap(ax, reduced.maps["qmap"], title or "q_xy / q_z map"), ax,
             label="intensity (a.u.)")
    return fig


#: zlib level of the PNG files written (1: fastest; 9: smallest). At 1 the reduce overview
#: is ~3% larger than at the default 6 and encodes in under half the time.
PNG_COMPRESS_LEVEL = 1


def save(fig, path, dpi=110):
    """Save a figure atomically (PNG, PDF or SVG by extension).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or path
        Destination; the extension names the format (PNG when none).
    dpi : int
        Resolution of raster formats (dots per inch).

    Examples
    --------
    >>> import tempfile, os
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 1))
    >>> path = os.path.join(tempfile.mkdtemp(), "f.png")
    >>> save(fig, path, dpi=50)
    >>> open(path, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """

    import os

    from gixs.io.frames import atomic_path

    ext = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    extra = {"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if ext == "png" else {}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=ext, **extra)
