"""Exceptions and warnings raised by gixs.

User errors (bad files, bad arguments) raise :class:`GixsError` subclasses or
``ValueError`` with a message that names the file or argument and what was
expected; the command line prints that message on one line and exits non-zero.
"""


class GixsError(Exception):
    """Base class of every domain error gixs raises on purpose."""


class FormatError(GixsError):
    """A file cannot be read or does not hold what was expected."""


class GeometryError(GixsError):
    """A detector or grazing-incidence geometry is missing, incomplete or inconsistent."""


class CalibrationError(GixsError):
    """Automatic calibration could not find a trustworthy geometry."""


class IndexingError(GixsError):
    """Bragg peaks could not be assigned to a phase."""


class NoPeakError(GixsError):
    """No superlattice peak was found; the message says why."""


class GixsWarning(UserWarning):
    """A physics or data-quality caveat (e.g. incidence below the critical angle)."""
