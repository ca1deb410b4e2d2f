"""Detector and grazing-incidence geometry: PONI model, conventions, pixel q."""

from gixs.geometry.model import (DetectorGeometry, GIGeometry, check_incidence, load_poni, write_poni, detector_fields)
from gixs.geometry.gi import PixelQ, sample_axes, refract, pixel_q, analytic_q

__all__ = ['DetectorGeometry', 'GIGeometry', 'check_incidence', 'load_poni', 'write_poni', 'detector_fields', 'PixelQ', 'sample_axes', 'refract', 'pixel_q', 'analytic_q']
