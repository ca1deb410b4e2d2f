"""The reduction chain over stacks of frames: streaming, parallel, resumable."""

from gixs.batch.run import BatchResult, read_table, reduce_stack

__all__ = ['BatchResult', 'read_table', 'reduce_stack']
