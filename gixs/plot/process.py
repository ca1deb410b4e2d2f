"""Figures drawn in a child process, while the command does its own work.

Importing matplotlib and drawing a detector-sized figure take ~0.4-0.6 s, as long as a
whole warm ``gixs reduce`` of one frame. :class:`FigureProcess` starts a Python process
that imports matplotlib (and :mod:`gixs.plot.common`) on another core while this one
reads and reduces the frame; the figure's function and its arguments are then sent to it
(pickled through a pipe) and drawn there while this process writes its other files.
:meth:`FigureProcess.wait` returns once every figure is saved, so the figure exists when
the command ends, and raises :class:`gixs.errors.GixsError` naming the figure when the
child could not draw it. The figure functions are the same ones a notebook calls.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile

from gixs.errors import GixsError

#: What the child imports before it reads its first figure (the cost it takes off this
#: process).
WARM_IMPORTS = ("gixs.plot.common", "matplotlib.figure", "matplotlib.backends.backend_agg")

#: Seconds to wait for the child to end after its last figure, before it is killed.
WAIT_TIMEOUT_S = 120.0


class FigureProcess:
    """A child Python process that draws and saves figures sent to it.

    Start it before the work that the figures wait for, send each figure with
    :meth:`draw`, then :meth:`wait`. As a context manager it is closed (its process
    stopped) when the block ends, also on an error.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "blank.png")
    >>> with FigureProcess() as figures:
    ...     figures.draw(path, "gixs.plot.common:_figure", (2, 1))
    ...     figures.wait()
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """

    def __init__(self):
        # the folder holding this gixs package, first on the child's path
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]]
                                                      if env.get("PYTHONPATH") else []))
        self._err = tempfile.TemporaryFile()  # a file, not a pipe: it never blocks the child
        self._paths = []
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from gixs.plot.process import _serve; _serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err, env=env)

    def draw(self, path, func, *args, **kwargs):
        """Send one figure: ``func(*args, **kwargs)`` (a Figure) saved to ``path``.

        Parameters
        ----------
        path : str
            Where the figure is saved (:func:`gixs.plot.common.save`; PNG, PDF or SVG by
            extension).
        func : str
            ``"module:function"`` of a function returning a matplotlib Figure.
        *args, **kwargs
            Its arguments (pickled: arrays, results, plain values).
        """
        self._paths.append(os.fspath(path))
        try:
            pickle.dump((os.fspath(path), func, args, kwargs), self._proc.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except BrokenPipeError:  # the child died: wait() says why
            pass

    def wait(self):
        """Return once every figure sent is saved; GixsError naming the figure if not."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self._proc.wait(WAIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise GixsError(f"drawing {', '.join(self._paths)} took more than "
                            f"{WAIT_TIMEOUT_S:g} s; stopped") from None
        if rc != 0:
            self._err.seek(0)
            lines = self._err.read().decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"the figure process ended with status {rc}"
            raise GixsError(f"could not draw {', '.join(self._paths) or 'a figure'}: {why}")

    def close(self):
        """Stop the child if it still runs (figures not yet saved are dropped)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        self._err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _warm_up():
    """Draw a tiny overview figure to memory: the first figure of a process loads fonts
    and first-use code (~0.2 s of a 2048x2048 overview's ~0.45 s), done here while the
    parent still works."""
    import io

    import numpy as np

    from gixs.plot.common import reduction_figure
    from gixs.results import Map2D, Profile, ReducedFrame

    x = np.array([0.1, 0.2, 0.3])
    prof = {k: Profile(k, a, x, np.array([5.0, 4.0, 3.0]), np.full(3, 0.2), np.full(3, 9))
            for k, a in (("iq", "q"), ("ip", "qxy"), ("oop", "qz"))}
    qmap = Map2D("qmap", "qxy", "qz", np.linspace(-0.1, 0.1, 5), np.linspace(0, 0.2, 4),
                 np.ones((4, 5)), np.ones((4, 5), int))
    fig = reduction_figure(ReducedFrame(prof, {"qmap": qmap}, {"source": "warm-up"}),
                           frame=np.ones((20, 30)), title="warm-up")
    fig.savefig(io.BytesIO(), dpi=20, format="png")


def _serve():
    """The child: import matplotlib, draw a first figure, then draw each (path, func,
    args, kwargs) read from stdin until it closes; on an error print it on stderr and
    exit with status 1."""
    import importlib

    for name in WARM_IMPORTS:
        importlib.import_module(name)
    from gixs.plot.common import save

    _warm_up()

    stdin = sys.stdin.buffer
    while True:
        try:
            path, func, args, kwargs = pickle.load(stdin)
        except EOFError:  # done: every figure is saved and closed
            sys.stderr.flush()
            os._exit(0)  # no interpreter teardown: the parent waits for this exit
        try:
            module, name = func.split(":")
            fig = getattr(importlib.import_module(module), name)(*args, **kwargs)
            save(fig, path)
        except Exception as exc:  # noqa: BLE001 - the parent reports it, naming the figure
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
