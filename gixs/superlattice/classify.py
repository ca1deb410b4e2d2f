"""Rods or rings: what the frame says about a superlattice peak, and where to measure it.

A 2D film (a monolayer, or in-plane order) scatters Bragg rods: the peak sits at the
same |q_xy| for every q_z. A 3D-isotropic film scatters rings: constant |q|, so in a
q_z slice the peak sits at |q_xy| = sqrt(Q^2 - q_z^2). Both pass through the same
point near the horizon; they separate as q_z grows (science.md, "Rods or rings first").

:func:`film_region` picks the pixels that see the film cleanly: above the sample
horizon, above the Yoneda band (the exit angle a_Y is the film's critical angle when
given, else the maximum of I(a_f) found in the frame, as the median over |q| bands so
that rings and rods do not pull it, :func:`yoneda_angle`; pixels with
``a_f < 1.5 a_Y`` are left out, since the Fresnel enhancement of the band, up to 4x,
drags a ring average), and away from the specular rod (``|q_xy| < w``). The missing
wedge holds no pixel, so it needs no exclusion. Shadows (a beamstop and its holder, an
unmasked dead module) are found by :func:`shadow_mask`: blocks of pixels far darker
than the other blocks at the same |q|.

:func:`classify_peak` measures, in q_z slices of those pixels where the two hypotheses
are at least 2 FWHM apart, the excess intensity (over side bands) in a window at the
rod position and in one at the ring position. ``rod_fraction = sum rod / (sum rod +
sum ring)``, both windows of a slice summed with one weight, 1 / (sigma_rod^2 +
sigma_ring^2) (each window's own 1 / sigma^2 let a faint ring window of many pixels
outweigh the bright rod of its slice: touching dots, whose form factor's isotropic
second lobe I(|q|) takes for the ring, came out mixed): ``rod`` when >= 0.8, ``ring``
when <= 0.2, ``mixed`` in between; and
When no slice separates the two (a broad ring, or little q_z coverage below the
ring's top), the rod window just above the ring's top (q_z > Q + FWHM) decides: a rod
keeps > 0.5 of the excess it has in the lowest slice, a ring leaves < 0.15 there
(and < 3 sigma). Otherwise ``None`` (undetermined), with the reason.

Angles in rad inside, deg in outputs; q in 1/A.
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np
from numba import njit

from gixs.reduce.binning import pairwise_sum

#: A pixel row is within the horizon region when its exit angle is below this many
#: pixel angles (no Yoneda band seen).
HORIZON_PIXELS = 3
#: Specular-rod half-width: at least this many pixels (in q_xy), and this fraction of q*.
SPECULAR_PIXELS = 5
SPECULAR_FRACTION = 0.15
#: |q| bands (equal pixel counts) whose I(a_f) profiles are combined by their median to
#: find the Yoneda band: at fixed |q| a ring is flat in a_f and a rod crosses at one a_f
#: (another in each band), so neither moves the median; the band (one a_f for every q)
#: does.
YONEDA_BANDS = 12


_DERIVED: dict = {}


def _derived(pq, name, make):
    """``make(pq)``, kept for the last PixelQ seen (a plan's coordinates serve every frame
    of the geometry, so the full-frame |q_xy| and the Yoneda rows are computed once)."""
    hit = _DERIVED.get(id(pq))
    if hit is None or hit[0]() is not pq:
        try:
            ref = weakref.ref(pq)
        except TypeError:  # no weak reference (e.g. a SimpleNamespace): not kept
            return make(pq)
        _DERIVED.clear()
        hit = _DERIVED[id(pq)] = (ref, {})
    if name not in hit[1]:
        hit[1][name] = make(pq)
    return hit[1][name]


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_in_band(valid, values, lo, hi, out):
    for i in range(valid.size):
        out[i] = valid[i] and values[i] >= lo and values[i] < hi


def _in_band(valid, values, lo, hi):
    """``valid & (values >= lo) & (values < hi)`` in one pass (bool, the shape of valid)."""
    valid = np.ascontiguousarray(valid, np.bool_)
    out = np.empty(valid.shape, np.bool_)
    _nb_in_band(valid.ravel(), np.ascontiguousarray(values).ravel(), float(lo), float(hi),
                out.ravel())
    return out


def band_rows(pq, lo, hi):
    """Image rows ``(r0, r1)`` outside which no pixel has ``lo <= q_z < hi`` (1/A), from
    each row's q_z range (kept with the plan's coordinates): an in-plane cut's pixels
    are found in those rows only. Every row when q_z is not an image."""
    if np.ndim(pq.qz) != 2:
        return 0, int(np.shape(pq.qz)[0]) if np.ndim(pq.qz) else 0
    rmin, rmax = _derived(pq, "qz_row_range", lambda p: (np.fmin.reduce(p.qz, axis=1),
                                                         np.fmax.reduce(p.qz, axis=1)))
    rows = np.flatnonzero((rmax >= lo) & (rmin < hi))
    return (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_film_pixels(valid, af, floor, aq, spec, rod_floor, qz, keep, rod_keep):
    """keep and rod_keep (see film_region) in one pass; returns (lowest q_z above the rod
    floor, lowest q_z of the kept pixels, kept pixels): numpy's ``min`` of each (NaN
    when a q_z there is NaN, or when there is none)."""
    rmin = np.inf
    kmin = np.inf
    rseen = False
    rnan = False
    knan = False
    nk = 0
    for i in range(valid.size):
        if not valid[i]:
            keep[i] = False
            rod_keep[i] = False
            continue
        off = aq[i] >= spec
        k = af[i] >= floor and off
        keep[i] = k
        above = af[i] >= rod_floor
        rod_keep[i] = above and off
        z = qz[i]
        if above:
            rseen = True
            if np.isnan(z):
                rnan = True
            elif z < rmin:
                rmin = z
        if k:
            nk += 1
            if np.isnan(z):
                knan = True
            elif z < kmin:
                kmin = z
    return (np.nan if rnan or not rseen else rmin), (np.nan if knan or nk == 0 else kmin), nk


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_pick(keep, aq, lo, hi, data, qz, zcap, zpad):
    """The pixels kept with lo < aq < hi and finite counts: their number, the min and max
    of their q_z (numpy's: NaN when one is NaN), and the flat indices (raster order) of
    those that can lie below q_z = max(zcap, min q_z + zpad): every pixel at a lower q_z
    (a superset: the running minimum only falls)."""
    out = np.empty(keep.size, np.int64)
    n = 0
    m = 0
    zmin = np.inf
    zmax = -np.inf
    nan = False
    for i in range(keep.size):
        if keep[i] and aq[i] > lo and aq[i] < hi and np.isfinite(np.float64(data[i])):
            n += 1
            z = qz[i]
            if np.isnan(z):
                nan = True
                continue
            zmin = min(zmin, z)
            zmax = max(zmax, z)
            if z < zcap or z < zmin + zpad:
                out[m] = i
                m += 1
    if nan:
        zmin = zmax = np.nan
    return out[:m], n, zmin, zmax


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_window(x, centre, avoid, half, f1, f15):
    """0: |x - centre| <= fwhm/2 (inner window), 1: side band fwhm..1.5 fwhm (not within
    1.5 fwhm of ``avoid``; NaN: nothing to avoid), -1: neither."""
    dx = abs(x - centre)
    if dx <= half:
        return 0
    if dx >= f1 and dx <= f15 and (np.isnan(avoid) or abs(x - avoid) > f15):
        return 1
    return -1


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_classify_sums(pick, qz, aq, data, norm, edges, base_hi, above_lo, above_hi, q_xy,
                      ring, half, f1, f15, windows):
    """The sums classify_peak compares, over the picked pixels, each in raster order and
    summed pairwise as numpy sums the boolean-indexed arrays (same bits).

    Rows of the result: 0 the base range (q_z < base_hi), 1 the range above the ring's
    top (above_lo <= q_z < above_hi), 2 + s slice s (edges[s] <= q_z < edges[s + 1]), and
    with ``windows`` 2 + ns + s the ring window of slice s. Without ``windows``: column 0
    the pixel count of each range, columns 1, 2 of a slice the sums of q_z x norm and of
    norm. With ``windows`` (rod window at q_xy, in the base and above ranges and, avoiding
    ring[s], in slice s; ring window at ring[s] avoiding q_xy; slices whose ring[s] is NaN
    skipped): inner and side counts, then the sums of norm, counts and max(counts, 0),
    inner then side."""
    ns = max(edges.size - 1, 0)
    scale = ns / (edges[ns] - edges[0]) if ns > 0 and edges[ns] > edges[0] else 0.0
    nrow = 2 + (2 * ns if windows else ns)
    nseg = 2 * nrow if windows else nrow
    cnt = np.zeros(nseg, np.int64)
    ptr = np.zeros(nseg + 1, np.int64)
    a_buf = np.empty(0)
    b_buf = np.empty(0)
    out = np.zeros((nrow, 8))
    for sweep in range(2):
        if sweep == 1:
            for k in range(nseg):
                ptr[k + 1] = ptr[k] + cnt[k]
            a_buf = np.empty(ptr[nseg])
            b_buf = np.empty(ptr[nseg])
            for k in range(nseg):
                cnt[k] = ptr[k]
        for k in range(pick.size):
            i = pick[k]
            z = qz[i]
            in_base = z < base_hi
            in_above = z >= above_lo and z < above_hi
            s = -1
            if ns > 0 and z >= edges[0] and z < edges[ns]:
                # the slice from its width, then the edges themselves decide
                t = min(max(int((z - edges[0]) * scale), 0), ns - 1)
                while t > 0 and z < edges[t]:
                    t -= 1
                while t < ns - 1 and z >= edges[t + 1]:
                    t += 1
                if z >= edges[t] and z < edges[t + 1]:
                    s = t
            if not (in_base or in_above or s >= 0):
                continue
            w = norm[i]
            if windows:
                x = aq[i]
                d = np.float64(data[i])
                for r in range(4):
                    if r == 0:
                        if not in_base:
                            continue
                        row, c, av = 0, q_xy, np.nan
                    elif r == 1:
                        if not in_above:
                            continue
                        row, c, av = 1, q_xy, np.nan
                    else:
                        if s < 0 or np.isnan(ring[s]):
                            continue
                        if r == 2:
                            row, c, av = 2 + s, q_xy, ring[s]
                        else:
                            row, c, av = 2 + ns + s, ring[s], q_xy
                    part = _nb_window(x, c, av, half, f1, f15)
                    if part < 0:
                        continue
                    seg = 2 * row + part
                    if sweep == 0:
                        cnt[seg] += 1
                    else:
                        a_buf[cnt[seg]] = d
                        b_buf[cnt[seg]] = w
                        cnt[seg] += 1
            elif sweep == 0:
                if in_base:
                    out[0, 0] += 1.0
                if in_above:
                    out[1, 0] += 1.0
                if s >= 0:
                    cnt[2 + s] += 1
            elif s >= 0:
                a_buf[cnt[2 + s]] = z * w
                b_buf[cnt[2 + s]] = w
                cnt[2 + s] += 1
    for k in range(nseg):
        lo, n = ptr[k], ptr[k + 1] - ptr[k]
        if windows:
            row, part = k // 2, k % 2
            out[row, part] = n
            out[row, 2 + part] = 0.0 + pairwise_sum(b_buf, lo, n, False)
            out[row, 4 + part] = 0.0 + pairwise_sum(a_buf, lo, n, False)
            out[row, 6 + part] = 0.0 + pairwise_sum(a_buf, lo, n, True)
        elif k >= 2:
            out[k, 0] = n
            out[k, 1] = 0.0 + pairwise_sum(a_buf, lo, n, False)
            out[k, 2] = 0.0 + pairwise_sum(b_buf, lo, n, False)
    return out


def _abs_qxy(pq):
    return _derived(pq, "abs_qxy", lambda p: np.abs(p.qxy))


def pixel_angle(geometry):
    """Angle (rad) one pixel subtends at the point of normal incidence."""
    cfg = geometry.generic_detector()  # its pixel size without pyFAI's detector
    det = geometry.make_detector() if cfg is None else None
    p1, p2 = (cfg["pixel1"], cfg["pixel2"]) if det is None else (det.pixel1, det.pixel2)
    return float(max(p1, p2)) / geometry.dist_m


def pixel_q(geometry):
    """q (1/A) one pixel spans at the point of normal incidence: k0 x
    :func:`pixel_angle`."""
    return 2 * math.pi / geometry.wavelength_a * pixel_angle(geometry)


def sorted_quantile(a, q):
    """``np.quantile(x, q)`` (method "linear") of values ``x`` given sorted (``a``): numpy's
    virtual indices, neighbours and interpolation, without its partition of the data.

    Examples
    --------
    >>> x = np.random.default_rng(0).random(1001)
    >>> q = np.arange(1, 12) / 12
    >>> bool(np.array_equal(sorted_quantile(np.sort(x), q), np.quantile(x, q)))
    True
    """
    a = np.asarray(a)
    q = np.asarray(q, np.float64)
    n = a.size
    if n == 0:
        raise ValueError("sorted_quantile: no values")
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    nxt = prev + 1
    for where, at in ((virtual >= n - 1, -1), (virtual < 0, 0)):
        prev[where] = at
        nxt[where] = at
    prev, nxt = prev.astype(np.intp), nxt.astype(np.intp)
    lo, hi = a[prev], a[nxt]
    gamma = np.asarray(virtual - prev, dtype=virtual.dtype)
    diff = hi - lo
    out = lo + diff * gamma
    np.subtract(hi, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe")
    if np.issubdtype(a.dtype, np.inexact) and np.isnan(a[-1]):
        out[:] = np.nan
    return out


def _yoneda_pixels(pq, top, aq_min, edges):
    """The pixels (flat, raster order) with 0 < a_f < top and |q_xy| > aq_min, their
    exit-angle bins on ``edges``, and the same pixels sorted by |q| with their |q|."""
    af = np.ascontiguousarray(pq.exit_angle).ravel()
    pix = np.flatnonzero((af > 0) & (af < top) & (_abs_qxy(pq).ravel() > aq_min))
    afbin = np.clip(np.digitize(af[pix], edges) - 1, 0, edges.size - 1).astype(np.int64)
    q = np.ascontiguousarray(pq.q).ravel()[pix]
    order = np.argsort(q, kind="stable")
    return pix, afbin, pix[order], q[order]


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_yoneda_sums(pix, valid, q, afbin, data, norm, q_edges, nb, s, n):
    """Add the counts and norm of the valid pixels ``pix`` into their (|q| band,
    exit-angle bin): band = ``np.searchsorted(q_edges, q)``; the pixels in raster order,
    as np.bincount adds them."""
    ne = q_edges.size
    for k in range(pix.size):
        i = pix[k]
        if not valid[i]:
            continue
        v = q[i]
        band = 0
        if np.isnan(v):
            band = ne
        else:
            while band < ne and q_edges[band] < v:
                band += 1
        f = band * nb + afbin[k]
        s[f] += np.float64(data[i])
        n[f] += norm[i]


def yoneda_angle(data, valid, norm, pq, gi, geometry):
    """Exit angle (rad) of the Yoneda band and how it was found.

    The film's critical angle when ``gi`` gives one; else found in the frame: the
    corrected mean intensity I(a_f) over 0 < a_f < 0.6 deg (pixels off the specular
    rod) is taken in :data:`YONEDA_BANDS` bands of |q| (equal pixel counts), each
    divided by its median; the Yoneda band lies at one exit angle for every q, while
    at fixed |q| a ring is flat in a_f and a rod crosses at one a_f, another in each
    band; so the band is the maximum of the per-bin median over the bands, accepted when it lies inside the range and
    stands 20% above the horizon's value. Returns (angle or None, text).
    """
    if gi.critical_angle:
        return float(gi.critical_angle), "the film's critical angle (given)"
    pa = pixel_angle(geometry)
    top = math.radians(0.6)
    spec = SPECULAR_PIXELS * pa * 2 * math.pi / geometry.wavelength_a
    step = max(pa, math.radians(0.005))
    edges = np.arange(0.0, top + step, step)
    nb = edges.size
    pix, afbin, pix_by_q, q_sorted = _derived(
        pq, f"yoneda_pixels_{top!r}_{spec!r}_{step!r}",
        lambda p: _yoneda_pixels(p, top, 2 * spec, edges))
    ok = np.ascontiguousarray(valid, np.bool_).ravel()
    qq = q_sorted[ok[pix_by_q]]  # |q| of the pixels used, sorted
    if qq.size < 100:
        return None, "no Yoneda band seen (too few pixels within 0.6 deg of the horizon)"
    nq = YONEDA_BANDS
    s = np.zeros(nq * nb)
    n = np.zeros(nq * nb)
    # per (|q| band of equal pixel counts, exit-angle bin): counts and norm, as bincount
    _nb_yoneda_sums(pix, ok, np.ascontiguousarray(pq.q, np.float64).ravel(), afbin,
                    np.ascontiguousarray(data).ravel(),
                    np.ascontiguousarray(norm, np.float64).ravel(),
                    sorted_quantile(qq, np.arange(1, nq) / nq), nb, s, n)
    s, n = s.reshape(nq, nb), n.reshape(nq, nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = np.where(n > 0, s / n, np.nan)
        rows_ok = np.isfinite(prof).sum(axis=1) >= 5
        prof = prof[rows_ok]
        if prof.shape[0] < 3:
            return None, "no Yoneda band seen (too few |q| bands reach the exit-angle range)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            scale = np.nanmedian(prof, axis=1, keepdims=True)
            comb = np.nanmedian(prof / np.where(scale > 0, scale, np.nan), axis=0)
    ok = np.flatnonzero(np.isfinite(comb))
    if ok.size < 5:
        return None, "no Yoneda band seen (too few exit-angle bins)"
    k = ok[int(np.nanargmax(comb[ok]))]
    if k in (ok[0], ok[-1]) or not comb[k] > 1.2 * comb[ok[0]]:
        return None, ("no Yoneda band seen (the median over |q| bands of I(a_f) has no "
                      "interior maximum 20% above the horizon)")
    return float((edges[k] + edges[k + 1]) / 2), (
        f"maximum of the median over {nq} |q| bands of I(a_f) in the frame")


#: Shadow detection: block size (pixels), the darkness that marks a shadow (fraction of
#: the median corrected intensity of the blocks at the same |q|), and the counts a block
#: must expect at that median for its darkness to be significant.
SHADOW_BLOCK = 4
SHADOW_FRACTION = 0.2
SHADOW_MIN_COUNTS = 40.0


def exit_floor(a_y, geometry):
    """Lowest exit angle (rad) of the film pixels: 1.5 a_Y, or 3 pixels without a band."""
    return 1.5 * a_y if a_y else HORIZON_PIXELS * pixel_angle(geometry)


@njit(cache=True, nogil=True, boundscheck=False)
def _block_sums(data, valid, af, floor, norm, b, cnt, nrm, npx):
    """Per block of b x b pixels: sums of the counts (NaN as 0, +-inf as +-max float),
    of ``norm`` and of the pixels used (valid and exit angle >= floor), added in the
    order numpy's ``reshape(my, b, mx, b).sum(axis=(1, 3))`` adds them (each row of a
    block, then the rows), so the sums are the same to the bit."""
    my, mx = cnt.shape
    big = 1.7976931348623157e308
    for i in range(my):
        for k in range(mx):
            c = 0.0
            w = 0.0
            m = 0.0
            for j in range(b):
                r = i * b + j
                cr = 0.0
                wr = 0.0
                mr = 0.0
                for l in range(b):
                    col = k * b + l
                    if valid[r, col] and af[r, col] >= floor:
                        v = np.float64(data[r, col])
                        if np.isnan(v):
                            v = 0.0
                        elif np.isinf(v):
                            v = big if v > 0 else -big
                        cr += v
                        wr += norm[r, col]
                        mr += 1.0
                c += cr
                w += wr
                m += mr
            cnt[i, k], nrm[i, k], npx[i, k] = c, w, m


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_bin_medians(x, edges, vals, k, med):
    """k = np.clip(np.digitize(x, edges) - 1, 0, nbin - 1) and, per bin with >= 5 values,
    med = the (n // 2)-th smallest of its ``vals`` (NaN-free), else NaN (nbin = med.size)."""
    nbin = med.size
    cnt = np.zeros(nbin + 1, np.int64)
    for i in range(x.size):
        b = np.searchsorted(edges, x[i], side="right") - 1
        b = min(max(b, 0), nbin - 1)
        k[i] = b
        cnt[b + 1] += 1
    for b in range(nbin):
        cnt[b + 1] += cnt[b]
    pos = cnt[:nbin].copy()
    buf = np.empty(x.size)
    for i in range(x.size):
        buf[pos[k[i]]] = vals[i]
        pos[k[i]] += 1
    for b in range(nbin):
        n = cnt[b + 1] - cnt[b]
        if n >= 5:
            med[b] = np.partition(buf[cnt[b]:cnt[b + 1]], n // 2)[n // 2]
        else:
            med[b] = np.nan


def _block_q(pq, b):
    """Mean |q| (1/A) of each b x b block (kept with the plan's coordinates)."""
    def make(p):
        ny, nx = p.q.shape
        my, mx = ny // b, nx // b
        return p.q[:my * b, :mx * b].reshape(my, b, mx, b).mean(axis=(1, 3))
    return _derived(pq, f"block_q{b}", make)


def shadow_mask(data, valid, norm, pq, floor=0.0):
    """Shadowed pixels (True) at exit angles >= ``floor`` (rad), and what was found.

    Below the film floor (:func:`exit_floor`) the film's own transmission falls to zero
    at the horizon, a darkness no shadow test can tell from a beamstop's, so those
    pixels are not tested (the ring measurement leaves them out anyway).

    The frame is cut in blocks of :data:`SHADOW_BLOCK` x :data:`SHADOW_BLOCK` pixels;
    each block's corrected intensity (counts / solid angle x polarization, valid
    pixels above the horizon) is compared with the median of the blocks in its |q|
    bin (60 bins, logarithmic). A block below :data:`SHADOW_FRACTION` of that median,
    where the median would give it at least :data:`SHADOW_MIN_COUNTS` counts (so that
    Poisson noise cannot make it so dark), is shadowed, and so are its 8 neighbours
    (the shadow's soft edge). No film scatters that little where its neighbours at the
    same |q| scatter 5 times more: a beamstop or its holder, or dead pixels the mask
    missed.
    """
    from scipy import ndimage

    data = np.asarray(data)
    b = SHADOW_BLOCK
    ny, nx = data.shape
    my, mx = ny // b, nx // b
    if my < 3 or mx < 3:
        return np.zeros(data.shape, bool), {"pixels": 0, "blocks": 0,
                                            "definition": "frame too small for blocks"}
    floor = max(float(floor), 0.0)
    valid = np.ascontiguousarray(valid, np.bool_)
    af = np.ascontiguousarray(pq.exit_angle)
    cnt, nrm, npx = (np.empty((my, mx)) for _ in range(3))
    _block_sums(np.ascontiguousarray(data), valid, af, floor,
                np.ascontiguousarray(norm, np.float64).reshape(data.shape), b, cnt, nrm, npx)
    sl = (slice(0, my * b), slice(0, mx * b))
    qb = _block_q(pq, b)
    full = npx >= 0.75 * b * b
    with np.errstate(invalid="ignore", divide="ignore"):
        inten = np.where(full & (nrm > 0), cnt / nrm, np.nan)
    ok = np.isfinite(inten) & (qb > 0)
    out = {"definition": f"{b}x{b}-pixel blocks above the film floor whose corrected "
                         f"intensity is below {SHADOW_FRACTION:g} x the median of the "
                         f"blocks at the same |q| (where that median gives >= "
                         f"{SHADOW_MIN_COUNTS:g} counts), and their neighbours"}
    if ok.sum() < 50:
        out.update(pixels=0, blocks=0)
        return np.zeros(data.shape, bool), out
    lq = np.log(qb[ok])
    edges = np.linspace(lq.min(), lq.max() + 1e-12, 61)
    vals = inten[ok]
    k = np.empty(lq.size, np.int64)
    med = np.empty(60)
    _nb_bin_medians(lq, edges, vals, k, med)
    ref = med[k]
    expect = ref * nrm[ok]
    dark = np.zeros(inten.shape, bool)
    dark[ok] = (vals < SHADOW_FRACTION * ref) & (expect >= SHADOW_MIN_COUNTS)
    n_dark = int(dark.sum())
    if not n_dark:
        out.update(pixels=0, blocks=0)
        return np.zeros(data.shape, bool), out
    dark = ndimage.binary_dilation(dark, structure=np.ones((3, 3), bool))
    mask = np.zeros(data.shape, bool)
    mask[sl] = np.repeat(np.repeat(dark, b, axis=0), b, axis=1)
    mask &= valid & (af >= floor)
    out.update(pixels=int(mask.sum()), blocks=n_dark)
    return mask, out


def film_region(data, valid, norm, pq, gi, geometry, *, q_star=None, yoneda=None):
    """Pixels that see the film cleanly (see module docstring).

    Returns (keep, info): ``keep`` a bool array of the frame's shape (True = used),
    ``info`` a dict (``"_rod_keep"``: the pixels above the rod floor, off the specular
    rod, for :func:`classify_peak`, whose per-slice comparison the Yoneda band does not
    bias; ``"_rod_qz_floor"``: the lowest q_z (1/A) of the valid pixels above the rod
    floor, where in-plane cuts start; ``"_keep_qz_min"`` and ``"_keep_pixels"``: the
    lowest q_z (1/A; NaN when none) and the number of the pixels kept; the other keys
    JSON-ready) (exit-angle floor,
    Yoneda angle and its source, specular half-width; angles in deg, q in 1/A).
    ``yoneda``: (angle in rad or None, how), a :func:`yoneda_angle` result already
    found for this frame.
    """
    a_y, how = yoneda if yoneda is not None else yoneda_angle(data, valid, norm, pq, gi,
                                                               geometry)
    pa = pixel_angle(geometry)
    floor = exit_floor(a_y, geometry)
    k0 = 2 * math.pi / geometry.wavelength_a
    spec = SPECULAR_PIXELS * pa * k0
    if q_star:
        spec = max(spec, SPECULAR_FRACTION * q_star)
    rod_floor = 1.1 * gi.critical_angle if gi.critical_angle else HORIZON_PIXELS * pa
    # keep = valid & (a_f >= floor) & (|q_xy| >= spec); rod_keep = valid & (a_f >=
    # rod_floor) & (|q_xy| >= spec); and the lowest q_z above the rod floor, in one pass
    valid = np.ascontiguousarray(valid, np.bool_)
    keep = np.empty(valid.shape, np.bool_)
    rod_keep = np.empty(valid.shape, np.bool_)
    qz_floor, qz_keep, n_keep = _nb_film_pixels(
        valid.ravel(), np.ascontiguousarray(pq.exit_angle, np.float64).ravel(), float(floor),
        _abs_qxy(pq).ravel(), float(spec), float(rod_floor),
        np.ascontiguousarray(pq.qz, np.float64).ravel(), keep.ravel(), rod_keep.ravel())
    info = {"rod_floor_deg": math.degrees(rod_floor), "yoneda_deg": None if a_y is None else math.degrees(a_y), "yoneda_source": how,
            "exit_angle_floor_deg": math.degrees(floor), "specular_halfwidth_A^-1": spec,
            "rod_definition": "in-plane cuts start at a_f = 1.1 a_c (refraction on) or "
                              "3 pixels above the horizon",
            "definition": "pixels above the horizon with a_f >= 1.5 a_Y (or 3 pixels "
                          "when no Yoneda band is seen) and |q_xy| >= the specular "
                          "half-width; user mask and invalid pixels excluded"}
    info["_rod_qz_floor"] = float(qz_floor)
    info["_rod_keep"] = rod_keep
    info["_keep_qz_min"] = float(qz_keep)
    info["_keep_pixels"] = int(n_keep)
    return keep, info


def _window_excess(sums):
    """(excess, sigma) of the mean corrected intensity at |x - centre| <= fwhm/2 over
    the side bands fwhm <= |x - centre| <= 1.5 fwhm, from one row of
    :func:`_nb_classify_sums` (counts, then sums of norm, counts, max(counts, 0); inner,
    side); None with fewer than 3 pixels in either or no weight."""
    n_in, n_side, wi, ws, di, ds, ci, cs = sums
    if n_in < 3 or n_side < 3:
        return None
    if wi <= 0 or ws <= 0:
        return None
    ii, isd = di / wi, ds / ws
    var = ci / wi ** 2 + cs / ws ** 2
    return ii - isd, math.sqrt(var)


def _one_sided(slices, q_xy, big_q, fwhm):
    """("rod" | "ring", reason) from the slices where one hypothesis's window lies off
    the detector and the other's holds an excess above 5 sigma, or None.

    An excess that follows |q| = big_q across slices whose ring positions span 2 FWHM in
    q_xy is no single rod's (a rod keeps its q_xy); an excess that keeps q_xy across
    slices so far apart in q_z that a ring through the lowest is 2 FWHM off it in the
    highest is no single ring's. Both seen, or neither: None.
    """
    ring = [sl for sl in slices if sl.get("rod_off_detector")
            and sl["ring_excess"] > 5 * sl["ring_sigma"]]
    rod = [sl for sl in slices if sl.get("ring_off_detector")
           and sl["rod_excess"] > 5 * sl["rod_sigma"]]
    found = []
    if len(ring) >= 2:
        span = max(sl["qxy_ring"] for sl in ring) - min(sl["qxy_ring"] for sl in ring)
        if span >= 2 * fwhm:
            found.append(("ring", (
                f"where rods and rings are 2 FWHM apart the rod at q_xy {q_xy:.4f} A^-1 "
                f"lies off the detector; the peak follows |q| = {big_q:.4f} A^-1 above 5 "
                f"sigma in {len(ring)} q_z slices whose q_xy span {span / fwhm:.1f} FWHM: "
                "no single rod (ring)")))
    if len(rod) >= 2:
        z0, z1 = min(sl["qz"] for sl in rod), max(sl["qz"] for sl in rod)
        off = q_xy - math.sqrt(max(q_xy ** 2 + z0 ** 2 - z1 ** 2, 0.0))
        if off >= 2 * fwhm:
            found.append(("rod", (
                f"where rods and rings are 2 FWHM apart the ring at |q| {big_q:.4f} A^-1 "
                f"lies off the detector; the peak keeps q_xy {q_xy:.4f} A^-1 above 5 sigma "
                f"in {len(rod)} q_z slices ({z0:.4f}..{z1:.4f} A^-1), where a ring through "
                f"the lowest would move {off / fwhm:.1f} FWHM: no single ring (rod)")))
    return found[0] if len(found) == 1 else None


def classify_peak(data, keep, norm, pq, *, q_xy, qz_base, fwhm, q_ring=None, nslices=6,
                  pixel_q=None):
    """Rod, ring or mixed for a peak seen at (|q_xy|, q_z) = (q_xy, qz_base) (1/A).

    Parameters
    ----------
    data, keep, norm : ndarray
        Counts, the pixels to use (:func:`film_region`) and solid angle x polarization.
    pq : PixelQ
        The frame's scattering coordinates.
    q_xy, qz_base : float
        Where the peak was found (1/A): its in-plane position and the q_z there.
    fwhm : float
        Its width (1/A).
    q_ring : float, optional
        |q| (1/A) of the ring hypothesis, when measured on its own (I(|q|)); default the
        ring through (q_xy, qz_base). Given apart, a film with rods and a ring at
        different places (mixed) has each window on its own feature.
    pixel_q : float, optional
        One pixel's size in q (1/A). The windows and the 2-width separation use
        ``max(fwhm, 2 pixel_q)``: a peak narrower than two pixels would leave windows
        with a pixel or none per row, and no slice to compare.

    Returns
    -------
    dict
        ``scattering_type`` ("rod", "ring", "mixed" or None), ``rod_fraction``,
        ``ring_fraction``, ``q_ring`` (|q| of the ring through the peak), ``slices``
        (q_z, rod and ring positions, excesses), ``reason``; JSON-ready, q in 1/A.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> qxy, qz = np.meshgrid(np.linspace(0.01, 0.12, 300), np.linspace(0.02, 0.1, 200))
    >>> pq = SimpleNamespace(qxy=qxy, qz=qz)
    >>> rod = 100 * np.exp(-0.5 * ((qxy - 0.06) / 0.002) ** 2) + 10
    >>> keep, norm = np.ones(qxy.shape, bool), np.ones(qxy.shape)
    >>> classify_peak(rod, keep, norm, pq, q_xy=0.06, qz_base=0.02, fwhm=0.0047)["scattering_type"]
    'rod'
    """
    big_q = float(q_ring) if q_ring else math.hypot(q_xy, qz_base)
    out = {"q_ring": big_q, "q_xy": q_xy, "qz_base": qz_base, "slices": []}
    if pixel_q and 2 * pixel_q > fwhm:
        fwhm = 2.0 * float(pixel_q)
        out["window_width"] = fwhm  # the windows' FWHM (1/A): two pixels
    # the pixels near the peak, picked once (both windows: the rod at q_xy, the ring at
    # q_xy <= Q); every sum below is over a q_z range of them, in raster order
    aq = _abs_qxy(pq).ravel()
    data = np.ascontiguousarray(data).ravel()
    qz = np.ascontiguousarray(pq.qz, np.float64).ravel()
    w = np.ascontiguousarray(norm, np.float64).ravel()
    a0 = big_q + fwhm
    above_hi = a0 + 0.5 * big_q
    top_slice = math.sqrt(max(big_q ** 2 - (0.2 * big_q) ** 2, 0.0))
    # (the pixels above every q_z range used below are counted, not kept)
    pick, n_near, lo, top = _nb_pick(
        np.ascontiguousarray(keep, np.bool_).ravel(), aq, float(0.2 * big_q),
        float(max(big_q, math.hypot(q_xy, qz_base)) + 3 * fwhm), data, qz,
        float(max(above_hi, top_slice)), float(max(fwhm, 0.1 * big_q)))
    if n_near < 100:
        out.update(scattering_type=None, rod_fraction=None, ring_fraction=None,
                   reason="too few pixels near the peak to compare rods and rings")
        return out
    lo, top = float(lo), float(top)
    base_hi = lo + max(fwhm, 0.1 * big_q)
    # the slices of the ring hypothesis |q| = big_q
    hi = min(top, top_slice)
    edges = np.linspace(lo, hi, nslices + 1) if hi > lo else np.empty(0)
    win = (float(fwhm / 2), float(fwhm), float(1.5 * fwhm))

    def sums(ring, windows):
        return _nb_classify_sums(pick, qz, aq, data, w, edges, base_hi, a0, above_hi,
                                 float(q_xy), ring, *win, windows)

    stats = sums(np.empty(0), False)
    ring = np.full(max(edges.size - 1, 0), np.nan)
    slices = []
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        n, zw, sw = stats[2 + k, :3]
        if n and sw == 0:
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        qzc = float(zw / sw) if n else (a + b) / 2
        ring_pos = math.sqrt(max(big_q ** 2 - qzc ** 2, 0.0))
        slices.append({"qz": qzc, "qxy_rod": q_xy, "qxy_ring": ring_pos})
        if not (n < 30 or abs(q_xy - ring_pos) < 2.0 * fwhm):
            ring[k] = ring_pos
    wins = sums(ring, True)
    base = _window_excess(wins[0]) if stats[0, 0] >= 30 else None
    if base is not None:
        out["base"] = {"qz": [lo, lo + max(fwhm, 0.1 * big_q)], "excess": base[0],
                       "sigma": base[1]}

    def compare():
        """Rod and ring excesses in the separating slices, summed with the weight
        1 / (sigma_rod^2 + sigma_ring^2) of each slice (and that weight's sum: the
        variance of their total)."""
        rs = gs = v = 0.0
        n_used = 0
        for k, sl in enumerate(slices):
            if np.isnan(ring[k]):
                continue
            r = _window_excess(wins[2 + k])
            g = _window_excess(wins[2 + len(slices) + k])
            if r is None and g is not None and wins[2 + k, 0] < 3:
                # the rod's window (|q_xy - q_xy rod| <= FWHM/2) lies off the detector
                # in this slice
                sl.update(rod_excess=None, rod_sigma=None, ring_excess=g[0],
                          ring_sigma=g[1], rod_off_detector=True)
            elif g is None and r is not None and wins[2 + len(slices) + k, 0] < 3:
                # the ring's window lies off the detector in this slice
                sl.update(rod_excess=r[0], rod_sigma=r[1], ring_excess=None,
                          ring_sigma=None, ring_off_detector=True)
            if r is None or g is None:
                continue
            sl.update(rod_excess=r[0], rod_sigma=r[1], ring_excess=g[0], ring_sigma=g[1])
            # one weight for both windows of a slice, so that the slice compares the two
            # excesses as they are (a window weighted by its own variance lets a faint,
            # many-pixel one outweigh a bright one of the same slice)
            wt = 1.0 / (r[1] ** 2 + g[1] ** 2)
            rs += wt * r[0]
            gs += wt * g[0]
            v += wt
            n_used += 1
        return rs, gs, v, n_used, slices

    rod_s, ring_s, var, used, out["slices"] = compare()
    rod_s, ring_s = max(rod_s, 0.0), max(ring_s, 0.0)
    tot = rod_s + ring_s
    if used == 0 or not tot > 5 * math.sqrt(var):
        # no slice separates them: does the rod go on above the ring's top?
        above = _window_excess(wins[1]) if stats[1, 0] >= 30 else None
        if base is not None and above is not None and base[0] > 5 * base[1]:
            p = above[0] / base[0]
            out["rod_persistence"] = p
            out["above_ring_top"] = {"qz": [a0, a0 + 0.5 * big_q], "rod_excess": above[0],
                                     "rod_sigma": above[1]}
            why = (f"no q_z slice separates rods and rings by 2 FWHM; above the ring's top "
                   f"(q_z > {a0:.4f} A^-1) the rod window keeps {p:.2f} of the excess it "
                   f"has at q_z {lo:.4f} A^-1")
            if p < 0.15 and above[0] < 3 * above[1]:
                out.update(scattering_type="ring", rod_fraction=0.0, ring_fraction=1.0,
                           reason=why + " (ring: < 0.15 and < 3 sigma)")
                return out
            if p > 0.5:
                out.update(scattering_type="rod", rod_fraction=1.0, ring_fraction=0.0,
                           reason=why + " (rod: > 0.5)")
                return out
        one_sided = _one_sided(slices, q_xy, big_q, fwhm) if used == 0 else None
        if one_sided is not None:
            kind, why = one_sided
            out.update(scattering_type=kind, rod_fraction=float(kind == "rod"),
                       ring_fraction=float(kind == "ring"), reason=why)
            return out
        reason = (f"no q_z slice where rods and rings are 2 FWHM apart: the film pixels "
                  f"reach q_z {lo:.4f}..{top:.4f} A^-1 near the peak") if used == 0 else \
            f"the peak's excess in the separating slices is below 5 sigma ({used} slice(s))"
        if "rod_persistence" in out:
            reason += f"; above the ring's top the rod keeps {out['rod_persistence']:.2f}"
        out.update(scattering_type=None, rod_fraction=None, ring_fraction=None,
                   reason=reason)
        return out
    frac = rod_s / tot
    kind = "rod" if frac >= 0.8 else "ring" if frac <= 0.2 else "mixed"
    out.update(scattering_type=kind, rod_fraction=frac, ring_fraction=1 - frac,
               reason=f"{used} q_z slice(s) separate rods and rings; rod fraction "
                      f"{frac:.2f} (rod >= 0.8, ring <= 0.2, mixed between)")
    return out
