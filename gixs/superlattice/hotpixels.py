"""Hot pixels: counts that no film scatters, masked before the superlattice metrics.

Two tests, each counted apart (provenance ``hot_pixels``):

* above the detector's count cutoff (Pilatus headers give it, ``Frame.metadata
  ["count_cutoff"]``): the pixel's counter saturated or misread;
* statistical outliers against their neighbours: counts above
  ``median3x3 + 10 sqrt(median3x3 + 1)`` and above ``8 (median3x3 + 1)``, where the 3x3
  median leaves the pixel itself out of its own reference. A real feature (a ring, a
  rod, the specular beam) spans several pixels and moves its neighbours' median with
  it; a single hot pixel does not.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


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
    d = np.where(valid, np.nan_to_num(np.asarray(data, float)), 0.0)
    med = ndimage.median_filter(d, size=3, mode="nearest")
    outlier = valid & (d > med + 10 * np.sqrt(med + 1)) & (d > 8 * (med + 1))
    cut = np.zeros(d.shape, bool)
    if count_cutoff is not None and math.isfinite(float(count_cutoff)):
        cut = valid & (d >= float(count_cutoff))
    info = {"above_count_cutoff": int(cut.sum()),
            "count_cutoff": None if count_cutoff is None else float(count_cutoff),
            "outliers": int((outlier & ~cut).sum()),
            "definition": "counts >= the detector's count cutoff, or > median3x3 + "
                          "10 sqrt(median3x3 + 1) and > 8 (median3x3 + 1)"}
    return cut | outlier, info
