"""Superlattice metrics: spacing, coherence, ordering intensity, orientation, film comparison."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'OrderingResult': 'gixs.superlattice.ordering',
    'fold_profile': 'gixs.superlattice.ordering',
    'match_lattice': 'gixs.superlattice.ordering',
    'measure': 'gixs.superlattice.ordering',
    'measure_frame': 'gixs.superlattice.ordering',
    'fit_form_factor': 'gixs.superlattice.formfactor',
    'parse_form_factor': 'gixs.superlattice.ffspec',
    'chi_profile': 'gixs.superlattice.orientation',
    'orientation_metrics': 'gixs.superlattice.orientation',
    'compare': 'gixs.superlattice.comparison',
    'format_table': 'gixs.superlattice.comparison',
}

__all__ = ['OrderingResult', 'fold_profile', 'match_lattice', 'measure', 'measure_frame', 'fit_form_factor', 'parse_form_factor', 'chi_profile', 'orientation_metrics', 'compare', 'format_table']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
