"""The ``gixs`` command: parses arguments and calls the library, nothing more.

Each subcommand lives in ``gixs/cli/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int`` plus a one-line ``HELP``.
User errors (:class:`gixs.GixsError`, ``ValueError``, missing files) print one line
``gixs <command>: error: <message>`` on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from gixs._version import __version__
from gixs.errors import GixsError, GixsWarning

#: Subcommands in the order ``gixs --help`` lists them.
COMMANDS = ("geometry", "reduce", "calibrate", "spacing", "compare", "index", "batch", "watch",
            "demo", "cache")


#: glibc's ``M_MMAP_THRESHOLD`` option of ``mallopt`` and the value gixs commands set.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_freed_memory() -> bool:
    """Make this process hand large freed arrays back to the system at once (glibc).

    glibc serves blocks above a threshold with their own memory mapping, returned on
    free; after the first large free it raises that threshold (up to 32 MB), so the
    per-pixel arrays of a 4 Mpx frame (16-32 MB) then come from the heap and stay in the
    process once freed. A command that builds a plan frees several of them before it
    reduces: with the threshold fixed at 128 kB (glibc's start value) ``gixs reduce``
    of a 2048x2048 frame with an empty plan cache peaks at ~560 MB instead of ~650 MB
    (measured, benchmarks/README.md). Called once by :func:`main`; the library leaves
    the allocator of the process it runs in alone. Returns False where the C library
    has no ``mallopt`` (not glibc): nothing is changed there.

    Examples
    --------
    >>> return_freed_memory() in (True, False)
    True
    """
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def build_parser() -> argparse.ArgumentParser:
    """The ``gixs`` argument parser: one subparser per :data:`COMMANDS` entry
    (``parser.subcommands`` maps the names to them), each with ``--no-plot``, ``-q``
    and ``--setup``.

    Examples
    --------
    >>> parser = build_parser()
    >>> list(parser.subcommands) == list(COMMANDS)
    True
    >>> args = parser.parse_args(["geometry", "--distance-mm", "200", "-q"])
    >>> args._name, args.distance_mm, args.quiet, args.no_plot
    ('geometry', 200.0, True, False)
    """
    parser = argparse.ArgumentParser(
        prog="gixs", description="Grazing-incidence X-ray scattering reduction and film "
        "metrics (q in 1/A, angles in deg, lengths in nm).")
    parser.add_argument("--version", action="version", version=f"gixs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.subcommands = {}
    for name in COMMANDS:
        mod = importlib.import_module(f"gixs.cli.{name}")
        p = sub.add_parser(name, help=mod.HELP.replace("%", "%%"), description=mod.HELP)
        mod.add_arguments(p)
        p.add_argument("--no-plot", action="store_true",
                       help="write no figure (overrides --plot)")
        p.add_argument("-q", "--quiet", action="store_true",
                       help="no stage lines or progress bar on stderr")
        p.add_argument("--setup", metavar="FILE.toml",
                       help="setup file: option values (keys = long option names with _), "
                            "overridden by the command line (see gixs.cli.setup)")
        p.set_defaults(_run=mod.run, _name=name)
        parser.subcommands[name] = p
    return parser


def _apply_setup(parser, argv):
    """Read ``--setup FILE`` of the subcommand in ``argv`` into its parser's defaults."""
    from gixs.cli.setup import apply_setup, find_setup_arg, read_setup

    path = find_setup_arg(argv)
    command = next((a for a in argv if a in parser.subcommands), None)
    if path is None or command is None:
        return None
    setup = read_setup(path, commands=tuple(parser.subcommands))
    dests = {a.dest for p in parser.subcommands.values() for a in p._actions
             if a.option_strings}
    applied = apply_setup(parser.subcommands[command], setup, command, argv, dests)
    return {"file": setup["path"], "applied": applied}


def main(argv=None) -> int:
    """Entry point of the ``gixs`` console script; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 2 for a user error (one line ``gixs <command>: error: ...`` on
        stderr), 130 when interrupted.

    Examples
    --------
    Write a PONI from Fit2D-style numbers (100 um pixels, beam at column 30, row 5,
    200 mm, 12.398 keV), read it back; a missing file is exit status 2:

    >>> import os, tempfile
    >>> from gixs.geometry.model import load_poni
    >>> out = os.path.join(tempfile.mkdtemp(), "g.poni")
    >>> main(["geometry", "-q", "--pixel-um", "100", "--shape", "40", "60",
    ...       "--beam-center-px", "30", "5", "--distance-mm", "200", "--energy-kev",
    ...       "12.398", "-o", out, "--no-plot"])
    /...g.poni: Fit2D view: direct distance 200.000 mm, beam centre x=30.00 y=5.00 px ...
    0
    >>> g = load_poni(out)
    >>> g.dist_m, round(g.poni2_m, 6), round(g.wavelength_a, 4)
    (0.2, 0.003, 1.0)
    >>> main(["geometry", "--show", out + ".missing"])
    2
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        setup = _apply_setup(parser, argv)
    except GixsError as exc:
        name = next((a for a in argv if a in parser.subcommands), "")
        print(f"gixs {name}: error: {exc}".replace("gixs : ", "gixs: "), file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args._setup = setup
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    from gixs.cli import progress

    return_freed_memory()
    progress.configure(args._name, args.quiet)
    if args.no_plot and getattr(args, "plot", None):
        args.plot = None
    warnings.simplefilter("default", GixsWarning)
    logging.getLogger("fabio").setLevel(logging.ERROR)  # header chatter of TIFF readers
    logging.getLogger("pyFAI").setLevel(logging.ERROR)
    plain_format = warnings.formatwarning

    def formatwarning(msg, cat, *a, **k):
        if issubclass(cat, GixsWarning):
            return f"gixs {args._name}: warning: {msg}\n"
        return plain_format(msg, cat, *a, **k)

    warnings.formatwarning = formatwarning
    for note in getattr(args, "_deprecated", None) or []:
        warnings.warn(note, GixsWarning, stacklevel=1)
    try:
        from gixs.cli.common import check_args_outputs, check_number_args

        check_number_args(args)
        check_args_outputs(args)
        return int(args._run(args) or 0)
    except (GixsError, ValueError, OSError) as exc:
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and exc.strerror:
            msg = f"{exc.filename}: {exc.strerror}"
        print(f"gixs {args._name}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gixs {args._name}: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The ``gixs`` executable: :func:`main`, then the process ends without the
    interpreter's teardown.

    What an exit would do that matters is done first, in the interpreter's order: other
    threads are joined (and thread pools shut down), ``atexit`` handlers run (coverage,
    logging, temporary folders), stdout and stderr are flushed; then ``os._exit``. Only
    the module teardown is skipped, and with it 0.45-0.6 s of freeing SQLAlchemy (through
    xraydb), SciPy, Numba and pyFAI objects one by one after every command (measured on
    ``gixs index``: 5.2 s wall against 4.5 s when the output is written; benchmarks/README.md).
    Every file a command writes is closed before :func:`main` returns. An exception
    :func:`main` does not handle (a bug) prints its traceback and exits with status 1, as
    Python would.

    Examples
    --------
    The ``gixs`` console script is this function (it ends the process; from Python,
    call :func:`main`, which returns the status)::

        $ gixs --version
        gixs 0.1.0
    """
    import atexit
    import os
    import threading
    import traceback

    try:
        rc = main()
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a bug: Python's own report, then its status
        traceback.print_exc()
        rc = 1
    threading._shutdown()  # what the interpreter does first at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: Python exits with 120 then
            rc = rc or 120
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    console()
