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


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_film_pixels(valid, af, floor, aq, spec, rod_floor, qz, keep, rod_keep):
    qmin = np.inf
    seen = False
    for i in range(valid.size):
        if not valid[i]:
            keep[i] = False
            rod_keep[i] = False
            continue
        off = aq[i] >= spec
        keep[i] = af[i] >= floor and off
        above = af[i] >= rod_floor
        rod_keep[i] = above and off
        if above:
            seen = True
            if np.isnan(qz[i]) or qz[i] < qmin:
                qmin = qz[i]
                if np.isnan(qmin):
                    return qmin
    return qmin if seen else np.nan


@njit(cache=True, nogil=True, boundscheck=False)
def _nb_pick(keep, aq, lo, hi, data):
    """Indices of the pixels kept with lo < aq < hi and finite counts (one pass)."""
    out = np.empty(keep.size, np.int64)
    n = 0
    for i in range(keep.size):
        if keep[i] and aq[i] > lo and aq[i] < hi and np.isfinite(np.float64(data[i])):
            out[n] = i
            n += 1
    return out[:n].copy()


def _abs_qxy(pq):
    return _derived(pq, "abs_qxy", lambda p: np.abs(p.qxy))


def pixel_angle(geometry):
    """Angle (rad) one pixel subtends at the point of normal incidence."""
    det = geometry.make_detector()
    return float(max(det.pixel1, det.pixel2)) / geometry.dist_m


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
    af_img = pq.exit_angle
    rows = _derived(pq, "yoneda_rows", lambda p: np.flatnonzero(
        ((p.exit_angle > 0) & (p.exit_angle < top)).any(axis=1))) if af_img.ndim == 2 else None
    if rows is not None and rows.size:
        sl = slice(int(rows[0]), int(rows[-1]) + 1)
        af, aq, qq = af_img[sl].ravel(), _abs_qxy(pq)[sl].ravel(), pq.q[sl].ravel()
        ok, d, w = np.asarray(valid)[sl].ravel(), np.asarray(data)[sl].ravel(), \
            np.asarray(norm)[sl].ravel()
    else:
        af, aq, qq = af_img.ravel(), _abs_qxy(pq).ravel(), pq.q.ravel()
        ok, d, w = np.asarray(valid).ravel(), np.asarray(data).ravel(), \
            np.asarray(norm).ravel()
    sel = ok & (af > 0) & (af < top) & (aq > 2 * spec)
    if sel.sum() < 100:
        return None, "no Yoneda band seen (too few pixels within 0.6 deg of the horizon)"
    step = max(pa, math.radians(0.005))
    edges = np.arange(0.0, top + step, step)
    nb = edges.size
    d = np.asarray(d[sel], float)
    w = w[sel]
    qq = qq[sel]
    idx = np.clip(np.digitize(af[sel], edges) - 1, 0, nb - 1)
    nq = YONEDA_BANDS
    quart = np.searchsorted(np.quantile(qq, np.arange(1, nq) / nq), qq)
    flat_i = quart * nb + idx
    s = np.bincount(flat_i, weights=d, minlength=nq * nb).reshape(nq, nb)
    n = np.bincount(flat_i, weights=w, minlength=nq * nb).reshape(nq, nb)
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
    k = np.clip(np.digitize(lq, edges) - 1, 0, 59)
    vals = inten[ok]
    order = np.lexsort((vals, k))
    ks, vs = k[order], vals[order]
    starts = np.searchsorted(ks, np.arange(60))
    stops = np.searchsorted(ks, np.arange(60), side="right")
    med = np.full(60, np.nan)
    for i in range(60):
        if stops[i] - starts[i] >= 5:
            med[i] = vs[(starts[i] + stops[i]) // 2]
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
    floor, where in-plane cuts start; the other keys JSON-ready) (exit-angle floor,
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
    qz_floor = _nb_film_pixels(valid.ravel(), pq.exit_angle.ravel(), float(floor),
                               _abs_qxy(pq).ravel(), float(spec), float(rod_floor),
                               pq.qz.ravel(), keep.ravel(), rod_keep.ravel())
    info = {"rod_floor_deg": math.degrees(rod_floor), "yoneda_deg": None if a_y is None else math.degrees(a_y), "yoneda_source": how,
            "exit_angle_floor_deg": math.degrees(floor), "specular_halfwidth_A^-1": spec,
            "rod_definition": "in-plane cuts start at a_f = 1.1 a_c (refraction on) or "
                              "3 pixels above the horizon",
            "definition": "pixels above the horizon with a_f >= 1.5 a_Y (or 3 pixels "
                          "when no Yoneda band is seen) and |q_xy| >= the specular "
                          "half-width; user mask and invalid pixels excluded"}
    info["_rod_qz_floor"] = float(qz_floor)
    info["_rod_keep"] = rod_keep
    return keep, info


def _window_excess(x, d, w, centre, fwhm, avoid=None):
    """(excess, sigma) of the mean corrected intensity at |x - centre| <= fwhm/2 over
    the side bands fwhm <= |x - centre| <= 1.5 fwhm (not within 1.5 fwhm of ``avoid``)."""
    inner = np.abs(x - centre) <= fwhm / 2
    side = (np.abs(x - centre) >= fwhm) & (np.abs(x - centre) <= 1.5 * fwhm)
    if avoid is not None:
        side &= np.abs(x - avoid) > 1.5 * fwhm
    if inner.sum() < 3 or side.sum() < 3:
        return None
    wi, ws = w[inner].sum(), w[side].sum()
    if wi <= 0 or ws <= 0:
        return None
    ii, isd = d[inner].sum() / wi, d[side].sum() / ws
    var = np.clip(d[inner], 0, None).sum() / wi ** 2 + np.clip(d[side], 0, None).sum() / ws ** 2
    return ii - isd, math.sqrt(var)


def classify_peak(data, keep, norm, pq, *, q_xy, qz_base, fwhm, q_ring=None, nslices=6):
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
    # the pixels near the peak, gathered once (both windows: the rod at q_xy, the ring
    # at q_xy <= Q)
    aq_all = _abs_qxy(pq).ravel()
    data = np.ascontiguousarray(data).ravel()
    pick = _nb_pick(np.ascontiguousarray(keep, np.bool_).ravel(), aq_all, float(0.2 * big_q),
                    float(max(big_q, math.hypot(q_xy, qz_base)) + 3 * fwhm), data)
    d = data[pick].astype(float)
    aq = aq_all[pick]
    qz = pq.qz.ravel()[pick]
    w = np.asarray(norm, float).ravel()[pick]
    near = np.ones(pick.size, bool)
    if near.sum() < 100:
        out.update(scattering_type=None, rod_fraction=None, ring_fraction=None,
                   reason="too few pixels near the peak to compare rods and rings")
        return out
    lo, top = float(qz[near].min()), float(qz[near].max())
    sel0 = near & (qz < lo + max(fwhm, 0.1 * big_q))
    base = _window_excess(aq[sel0], d[sel0], w[sel0], q_xy, fwhm) if sel0.sum() >= 30 \
        else None
    if base is not None:
        out["base"] = {"qz": [lo, lo + max(fwhm, 0.1 * big_q)], "excess": base[0],
                       "sigma": base[1]}

    def compare(qr):
        """Rod and ring excesses in the separating slices for the ring hypothesis
        |q| = qr, summed with the weight 1 / (sigma_rod^2 + sigma_ring^2) of each slice
        (and that weight's sum: the variance of their total)."""
        hi = min(top, math.sqrt(max(qr ** 2 - (0.2 * qr) ** 2, 0.0)))
        rs = gs = v = 0.0
        n_used, slices = 0, []
        if hi > lo:
            edges = np.linspace(lo, hi, nslices + 1)
            for a, b in zip(edges[:-1], edges[1:]):
                sel = near & (qz >= a) & (qz < b)
                qzc = float(np.average(qz[sel], weights=w[sel])) if sel.sum() else (a + b) / 2
                ring_pos = math.sqrt(max(qr ** 2 - qzc ** 2, 0.0))
                sl = {"qz": qzc, "qxy_rod": q_xy, "qxy_ring": ring_pos}
                slices.append(sl)
                if sel.sum() < 30 or abs(q_xy - ring_pos) < 2.0 * fwhm:
                    continue
                r = _window_excess(aq[sel], d[sel], w[sel], q_xy, fwhm, avoid=ring_pos)
                g = _window_excess(aq[sel], d[sel], w[sel], ring_pos, fwhm, avoid=q_xy)
                if r is None or g is None:
                    continue
                sl.update(rod_excess=r[0], rod_sigma=r[1], ring_excess=g[0], ring_sigma=g[1])
                # one weight for both windows of a slice, so that the slice compares
                # the two excesses as they are (a window weighted by its own variance
                # lets a faint, many-pixel one outweigh a bright one of the same slice)
                wt = 1.0 / (r[1] ** 2 + g[1] ** 2)
                rs += wt * r[0]
                gs += wt * g[0]
                v += wt
                n_used += 1
        return rs, gs, v, n_used, slices

    rod_s, ring_s, var, used, out["slices"] = compare(big_q)
    rod_s, ring_s = max(rod_s, 0.0), max(ring_s, 0.0)
    tot = rod_s + ring_s
    if used == 0 or not tot > 5 * math.sqrt(var):
        # no slice separates them: does the rod go on above the ring's top?
        a0 = big_q + fwhm
        sel = near & (qz >= a0) & (qz < a0 + 0.5 * big_q)
        above = _window_excess(aq[sel], d[sel], w[sel], q_xy, fwhm) if sel.sum() >= 30 \
            else None
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
