"""Direct CSR construction of a plan's pixel-to-bin blocks (compiled, one pass per step).

A block bins the selected pixels by one or two coordinates on regular bins. Each
selected pixel falls in at most one bin of a block, so the block's CSR matrix (bins x
pixels, unit weights) is a counting sort of the pixels by bin: count the pixels of each
bin (the row pointer), then place the pixel indices in increasing order (the column
indices, sorted within each row). No COO duplicates, no ``np.unique``.

The bin of a value ``v`` on ``n`` bins from ``lo`` of width ``w`` is ``floor((v - lo) /
w)``; values outside ``0..n-1`` (and non-finite ones) are left out, exactly as the
numpy formula does.

:func:`pairwise_sum` is numpy's own summation order, for kernels whose sums must equal
numpy's to the bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gixs.reduce.engine.cache import CACHE  # after the cache folder check


@njit(cache=CACHE, nogil=True, boundscheck=False)
def bin_pixels(select, c0, lo0, w0, n0, c1, lo1, w1, n1, ndim, out):
    """Flat bin (``b0 * n1 + b1`` in 2D) of every pixel into ``out``; -1 when left out.

    ``select`` (bool, flat) picks the pixels; ``c0``/``c1`` are float64 coordinates (flat;
    ``c1`` is ignored when ``ndim == 1``). Returns the number of binned pixels.
    """
    kept = 0
    for j in range(select.size):
        out[j] = -1
        if not select[j]:
            continue
        v0 = c0[j]
        if not np.isfinite(v0):
            continue
        b0 = math.floor((v0 - lo0) / w0)
        if b0 < 0 or b0 >= n0:
            continue
        if ndim == 2:
            v1 = c1[j]
            if not np.isfinite(v1):
                continue
            b1 = math.floor((v1 - lo1) / w1)
            if b1 < 0 or b1 >= n1:
                continue
            out[j] = b0 * n1 + b1
        else:
            out[j] = b0
        kept += 1
    return kept


@njit(cache=CACHE, nogil=True, boundscheck=False)
def csr_from_bins(bins, n_bins, n_kept):
    """Row pointer (int64, ``n_bins + 1``) and column indices (int32, sorted per row) of
    the unit-weight matrix that puts pixel ``j`` in row ``bins[j]`` (``-1``: nowhere)."""
    indptr = np.zeros(n_bins + 1, np.int64)
    for j in range(bins.size):
        b = bins[j]
        if b >= 0:
            indptr[b + 1] += 1
    for i in range(n_bins):
        indptr[i + 1] += indptr[i]
    pos = indptr[:-1].copy()
    indices = np.empty(n_kept, np.int32)
    for j in range(bins.size):
        b = bins[j]
        if b >= 0:
            indices[pos[b]] = j
            pos[b] += 1
    return indptr, indices


@njit(cache=CACHE, nogil=True, boundscheck=False)
def finite_range(values, select):
    """(min, max, count) of the finite ``values`` where ``select`` (flat arrays)."""
    lo = np.inf
    hi = -np.inf
    n = 0
    for j in range(values.size):
        if select[j]:
            v = values[j]
            if np.isfinite(v):
                n += 1
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
    return lo, hi, n


def block_csr(select, coords, ranges, npts):
    """CSR (indptr int64, indices int32) of one block, and its bin centres per axis.

    Parameters
    ----------
    select : ndarray of bool
        Pixels that may enter the block (already combined with the static mask).
    coords : sequence of one or two ndarrays (float64)
        The binning coordinates, image-shaped.
    ranges : sequence of (lo, hi)
        Bin range per axis (same unit as the coordinate).
    npts : sequence of int
        Bins per axis; the flat row of bins ``(i0, i1)`` is ``i0 * npts[1] + i1``.
    """
    sel = np.ascontiguousarray(select, dtype=np.bool_).ravel()
    c = [np.ascontiguousarray(a, dtype=np.float64).ravel() for a in coords]
    widths = [(hi - lo) / n for (lo, hi), n in zip(ranges, npts)]
    ndim = len(c)
    if ndim == 1:
        c.append(c[0])
        widths.append(1.0)
        ranges = list(ranges) + [(0.0, 1.0)]
        npts = list(npts) + [1]
    out = np.empty(sel.size, np.int32 if int(np.prod(npts)) < 2**31 else np.int64)
    kept = bin_pixels(sel, c[0], float(ranges[0][0]), float(widths[0]), int(npts[0]),
                      c[1], float(ranges[1][0]), float(widths[1]), int(npts[1]), ndim, out)
    n_bins = int(np.prod(npts[:ndim]))
    indptr, indices = csr_from_bins(out, n_bins, kept)
    centres = tuple(lo + w * (np.arange(n) + 0.5)
                    for (lo, _), w, n in zip(ranges[:ndim], widths[:ndim], npts[:ndim]))
    return indptr, indices, centres, out


@njit(cache=CACHE, nogil=True, boundscheck=False)
def csc_from_bins(bins, offsets):
    """CSC (col_ptr int64, col_rows int32, sorted per column) of the stacked blocks whose
    per-pixel bins are the rows of ``bins`` (``-1``: not in the block), block ``b``'s rows
    starting at ``offsets[b]``. Pixel-major, so every pass is sequential."""
    nb, n_pix = bins.shape
    col_ptr = np.zeros(n_pix + 1, np.int64)
    for j in range(n_pix):
        c = 0
        for b in range(nb):
            if bins[b, j] >= 0:
                c += 1
        col_ptr[j + 1] = col_ptr[j] + c
    col_rows = np.empty(col_ptr[n_pix], np.int32)
    for j in range(n_pix):
        k = col_ptr[j]
        for b in range(nb):
            v = bins[b, j]
            if v >= 0:
                col_rows[k] = offsets[b] + v
                k += 1
    return col_ptr, col_rows


@njit(cache=CACHE, nogil=True, boundscheck=False, inline="always")
def _term(v, clip):
    return 0.0 if clip and v <= 0.0 else v


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _pairwise_block(a, lo, n, clip):
    """numpy's sum of up to 128 values: 8 accumulators, then the rest in order."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += _term(a[i], clip)
        return res
    r0, r1 = _term(a[lo], clip), _term(a[lo + 1], clip)
    r2, r3 = _term(a[lo + 2], clip), _term(a[lo + 3], clip)
    r4, r5 = _term(a[lo + 4], clip), _term(a[lo + 5], clip)
    r6, r7 = _term(a[lo + 6], clip), _term(a[lo + 7], clip)
    m = n - n % 8
    for i in range(lo + 8, lo + m, 8):
        r0 += _term(a[i], clip)
        r1 += _term(a[i + 1], clip)
        r2 += _term(a[i + 2], clip)
        r3 += _term(a[i + 3], clip)
        r4 += _term(a[i + 4], clip)
        r5 += _term(a[i + 5], clip)
        r6 += _term(a[i + 6], clip)
        r7 += _term(a[i + 7], clip)
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + m, lo + n):
        res += _term(a[i], clip)
    return res


