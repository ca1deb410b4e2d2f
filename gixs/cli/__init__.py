"""The ``gixs`` command: one module per subcommand (``add_arguments``, ``run``, ``HELP``)."""

import importlib

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'build_parser': 'gixs.cli.app',
    'main': 'gixs.cli.app',
}

__all__ = ['build_parser', 'main']


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
