"""Detector calibration from calibrant frames; stored geometries of known setups."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'CalibrationResult': 'gixs.calibrate.core',
    'detector_geometry': 'gixs.calibrate.core',
    'calibrate': 'gixs.calibrate.core',
    'calibrations_dir': 'gixs.calibrate.core',
    'known_geometries': 'gixs.calibrate.core',
    'known_geometry': 'gixs.calibrate.core',
}

__all__ = ['CalibrationResult', 'detector_geometry', 'calibrate', 'calibrations_dir', 'known_geometries', 'known_geometry']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
