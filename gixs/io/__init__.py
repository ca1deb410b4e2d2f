"""Reading frames and stacks, writing reduced results."""

from gixs.io.frames import (Frame, FrameReader, invalid_pixels, split_h5_path, is_hdf5, H5Stack, count_frames, open_image, to_frame, header_metadata, iter_frames, read_frame, read_array, read_mask, atomic_path, write_text)
from gixs.io.output import (write_entry, write_reduced_h5, profile_csv_text, write_profile_csv, read_profile_csv)
from gixs.io.stack import (FrameRef, expand_inputs, read_incidence_list, enumerate_frames, parse_time, read_frames)

__all__ = ["Frame", "FrameReader", "invalid_pixels", 'split_h5_path', 'is_hdf5', 'H5Stack', 'count_frames', 'open_image', 'to_frame', 'header_metadata', 'iter_frames', 'read_frame', 'read_array', 'read_mask', 'atomic_path', 'write_text', 'write_entry', 'write_reduced_h5', 'profile_csv_text', 'write_profile_csv', 'read_profile_csv', 'FrameRef', 'expand_inputs', 'read_incidence_list', 'enumerate_frames', 'parse_time', 'read_frames']
