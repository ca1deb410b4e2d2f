"""Public names of a package imported on first use (PEP 562), one helper for every
``__init__``: ``gixs --help`` and light imports stay free of numpy, pyFAI, numba."""

import importlib
import sys


def lazy_names(package: str, table: dict):
    """``(__getattr__, __dir__)`` for ``package`` whose public names live in the modules
    ``table`` maps them to.

    Examples
    --------
    >>> getattr_, dir_ = lazy_names("gixs", {"Profile": "gixs.results"})
    >>> getattr_("Profile").__name__
    'Profile'
    """
    def __getattr__(name):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
