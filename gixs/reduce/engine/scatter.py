"""Pixel-major sums of :mod:`gixs.reduce.engine.block` (outputs of up to ~32k bins).

Frames are streamed once in memory order, each pixel scattered to its bins (CSC form of
the bins x pixels matrix) into per-chunk float64 accumulators; the pixel range is split
between threads (:func:`gixs.reduce.engine.kernels.run_parallel`), walked in tiles whose
matrix stays in cache while every group of frames of a block takes its turn.

A group holds eight frames (eight accumulation lanes: one 64-byte line of signal per bin),
four (the last two to four frames of a block) or one. Per pixel, its first bin is summed
in registers while neighbouring pixels share it (a run) and added to the accumulators
when the run ends; its other bins go straight to them. The run boundaries depend on the
matrix only and an invalid pixel adds zeros the same way in every group size, so a
frame's sums do not depend on the block it came in (same additions in the same order).
On 2048 x 2048 frames, eight lanes and runs took the 1D sums from 3.6 to ~2.6 ms per
frame at block 8 against four lanes without runs (``benchmarks/README.md``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gixs.reduce.engine.cache import CACHE
from gixs.reduce.engine.kernels import run_parallel

#: Pixels per tile of :func:`scatter_chunk` (about 150-200 kB of matrix for one entry per
#: pixel: replayed from L2 by each group of frames of a block).
SCATTER_TILE = 16384


def scatter_sums(col_ptr, col_rows, col_weights, chunks, frames, lo, hi, floor, n_bins,
                 with_var, partial_sig, partial_var, miss_f, miss_j, miss_count):
    """Pixel-major sums of a block of frames into per-chunk partial sums.

    Parameters
    ----------
    col_ptr, col_rows, col_weights : CSC arrays of the (bins x pixels) matrix.
    chunks : int64 array
        Pixels ``chunks[c]:chunks[c+1]`` go to chunk ``c``; chunks run in parallel.
    frames : (n, n_pixels) float32 or float64 array.
    lo, hi : float
        Valid pixel values ``lo <= x <= hi`` (this also rejects NaN).
    floor : float
        Variance of a pixel is ``w**2 * max(x, floor)``.
    n_bins : int
    with_var : bool
        Accumulate the variance; False when it equals the raw signal (unit weights,
        floor 0, no negative valid value), which the caller derives.
    partial_sig, partial_var : (n_chunks, n, n_bins) float64, written.
    miss_f, miss_j : (n_chunks, cap) int64, written: invalid-looking (frame, pixel) pairs
        of non-empty columns per chunk.
    miss_count : (n_chunks,) int64, written: their number (above ``cap``: the list
        overflowed).

    Examples
    --------
    >>> import numpy as np
    >>> ptr = np.array([0, 1, 2]); rows = np.array([0, 0], np.int32)
    >>> w = np.array([1.0, 0.5], np.float32); fr = np.array([[2.0, 4.0]])
    >>> sig = np.empty((1, 1, 1)); var = np.empty((1, 1, 1))
    >>> mf = np.empty((1, 8), np.int64); mj = mf.copy(); cnt = np.zeros(1, np.int64)
    >>> scatter_sums(ptr, rows, w, np.array([0, 2]), fr, 0.0, np.inf, 0.0, 1, True,
    ...              sig, var, mf, mj, cnt)
    >>> float(sig[0, 0, 0]), float(var[0, 0, 0])
    (4.0, 3.0)
    """
    nch = chunks.size - 1
    miss_count[:] = run_parallel(lambda c: scatter_chunk(
        c, col_ptr, col_rows, col_weights, chunks, frames, lo, hi, floor, n_bins, with_var,
        partial_sig, partial_var, miss_f, miss_j), nch)


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _group_size(left):
    """Frames of the next group when ``left`` frames remain: 8, 4 (2-4 left) or 1."""
    if left >= 5:
        return 8
    if left >= 2:
        return 4
    return 1


@njit(cache=CACHE, nogil=True, boundscheck=False)
def scatter_chunk(c, col_ptr, col_rows, col_weights, chunks, frames, lo, hi, floor, n_bins,
                  with_var, partial_sig, partial_var, miss_f, miss_j):
    """Chunk ``c`` of :func:`scatter_sums` (serial; returns its invalid-looking pixels).

    A group of ``L`` lanes (8, 4 or 1 frames) owns ``n_bins * L`` signal accumulators,
    ``acc[start + bin * S + lane]`` with ``S = L`` (``2 L`` with ``with_var``, the
    variance of a lane at ``lane + L``).
    """
    n = frames.shape[0]
    vf = 2 if with_var else 1
    starts = np.zeros(n + 1, np.int64)  # group starts in frames, then in acc
    offs = np.zeros(n + 1, np.int64)
    n_groups = 0
    f0 = 0
    while f0 < n:
        lanes = _group_size(n - f0)
        starts[n_groups] = f0
        offs[n_groups + 1] = offs[n_groups] + n_bins * lanes * vf
        n_groups += 1
        f0 += lanes
    starts[n_groups] = n
    acc = np.zeros(offs[n_groups])
    nm = 0
    j_end = chunks[c + 1]
    for t0 in range(chunks[c], j_end, SCATTER_TILE):
        t1 = min(t0 + SCATTER_TILE, j_end)
        for gi in range(n_groups):
            f0 = starts[gi]
            g = starts[gi + 1] - f0
            lanes = _group_size(n - f0)
            a = acc[offs[gi]:offs[gi + 1]]
            if lanes == 1:
                nm = _scatter_one(t0, t1, col_ptr, col_rows, col_weights, frames[f0], f0,
                                  lo, hi, floor, with_var, a, c, miss_f, miss_j, nm)
            elif lanes == 4 and with_var:
                nm = _scatter_four_var(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g,
                                       lo, hi, floor, a, c, miss_f, miss_j, nm)
            elif lanes == 4:
                nm = _scatter_four(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g,
                                   lo, hi, a, c, miss_f, miss_j, nm)
            elif with_var:
                nm = _scatter_eight_var(t0, t1, col_ptr, col_rows, col_weights, frames, f0,
                                        g, lo, hi, floor, a, c, miss_f, miss_j, nm)
            else:
                nm = _scatter_eight(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g,
                                    lo, hi, a, c, miss_f, miss_j, nm)
    for gi in range(n_groups):
        f0 = starts[gi]
        lanes = _group_size(n - f0)
        stride = lanes * vf
        for i in range(starts[gi + 1] - f0):
            for r in range(n_bins):
                o = offs[gi] + r * stride + i
                partial_sig[c, f0 + i, r] = acc[o]
                partial_var[c, f0 + i, r] = acc[o + lanes] if with_var else 0.0
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _note_miss(c, f, j, miss_f, miss_j, nm):
    if nm < miss_f.shape[1]:
        miss_f[c, nm] = f
        miss_j[c, nm] = j
    return nm + 1


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _scatter_one(t0, t1, col_ptr, col_rows, col_weights, x0, f0, lo, hi, floor, with_var,
                 acc, c, miss_f, miss_j, nm):
    """One frame (signal at ``2 bin`` and variance at ``2 bin + 1`` with ``with_var``,
    else signal at ``bin``) over pixels ``t0:t1``; an invalid pixel adds zeros."""
    stride = 2 if with_var else 1
    run = -1
    s0 = v0 = 0.0
    for j in range(t0, t1):
        k0 = col_ptr[j]
        k1 = col_ptr[j + 1]
        if k0 == k1:
            continue
        b0 = np.float64(x0[j])
        if lo <= b0 <= hi:
            q0 = max(b0, floor)
        else:
            nm = _note_miss(c, f0, j, miss_f, miss_j, nm)
            b0 = q0 = 0.0
        r = col_rows[k0]
        w = np.float64(col_weights[k0])
        if r != run:
            if run >= 0:
                acc[run * stride] += s0
                if with_var:
                    acc[run * stride + 1] += v0
            run = r
            s0 = w * b0
            v0 = w * w * q0
        else:
            s0 += w * b0
            v0 += w * w * q0
        if with_var:
            for k in range(k0 + 1, k1):
                w = np.float64(col_weights[k])
                o = col_rows[k] * 2
                acc[o] += w * b0
                acc[o + 1] += w * w * q0
        else:
            for k in range(k0 + 1, k1):
                acc[col_rows[k]] += np.float64(col_weights[k]) * b0
    if run >= 0:
        acc[run * stride] += s0
        if with_var:
            acc[run * stride + 1] += v0
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _list_misses(c, f0, g, j, ok0, ok1, ok2, ok3, miss_f, miss_j, nm):
    """List pixel ``j`` of the frames ``f0 + i`` (``i < g``) whose value is invalid."""
    if g > 0 and not ok0:
        nm = _note_miss(c, f0, j, miss_f, miss_j, nm)
    if g > 1 and not ok1:
        nm = _note_miss(c, f0 + 1, j, miss_f, miss_j, nm)
    if g > 2 and not ok2:
        nm = _note_miss(c, f0 + 2, j, miss_f, miss_j, nm)
    if g > 3 and not ok3:
        nm = _note_miss(c, f0 + 3, j, miss_f, miss_j, nm)
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _scatter_four(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g, lo, hi, acc,
                  c, miss_f, miss_j, nm):
    """Signal of four frames (lanes 0-3) over pixels ``t0:t1``; with ``g < 4`` frames the
    last lanes repeat frame ``f0`` and are not read back."""
    x0 = frames[f0]
    x1 = frames[f0 + 1] if g > 1 else x0
    x2 = frames[f0 + 2] if g > 2 else x0
    x3 = frames[f0 + 3] if g > 3 else x0
    run = -1
    s0 = s1 = s2 = s3 = 0.0
    for j in range(t0, t1):
        k0 = col_ptr[j]
        k1 = col_ptr[j + 1]
        if k0 == k1:
            continue
        b0 = np.float64(x0[j])
        b1 = np.float64(x1[j])
        b2 = np.float64(x2[j])
        b3 = np.float64(x3[j])
        ok0 = lo <= b0 <= hi
        ok1 = lo <= b1 <= hi
        ok2 = lo <= b2 <= hi
        ok3 = lo <= b3 <= hi
        if not (ok0 and ok1 and ok2 and ok3):  # rare path
            nm = _list_misses(c, f0, g, j, ok0, ok1, ok2, ok3, miss_f, miss_j, nm)
            b0 = b0 if ok0 else 0.0
            b1 = b1 if ok1 else 0.0
            b2 = b2 if ok2 else 0.0
            b3 = b3 if ok3 else 0.0
        r = col_rows[k0]
        w = np.float64(col_weights[k0])
        if r != run:
            if run >= 0:
                o = run * 4
                acc[o] += s0
                acc[o + 1] += s1
                acc[o + 2] += s2
                acc[o + 3] += s3
            run = r
            s0 = w * b0
            s1 = w * b1
            s2 = w * b2
            s3 = w * b3
        else:
            s0 += w * b0
            s1 += w * b1
            s2 += w * b2
            s3 += w * b3
        for k in range(k0 + 1, k1):
            w = np.float64(col_weights[k])
            o = col_rows[k] * 4
            acc[o] += w * b0
            acc[o + 1] += w * b1
            acc[o + 2] += w * b2
            acc[o + 3] += w * b3
    if run >= 0:
        o = run * 4
        acc[o] += s0
        acc[o + 1] += s1
        acc[o + 2] += s2
        acc[o + 3] += s3
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False, inline="always")
def _add4(acc, o, s0, s1, s2, s3):
    acc[o] += s0
    acc[o + 1] += s1
    acc[o + 2] += s2
    acc[o + 3] += s3


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _scatter_four_var(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g, lo, hi, floor,
                      acc, c, miss_f, miss_j, nm):
    """As :func:`_scatter_four`, with the variance ``w**2 max(x, floor)`` in lanes 4-7."""
    x0 = frames[f0]
    x1 = frames[f0 + 1] if g > 1 else x0
    x2 = frames[f0 + 2] if g > 2 else x0
    x3 = frames[f0 + 3] if g > 3 else x0
    run = -1
    s0 = s1 = s2 = s3 = v0 = v1 = v2 = v3 = 0.0
    for j in range(t0, t1):
        k0 = col_ptr[j]
        k1 = col_ptr[j + 1]
        if k0 == k1:
            continue
        b0 = np.float64(x0[j])
        b1 = np.float64(x1[j])
        b2 = np.float64(x2[j])
        b3 = np.float64(x3[j])
        ok0 = lo <= b0 <= hi
        ok1 = lo <= b1 <= hi
        ok2 = lo <= b2 <= hi
        ok3 = lo <= b3 <= hi
        q0 = max(b0, floor)
        q1 = max(b1, floor)
        q2 = max(b2, floor)
        q3 = max(b3, floor)
        if not (ok0 and ok1 and ok2 and ok3):  # rare path
            nm = _list_misses(c, f0, g, j, ok0, ok1, ok2, ok3, miss_f, miss_j, nm)
            b0, q0 = (b0, q0) if ok0 else (0.0, 0.0)
            b1, q1 = (b1, q1) if ok1 else (0.0, 0.0)
            b2, q2 = (b2, q2) if ok2 else (0.0, 0.0)
            b3, q3 = (b3, q3) if ok3 else (0.0, 0.0)
        r = col_rows[k0]
        w = np.float64(col_weights[k0])
        w2 = w * w
        if r != run:
            if run >= 0:
                _add4(acc, run * 8, s0, s1, s2, s3)
                _add4(acc, run * 8 + 4, v0, v1, v2, v3)
            run = r
            s0 = w * b0
            s1 = w * b1
            s2 = w * b2
            s3 = w * b3
            v0 = w2 * q0
            v1 = w2 * q1
            v2 = w2 * q2
            v3 = w2 * q3
        else:
            s0 += w * b0
            s1 += w * b1
            s2 += w * b2
            s3 += w * b3
            v0 += w2 * q0
            v1 += w2 * q1
            v2 += w2 * q2
            v3 += w2 * q3
        for k in range(k0 + 1, k1):
            w = np.float64(col_weights[k])
            w2 = w * w
            o = col_rows[k] * 8
            _add4(acc, o, w * b0, w * b1, w * b2, w * b3)
            _add4(acc, o + 4, w2 * q0, w2 * q1, w2 * q2, w2 * q3)
    if run >= 0:
        _add4(acc, run * 8, s0, s1, s2, s3)
        _add4(acc, run * 8 + 4, v0, v1, v2, v3)
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _scatter_eight(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g, lo, hi, acc,
                   c, miss_f, miss_j, nm):
    """Signal of eight frames (lanes 0-7) over pixels ``t0:t1``; with ``g < 8`` frames the
    last lanes repeat frame ``f0`` and are not read back."""
    x0 = frames[f0]
    x1 = frames[f0 + 1] if g > 1 else x0
    x2 = frames[f0 + 2] if g > 2 else x0
    x3 = frames[f0 + 3] if g > 3 else x0
    x4 = frames[f0 + 4] if g > 4 else x0
    x5 = frames[f0 + 5] if g > 5 else x0
    x6 = frames[f0 + 6] if g > 6 else x0
    x7 = frames[f0 + 7] if g > 7 else x0
    run = -1
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for j in range(t0, t1):
        k0 = col_ptr[j]
        k1 = col_ptr[j + 1]
        if k0 == k1:
            continue
        b0 = np.float64(x0[j])
        b1 = np.float64(x1[j])
        b2 = np.float64(x2[j])
        b3 = np.float64(x3[j])
        b4 = np.float64(x4[j])
        b5 = np.float64(x5[j])
        b6 = np.float64(x6[j])
        b7 = np.float64(x7[j])
        ok0 = lo <= b0 <= hi
        ok1 = lo <= b1 <= hi
        ok2 = lo <= b2 <= hi
        ok3 = lo <= b3 <= hi
        ok4 = lo <= b4 <= hi
        ok5 = lo <= b5 <= hi
        ok6 = lo <= b6 <= hi
        ok7 = lo <= b7 <= hi
        if not (ok0 and ok1 and ok2 and ok3 and ok4 and ok5 and ok6 and ok7):  # rare
            nm = _list_misses(c, f0, g, j, ok0, ok1, ok2, ok3, miss_f, miss_j, nm)
            nm = _list_misses(c, f0 + 4, g - 4, j, ok4, ok5, ok6, ok7, miss_f, miss_j, nm)
            b0 = b0 if ok0 else 0.0
            b1 = b1 if ok1 else 0.0
            b2 = b2 if ok2 else 0.0
            b3 = b3 if ok3 else 0.0
            b4 = b4 if ok4 else 0.0
            b5 = b5 if ok5 else 0.0
            b6 = b6 if ok6 else 0.0
            b7 = b7 if ok7 else 0.0
        r = col_rows[k0]
        w = np.float64(col_weights[k0])
        if r != run:
            if run >= 0:
                _add4(acc, run * 8, s0, s1, s2, s3)
                _add4(acc, run * 8 + 4, s4, s5, s6, s7)
            run = r
            s0 = w * b0
            s1 = w * b1
            s2 = w * b2
            s3 = w * b3
            s4 = w * b4
            s5 = w * b5
            s6 = w * b6
            s7 = w * b7
        else:
            s0 += w * b0
            s1 += w * b1
            s2 += w * b2
            s3 += w * b3
            s4 += w * b4
            s5 += w * b5
            s6 += w * b6
            s7 += w * b7
        for k in range(k0 + 1, k1):
            w = np.float64(col_weights[k])
            o = col_rows[k] * 8
            _add4(acc, o, w * b0, w * b1, w * b2, w * b3)
            _add4(acc, o + 4, w * b4, w * b5, w * b6, w * b7)
    if run >= 0:
        _add4(acc, run * 8, s0, s1, s2, s3)
        _add4(acc, run * 8 + 4, s4, s5, s6, s7)
    return nm


@njit(cache=CACHE, nogil=True, boundscheck=False)
def _scatter_eight_var(t0, t1, col_ptr, col_rows, col_weights, frames, f0, g, lo, hi, floor,
                       acc, c, miss_f, miss_j, nm):
    """As :func:`_scatter_eight`, with the variance ``w**2 max(x, floor)`` in lanes 8-15."""
    x0 = frames[f0]
    x1 = frames[f0 + 1] if g > 1 else x0
    x2 = frames[f0 + 2] if g > 2 else x0
    x3 = frames[f0 + 3] if g > 3 else x0
    x4 = frames[f0 + 4] if g > 4 else x0
    x5 = frames[f0 + 5] if g > 5 else x0
    x6 = frames[f0 + 6] if g > 6 else x0
    x7 = frames[f0 + 7] if g > 7 else x0
    run = -1
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    v0 = v1 = v2 = v3 = v4 = v5 = v6 = v7 = 0.0
    for j in range(t0, t1):
        k0 = col_ptr[j]
        k1 = col_ptr[j + 1]
        if k0 == k1:
            continue
        b0 = np.float64(x0[j])
        b1 = np.float64(x1[j])
        b2 = np.float64(x2[j])
        b3 = np.float64(x3[j])
        b4 = np.float64(x4[j])
        b5 = np.float64(x5[j])
        b6 = np.float64(x6[j])
        b7 = np.float64(x7[j])
        ok0 = lo <= b0 <= hi
        ok1 = lo <= b1 <= hi
        ok2 = lo <= b2 <= hi
        ok3 = lo <= b3 <= hi
        ok4 = lo <= b4 <= hi
        ok5 = lo <= b5 <= hi
        ok6 = lo <= b6 <= hi
        ok7 = lo <= b7 <= hi
        q0 = max(b0, floor)
        q1 = max(b1, floor)
        q2 = max(b2, floor)
        q3 = max(b3, floor)
        q4 = max(b4, floor)
        q5 = max(b5, floor)
        q6 = max(b6, floor)
        q7 = max(b7, floor)
        if not (ok0 and ok1 and ok2 and ok3 and ok4 and ok5 and ok6 and ok7):  # rare
            nm = _list_misses(c, f0, g, j, ok0, ok1, ok2, ok3, miss_f, miss_j, nm)
            nm = _list_misses(c, f0 + 4, g - 4, j, ok4, ok5, ok6, ok7, miss_f, miss_j, nm)
            b0, q0 = (b0, q0) if ok0 else (0.0, 0.0)
            b1, q1 = (b1, q1) if ok1 else (0.0, 0.0)
            b2, q2 = (b2, q2) if ok2 else (0.0, 0.0)
            b3, q3 = (b3, q3) if ok3 else (0.0, 0.0)
            b4, q4 = (b4, q4) if ok4 else (0.0, 0.0)
            b5, q5 = (b5, q5) if ok5 else (0.0, 0.0)
            b6, q6 = (b6, q6) if ok6 else (0.0, 0.0)
            b7, q7 = (b7, q7) if ok7 else (0.0, 0.0)
        r = col_rows[k0]
        w = np.float64(col_weights[k0])
        w2 = w * w
        if r != run:
            if run >= 0:
                o = run * 16
                _add4(acc, o, s0, s1, s2, s3)
                _add4(acc, o + 4, s4, s5, s6, s7)
                _add4(acc, o + 8, v0, v1, v2, v3)
                _add4(acc, o + 12, v4, v5, v6, v7)
            run = r
            s0 = w * b0
            s1 = w * b1
            s2 = w * b2
            s3 = w * b3
            s4 = w * b4
            s5 = w * b5
            s6 = w * b6
            s7 = w * b7
            v0 = w2 * q0
            v1 = w2 * q1
            v2 = w2 * q2
            v3 = w2 * q3
            v4 = w2 * q4
            v5 = w2 * q5
            v6 = w2 * q6
            v7 = w2 * q7
        else:
            s0 += w * b0
            s1 += w * b1
            s2 += w * b2
            s3 += w * b3
            s4 += w * b4
            s5 += w * b5
            s6 += w * b6
            s7 += w * b7
            v0 += w2 * q0
            v1 += w2 * q1
            v2 += w2 * q2
            v3 += w2 * q3
            v4 += w2 * q4
            v5 += w2 * q5
            v6 += w2 * q6
            v7 += w2 * q7
        for k in range(k0 + 1, k1):
            w = np.float64(col_weights[k])
            w2 = w * w
            o = col_rows[k] * 16
            _add4(acc, o, w * b0, w * b1, w * b2, w * b3)
            _add4(acc, o + 4, w * b4, w * b5, w * b6, w * b7)
            _add4(acc, o + 8, w2 * q0, w2 * q1, w2 * q2, w2 * q3)
            _add4(acc, o + 12, w2 * q4, w2 * q5, w2 * q6, w2 * q7)
    if run >= 0:
        o = run * 16
        _add4(acc, o, s0, s1, s2, s3)
        _add4(acc, o + 4, s4, s5, s6, s7)
        _add4(acc, o + 8, v0, v1, v2, v3)
        _add4(acc, o + 12, v4, v5, v6, v7)
    return nm
