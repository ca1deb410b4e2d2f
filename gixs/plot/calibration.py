"""QA figure of a calibration: the image with predicted rings and control points, the
2theta residual per ring, and the residual versus azimuth (chi)."""

from __future__ import annotations

import numpy as np

from gixs.plot.common import colorbar, detector_image, fit_title, image_axes


def plot_calibration(result, path=None, max_rings=60, orientation=1):
    """Draw the QA figure of a :class:`gixs.calibrate.core.CalibrationResult`.

    Parameters
    ----------
    result : CalibrationResult
    path : str or Path, optional
        PNG/PDF/SVG file to write (atomically); None returns the figure only.
    max_rings : int
        Calibrant rings drawn at most (the inner ones).
    orientation : int
        Sample orientation code (EXIF 1-8) of the setup: the detector panel is drawn by
        :func:`gixs.plot.common.detector_image` with the sample normal up, as in every
        other figure (1: row 0 at the bottom; 4: row 0 at the top); rings, control points
        and beam centre are drawn on it in pixel coordinates.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    A hand-made result: four control points on the LaB6 (100) ring (d = 4.15692 A) of
    a 100x100 generic detector (0.1 mm pixels, 20 mm, 1 A), drawn to a PNG; the residual
    panel puts the ring at its 2theta = 2 asin(lambda / 2d):

    >>> import json, math, os, tempfile
    >>> from gixs.calibrate.core import CalibrationResult
    >>> from gixs.calibrate.rings import ControlPoints
    >>> from gixs.geometry.model import DetectorGeometry
    >>> g = DetectorGeometry(0.02, 0.005, 0.005, 0.0, 0.0, 0.0, 1e-10, "Detector",
    ...                      json.dumps({"pixel1": 1e-4, "pixel2": 1e-4,
    ...                                  "max_shape": [100, 100]}))
    >>> tth = 2 * math.asin(1.0 / (2 * 4.15692))
    >>> r_px, ang = 0.02 * math.tan(tth) / 1e-4, np.radians([0, 90, 180, 270])
    >>> cp = ControlPoints(49.5 + r_px * np.sin(ang), 49.5 + r_px * np.cos(ang),
    ...                    np.zeros(4, int), np.full(4, tth), np.full(4, 20.0),
    ...                    np.full(4, 0.002))
    >>> rep = {"calibrant": "LaB6", "n_control_points": 4, "n_rings": 1,
    ...        "residual_rms_deg": 0.001, "residual_rms_px": 0.02,
    ...        "fit2d": {"beam_centre_x_px": 50.0, "beam_centre_y_px": 50.0},
    ...        "rings": [{"ring_index": 0, "d_spacing_A": 4.15692,
    ...                   "mean_residual_deg": 0.0, "rms_residual_deg": 0.001}]}
    >>> res = CalibrationResult(g, rep, cp, np.zeros(4), np.zeros(4), np.ones(4, bool),
    ...                         image=np.ones((100, 100)))
    >>> path = os.path.join(tempfile.mkdtemp(), "qa.png")
    >>> fig = plot_calibration(res, path)
    >>> type(fig).__name__, os.path.getsize(path) > 0, fig.axes[1].get_xlabel()
    ('Figure', True, 'ring 2theta (deg)')
    >>> x = fig.axes[1].lines[0].get_xdata()
    >>> round(float(x[0]), 3), round(math.degrees(tth), 3)
    (13.817, 13.817)
    >>> [float(y) for y in fig.axes[0].get_ylim()]  # code 1: row 0 at the bottom
    [-0.5, 99.5]
    >>> [float(y) for y in plot_calibration(res, orientation=4).axes[0].get_ylim()]
    [99.5, -0.5]
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from gixs.calibrate import rings as cr

    rep = result.report
    geo = result.geometry
    img = np.asarray(result.image, float)
    mask = result.mask if result.mask is not None else np.zeros(img.shape, bool)
    cp = result.control_points
    inl = result.inlier
    fig = Figure(figsize=(15, 5.2), layout="constrained") if path is not None else \
        plt.figure(figsize=(15, 5.2), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3, width_ratios=[1.15, 1, 1])

    # image (log scale, sample normal up) with predicted rings
    im = detector_image(ax0, img, mask, orientation=orientation, geometry=geo)
    (h_axis, _), _ = image_axes(orientation, geo, img.shape)
    turned = h_axis == "y"  # detector_image drew rows across, columns up

    def xy(col, row):
        return (row, col) if turned else (col, row)

    limits = ax0.get_xlim(), ax0.get_ylim()  # the overlays must not widen or unturn them
    ai = geo.make_integrator()
    tth = ai.center_array(img.shape, unit="2th_rad", scale=False)
    dsp = np.array([r["d_spacing_A"] for r in rep["rings"]])
    from pyFAI.calibrant import get_calibrant

    all_d = np.asarray(get_calibrant(rep["calibrant"]).dspacing, float)[:max_rings]
    t_all = cr.ring_tth(all_d, geo.wavelength_m)
    t_all = t_all[np.isfinite(t_all) & (t_all <= np.nanmax(tth))]
    if t_all.size:
        ax0.contour(tth.T if turned else tth, levels=np.unique(t_all), colors="white",
                    linewidths=0.5, alpha=0.8)
    if cp is not None and len(cp):
        ax0.plot(*xy(cp.col[inl], cp.row[inl]), ".", color="tab:red", ms=2,
                 label="control points")
        ax0.plot(*xy(cp.col[~inl], cp.row[~inl]), "x", color="tab:orange", ms=3,
                 label="rejected")
    f2d = rep["fit2d"]
    ax0.plot(*xy(f2d["beam_centre_x_px"] - 0.5, f2d["beam_centre_y_px"] - 0.5), "+",
             color="tab:green", ms=14, mew=2, label="beam centre")
    ax0.set_xlim(limits[0])
    ax0.set_ylim(limits[1])
    colorbar(fig, im, ax0, label="counts (log)")
    fit_title(ax0, f"{rep['calibrant']}: predicted rings (white), {rep['n_control_points']} "
                   "points")
    ax0.legend(loc="upper right", fontsize=7)

    # residual per ring
    rings = rep["rings"]
    x = np.degrees(cr.ring_tth(dsp, geo.wavelength_m)) if len(dsp) else np.zeros(0)
    ax1.errorbar(x, [r["mean_residual_deg"] for r in rings],
                 yerr=[r["rms_residual_deg"] for r in rings], fmt="o", capsize=3)
    ax1.axhline(0, color="k", lw=0.5)
    for xi, r in zip(x, rings):
        ax1.annotate(str(r["ring_index"]), (xi, r["mean_residual_deg"]), fontsize=7,
                     xytext=(3, 3), textcoords="offset points")
    ax1.set_xlabel("ring 2theta (deg)")
    ax1.set_ylabel("2theta residual, mean +- rms (deg)")
    fit_title(ax1, f"RMS {rep['residual_rms_deg']:.4f} deg = {rep['residual_rms_px']:.2f} px, "
                  f"{rep['n_rings']} rings")

    # residual vs azimuth
    if cp is not None and len(cp):
        chi = np.degrees(ai.chi(cp.row, cp.col))
        sc = ax2.scatter(chi[inl], result.residual_deg[inl], c=cp.ring[inl], s=4, cmap="viridis")
        ax2.scatter(chi[~inl], result.residual_deg[~inl], marker="x", s=8, color="tab:orange")
        fig.colorbar(sc, ax=ax2, label="ring index")
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xlabel("azimuth chi (deg)")
    ax2.set_ylabel("2theta residual (deg)")
    fit_title(ax2, "residual vs azimuth")
    if path is not None:
        from gixs.io.frames import atomic_path
        import os

        ext = os.path.splitext(os.fspath(path))[1] or ".png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=ext.lstrip("."))
    return fig
