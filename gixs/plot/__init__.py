"""Matplotlib figures; nothing in the library imports this package."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'detector_image': 'gixs.plot.common',
    'qmap': 'gixs.plot.common',
    'profiles': 'gixs.plot.common',
    'reduction_figure': 'gixs.plot.common',
    'qmap_figure': 'gixs.plot.common',
    'save': 'gixs.plot.common',
    'plot_calibration': 'gixs.plot.calibration',
    'overlay': 'gixs.plot.index',
    'index_figure': 'gixs.plot.index',
    'pattern_figure': 'gixs.plot.index',
    'intensity_figure': 'gixs.plot.index',
    'draw_result': 'gixs.plot.ordering',
    'result_figure': 'gixs.plot.ordering',
    'compare_figure': 'gixs.plot.ordering',
    'FigureProcess': 'gixs.plot.process',
}

__all__ = ['detector_image', 'qmap', 'profiles', 'reduction_figure', 'qmap_figure', 'save', 'plot_calibration', 'overlay', 'index_figure', 'pattern_figure', 'intensity_figure', 'draw_result', 'result_figure', 'compare_figure', 'FigureProcess']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
