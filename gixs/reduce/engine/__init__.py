"""Compiled engine that applies a reduction plan to frames and blocks of frames."""

from gixs.reduce.engine.cache import ensure_numba_cache

ensure_numba_cache()  # before the kernels compile  # noqa: E402

from gixs.reduce.engine.block import (default_engine, StackKernel, reduce_stack_sums, kernel_for_plan)
from gixs.reduce.engine.pyfai_check import azimuthal_kernel, fiber_map_kernel

__all__ = ['default_engine', 'StackKernel', 'reduce_stack_sums', 'kernel_for_plan', 'azimuthal_kernel', 'fiber_map_kernel']
