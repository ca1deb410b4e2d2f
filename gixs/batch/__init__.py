"""The reduction chain over stacks of frames: streaming, parallel, resumable."""

import importlib

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'BatchResult': 'gixs.batch.run',
    'read_table': 'gixs.batch.run',
    'reduce_stack': 'gixs.batch.run',
}

__all__ = ['BatchResult', 'read_table', 'reduce_stack']


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
