"""The setup file (``gixs.toml``): option values every subcommand reads with ``--setup``.

A setup file is TOML (read with the standard library's :mod:`tomllib`). Its keys are the
long option names with ``_`` for ``-``::

    poni = "setup.poni"          # or a stored geometry name: poni = "cms_lab6_jun23"
    mask = "mask.edf"
    incidence_deg = 0.3
    sample_orientation = 4
    sector = [[-10, 10], [80, 100]]

    [corrections]                # any table groups keys; its keys count as top level
    polarization = 0.95

    [parts]                      # detector modules, each its own PONI and pixel range
    poni = ["m1.poni", "m2.poni"]   # (a list = the option repeated; gixs reduce, batch,
    part_rows = ["0:195", "212:407"]  # watch reduce every frame over these parts)

    [batch]                      # a table named after a subcommand applies to it only
    workers = 2

Relative paths are relative to the setup file's folder. Options given on the command
line override the file; the file overrides the built-in defaults. A key that is no option
of any subcommand is an error (a typo must not pass silently); a key the running
subcommand does not have is skipped. The values in effect are kept on the parsed
arguments (:func:`effective_setup`) and written into the outputs' provenance.
"""

from __future__ import annotations

import argparse
import os

from gixs.errors import GixsError

#: Option names whose values are paths (resolved relative to the setup file).
PATH_KEYS = {"poni", "mask", "dark", "flat", "incidence_list", "output", "table", "report",
             "plot", "from_header", "show", "live_png", "reference", "cif"}


def read_setup(path, commands=()) -> dict:
    """Read a setup file: ``{"values": {key: value}, "commands": {name: {key: value}},
    "path": absolute path}``; paths resolved relative to the file. A table whose name is
    in ``commands`` (subcommand names) holds that subcommand's own values.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "gixs.toml")
    >>> _ = open(p, "w").write('mask = "m.edf"\\nincidence_deg = 0.3\\n')
    >>> s = read_setup(p); s["values"]["incidence_deg"], s["values"]["mask"] == os.path.join(d, "m.edf")
    (0.3, True)
    """
    import tomllib

    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise GixsError(f"{path}: setup file not found")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise GixsError(f"{path}: not a valid TOML setup file ({exc})") from None
    folder = os.path.dirname(path)
    values, per_command = {}, {}
    for key, val in data.items():
        if isinstance(val, dict) and key in commands:
            per_command[key] = {k: _resolve(k, v, folder, path) for k, v in _flat(val, path)}
        elif isinstance(val, dict):
            for k, v in _flat(val, path):
                values[k] = _resolve(k, v, folder, path)
        else:
            values[key] = _resolve(key, val, folder, path)
    return {"values": values, "commands": per_command, "path": path}


def _flat(table, path):
    for key, val in table.items():
        if isinstance(val, dict):
            raise GixsError(f"{path}: table within a table ({key!r}) is not a setup key")
        yield key, val


def _resolve(key, value, folder, path):
    if key in PATH_KEYS and isinstance(value, list):  # a repeated option (poni of parts)
        return [_resolve(key, v, folder, path) for v in value]
    if key not in PATH_KEYS or not isinstance(value, str):
        return value
    if key == "poni" and not (os.sep in value or value.endswith(".poni")
                              or os.path.exists(os.path.join(folder, value))):
        return value  # a stored geometry's name
    return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))


def find_setup_arg(argv):
    """The value of ``--setup`` in an argument list, or None."""
    for i, a in enumerate(argv):
        if a == "--setup" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--setup="):
            return a.split("=", 1)[1]
    return None


def apply_setup(parser, setup: dict, command: str, argv, all_dests) -> dict:
    """Make the setup's values the defaults of ``parser`` (one subcommand's parser).

    Options given in ``argv`` keep their command-line value (argparse parses them over
    the defaults); a required option the setup gives is no longer required; a setup value
    of a mutually exclusive group is dropped when the command line gives another member.
    Returns the values applied ({dest: value}).
    """
    values = dict(setup["values"])
    values.update(setup["commands"].get(command, {}))
    unknown = sorted(k for k in values if k not in all_dests)
    if unknown:
        raise GixsError(f"{setup['path']}: unknown setup key(s) {', '.join(unknown)} (keys "
                        "are long option names with _ for -, e.g. incidence_deg)")
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    given = {a.dest for a in actions.values() if _given(a, argv)}
    groups = {}
    for grp in parser._mutually_exclusive_groups:
        for a in grp._group_actions:
            groups[a.dest] = grp
    applied = {}
    for key, val in values.items():
        act = actions.get(key)
        if act is None or key in ("setup", "help"):
            continue
        grp = groups.get(key)
        if grp is not None and any(a.dest in given and a.dest != key
                                   for a in grp._group_actions):
            continue
        val = _coerce(act, val, setup["path"], key)
        applied[key] = val
        parser.set_defaults(**{key: val})
        act.required = False
        if grp is not None:
            grp.required = False
    return applied


def _given(action, argv):
    for a in argv:
        for opt in action.option_strings:
            if a == opt or (opt.startswith("--") and a.startswith(opt + "=")):
                return True
    return False


def _coerce(act, val, path, key):
    """A TOML value as argparse would have made it from the command line."""
    where = f"{path}: {key}"
    if isinstance(act, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(val, bool):
            raise GixsError(f"{where} must be true or false, got {val!r}")
        return val
    conv = act.type or (lambda v: v)

    def one(v):
        if isinstance(v, (list, dict)):
            raise GixsError(f"{where}: expected a single value, got {v!r}")
        try:
            out = conv(v) if not isinstance(v, bool) else None
        except (TypeError, ValueError):
            out = None
        if out is None:
            raise GixsError(f"{where}: {v!r} is not a valid value")
        if act.choices is not None and out not in act.choices:
            raise GixsError(f"{where}: {v!r} is not one of "
                            f"{', '.join(map(str, act.choices))}")
        return out

    def many(v):
        v = v if isinstance(v, list) else [v]
        if isinstance(act.nargs, int) and len(v) != act.nargs:
            raise GixsError(f"{where}: expected {act.nargs} values, got {v!r}")
        return [one(x) for x in v]

    from gixs.cli.common import Repeated

    if isinstance(act, Repeated) and isinstance(val, list):  # given several times
        return [one(x) for x in val] if len(val) > 1 else one(val[0]) if val else None
    if isinstance(act, argparse._AppendAction):
        if not isinstance(val, list):
            raise GixsError(f"{where}: expected a list, got {val!r}")
        if act.nargs is None:
            return [one(x) for x in val]
        if val and not isinstance(val[0], list):
            val = [val]
        return [many(x) for x in val]
    if act.nargs in (None, "?"):
        return one(val)
    return many(val)


def effective_setup(args) -> dict:
    """The option values in effect (command line over setup file over defaults), JSON-
    ready, with the setup file's path: what a result needs to be rerun."""
    out = {}
    for key, val in sorted(vars(args).items()):
        if key.startswith("_") or callable(val):
            continue
        out[key] = list(val) if isinstance(val, tuple) else val
    out["command"] = getattr(args, "_name", None)
    setup = getattr(args, "_setup", None)
    out["setup_file"] = setup["file"] if setup else None
    out["from_setup_file"] = sorted(setup["applied"]) if setup else []
    return out
