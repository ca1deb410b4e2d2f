"""Detector calibration from calibrant frames; stored geometries of known setups."""

from gixs.calibrate.core import (CalibrationResult, detector_geometry, calibrate, calibrations_dir, known_geometries, known_geometry)

__all__ = ['CalibrationResult', 'detector_geometry', 'calibrate', 'calibrations_dir', 'known_geometries', 'known_geometry']
