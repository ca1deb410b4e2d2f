"""Frame reduction: settings, pixel-to-bin plans, corrections, profiles and maps."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'ReduceSettings': 'gixs.reduce.frame',
    'Plan': 'gixs.reduce.frame',
    'get_plan': 'gixs.reduce.frame',
    'reduce_frame': 'gixs.reduce.frame',
    'provenance': 'gixs.reduce.frame',
    'DetectorPart': 'gixs.reduce.multi',
    'reduce_parts': 'gixs.reduce.multi',
}

__all__ = ['ReduceSettings', 'Plan', 'get_plan', 'reduce_frame', 'provenance', 'DetectorPart', 'reduce_parts']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
