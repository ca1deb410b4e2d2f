"""Compiled engine that applies a reduction plan to frames and blocks of frames.

The pyFAI exporters (:mod:`gixs.reduce.engine.pyfai_check`) build kernels from pyFAI's own
matrices; they exist to check the engine against pyFAI (equality tests, benchmarks).
"""

from gixs.reduce.engine.block import StackKernel, reduce_stack_sums

__all__ = ['StackKernel', 'reduce_stack_sums']
