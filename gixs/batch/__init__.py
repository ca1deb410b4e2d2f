"""The reduction chain over stacks of frames: streaming, parallel, resumable."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'BatchResult': 'gixs.batch.run',
    'read_table': 'gixs.batch.run',
    'reduce_stack': 'gixs.batch.run',
}

__all__ = ['BatchResult', 'read_table', 'reduce_stack']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
