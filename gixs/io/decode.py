"""Calling third-party image decoders (fabio, PIL/libtiff, h5py) under guard.

:func:`guarded_call` is the one way gixs calls a decoder. Around the call it

- collects what the decoder says: fabio's logged errors and damage warnings, Python
  warnings (PIL's "truncated"), and the lines C libraries (libtiff, HDF5) write on file
  descriptor 2, which would otherwise appear beside gixs's own one-line message;
- turns a damage report into a :class:`~gixs.errors.FormatError` naming the file and the
  decoder's words, and other decoder chatter into one :class:`~gixs.errors.GixsWarning`
  (lines that are not the decoder's, e.g. another thread's progress line written while
  the descriptor was captured, are passed on to stderr unchanged);
- bounds the time: a decoder still running after :data:`READ_TIMEOUT_S` seconds is
  abandoned and the read fails with a FormatError, so a hung decoder costs one frame,
  not the batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings

from gixs.errors import FormatError, GixsWarning, ReadTimeoutError

#: Default time limit of one decoder call (s); environment ``GIXS_READ_TIMEOUT_S``
#: overrides it, 0 means no limit (the call then runs in the calling thread).
DEFAULT_READ_TIMEOUT_S = 60.0


def read_timeout_s() -> float:
    """The time limit of one decoder call in seconds (0 = none).

    ``GIXS_READ_TIMEOUT_S`` if set (a number >= 0), else :data:`DEFAULT_READ_TIMEOUT_S`.

    Examples
    --------
    >>> import os
    >>> os.environ.pop("GIXS_READ_TIMEOUT_S", None) and None
    >>> read_timeout_s()
    60.0
    """
    raw = os.environ.get("GIXS_READ_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_READ_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"GIXS_READ_TIMEOUT_S must be a number of seconds >= 0 (0 = no "
                         f"limit), got {raw!r}")
    return value


#: Decoder words (Python warnings, fabio log records, libtiff/HDF5 stderr lines) that mean
#: the data are not all there or not what was stored.
DAMAGE = re.compile(r"truncat|corrupt|incomplete|premature|short read|not enough|bogus|"
                    r"decoding error|decode error|code not yet in table|checksum|"
                    r"read error|unexpected end|invalid (?:code|distance|block)|"
                    r"incorrect data check|data check|error detected", re.IGNORECASE)

#: Lines on fd 2 that come from a decoder (libtiff ``Module: message`` or
#: ``file.tif: message``, HDF5 diagnostics); other captured lines are not ours to judge.
_DECODER_LINE = re.compile(r"^(?:[A-Z][A-Za-z0-9]*(?:Decode|Read\w*|Fetch\w*|Open\w*|"
                           r"Directory|Tile|Strip|Scanline)\w*:|TIFF\w*:|[^\s:]+\.tiff?:|"
                           r"HDF5-DIAG|\s+#\d+: |\s+(?:major|minor): )")

_LOCK = threading.RLock()
_GUARD = threading.local()


@contextlib.contextmanager
def captured_fd2():
    """Redirect file descriptor 2 to a temporary file; yield a list that receives the
    text written meanwhile (after the block). One capture at a time (a lock)."""
    with _LOCK:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        tmp = tempfile.TemporaryFile()
        box = []
        try:
            os.dup2(tmp.fileno(), 2)
            try:
                yield box
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
        finally:
            os.close(saved)
            tmp.seek(0)
            box.append(tmp.read().decode("utf-8", "replace"))
            tmp.close()


def judge_decoder_text(path, text: str) -> None:
    """Sort what was captured on fd 2 while a decoder ran on ``path``.

    Decoder lines reporting damage raise :class:`FormatError`; other decoder lines become
    one :class:`GixsWarning`; lines that are not a decoder's go back to stderr as they were.

    Examples
    --------
    >>> judge_decoder_text("a.tif", "ZIPDecode: Decoding error at scanline 0, incorrect "
    ...                    "data check.\\n")
    Traceback (most recent call last):
    ...
    gixs.errors.FormatError: a.tif: damaged image data (libtiff: ZIPDecode: Decoding error at scanline 0, incorrect data check.)
    """
    ours, others = [], []
    for line in text.splitlines(keepends=True):
        (ours if _DECODER_LINE.match(line) else others).append(line)
    if others:
        sys.stderr.write("".join(others))
        sys.stderr.flush()
    ours = [ln.strip() for ln in ours if ln.strip()]
    damage = [ln for ln in ours if DAMAGE.search(ln)]
    if damage:
        lib = "HDF5" if damage[0].startswith(("HDF5", "#", "major", "minor")) else "libtiff"
        words = re.sub(r"^[^\s:]+\.tiff?: ", "", damage[0])  # PIL's temporary name
        raise FormatError(f"{path}: damaged image data ({lib}: {words})")
    if ours:
        warnings.warn(f"{path}: the image decoder said: {'; '.join(ours[:3])}", GixsWarning,
                      stacklevel=3)


class _Records(logging.Handler):
    """Collects the messages of the records it receives."""

    def __init__(self, level):
        super().__init__(level=level)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def captured_logs(name, level=logging.WARNING):
    """Collect the records of logger ``name`` (and its children) at ``level`` and above
    while the block runs, keeping them off stderr; yields the list of records.

    Examples
    --------
    >>> import logging
    >>> with captured_logs("some.library") as said:
    ...     logging.getLogger("some.library.part").error("cannot do it")
    >>> [r.getMessage() for r in said]
    ['cannot do it']
    """
    handler = _Records(level)
    logger = logging.getLogger(name)
    # the records must reach the handler whatever level a caller set (the CLI quiets
    # fabio and pyFAI to ERROR); meanwhile they go to the handler only, not to stderr
    old_level, propagate = logger.level, logger.propagate
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = propagate


@contextlib.contextmanager
def library_logs(name, source):
    """Run a third-party call with the records of its logger ``name`` captured: when the
    call raises they are dropped (the caller turns the exception into its one-line
    message; pyFAI logs, e.g., its whole list of 300 detector names and tracebacks before
    raising), otherwise its errors become one :class:`~gixs.errors.GixsWarning` naming
    ``source`` (its warnings are dropped, as the command line always quieted them).

    Examples
    --------
    >>> import logging, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with library_logs("pyFAI", "g.poni"):
    ...         logging.getLogger("pyFAI.detectors").error("Left-over config: {'x': 1}")
    >>> str(caught[0].message)
    "g.poni: pyFAI said: Left-over config: {'x': 1}"
    """
    with captured_logs(name) as said:
        yield
    said = [r for r in said if r.levelno >= logging.ERROR]
    if said:
        words = [r.getMessage().strip().splitlines()[0][:200] for r in said[:3]
                 if r.getMessage().strip()]
        if words:
            warnings.warn(f"{source}: {name} said: {'; '.join(words)}", GixsWarning,
                          stacklevel=3)


@contextlib.contextmanager
def fabio_checked(path):
    """Turn fabio's logged errors, its warnings that say the data are damaged (it logs,
    rather than raises, on truncated data; "Bogus StripByteCounts": the TIFF is then
    decoded wrongly) and PIL's damage warnings into a FormatError."""
    with captured_logs("fabio") as said:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("default", category=GixsWarning)
            yield
    messages = [r.getMessage() for r in said
                if r.levelno >= logging.ERROR or DAMAGE.search(r.getMessage())]
    if messages:
        raise FormatError(f"{path}: damaged or truncated image ({messages[0]})")
    mine = [w for w in caught if issubclass(w.category, GixsWarning)]
    damage = [str(w.message) for w in caught if not issubclass(w.category, GixsWarning)
              and DAMAGE.search(str(w.message))]
    if damage:
        raise FormatError(f"{path}: damaged or truncated image data ({damage[0].strip()})")
    for w in mine:  # our own warnings (decoder chatter) pass on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


