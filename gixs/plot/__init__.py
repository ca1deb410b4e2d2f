"""Matplotlib figures; nothing in the library imports this package."""

import importlib

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
    'draw_result': 'gixs.plot.ordering',
    'result_figure': 'gixs.plot.ordering',
    'compare_figure': 'gixs.plot.ordering',
}

__all__ = ['detector_image', 'qmap', 'profiles', 'reduction_figure', 'qmap_figure', 'save', 'plot_calibration', 'overlay', 'index_figure', 'pattern_figure', 'draw_result', 'result_figure', 'compare_figure']


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