@njit(cache=CACHE, nogil=True, boundscheck=False)
def pairwise_sum(a, lo, n, clip):
    """numpy's pairwise sum of ``a[lo:lo + n]`` (float64), of ``max(a, 0)`` when ``clip``.

    The additions of ``np.add.reduce`` on a contiguous array, in its order (blocks of up
    to 128 values on 8 accumulators; a longer run is the sum of its two halves, split at a
    multiple of 8), so that ``0.0 + pairwise_sum(a, 0, a.size, False)`` is ``a.sum()`` to
    the bit. The halving runs on an explicit stack (Numba's cache does not keep recursive
    functions safely).
    """
    if n <= 128:
        return _pairwise_block(a, lo, n, clip)
    los = np.empty(64, np.int64)  # a path from the root: depth <= log2(n / 128) + 1
    ns = np.empty(64, np.int64)
    left = np.empty(64)  # the left half's sum, once done
    done = np.zeros(64, np.bool_)
    top = 0
    los[0], ns[0], done[0] = lo, n, False
    while True:
        m = ns[top]
        if m > 128:  # descend into the left half
            h = m // 2
            h -= h % 8
            los[top + 1], ns[top + 1], done[top + 1] = los[top], h, False
            top += 1
            continue
        v = _pairwise_block(a, los[top], m, clip)
        top -= 1
        while top >= 0 and done[top]:  # both halves known: up one level
            v = left[top] + v
            top -= 1
        if top < 0:
            return v
        left[top], done[top] = v, True  # the left half: now the right one
        h = ns[top] // 2
        h -= h % 8
        los[top + 1], ns[top + 1], done[top + 1] = los[top] + h, ns[top] - h, False
        top += 1
