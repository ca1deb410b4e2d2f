"""Bragg indexing: phases, reflections, GI spot positions, assignment and refinement."""

from gixs.bragg.lattice import (Site, Reflections, Phase, GISpots, surface_normal, predict_gi_spots, apparent_qz)
from gixs.bragg.phases import builtin_phase, parse_phase
from gixs.bragg.spots import (render_film, Spot, ring_profile, isotropic_background, detect_spots, Peak1D, snip_baseline, detect_peaks_1d)
from gixs.bragg.index import PhaseModel, IndexResult, assign, index_map

__all__ = ['Site', 'Reflections', 'Phase', 'GISpots', 'surface_normal', 'predict_gi_spots', 'apparent_qz', 'builtin_phase', 'parse_phase', 'render_film', 'Spot', 'ring_profile', 'isotropic_background', 'detect_spots', 'Peak1D', 'snip_baseline', 'detect_peaks_1d', 'PhaseModel', 'IndexResult', 'assign', 'index_map']
