"""Fuzz (hypothesis, bounded): every reader (EDF, CBF, TIFF raw/deflate/LZW, HDF5 plain
and gzip, as frame, mask or dark) gives back exactly what was written or raises
FormatError; a cut file, or a file with a damaged byte in a checksummed or compressed
data section, never reads as other numbers; reduction conserves counts."""

import os
import tempfile

import fabio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gixs.errors import FormatError
from gixs.io.frames import invalid_pixels, read_array, read_frame

from .corrupt import tiff_ifd_first

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

DTYPES = st.sampled_from([np.uint16, np.int32, np.uint32, np.float32])


@st.composite
def images(draw):
    rows = draw(st.integers(2, 24))
    cols = draw(st.integers(2, 24))
    dtype = np.dtype(draw(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        a = rng.normal(50, 40, (rows, cols)).astype(dtype)
        specials = draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, -1.0]), max_size=4))
    else:
        info = np.iinfo(dtype)
        a = rng.integers(max(info.min, -5), min(info.max, 10**6), (rows, cols),
                         endpoint=True).astype(dtype)
        specials = draw(st.lists(st.sampled_from([info.max, min(0, info.min), 0]),
                                 max_size=4))
    for k, v in enumerate(specials):
        a.flat[(k * 7919) % a.size] = v
    return a


@FUZZ
@given(a=images(), fmt=st.sampled_from(["edf", "tif", "cbf"]))
def test_read_back_exact_with_the_one_invalid_rule(a, fmt):
    if fmt == "cbf" and a.dtype.kind == "f":
        a = np.nan_to_num(a, nan=0, posinf=0, neginf=-1).astype(np.int32)
    if fmt == "cbf" and a.dtype == np.uint32:
        a = a.astype(np.int32)
    if fmt == "cbf":  # fabio's byte-offset codec cannot hold INT32_MIN (detectors use -1/-2)
        a = np.where(a == np.iinfo(np.int32).min, -2, a).astype(a.dtype)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"f.{fmt}")
        cls = {"edf": fabio.edfimage.EdfImage, "tif": fabio.tifimage.TifImage,
               "cbf": fabio.cbfimage.CbfImage}[fmt]
        cls(data=a).write(path)
        fr = read_frame(path)
    bad = invalid_pixels(a)
    assert np.array_equal(fr.invalid, bad)
    assert np.isfinite(fr.data).all() and (fr.data[bad] == 0).all()
    assert np.array_equal(fr.data[~bad], a[~bad].astype(np.float32))


def _write(path, a, fmt):
    """Write ``a`` as ``fmt``: edf, cbf, tif (fabio, raw), tif-deflate / tif-lzw (PIL),
    h5 / h5-gzip (h5py, 1 frame)."""
    import h5py
    from PIL import Image

    if fmt in ("tif-deflate", "tif-lzw"):
        Image.fromarray(a).save(path, compression="tiff_" + fmt.split("-")[1][:7])
    elif fmt.startswith("h5"):
        with h5py.File(path, "w") as f:
            f.create_dataset("entry/data/data", data=a[None], chunks=(1,) + a.shape,
                             compression="gzip" if fmt == "h5-gzip" else None)
    else:
        cls = {"edf": fabio.edfimage.EdfImage, "tif": fabio.tifimage.TifImage,
               "cbf": fabio.cbfimage.CbfImage}[fmt]
        cls(data=a).write(path)


@FUZZ
@given(a=images(), fmt=st.sampled_from(["tif-deflate", "tif-lzw", "h5", "h5-gzip"]),
       role=st.sampled_from(["frame", "dark", "mask"]))
def test_other_readers_read_back_exact(a, fmt, role):
    """Compressed TIFF (PIL, which has no uint32) and HDF5, read as a frame, a dark or a
    mask: exactly the values written."""
    if fmt.startswith("tif") and a.dtype == np.uint32:
        a = a.astype(np.int32)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f." + ("h5" if fmt.startswith("h5") else "tif"))
        _write(path, a, fmt)
        if role == "frame":
            fr = read_frame(path)
            bad = invalid_pixels(a)
            assert np.array_equal(fr.invalid, bad)
            assert np.array_equal(fr.data[~bad], a[~bad].astype(np.float32))
            return
        got = read_array(path, a.shape, role)
    if role == "mask":
        assert np.array_equal(got, a)
    else:
        assert np.array_equal(got, a.astype(np.float32), equal_nan=True)


