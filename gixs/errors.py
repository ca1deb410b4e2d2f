"""Exceptions and warnings raised by gixs.

User errors (bad files, bad arguments) raise :class:`GixsError` subclasses or
``ValueError`` with a message that names the file or argument and what was
expected; the command line prints that message on one line and exits non-zero.
"""


class GixsError(Exception):
    """Base class of every domain error gixs raises on purpose.

    Examples
    --------
    >>> from gixs.errors import FormatError, GixsError
    >>> issubclass(FormatError, GixsError)
    True
    """


class FormatError(GixsError):
    """A file cannot be read or does not hold what was expected.

    Examples
    --------
    >>> from gixs.io.frames import read_array
    >>> try:
    ...     read_array("missing_frame.tif")
    ... except FormatError as err:
    ...     print(type(err).__name__)
    FormatError
    """


class ReadTimeoutError(FormatError):
    """An image decoder ran past the read time limit (``GIXS_READ_TIMEOUT_S``, default
    60 s): the frame fails, the batch goes on (:mod:`gixs.io.decode`).

    Examples
    --------
    >>> import time
    >>> from gixs.io.decode import guarded_call
    >>> try:
    ...     guarded_call("slow.edf", lambda: time.sleep(1), timeout_s=0.05)
    ... except ReadTimeoutError as err:
    ...     print(str(err)[:48])
    slow.edf: the image decoder did not finish withi
    """


class GeometryError(GixsError):
    """A detector or grazing-incidence geometry is missing, incomplete or inconsistent.

    Examples
    --------
    >>> from gixs.geometry.model import load_poni
    >>> try:
    ...     load_poni("no_such_setup.poni")
    ... except GixsError as err:
    ...     print(isinstance(err, (GeometryError, FormatError)))
    True
    """


class CalibrationError(GixsError):
    """Automatic calibration could not find a trustworthy geometry.

    Examples
    --------
    >>> raise CalibrationError("LaB6: 2 rings found, at least 3 needed")
    Traceback (most recent call last):
    ...
    gixs.errors.CalibrationError: LaB6: 2 rings found, at least 3 needed
    """


class IndexingError(GixsError):
    """Bragg peaks could not be assigned to a phase.

    Examples
    --------
    >>> issubclass(IndexingError, GixsError)
    True
    """


class NoPeakError(GixsError):
    """No superlattice peak was found; the message says why.

    Examples
    --------
    >>> import numpy as np
    >>> from gixs.results import Profile
    >>> from gixs.superlattice.ordering import measure
    >>> q = np.linspace(0.02, 0.2, 200)
    >>> flat = Profile("ip", "qxy", q, np.ones_like(q), np.full_like(q, 0.01), np.ones_like(q))
    >>> try:
    ...     measure(flat)
    ... except NoPeakError:
    ...     print("no peak")
    no peak
    """


class GixsWarning(UserWarning):
    """A physics or data-quality caveat (e.g. incidence below the critical angle).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("incidence 0.08 deg is below the film's critical angle", GixsWarning)
    >>> caught[0].category.__name__
    'GixsWarning'
    """
