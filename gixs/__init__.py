"""gixs: grazing-incidence X-ray scattering reduction and film metrics.

q is in 1/A everywhere in the code, angles in rad (deg at the command line and in
files, where the name says so), film lengths in nm."""

from gixs._lazy import lazy_names

from gixs._version import __version__  # noqa: F401 (light)
from gixs.errors import CalibrationError, FormatError, GeometryError, GixsError, GixsWarning, IndexingError, NoPeakError  # noqa: F401 (light)

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'DetectorGeometry': 'gixs.geometry.model',
    'GIGeometry': 'gixs.geometry.model',
    'load_poni': 'gixs.geometry.model',
    'write_poni': 'gixs.geometry.model',
    'ReduceSettings': 'gixs.reduce.frame',
    'reduce_frame': 'gixs.reduce.frame',
    'Frame': 'gixs.io.frames',
    'iter_frames': 'gixs.io.frames',
    'read_frame': 'gixs.io.frames',
    'read_mask': 'gixs.io.frames',
    'Map2D': 'gixs.results',
    'Profile': 'gixs.results',
    'ReducedFrame': 'gixs.results',
}

__all__ = ['__version__', 'CalibrationError', 'FormatError', 'GeometryError', 'GixsError', 'GixsWarning', 'IndexingError', 'NoPeakError', 'DetectorGeometry', 'GIGeometry', 'load_poni', 'write_poni', 'ReduceSettings', 'reduce_frame', 'Frame', 'iter_frames', 'read_frame', 'read_mask', 'Map2D', 'Profile', 'ReducedFrame']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
