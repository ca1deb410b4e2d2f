"""gixs: grazing-incidence X-ray scattering reduction and film metrics.

q is in 1/A everywhere in the code, angles in rad (deg at the command line and in
files, where the name says so), film lengths in nm.
"""

from gixs._version import __version__  # noqa: E402

from gixs.errors import (CalibrationError, FormatError, GeometryError, GixsError,  # noqa: E402
                     GixsWarning, IndexingError, NoPeakError)
from gixs.geometry.model import DetectorGeometry, GIGeometry, load_poni, write_poni  # noqa: E402
from gixs.reduce.frame import ReduceSettings, reduce_frame  # noqa: E402
from gixs.io.frames import Frame, iter_frames, read_frame, read_mask  # noqa: E402
from gixs.results import Map2D, Profile, ReducedFrame  # noqa: E402

__all__ = [
    "__version__", "GixsError", "FormatError", "GeometryError", "CalibrationError",
    "IndexingError", "NoPeakError", "GixsWarning", "DetectorGeometry", "GIGeometry",
    "load_poni", "write_poni", "ReduceSettings", "reduce_frame", "Frame", "iter_frames",
    "read_frame", "read_mask", "Map2D", "Profile", "ReducedFrame",
]
