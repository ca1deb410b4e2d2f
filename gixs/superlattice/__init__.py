"""Superlattice metrics: spacing, coherence, ordering intensity, orientation, film comparison."""

import importlib

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'OrderingResult': 'gixs.superlattice.ordering',
    'fold_profile': 'gixs.superlattice.ordering',
    'match_lattice': 'gixs.superlattice.ordering',
    'measure': 'gixs.superlattice.ordering',
    'measure_frame': 'gixs.superlattice.ordering',
    'chi_profile': 'gixs.superlattice.orientation',
    'orientation_metrics': 'gixs.superlattice.orientation',
    'compare': 'gixs.superlattice.comparison',
    'format_table': 'gixs.superlattice.comparison',
}

__all__ = ['OrderingResult', 'fold_profile', 'match_lattice', 'measure', 'measure_frame', 'chi_profile', 'orientation_metrics', 'compare', 'format_table']


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
