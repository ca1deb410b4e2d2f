"""Profiles of pixel subsets of one frame on one plan's bins (no new plan per subset).

:func:`gixs.superlattice.ordering.measure_frame` looks at a frame through several
pixel subsets (an in-plane band near the horizon, the film pixels above the Yoneda
band, a thin rod band set from the peak). Each subset's profile uses the bins of one
block (``"iq"``: |q|, ``"ip"``: q_xy) of one cached :class:`gixs.reduce.frame.Plan`
whose blocks hold every pixel, so the subset is a per-frame selection, not a new plan:
one plan per geometry and mask serves every frame and every subset.

Per bin, over the selected pixels (the same sums as :meth:`gixs.reduce.frame.Plan.sums`):
``I = sum(raw - dark) / sum(flat * solid_angle * polarization)``, ``sigma =
sqrt(sum(max(raw, 0))) / sum(flat * solid_angle * polarization)``, ``count``, and the
mean abscissa of the pixels (``x``; the bin centre where a bin is empty), since without
pixel splitting a bin's mean intensity belongs at its pixels' mean position, not at its
centre (up to half a bin apart).
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from gixs.results import Profile

__all__ = ["block_bins", "subset_profile"]

_BINS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@njit(cache=True, nogil=True, boundscheck=False)
def _pixel_bins(col_ptr, col_rows, r0, r1, out):
    """Row (minus ``r0``) of every pixel within rows ``r0:r1`` of a CSC matrix; -1 when none."""
    for j in range(col_ptr.size - 1):
        out[j] = -1
        for k in range(col_ptr[j], col_ptr[j + 1]):
            r = col_rows[k]
            if r0 <= r < r1:
                out[j] = r - r0
                break


@njit(cache=True, nogil=True, boundscheck=False)
def _slice_sums(bins, sel, data, dark, pnorm, flat, coord, qz, lo, width, k, n):
    """Per q_z slice and bin (signal, norm, variance, count, sum of the abscissa) of the
    selected pixels: (5, k, n), slice ``s`` holding the pixels with ``lo + s width <= q_z
    < lo + (s + 1) width``; every pixel in slice 0 when ``qz`` is empty."""
    out = np.zeros((5, k, n))
    has_dark = dark.size > 0
    has_flat = flat.size > 0
    sliced = qz.size > 0
    for j in range(bins.size):
        if not sel[j]:
            continue
        b = bins[j]
        if b < 0:
            continue
        s = 0
        if sliced:
            s = int(np.floor((qz[j] - lo) / width))
            if s < 0 or s >= k:
                continue
        x = np.float64(data[j])
        out[0, s, b] += x - (dark[j] if has_dark else 0.0)
        out[1, s, b] += pnorm[j] * (flat[j] if has_flat else 1.0)
        out[2, s, b] += max(x, 0.0)
        out[3, s, b] += 1.0
        out[4, s, b] += coord[j]
    return out


#: Widest run of empty bins (bins) inside one q_z slice that :func:`slice_mean` bridges.
MAX_SLICE_GAP = 3


def _subset_sums(bins, sel, data, dark, pnorm, flat, coord, n):
    """Per-bin (signal, norm, variance, count, sum of the abscissa) of the selected
    pixels: :func:`_slice_sums` with one slice."""
    return _slice_sums(bins, sel, data, dark, pnorm, flat, coord, np.empty(0), 0.0, 1.0, 1,
                       n)[:, 0, :]


def slice_mean(sums, centres):
    """(x, I, sigma, count) of an in-plane cut as the mean over its q_z slices of each
    slice's I(q_xy), from :func:`_slice_sums`.

    Why: near the horizon and the Yoneda band the intensity changes several-fold with
    q_z across a cut, and the columns of a flat detector are lines of almost constant
    q_xy; a column whose pixels straddle a bin edge puts its low rows in one bin and its
    high rows in the next, and the two bins' pixel means then come out far apart
    (measured on BornAgain frames: one bin 15x below its neighbours, the next 1.4x
    above), spikes that moved the fitted peak by 1%. Averaging slices gives every q_z of
    the band the same weight in every bin, whichever pixels a bin got (the band mean at
    fixed q_xy). Inside a slice, runs of up to :data:`MAX_SLICE_GAP` empty bins between
    filled ones are interpolated linearly in q_xy (and their variance with the squared
    weights); a bin is the mean of the slices that have a value there.
    """
    sig, nrm, var, cnt, xs = sums
    k, n = sig.shape
    count = cnt.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(count > 0, xs.sum(axis=0) / count, centres)
        good = (cnt > 0) & (nrm > 0)
        val = np.where(good, sig / nrm, np.nan)
        vv = np.where(good, var / nrm ** 2, np.nan)
    idx = np.arange(n)
    for s in range(k):
        g = good[s]
        if g.sum() < 2:
            continue
        left = np.maximum.accumulate(np.where(g, idx, -1))
        right = np.minimum.accumulate(np.where(g, idx, n)[::-1])[::-1]
        fill = (~g & (left >= 0) & (right < n) & (right - left - 1 <= MAX_SLICE_GAP)
                & (count > 0))
        if not fill.any():
            continue
        lo, hi = left[fill], right[fill]
        w = (x[hi] - x[fill]) / (x[hi] - x[lo])
        val[s, fill] = w * val[s, lo] + (1 - w) * val[s, hi]
        vv[s, fill] = w ** 2 * vv[s, lo] + (1 - w) ** 2 * vv[s, hi]
    have = np.isfinite(val)
    m = have.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        inten = np.where(m > 0, np.where(have, val, 0.0).sum(axis=0) / m, np.nan)
        sigma = np.where(m > 0, np.sqrt(np.where(have, vv, 0.0).sum(axis=0)) / m, np.nan)
    return x, inten, sigma, count


def block_bins(plan, name, merge=1):
    """Bin of every pixel (flat, int32, -1 when in no bin) in block ``name`` of ``plan``,
    ``merge`` neighbouring bins taken as one, with the block and the merged bins' centres;
    computed once per plan and kept while the plan lives."""
    per_plan = _BINS.setdefault(plan, {})
    merge = int(merge)
    if merge < 1:
        raise ValueError(f"merge must be >= 1 bin, got {merge}")
    if (name, merge) not in per_plan:
        block = next((b for b in plan.blocks if b.name == name), None)
        if block is None:
            raise ValueError(f"the plan has no {name!r} block (blocks: "
                             f"{', '.join(b.name for b in plan.blocks)})")
        if (name, 1) not in per_plan:
            out = np.empty(plan.n_pixels, np.int32)
            _pixel_bins(plan.col_ptr, plan.col_rows, block.rows.start, block.rows.stop, out)
            per_plan[(name, 1)] = (out, block, np.asarray(block.centres[0], np.float64))
        if merge > 1:
            base, _, centres = per_plan[(name, 1)]
            out = np.where(base >= 0, base // merge, -1).astype(np.int32)
            n = -(-centres.size // merge)
            pad = np.full(n * merge, np.nan)
            pad[:centres.size] = centres
            per_plan[(name, merge)] = (out, block, np.nanmean(pad.reshape(n, merge), axis=1))
    return per_plan[(name, merge)]


def subset_profile(plan, name, select, data, *, dark=None, flat=None, band=None, merge=1,
                   rows=None, qz_slices=None):
    """Profile ``name`` ("iq" or "ip") of the pixels ``select`` of one frame.

    Parameters
    ----------
    plan : gixs.reduce.frame.Plan
        A plan whose block ``name`` bins every pixel of interest.
    name : {"iq", "ip"}
        The block: |q| or q_xy (1/A).
    select : ndarray of bool
        Pixels used (image shape or flat); they must already exclude invalid pixels.
    data : ndarray
        The frame (counts), image shape.
    dark, flat : ndarray, optional
        Dark frame (subtracted) and flat field (multiplies the solid angle x polarization).
    band : dict, optional
        Description of the subset, recorded in the profile's ``band``.
    merge : int
        Neighbouring bins of the block taken as one (a coarser profile from the same plan).
    rows : (int, int), optional
        Image rows ``r0:r1`` that hold every selected pixel: ``select`` then covers those
        rows only (shape ``(r1 - r0, columns)`` or flat), and no other row is read (a
        thin in-plane band costs its rows, not the frame). The sums are the same.
    qz_slices : (float, float, int), optional
        ``(lo, hi, k)``: an in-plane cut (``"ip"``) made as the mean of ``k`` equal q_z
        slices of ``lo <= q_z < hi`` (1/A), each slice's own I(q_xy) (:func:`slice_mean`);
        selected pixels outside ``lo..hi`` are left out.

    Returns
    -------
    Profile
        On the pixels' mean abscissa per bin (1/A); empty bins NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from gixs import GIGeometry, ReduceSettings
    >>> from gixs.geometry.model import DetectorGeometry
    >>> from gixs.reduce.frame import get_plan, reduce_frame
    >>> from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    >>> from pyFAI.detectors import Detector
    >>> ai = AzimuthalIntegrator(dist=0.2, poni1=0.001, poni2=0.006, wavelength=1e-10,
    ...                          detector=Detector(1e-4, 1e-4, max_shape=(64, 128)))
    >>> geo, gi = DetectorGeometry.from_integrator(ai), GIGeometry.from_degrees(0.2)
    >>> s = ReduceSettings(npt_q=50, maps=False, cuts=False)
    >>> img = np.random.default_rng(0).poisson(50, (64, 128)).astype(float)
    >>> plan = get_plan(geo, gi, img.shape, s)
    >>> p = subset_profile(plan, "iq", np.ones(img.shape, bool), img)
    >>> ref = reduce_frame(img, geo, gi, s).profiles["iq"]
    >>> bool(np.allclose(p.intensity, ref.intensity, equal_nan=True))
    True
    """
    bins, block, centres = block_bins(plan, name, merge)
    coord = {"iq": plan.pq.q, "ip": plan.pq.qxy}[name]
    ny = plan.shape[0]
    r0, r1 = (0, ny) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= r0 <= r1 <= ny:
        raise ValueError(f"rows must be 0 <= r0 <= r1 <= {ny} (image rows), got {rows!r}")
    px = slice(r0 * plan.shape[1], r1 * plan.shape[1])  # flat pixels of those rows

    def part(a):  # rows r0:r1 of an image, flat
        return np.ascontiguousarray(a).reshape(-1)[px] if rows is not None else \
            np.ascontiguousarray(a).ravel()

    select = np.ascontiguousarray(select, np.bool_).ravel()
    if select.size != px.stop - px.start:
        raise ValueError(f"select has {select.size} pixels, expected {px.stop - px.start} "
                         f"(image rows {r0}:{r1})")
    empty = np.empty(0)
    args = (bins[px], select, part(data),
            empty if dark is None else part(np.asarray(dark, np.float64)), plan.norm[px],
            empty if flat is None else part(np.asarray(flat, np.float64)),
            part(np.asarray(coord, np.float64)))
    desc = dict(block.band) if band is None else dict(band)
    if qz_slices is not None:
        if name != "ip":
            raise ValueError(f"qz_slices applies to the in-plane cut ('ip'), not {name!r}")
        lo, hi, k = float(qz_slices[0]), float(qz_slices[1]), int(qz_slices[2])
        if not (hi > lo and k >= 1):
            raise ValueError(f"qz_slices must be (lo, hi, k) with hi > lo (1/A) and k >= 1, "
                             f"got {qz_slices!r}")
        sums = _slice_sums(*args, part(np.asarray(plan.pq.qz, np.float64)), lo,
                           (hi - lo) / k, k, centres.size)
        x, inten, sigma, cnt = slice_mean(sums, centres)
        desc["qz_slices"] = f"mean of {k} equal q_z slices, each slice's own I(q_xy)"
    else:
        sig, nrm, var, cnt, xs = _subset_sums(*args, centres.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            bad = (cnt <= 0) | (nrm <= 0)
            inten = np.where(bad, np.nan, sig / nrm)
            sigma = np.where(bad, np.nan, np.sqrt(var) / nrm)
            x = np.where(cnt > 0, xs / cnt, centres)
    desc["abscissa"] = "mean of the pixels in each bin"
    return Profile(block.name, block.axes[0], x, inten, sigma, cnt.astype(np.int64), desc)
