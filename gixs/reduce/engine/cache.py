"""Where Numba keeps the compiled kernels: never a crash when it cannot write its cache.

Numba caches compiled functions (``cache=True``) in ``NUMBA_CACHE_DIR`` if set, else in
``__pycache__`` beside the source, else in its user cache folder (``XDG_CACHE_HOME`` or
``~/.cache``); when none is writable (read-only install, no usable ``HOME``) it raises at
import. :func:`ensure_numba_cache` runs before the kernels are decorated: when none of
those places is writable it points Numba at a folder of this user under the system
temporary directory, and when that is not writable either the kernels are compiled
without a cache (:data:`CACHE` False: slower start, same numbers).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

#: Whether the kernels are decorated with ``cache=True`` (set by :func:`ensure_numba_cache`).
CACHE = True


def _writable(folder) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=folder, prefix=".gixs-probe-")
        os.close(fd)
        os.unlink(path)
        return True
    except OSError:
        return False


def _numba_user_cache() -> str:
    """Numba's own user-wide cache folder (its appdirs rule: ``XDG_CACHE_HOME`` or
    ``~/.cache``, then ``numba``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "numba")


def _set_cache_dir(folder):
    if folder:
        os.environ["NUMBA_CACHE_DIR"] = folder
    else:
        os.environ.pop("NUMBA_CACHE_DIR", None)
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = folder


def ensure_numba_cache() -> str | None:
    """Make sure Numba can cache the kernels, or turn their cache off; return the folder
    chosen (None when Numba's own choice works, or when no folder is writable and
    :data:`CACHE` was set False).

    A ``NUMBA_CACHE_DIR`` that cannot be written is replaced (with a warning).
    """
    global CACHE
    from gixs.errors import GixsWarning

    user = os.environ.get("NUMBA_CACHE_DIR")
    if user and _writable(user):
        return None
    if user:  # unwritable: forget it, Numba would fail on it
        _set_cache_dir("")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    note = f"NUMBA_CACHE_DIR={user} is not writable; " if user else ""
    if _writable(here) or _writable(_numba_user_cache()):
        if user:
            warnings.warn(note + "Numba caches the kernels in its default folder",
                          GixsWarning, stacklevel=2)
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    try:
        folder = os.path.join(tempfile.gettempdir(), f"gixs-numba-cache-{uid}")
    except OSError:  # no usable temporary directory at all
        folder = None
    if folder is not None and _writable(folder):
        if user:
            warnings.warn(note + f"compiled kernels are cached in {folder}", GixsWarning,
                          stacklevel=2)
        _set_cache_dir(folder)
        return folder
    CACHE = False
    warnings.warn(note + "no writable folder for Numba's cache (install, HOME, temporary "
                  "directory): the kernels are compiled at each start", GixsWarning,
                  stacklevel=2)
    return None
