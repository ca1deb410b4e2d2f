"""Detector and grazing-incidence geometry: PONI model, conventions, pixel q."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'DetectorGeometry': 'gixs.geometry.model',
    'GIGeometry': 'gixs.geometry.model',
    'check_incidence': 'gixs.geometry.model',
    'load_poni': 'gixs.geometry.model',
    'write_poni': 'gixs.geometry.model',
    'detector_fields': 'gixs.geometry.model',
    'PixelQ': 'gixs.geometry.gi',
    'sample_axes': 'gixs.geometry.gi',
    'refract': 'gixs.geometry.gi',
    'pixel_q': 'gixs.geometry.gi',
    'analytic_q': 'gixs.geometry.gi',
}

__all__ = ['DetectorGeometry', 'GIGeometry', 'check_incidence', 'load_poni', 'write_poni', 'detector_fields', 'PixelQ', 'sample_axes', 'refract', 'pixel_q', 'analytic_q']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
