"""Reading frames and stacks, writing reduced results."""

from gixs._lazy import lazy_names

#: Public name -> module that defines it (imported on first use).
_LAZY = {
    'Frame': 'gixs.io.frames',
    'FrameReader': 'gixs.io.frames',
    'invalid_pixels': 'gixs.io.frames',
    'atomic_set': 'gixs.io.frames',
    'split_h5_path': 'gixs.io.frames',
    'is_hdf5': 'gixs.io.frames',
    'H5Stack': 'gixs.io.frames',
    'count_frames': 'gixs.io.frames',
    'open_image': 'gixs.io.frames',
    'to_frame': 'gixs.io.frames',
    'header_metadata': 'gixs.io.frames',
    'iter_frames': 'gixs.io.frames',
    'read_frame': 'gixs.io.frames',
    'read_array': 'gixs.io.frames',
    'read_mask': 'gixs.io.frames',
    'atomic_path': 'gixs.io.frames',
    'write_text': 'gixs.io.frames',
    'write_entry': 'gixs.io.output',
    'write_reduced_h5': 'gixs.io.output',
    'profile_csv_text': 'gixs.io.output',
    'write_profile_csv': 'gixs.io.output',
    'read_profile_csv': 'gixs.io.output',
    'FrameRef': 'gixs.io.stack',
    'expand_inputs': 'gixs.io.stack',
    'read_incidence_list': 'gixs.io.stack',
    'enumerate_frames': 'gixs.io.stack',
    'parse_time': 'gixs.io.stack',
    'read_frames': 'gixs.io.stack',
}

__all__ = ['Frame', 'FrameReader', 'invalid_pixels', 'atomic_set', 'split_h5_path', 'is_hdf5', 'H5Stack', 'count_frames', 'open_image', 'to_frame', 'header_metadata', 'iter_frames', 'read_frame', 'read_array', 'read_mask', 'atomic_path', 'write_text', 'write_entry', 'write_reduced_h5', 'profile_csv_text', 'write_profile_csv', 'read_profile_csv', 'FrameRef', 'expand_inputs', 'read_incidence_list', 'enumerate_frames', 'parse_time', 'read_frames']

__getattr__, __dir__ = lazy_names(__name__, _LAZY)
