"""Frame reduction: settings, pixel-to-bin plans, corrections, profiles and maps."""

import importlib

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'ReduceSettings': 'gixs.reduce.frame',
    'Plan': 'gixs.reduce.frame',
    'get_plan': 'gixs.reduce.frame',
    'reduce_frame': 'gixs.reduce.frame',
    'provenance': 'gixs.reduce.frame',
}

__all__ = ['ReduceSettings', 'Plan', 'get_plan', 'reduce_frame', 'provenance']


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
