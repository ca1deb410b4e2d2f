"""Matplotlib figures; nothing in the library imports this package."""

from gixs.plot.common import (detector_image, qmap, profiles, reduction_figure, qmap_figure, save)
from gixs.plot.calibration import plot_calibration
from gixs.plot.index import overlay, index_figure, pattern_figure
from gixs.plot.ordering import draw_result, result_figure, compare_figure

__all__ = ['detector_image', 'qmap', 'profiles', 'reduction_figure', 'qmap_figure', 'save', 'plot_calibration', 'overlay', 'index_figure', 'pattern_figure', 'draw_result', 'result_figure', 'compare_figure']
