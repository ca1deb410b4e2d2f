"""Figures: the detector panel drawn with the sample normal up (as the q map beside it),
titles that fit inside the figure (checked on rendered figures)."""

import json
import math

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from gixs.geometry.gi import pixel_q  # noqa: E402
from gixs.geometry.model import DetectorGeometry, GIGeometry  # noqa: E402
from gixs.plot.common import (_figure, detector_image, fit_title, image_axes,  # noqa: E402
                              wrap_title)

PX = 172e-6


def _geometry(shape, rot3_deg=0.0, poni=(20, 60)):
    return DetectorGeometry(0.3, poni[0] * PX, poni[1] * PX, 0.0, 0.0, math.radians(rot3_deg),
                            1e-10, "Detector", json.dumps({"pixel1": PX, "pixel2": PX,
                                                           "max_shape": list(shape)}))


def _bright_centroid(fig, ax):
    """Centroid (x, y in 0..1 of the axes box, y up) of the yellow pixels drawn in ``ax``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    h = buf.shape[0]
    x0, y0, x1, y1 = ax.get_window_extent().extents
    sub = buf[int(h - y1):int(h - y0), int(x0):int(x1)]
    yellow = (sub[..., 0] > 200) & (sub[..., 1] > 200) & (sub[..., 2] < 100)
    rows, cols = np.nonzero(yellow)
    assert rows.size > 20
    return cols.mean() / sub.shape[1], 1 - rows.mean() / sub.shape[0]


@pytest.mark.parametrize("code,rot3", [(1, 0), (4, 0), (2, 0), (6, 0), (7, 0), (4, 90),
                                       (1, -90)])
def test_detector_panel_has_the_sample_normal_up_and_qxy_right(code, rot3):
    """Light the pixels far above the horizon (large exit angle, from gixs' GI geometry on
    pyFAI's pixel positions): they must be drawn at the top of the panel; those at large
    positive q_xy at the right."""
    shape = (90, 120)
    g = _geometry(shape, rot3, poni=(45, 60))
    pq = pixel_q(g, GIGeometry.from_degrees(0.2, orientation=code))
    for key, axis in (("exit_angle", 1), ("qxy", 0)):
        val = getattr(pq, key)
        img = np.where(val > np.percentile(val, 85), 1000.0, 1.0)
        fig = _figure((5, 5), layout=None)
        ax = fig.subplots()
        detector_image(ax, img, orientation=code, geometry=g)
        centre = _bright_centroid(fig, ax)
        assert centre[axis] > 0.8, (key, centre)


def test_image_axes_follow_pyfai_positions_for_a_turned_detector():
    assert image_axes(1) == (("x", 1), ("y", 1))
    assert image_axes(4) == (("x", 1), ("y", -1))
    assert image_axes(6) == (("y", -1), ("x", 1))
    shape = (40, 60)
    assert image_axes(4, _geometry(shape), shape) == (("x", 1), ("y", -1))
    # turned by 90 deg about the normal: the lab y (vertical) runs along the columns
    (h, v) = image_axes(4, _geometry(shape, 90.0), shape)
    assert h[0] == "y" and v[0] == "x"


def test_smi_panel_matches_its_q_map():
    """An SMI 900KW part (geometry stated on the turned image): the film side is up."""
    from gixs.reduce.multi import smi_waxs_parts

    part = smi_waxs_parts("900KW", distance_mm=278, center_px=(306, 1255),
                          wavelength_a=0.8856, arc_deg=10.6)[1]
    g = part.geometry.for_image_shape((619, 1475))
    pq = pixel_q(g, GIGeometry.from_degrees(0.11, orientation=4))
    img = np.where(pq.exit_angle > np.percentile(pq.exit_angle, 85), 1000.0, 1.0)
    fig = _figure((5, 5), layout=None)
    ax = fig.subplots()
    detector_image(ax, img, orientation=4, geometry=g)
    assert _bright_centroid(fig, ax)[1] > 0.8


LONG = "900KW_TC_TT1_14keV_ai0.11deg_wa10.6_000001_WAXS_" * 3 + "parts: 3 part(s)"


@pytest.mark.parametrize("width", [4.0, 6.5, 11.0])
def test_long_titles_fit_inside_the_figure(width):
    fig = _figure((width, 4))
    axes = fig.subplots(1, 2)
    fit_title(fig, LONG)
    fit_title(axes[0], LONG)
    fit_title(axes[1], "short")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    texts = [fig._suptitle, axes[0].title, axes[1].title]
    for t in texts:
        ext = t.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, (t.get_text(), ext, box)
    # axes titles stay over their own axes
    ext = axes[0].title.get_window_extent(renderer)
    a0 = axes[0].get_window_extent(renderer)
    assert ext.width <= a0.width * 1.25
    assert axes[1].title.get_text() == "short"


def test_wrap_title_keeps_the_text():
    lines = wrap_title(LONG, 3.0, 10, max_lines=10)
    assert "".join(lines).replace(" ", "") == LONG.replace(" ", "")
    assert all(len(line) <= int(3.0 * 72 / 6.5) for line in lines)
    short = wrap_title(LONG, 3.0, 10, max_lines=3)
    assert len(short) == 3 and short[1].endswith("...") and short[-1] == lines[-1]


def _calibration_result(g, image):
    from gixs.calibrate.core import CalibrationResult
    from gixs.calibrate.rings import ControlPoints

    rows, cols = np.array([70.0]), np.array([15.0])  # a marked pixel off every symmetry
    cp = ControlPoints(rows, cols, np.zeros(1, int), np.full(1, 0.02), np.full(1, 20.0),
                       np.full(1, 0.002))
    rep = {"calibrant": "LaB6", "n_control_points": 1, "n_rings": 1,
           "residual_rms_deg": 0.001, "residual_rms_px": 0.02,
           "fit2d": {"beam_centre_x_px": 60.5, "beam_centre_y_px": 45.5},
           "rings": [{"ring_index": 0, "d_spacing_A": 4.15692, "mean_residual_deg": 0.0,
                      "rms_residual_deg": 0.001}]}
    return CalibrationResult(g, rep, cp, np.zeros(1), np.zeros(1), np.ones(1, bool),
                             image=image), rows, cols


@pytest.mark.parametrize("code,rot3", [(4, 0), *(pytest.param(c, r, marks=pytest.mark.slow)
                                                for c, r in ((1, 0), (6, 0), (4, 90)))])
def test_calibration_panel_has_the_sample_normal_up(code, rot3):
    """The calibration figure's detector panel is drawn as every other (sample normal up,
    the same helper), and its control points sit on the pixels they mark."""
    from gixs.plot.calibration import plot_calibration

    shape = (90, 120)
    g = _geometry(shape, rot3, poni=(45, 60))
    pq = pixel_q(g, GIGeometry.from_degrees(0.2, orientation=code))
    img = np.where(pq.exit_angle > np.percentile(pq.exit_angle, 85), 1000.0, 1.0)
    res, _, _ = _calibration_result(g, img)
    fig = plot_calibration(res, orientation=code)
    fig.set_layout_engine(None)
    ax = fig.axes[0]
    for line in ax.lines + ax.collections:  # only the image counts in the centroid
        line.set_visible(False)
    ax.get_legend().set_visible(False)
    assert _bright_centroid(fig, ax)[1] > 0.8
    # a marked pixel: the control point drawn where the lit pixel is drawn
    import dataclasses

    res, rows, cols = _calibration_result(g, np.ones(shape))
    for k, (r, c) in enumerate(zip(rows.astype(int), cols.astype(int))):
        img = np.ones(shape)
        img[r - 1:r + 2, c - 1:c + 2] = 1000.0
        fig = plot_calibration(dataclasses.replace(res, image=img), orientation=code)
        fig.set_layout_engine(None)
        ax = fig.axes[0]
        points = ax.lines[0]
        for art in ax.lines + ax.collections:
            art.set_visible(False)
        ax.get_legend().set_visible(False)
        x, y = _bright_centroid(fig, ax)
        drawn = ax.transData.transform(np.column_stack(points.get_data())[k])
        x0, y0, x1, y1 = ax.get_window_extent().extents
        assert drawn[0] == pytest.approx(x0 + x * (x1 - x0), abs=3)
        assert drawn[1] == pytest.approx(y0 + y * (y1 - y0), abs=3)
