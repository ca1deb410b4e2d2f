"""The ``gixs`` command: one module per subcommand (``add_arguments``, ``run``, ``HELP``)."""

from gixs.cli.app import build_parser, main

__all__ = ['build_parser', 'main']
