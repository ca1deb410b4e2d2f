"""Hot pixels: counts that no film scatters, masked before the superlattice metrics.

Two tests, each counted apart (provenance ``hot_pixels``):

* above the detector's count cutoff (Pilatus headers give it, ``Frame.metadata
  ["count_cutoff"]``): the pixel's counter saturated or misread;
* statistical outliers against their neighbours: counts above
  ``median3x3 + 10 sqrt(median3x3 + 1)`` and above ``8 (median3x3 + 1)``, where the 3x3
  median leaves the pixel itself out of its own reference. A real feature (a ring, a
  rod, the specular beam) spans several pixels and moves its neighbours' median with
  it; a single hot pixel does not.

The 3x3 median (scipy ``median_filter`` semantics: edges repeat the nearest pixel,
pixels not tested count as 0) is computed only where it can matter: the median of 9
values is at least the minimum of any 5 of them (at most 4 exceed it), both
thresholds rise with the median, so a pixel that passes them against its 5-pixel
cross minimum is the only kind that can pass them against the median. One compiled
pass over the frame.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def _row_values(d, valid, i, out):
    """Row i as the filter sees it: 0 where not tested or NaN, +-inf as +-max float."""
    big = 1.7976931348623157e308
    for j in range(d.shape[1]):
        v = np.float64(d[i, j]) if valid[i, j] else 0.0
        if np.isnan(v):
            v = 0.0
        elif np.isinf(v):
            v = big if v > 0 else -big
        out[j] = v


@njit(cache=True, nogil=True, boundscheck=False)
def _outliers(d, valid, out):
    ny, nx = d.shape
    rows = np.empty((3, nx))  # rows i - 1, i, i + 1 (edges repeated) by row index mod 3
    win = np.empty(9)
    n = 0
    _row_values(d, valid, 0, rows[0])
    if ny > 1:
        _row_values(d, valid, 1, rows[1])
    for i in range(ny):
        if 1 <= i < ny - 1:
            _row_values(d, valid, i + 1, rows[(i + 1) % 3])
        up, cur, dn = rows[max(i - 1, 0) % 3], rows[i % 3], rows[min(i + 1, ny - 1) % 3]
        for j in range(nx):
            out[i, j] = False
            if not valid[i, j]:
                continue
            v = cur[j]
            jm, jp = max(j - 1, 0), min(j + 1, nx - 1)
            m = min(v, up[j], dn[j], cur[jm], cur[jp])
            if not (v > 8.0 * (m + 1.0) and v > m + 10.0 * math.sqrt(max(m + 1.0, 0.0))):
                continue
            k = 0
            for row in (up, cur, dn):
                for b in (jm, j, jp):
                    win[k] = row[b]
                    k += 1
            med = np.sort(win)[4]
            if v > med + 10.0 * math.sqrt(med + 1.0) and v > 8.0 * (med + 1.0):
                out[i, j] = True
                n += 1
    return n


def hot_pixels(data, valid, *, count_cutoff=None):
    """Boolean mask of hot pixels (True = hot) and the counts of each kind.

    Parameters
    ----------
    data : ndarray
        Frame (counts).
    valid : ndarray of bool
        Pixels to test (others are never flagged).
    count_cutoff : float, optional
        The detector's count cutoff (counts); pixels at or above it are hot.

    Returns
    -------
    (ndarray of bool, dict)

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((20, 20), 10.0); img[5, 5] = 5000.0
    >>> mask, info = hot_pixels(img, np.ones(img.shape, bool))
    >>> bool(mask[5, 5]), info["outliers"]
    (True, 1)
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"hot_pixels: data must be a 2D frame, got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"hot_pixels: data must be numeric, got {data.dtype}")
    valid = np.ascontiguousarray(valid, np.bool_)
    outlier = np.empty(data.shape, np.bool_)
    _outliers(np.ascontiguousarray(data), valid, outlier)
    cut = np.zeros(data.shape, bool)
    if count_cutoff is not None and math.isfinite(float(count_cutoff)):
        with np.errstate(invalid="ignore"):
            cut = valid & (data >= float(count_cutoff))
    info = {"above_count_cutoff": int(cut.sum()),
            "count_cutoff": None if count_cutoff is None else float(count_cutoff),
            "outliers": int((outlier & ~cut).sum()),
            "definition": "counts >= the detector's count cutoff, or > median3x3 + "
                          "10 sqrt(median3x3 + 1) and > 8 (median3x3 + 1)"}
    return cut | outlier, info
