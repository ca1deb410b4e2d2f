"""Bragg indexing: phases, reflections, GI spot positions, assignment and refinement."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'Site': 'gixs.bragg.lattice',
    'Reflections': 'gixs.bragg.lattice',
    'Phase': 'gixs.bragg.lattice',
    'GISpots': 'gixs.bragg.lattice',
    'surface_normal': 'gixs.bragg.lattice',
    'predict_gi_spots': 'gixs.bragg.lattice',
    'apparent_qz': 'gixs.bragg.lattice',
    'builtin_phase': 'gixs.bragg.phases',
    'parse_phase': 'gixs.bragg.phases',
    'render_film': 'gixs.bragg.spots',
    'Spot': 'gixs.bragg.spots',
    'ring_profile': 'gixs.bragg.spots',
    'isotropic_background': 'gixs.bragg.spots',
    'detect_spots': 'gixs.bragg.spots',
    'Peak1D': 'gixs.bragg.spots',
    'snip_baseline': 'gixs.bragg.spots',
    'detect_peaks_1d': 'gixs.bragg.spots',
    'merge_split_arcs': 'gixs.bragg.spots',
    'figure_of_merit': 'gixs.bragg.index',
    'Source': 'gixs.bragg.powder',
    'source': 'gixs.bragg.powder',
    'Doublet': 'gixs.bragg.powder',
    'fit_doublets': 'gixs.bragg.powder',
    'instrument_shift': 'gixs.bragg.powder',
    'kalpha2_position': 'gixs.bragg.powder',
    'index_doublet_pattern': 'gixs.bragg.powder',
    'PhaseModel': 'gixs.bragg.index',
    'IndexResult': 'gixs.bragg.index',
    'assign': 'gixs.bragg.index',
    'index_map': 'gixs.bragg.index',
    'index_pattern': 'gixs.bragg.index',
    'as_models': 'gixs.bragg.index',
    'anomalous_factors': 'gixs.bragg.lattice',
    'parse_phase_model': 'gixs.bragg.phases',
    'calibrant_phase': 'gixs.bragg.phases',
    'calibrant_names': 'gixs.bragg.phases',
    'lorentz_polarization': 'gixs.bragg.intensity',
    'march_dollase': 'gixs.bragg.intensity',
    'powder_intensities': 'gixs.bragg.intensity',
    'fibre_intensities': 'gixs.bragg.intensity',
    'agreement': 'gixs.bragg.intensity',
}

__all__ = ['Site', 'Reflections', 'Phase', 'GISpots', 'surface_normal', 'predict_gi_spots', 'apparent_qz', 'builtin_phase', 'parse_phase', 'render_film', 'Spot', 'ring_profile', 'isotropic_background', 'detect_spots', 'Peak1D', 'snip_baseline', 'detect_peaks_1d', 'merge_split_arcs', 'figure_of_merit', 'Source', 'source', 'Doublet', 'fit_doublets', 'instrument_shift', 'kalpha2_position', 'index_doublet_pattern', 'PhaseModel', 'IndexResult', 'assign', 'index_map', 'index_pattern', 'as_models', 'anomalous_factors', 'parse_phase_model', 'calibrant_phase', 'calibrant_names', 'lorentz_polarization', 'march_dollase', 'powder_intensities', 'fibre_intensities', 'agreement']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