def _data_section(path, fmt):
    """(first, end) byte of the part of the file that holds checksummed or compressed
    image data: the TIFF strips, the CBF binary section, the HDF5 chunk."""
    if fmt == "tif-deflate":
        from gixs.io.integrity import tiff_directories

        tags = tiff_directories(path)[0]
        return tags[273][0], tags[273][-1] + tags[279][-1]
    if fmt == "cbf":
        data = open(path, "rb").read()
        start = data.find(b"\x0c\x1a\x04\xd5") + 4
        return start, len(data)
    import h5py

    with h5py.File(path, "r") as f:
        info = f["entry/data/data"].id.get_chunk_info(0)
    return info.byte_offset, info.byte_offset + info.size


@FUZZ
@given(seed=st.integers(0, 2**31 - 1), where=st.floats(0.0, 0.999),
       xor=st.integers(1, 255), fmt=st.sampled_from(["tif-deflate", "cbf", "h5-gzip"]))
def test_damaged_byte_never_reads_as_other_numbers(seed, where, xor, fmt):
    """One byte of the data section changed (any position, any bits): the exact image or
    a FormatError naming the file (deflate and zlib checksums, CBF MD5, gzip chunks)."""
    a = np.random.default_rng(seed).poisson(80, (40, 30)).astype(np.uint16)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f." + fmt.split("-")[0])
        if fmt == "tif-deflate":
            tiff_ifd_first(path, a, "deflate", rows_per_strip=8)
        elif fmt == "cbf":
            fabio.cbfimage.CbfImage(data=a.astype(np.int32)).write(path)
        else:
            _write(path, a, fmt)
        first, end = _data_section(path, fmt)
        data = bytearray(open(path, "rb").read())
        pos = first + int((end - first) * where)
        data[pos] ^= xor
        with open(path, "wb") as fh:
            fh.write(bytes(data))
        try:
            fr = read_frame(path)
        except FormatError as exc:
            assert path in str(exc)
            return
    assert np.array_equal(fr.data, a), f"byte {pos} ^ {xor} read as other numbers"


@FUZZ
@given(seed=st.integers(0, 2**31 - 1), frac=st.floats(0.0, 0.999),
       fmt=st.sampled_from(["tif-deflate", "tif-raw", "cbf", "edf"]))
def test_cut_file_never_reads_as_other_numbers(seed, frac, fmt):
    a = np.random.default_rng(seed).poisson(80, (40, 30)).astype(np.uint16)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f." + fmt.split("-")[0])
        if fmt.startswith("tif"):
            tiff_ifd_first(path, a, fmt.split("-")[1], rows_per_strip=8)
        elif fmt == "cbf":
            fabio.cbfimage.CbfImage(data=a.astype(np.int32)).write(path)
        else:
            fabio.edfimage.EdfImage(data=a).write(path)
        data = open(path, "rb").read()
        with open(path, "wb") as fh:
            fh.write(data[:int(len(data) * frac)])
        try:
            fr = read_frame(path)
        except FormatError as exc:
            assert path in str(exc)
            return
    pytest.fail(f"a file cut to {frac:.0%} was read as an image (zeros "
                f"{(fr.data == 0).mean():.0%})")


# slow: its frames of five dtypes compile the reduction kernels five times (~30 s
# on a cold Numba cache), the largest single cost of a fresh install's fast set
@pytest.mark.slow
@settings(FUZZ, max_examples=15)
@given(a=images())
def test_reduction_conserves_valid_counts(a):
    """Every valid pixel's counts land in exactly one bin of the block kernel."""
    import scipy.sparse as sp

    from gixs.reduce.engine.block import StackKernel

    n = a.size
    rng = np.random.default_rng(n)
    bins = rng.integers(0, 5, n)
    mat = sp.csr_matrix((np.ones(n), (bins, np.arange(n))), shape=(5, n))
    kern = StackKernel(mat, np.ones(n))
    sig, _, _, cnt = kern.sums_block(a.reshape(1, n))
    good = ~invalid_pixels(a).ravel()
    assert cnt[0].sum() == good.sum()
    assert np.isclose(sig[0].sum(), a.ravel()[good].astype(np.float64).sum(), rtol=1e-9)
