"""gixs: grazing-incidence X-ray scattering reduction and film metrics.

q is in 1/A everywhere in the code, angles in rad (deg at the command line and in
files, where the name says so), film lengths in nm.
"""

__version__ = "0.1.0"

from .errors import (CalibrationError, FormatError, GeometryError, GixsError,  # noqa: E402
                     GixsWarning, IndexingError, NoPeakError)
from .geometry import DetectorGeometry, GIGeometry, load_poni, write_poni  # noqa: E402
from .integrate import ReduceSettings, reduce_frame  # noqa: E402
from .io import Frame, iter_frames, read_frame, read_mask  # noqa: E402
from .results import Map2D, Profile, ReducedFrame  # noqa: E402

__all__ = [
    "__version__", "GixsError", "FormatError", "GeometryError", "CalibrationError",
    "IndexingError", "NoPeakError", "GixsWarning", "DetectorGeometry", "GIGeometry",
    "load_poni", "write_poni", "ReduceSettings", "reduce_frame", "Frame", "iter_frames",
    "read_frame", "read_mask", "Map2D", "Profile", "ReducedFrame",
]
