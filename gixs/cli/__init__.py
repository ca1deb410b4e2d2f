"""The ``gixs`` command: one module per subcommand (``add_arguments``, ``run``, ``HELP``)."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'build_parser': 'gixs.cli.app',
    'main': 'gixs.cli.app',
}

__all__ = ['build_parser', 'main']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
