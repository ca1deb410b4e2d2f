"""Frame reading: TIFF/EDF/CBF via fabio, HDF5/NeXus and Eiger-style linked files."""

import fabio
import h5py
import numpy as np
import pytest

from gixs.errors import FormatError
from gixs.io.frames import count_frames, iter_frames, read_frame, read_mask


def test_tiff_negative_and_dummy_pixels_invalid(tmp_path):
    data = np.arange(20, dtype=np.int32).reshape(4, 5)
    data[0, 0] = -1
    data[1, 1] = -2
    data[2, 2] = np.iinfo(np.int32).max
    path = tmp_path / "f.tif"
    fabio.tifimage.TifImage(data=data).write(str(path))
    fr = read_frame(path)
    assert fr.data.dtype == np.float32
    assert fr.invalid.sum() == 3 and fr.invalid[0, 0] and fr.invalid[2, 2]
    assert fr.data[fr.invalid].sum() == 0


def test_multiframe_edf_and_hdf5(tmp_path):
    stack = np.random.default_rng(0).poisson(5, (3, 6, 7)).astype(np.uint16)
    h5 = tmp_path / "s.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("entry/data/data", data=stack, compression="gzip")
    assert count_frames(h5) == 3
    assert np.array_equal(read_frame(h5, 2).data, stack[2])
    assert [fr.index for fr in iter_frames(h5)] == [0, 1, 2]
    with pytest.raises(FormatError, match="has 3 frame"):
        read_frame(h5, 3)
    assert np.array_equal(read_frame(f"{h5}::/entry/data/data", 1).data, stack[1])
    with pytest.raises(FormatError, match="no dataset '/nope'"):
        read_frame(f"{h5}::/nope")


def test_eiger_master_with_linked_data_files(tmp_path):
    parts = [np.full((2, 4, 4), i, np.uint32) for i in (1, 2)]
    for i, p in enumerate(parts, 1):
        with h5py.File(tmp_path / f"m_data_{i:06d}.h5", "w") as f:
            f.create_dataset("entry/data/data", data=p)
    with h5py.File(tmp_path / "m_master.h5", "w") as f:
        g = f.create_group("entry/data")
        for i in (1, 2):
            g[f"data_{i:06d}"] = h5py.ExternalLink(f"m_data_{i:06d}.h5", "entry/data/data")
    master = tmp_path / "m_master.h5"
    assert count_frames(master) == 4
    assert read_frame(master, 3).data[0, 0] == 2


def test_mask_nonzero_is_masked(tmp_path):
    m = np.zeros((4, 4), np.uint8)
    m[1, 2] = 1
    path = tmp_path / "m.edf"
    fabio.edfimage.EdfImage(data=m).write(str(path))
    mask = read_mask(path, (4, 4))
    assert mask.dtype == bool and mask.sum() == 1 and mask[1, 2]
    with pytest.raises(FormatError, match="m.edf: mask has shape 4x4, expected 5x5"):
        read_mask(path, (5, 5))


def test_truncated_file_is_a_format_error(tmp_path):
    path = tmp_path / "t.edf"
    fabio.edfimage.EdfImage(data=np.ones((100, 100), np.float32)).write(str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(FormatError, match="t.edf"):
        read_frame(path)
