"""Superlattice metrics: spacing, coherence, ordering intensity, orientation, film comparison."""

from gixs.superlattice.ordering import (OrderingResult, fold_profile, match_lattice, measure, measure_frame)
from gixs.superlattice.orientation import chi_profile, orientation_metrics
from gixs.superlattice.comparison import compare, format_table

__all__ = ['OrderingResult', 'fold_profile', 'match_lattice', 'measure', 'measure_frame', 'chi_profile', 'orientation_metrics', 'compare', 'format_table']