class _Abandoned(BaseException):
    """Raised inside a decoder thread that ran past the time limit, to end it (a
    BaseException, so that a decoder's ``except Exception`` cannot swallow it)."""


def _stop(thread) -> bool:
    """Ask ``thread`` to end: :class:`_Abandoned` is raised in it at its next Python
    instruction. A decoder looping in Python (fabio reading a truncated compressed CBF
    header) ends at once; one inside a C call ends when the call returns. True when
    the request was placed."""
    import ctypes

    if thread.ident is None:
        return False
    placed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                        ctypes.py_object(_Abandoned))
    return placed == 1


def _bounded(fn, path, timeout_s):
    """``fn()`` in a daemon thread; FormatError if it has not returned after
    ``timeout_s`` seconds (the thread is then told to end, :func:`_stop`, so that an
    abandoned decoder does not keep a core busy for the rest of a batch).

    A C call that holds the GIL for longer than the limit cannot be interrupted by a
    thread: the limit then acts when that call returns (none of the decoders gixs uses
    holds it for long: h5py, libtiff through PIL, zlib and fabio's CBF codec release it
    or return within a fraction of a second)."""
    box = {}

    def run():
        _GUARD.inside = True
        try:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                box["error"] = exc
        except _Abandoned:  # told to end just as the call returned
            pass

    th = threading.Thread(target=run, name="gixs-decoder", daemon=True)
    th.start()
    th.join(timeout_s)
    if th.is_alive():
        # not under a trace function (debugger, profiler, coverage): there an async
        # exception aimed at a decoder blocked in C left the calling thread spinning
        # (seen with coverage and with a bare sys.settrace); the thread is then left
        # to finish by itself, as a daemon
        if sys.gettrace() is None:
            _stop(th)
        raise ReadTimeoutError(f"{path}: the image decoder did not finish within "
                               f"{timeout_s:g} s (hung on a damaged file?); frame skipped "
                               "(set GIXS_READ_TIMEOUT_S to wait longer)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def guarded_call(path, fn, *, timeout_s: float | None = None, fabio: bool = True):
    """Call the decoder ``fn()`` for file ``path`` under guard (see the module text).

    Parameters
    ----------
    path : str
        The file being decoded (named in every message).
    fn : callable
        The decoder call, without arguments; its result is returned.
    timeout_s : float, optional
        Time limit in s (default :func:`read_timeout_s`; 0 = none).
    fabio : bool
        Also judge fabio's log records and Python warnings (True for fabio/PIL reads).

    Raises
    ------
    FormatError
        The decoder reported damage, raised it, or ran past the time limit
        (:class:`~gixs.errors.ReadTimeoutError`).

    Examples
    --------
    >>> guarded_call("x.edf", lambda: 1 + 1)
    2
    """
    path = os.fspath(path)
    if getattr(_GUARD, "inside", False):  # a guarded call inside a guarded call
        return fn()
    limit = read_timeout_s() if timeout_s is None else float(timeout_s)
    checked = fabio_checked(path) if fabio else contextlib.nullcontext()
    error, result, box = None, None, [""]
    try:
        with checked, captured_fd2() as box:
            try:
                result = _bounded(fn, path, limit) if limit > 0 else _inline(fn)
            except Exception as exc:  # noqa: BLE001 - judged below with what was said
                error = exc
    except FormatError as exc:  # fabio logged damage, or PIL warned of it
        error = exc
    text = box[0] if box else ""
    if error is not None:
        try:
            judge_decoder_text(path, text)  # libtiff's words name the defect best
        except FormatError as said:
            raise said from None
        raise error
    judge_decoder_text(path, text)
    return result


def _inline(fn):
    _GUARD.inside = True
    try:
        return fn()
    finally:
        _GUARD.inside = False
