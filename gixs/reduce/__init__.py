"""Frame reduction: settings, pixel-to-bin plans, corrections, profiles and maps."""

from gixs.reduce.frame import ReduceSettings, Plan, get_plan, reduce_frame, provenance

__all__ = ['ReduceSettings', 'Plan', 'get_plan', 'reduce_frame', 'provenance']
