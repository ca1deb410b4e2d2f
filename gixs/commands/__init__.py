"""Subcommands of the gixs command line, one module each."""
