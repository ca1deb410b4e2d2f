"""Stage lines on stderr for long commands (``gixs <command>: <what it is doing>``).

Never on stdout (pipes get results only); shown when stderr is a terminal (so logs and
captured error output keep their one-line errors), silenced by ``-q/--quiet``. Loops use tqdm on
stderr (:func:`gixs.batch.run.reduce_stack`'s progress bar).
"""

from __future__ import annotations

import sys
import time

_STATE = {"quiet": False, "command": "gixs", "t0": time.perf_counter()}


def configure(command: str, quiet: bool) -> None:
    """Set the command name shown and whether stage lines are printed."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    _STATE.update(command=command, quiet=bool(quiet) or not tty, t0=time.perf_counter())


def quiet() -> bool:
    return _STATE["quiet"]


def stage(message: str) -> None:
    """Print ``gixs <command>: <message> (<elapsed> s)`` on stderr unless quiet."""
    if _STATE["quiet"]:
        return
    dt = time.perf_counter() - _STATE["t0"]
    print(f"gixs {_STATE['command']}: {message} [{dt:.1f} s]", file=sys.stderr, flush=True)
