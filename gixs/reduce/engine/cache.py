"""Where Numba keeps the compiled kernels: never a crash when it cannot write its cache.

Numba caches compiled functions (``cache=True``) in ``__pycache__`` beside the source, else
in a user cache folder under ``HOME``. On a read-only install with no usable ``HOME`` it
raises at import. :func:`ensure_numba_cache` runs before the kernels are compiled: when
neither place is writable and ``NUMBA_CACHE_DIR`` is not set, it points Numba at a
writable folder of this user under the system temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile


def _writable(folder) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=folder, prefix=".gixs-probe-")
        os.close(fd)
        os.unlink(path)
        return True
    except OSError:
        return False


def ensure_numba_cache() -> str | None:
    """Set Numba's cache folder if the default ones are not writable; return the folder
    chosen (None when Numba's default works or the user set ``NUMBA_CACHE_DIR``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    if _writable(here):
        return None
    home = os.path.expanduser("~")
    if home != "~" and os.path.isdir(home) and _writable(os.path.join(home, ".cache")):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = os.path.join(tempfile.gettempdir(), f"gixs-numba-cache-{uid}")
    if not _writable(folder):
        return None
    os.environ["NUMBA_CACHE_DIR"] = folder
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = folder
    return folder
