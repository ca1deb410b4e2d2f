"""Detector calibration from calibrant frames; stored geometries of known setups."""

import importlib

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


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
