"""Compiled engine that applies a reduction plan to frames and blocks of frames.

The pyFAI exporters (:mod:`gixs.reduce.engine.pyfai_check`) build kernels from pyFAI's own
matrices; they exist to check the engine against pyFAI (equality tests, benchmarks)."""

from gixs._lazy import lazy_names

from gixs.reduce.engine.cache import ensure_numba_cache  # noqa: E402

ensure_numba_cache()  # before any kernel compiles


#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'StackKernel': 'gixs.reduce.engine.block',
    'reduce_stack_sums': 'gixs.reduce.engine.block',
}

__all__ = ['StackKernel', 'reduce_stack_sums']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
