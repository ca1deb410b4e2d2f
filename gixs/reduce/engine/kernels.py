"""Numba kernels of :mod:`gixs.reduce.engine.block`: sparse pixel-to-bin sums over blocks of frames.

Two layouts of the same sums, chosen per output by :class:`gixs.reduce.engine.block.StackKernel`:

- :func:`gixs.reduce.engine.scatter.scatter_sums` (outputs of up to ~32k bins: I(q),
  sectors, cuts): pixel-major. Frames are streamed once in memory order, up to eight at a
  time, each pixel scattered to its bins (CSC) into per-thread accumulators; the pixel
  range is split between threads, walked in tiles whose matrix stays in cache for every
  group of frames of a block, and the partial sums added at the end. On 2048x2048
  frames this was 4-8x faster than gathering by bin (CSR rows of rings jump across the
  image and are latency-bound), measured while writing it.
- :func:`block_sums` (large maps): bin-major. Tiles of CSR rows run in parallel and own
  their bins; within a tile, frames are taken four at a time with the accumulators in
  registers, so the tile's matrix is replayed from cache once per group of four frames.

Either way the matrix is read once per block of frames and each frame once per layout.
Both are serial compiled functions over a chunk of pixels or a group of tiles that
release the GIL, run on :func:`numba.get_num_threads` Python threads
(:func:`run_parallel`); the same bodies in a ``prange`` loop (``parallel=True``) compiled
in about twice the time (~9 s instead of ~4 s per frame dtype on a cold cache, measured).
A pixel value ``x`` counts as valid when ``lo <= x <= hi`` (this also rejects NaN); an
invalid pixel adds nothing to the signal and variance, and its normalisation, count and
dark share are recorded in separate "missing" arrays (rare path) that the caller
subtracts from the per-bin static totals. All accumulation is float64: the kernels are
bound by memory latency and scattered updates, not arithmetic, and float32 accumulation
over bins of thousands of pixels could reach 1e-4 relative error.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from gixs.reduce.engine.cache import CACHE

_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()


def threads() -> int:
    """Threads the kernels use: :func:`numba.get_num_threads` (``NUMBA_NUM_THREADS``,
    :func:`numba.set_num_threads`)."""
    return max(1, numba.get_num_threads())


def run_parallel(fn, n):
    """``[fn(i) for i in range(n)]`` on :func:`threads` threads (in order).

    ``fn`` calls a compiled kernel that releases the GIL (``nogil``), so the calls run
    at the same time. One thread pool per process and thread count (a pool inherited
    through ``fork`` has no threads and is not reused).

    Examples
    --------
    >>> run_parallel(lambda i: i * i, 4)
    [0, 1, 4, 9]
    """
    k = min(n, threads())
    if k <= 1:
        return [fn(i) for i in range(n)]
    key = (os.getpid(), k)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(k, thread_name_prefix="gixs-kernel")
    return list(pool.map(fn, range(n)))


def tile_bounds(row_nnz, target):
    """Boundaries cutting rows (in processing order, non-zeros ``row_nnz``) into tiles
    of about ``target`` non-zeros."""
    cum = np.concatenate([[0], np.cumsum(row_nnz)])
    n_tiles = max(1, int(np.ceil(cum[-1] / target)))
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], n_tiles + 1)[1:-1])
    return np.unique(np.concatenate([[0], cuts, [row_nnz.size]])).astype(np.int64)


def block_sums(indptr, indices, weights, order, tiles, frames, lo, hi, floor,
               pix_norm, pix_dark, pix_dvar, dark_sum,
               out_sig, out_var, miss_norm, miss_cnt, miss_dark, miss_dvar, n_miss):
    """Bin-major sums of a block of frames (for large outputs such as maps).

    Each bin gathers its pixels (CSR rows); groups of tiles of rows run in parallel
    (:func:`run_parallel`) and own their bins. Within a tile, frames are taken four at a
    time with the accumulators in registers, so a tile's matrix (about 0.5 MB) is
    replayed from cache once per group of four frames.

    Parameters
    ----------
    indptr, indices, weights : CSR arrays of the (bins x pixels) matrix.
    order : int64 array
        Every row once, in the order to process them (maps: small blocks along the
        fastest axis, so that neighbouring bins reuse the frame's cache lines).
    tiles : int64 boundaries (positions in ``order``) of the parallel tiles.
    frames : (n, n_pixels) array, any numeric dtype.
    lo, hi : float
        Valid pixel values ``lo <= x <= hi``.
    floor : float
        Variance of a pixel is ``w**2 * max(x, floor)`` (0: gixs, 1: pyFAI Poisson).
    pix_norm, pix_dark, pix_dvar : float64 per-pixel normalisation, dark, dark variance.
    dark_sum : float64 per-bin sum ``w * dark`` over statically valid pixels.
    out_sig, out_var : (n, n_bins) float64, written: ``sum w x - dark_sum``, ``sum w^2 var``.
    miss_* : (n, n_bins) float64, n_miss : (n, n_bins) int32, accumulated (rare path).

    Returns
    -------
    int
        Number of invalid (pixel, bin) entries met in the block.
    """
    ntiles = tiles.size - 1
    groups = np.linspace(0, ntiles, min(ntiles, 2 * threads()) + 1).astype(np.int64)
    return sum(run_parallel(lambda g: gather_tiles(
        groups[g], groups[g + 1], indptr, indices, weights, order, tiles, frames, lo, hi,
        floor, pix_norm, pix_dark, pix_dvar, dark_sum, out_sig, out_var, miss_norm,
        miss_cnt, miss_dark, miss_dvar, n_miss), groups.size - 1))


@njit(cache=CACHE, nogil=True, boundscheck=False)
def gather_tiles(t0, t1, indptr, indices, weights, order, tiles, frames, lo, hi, floor,
                 pix_norm, pix_dark, pix_dvar, dark_sum,
                 out_sig, out_var, miss_norm, miss_cnt, miss_dark, miss_dvar, n_miss):
    """Tiles ``t0:t1`` of :func:`block_sums`, one after the other (serial; returns
    their invalid entries)."""
    n = frames.shape[0]
    misses = 0
    for t in range(t0, t1):
        for f0 in range(0, n, 4):
            g = min(4, n - f0)
            x0 = frames[f0]
            if g == 1:  # a lone frame: one lane
                for q in range(tiles[t], tiles[t + 1]):
                    r = order[q]
                    s0 = 0.0
                    v0 = 0.0
                    for k in range(indptr[r], indptr[r + 1]):
                        j = indices[k]
                        w = np.float64(weights[k])
                        b0 = np.float64(x0[j])
                        if lo <= b0 <= hi:
                            s0 += w * b0
                            v0 += w * w * max(b0, floor)
                        else:
                            miss_norm[f0, r] += w * pix_norm[j]
                            miss_cnt[f0, r] += w
                            miss_dark[f0, r] += w * pix_dark[j]
                            miss_dvar[f0, r] += w * w * pix_dvar[j]
                            n_miss[f0, r] += 1
                            misses += 1
                    out_sig[f0, r] = s0 - dark_sum[r]
                    out_var[f0, r] = v0
                continue
            x1 = frames[f0 + 1] if g > 1 else frames[f0]
            x2 = frames[f0 + 2] if g > 2 else frames[f0]
            x3 = frames[f0 + 3] if g > 3 else frames[f0]
            for q in range(tiles[t], tiles[t + 1]):
                r = order[q]
                s0 = s1 = s2 = s3 = 0.0
                v0 = v1 = v2 = v3 = 0.0
                for k in range(indptr[r], indptr[r + 1]):
                    j = indices[k]
                    w = np.float64(weights[k])
                    w2 = w * w
                    b0 = np.float64(x0[j])
                    b1 = np.float64(x1[j])
                    b2 = np.float64(x2[j])
                    b3 = np.float64(x3[j])
                    ok0 = lo <= b0 <= hi
                    ok1 = lo <= b1 <= hi
                    ok2 = lo <= b2 <= hi
                    ok3 = lo <= b3 <= hi
                    if not (ok0 and ok1 and ok2 and ok3):  # rare path
                        for i in range(g):
                            if not (ok0, ok1, ok2, ok3)[i]:
                                f = f0 + i
                                miss_norm[f, r] += w * pix_norm[j]
                                miss_cnt[f, r] += w
                                miss_dark[f, r] += w * pix_dark[j]
                                miss_dvar[f, r] += w2 * pix_dvar[j]
                                n_miss[f, r] += 1
                                misses += 1
                        b0 = b0 if ok0 else 0.0
                        b1 = b1 if ok1 else 0.0
                        b2 = b2 if ok2 else 0.0
                        b3 = b3 if ok3 else 0.0
                    s0 += w * b0
                    s1 += w * b1
                    s2 += w * b2
                    s3 += w * b3
                    v0 += w2 * (max(b0, floor) if ok0 else 0.0)
                    v1 += w2 * (max(b1, floor) if ok1 else 0.0)
                    v2 += w2 * (max(b2, floor) if ok2 else 0.0)
                    v3 += w2 * (max(b3, floor) if ok3 else 0.0)
                d = dark_sum[r]
                out_sig[f0, r] = s0 - d
                out_var[f0, r] = v0
                if g > 1:
                    out_sig[f0 + 1, r] = s1 - d
                    out_var[f0 + 1, r] = v1
                if g > 2:
                    out_sig[f0 + 2, r] = s2 - d
                    out_var[f0 + 2, r] = v2
                if g > 3:
                    out_sig[f0 + 3, r] = s3 - d
                    out_var[f0 + 3, r] = v3
    return misses




@njit(cache=CACHE, nogil=True, boundscheck=False)
def mask_corrections(col_ptr, col_rows, col_weights, row0, frames, inv_ptr, inv_idx, lo,
                     hi, floor, pix_norm, pix_dark, pix_dvar,
                     out_sig, out_var, miss_norm, miss_cnt, miss_dark, miss_dvar, n_miss):
    """Take out pixels flagged invalid by a per-frame mask whose value looked valid.

    ``col_ptr, col_rows, col_weights`` are the CSC form of the matrix (pixel -> bins);
    ``inv_idx[inv_ptr[f]:inv_ptr[f+1]]`` are the flat pixel indices masked in frame ``f``;
    rows are offset by ``row0`` in the outputs. Returns the number of (pixel, bin) entries removed.
    """
    count = 0
    for f in range(inv_ptr.size - 1):
        for p in range(inv_ptr[f], inv_ptr[f + 1]):
            j = inv_idx[p]
            x = np.float64(frames[f, j])
            if not (lo <= x <= hi):
                continue  # already left out by the main pass
            var = max(x, floor)
            for k in range(col_ptr[j], col_ptr[j + 1]):
                r = row0 + col_rows[k]
                w = np.float64(col_weights[k])
                w2 = w * w
                out_sig[f, r] -= w * x
                out_var[f, r] -= w2 * var
                miss_norm[f, r] += w * pix_norm[j]
                miss_cnt[f, r] += w
                miss_dark[f, r] += w * pix_dark[j]
                miss_dvar[f, r] += w2 * pix_dvar[j]
                n_miss[f, r] += 1
                count += 1
    return count


@njit(cache=CACHE, nogil=True, boundscheck=False)
def scan_misses(col_ptr, frames, lo, hi, miss_f, miss_j):
    """All invalid-looking (frame, pixel) pairs of non-empty columns (overflow fallback)."""
    nm = 0
    for f in range(frames.shape[0]):
        for j in range(frames.shape[1]):
            if col_ptr[j + 1] > col_ptr[j]:
                x = np.float64(frames[f, j])
                if not (lo <= x <= hi):
                    if nm < miss_f.size:
                        miss_f[nm] = f
                        miss_j[nm] = j
                    nm += 1
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def apply_misses(col_ptr, col_rows, col_weights, row0, miss_f, miss_j, pix_norm, pix_dark,
                 pix_dvar, miss_norm, miss_cnt, miss_dark, miss_dvar, n_miss):
    """Record the share of listed invalid (frame, pixel) pairs; rows offset by ``row0``."""
    for p in range(miss_f.size):
        f = miss_f[p]
        j = miss_j[p]
        for k in range(col_ptr[j], col_ptr[j + 1]):
            r = row0 + col_rows[k]
            w = np.float64(col_weights[k])
            miss_norm[f, r] += w * pix_norm[j]
            miss_cnt[f, r] += w
            miss_dark[f, r] += w * pix_dark[j]
            miss_dvar[f, r] += w * w * pix_dvar[j]
            n_miss[f, r] += 1



@njit(cache=CACHE, nogil=True, boundscheck=False)
def transpose_csr(indptr, indices, weights, n_cols):
    """CSC form (col_ptr int64, col_rows int32 sorted per column, col_weights) of the CSR
    matrix ``indptr, indices, weights`` with ``n_cols`` columns (counting sort)."""
    col_ptr = np.zeros(n_cols + 1, np.int64)
    for k in range(indices.size):
        col_ptr[indices[k] + 1] += 1
    for j in range(n_cols):
        col_ptr[j + 1] += col_ptr[j]
    pos = col_ptr[:-1].copy()
    col_rows = np.empty(indices.size, np.int32)
    col_weights = np.empty(indices.size, weights.dtype)
    for r in range(indptr.size - 1):
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            col_rows[pos[j]] = r
            col_weights[pos[j]] = weights[k]
            pos[j] += 1
    return col_ptr, col_rows, col_weights


@njit(cache=CACHE, nogil=True, boundscheck=False)
def row_dots(indptr, indices, weights, vec, power):
    """Per-row ``sum_k weights[k]**power * vec[indices[k]]`` in float64 (power 1 or 2)."""
    n = indptr.size - 1
    out = np.zeros(n)
    for r in range(n):
        s = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            w = np.float64(weights[k])
            s += (w * w if power == 2 else w) * vec[indices[k]]
        out[r] = s
    return out


@njit(cache=CACHE, nogil=True, boundscheck=False)
def csc_row_slice(col_ptr, col_rows, r0, r1, out_ptr):
    """The CSC form of rows ``r0:r1`` (renumbered from 0) of a CSC matrix whose rows are
    sorted within each column (one sequential pass); the column pointers are written into
    ``out_ptr`` (``n_cols + 1`` integers, int32 when the slice's entries fit), the rows
    returned."""
    n_cols = col_ptr.size - 1
    out_ptr[0] = 0
    total = 0
    for j in range(n_cols):
        for k in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[k]
            if r0 <= r < r1:
                total += 1
        out_ptr[j + 1] = total
    out_rows = np.empty(total, np.int32)
    p = 0
    for j in range(n_cols):
        for k in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[k]
            if r0 <= r < r1:
                out_rows[p] = r - r0
                p += 1
    return out_rows


@njit(cache=CACHE, nogil=True, boundscheck=False)
def col_sums_unit(col_ptr, col_rows, vec, n_rows):
    """Per-row ``sum vec[pixel]`` of a unit-weight matrix from its CSC form (pixel-major)."""
    out = np.zeros(n_rows)
    for j in range(col_ptr.size - 1):
        x = vec[j]
        if x == 0.0:
            continue
        for k in range(col_ptr[j], col_ptr[j + 1]):
            out[col_rows[k]] += x
    return out
