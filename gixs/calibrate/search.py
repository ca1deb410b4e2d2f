"""First guess of a calibrant image's geometry: beam centre and distance from the image.

Used by :mod:`gixs.calibrate.core` before pyFAI-style least-squares refinement, which needs
a start close enough for ring extraction. Everything here works on a binned copy of
the image (at most ~1100 pixels a side) in *index* coordinates (row, column: the centre
of pixel ``i`` is at ``i``); lengths on the detector are in metres.

Steps
-----
1. :func:`find_beam_centre` - every strong-gradient pixel of the (log, smoothed) image
   votes along the line of its gradient; powder rings, the diffuse halo and the
   beamstop edge are all round the direct beam, so the lines cross there (a Hough-style
   vote, robust to masked gaps and to a beam near or beyond the detector edge). The
   best candidates are then sharpened by maximising the concentration of ring pixels
   in radius (the azimuthal profile is sharpest about the true centre).
2. :func:`radial_peaks` - peaks of the mean high-pass contrast vs radius about that centre.
3. :func:`match_distance` - the distance D for which ``D tan(2theta_i)`` of the calibrant
   rings best explains the observed peak radii (ring-radius ratios do not depend on D,
   so no guess is needed; a guess narrows the search).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage, signal


@dataclasses.dataclass
class Binned:
    """Binned working copy of an image.

    Attributes
    ----------
    image : ndarray float64
        Mean of the valid pixels in each bin (0 where none).
    valid : ndarray bool
        Bins with at least half their pixels valid.
    factor : int
        Binning factor (1 = none).
    """

    image: np.ndarray
    valid: np.ndarray
    factor: int

    def to_full(self, rc):
        """Binned index coordinates (row, col) -> full-resolution index coordinates."""
        b = self.factor
        return tuple(float(v) * b + (b - 1) / 2.0 for v in rc)


def bin_image(image, mask, max_side=1100) -> Binned:
    """Bin ``image`` (mask True = bad) by the smallest integer factor giving <= max_side."""
    image = np.asarray(image, np.float64)
    valid = ~np.asarray(mask, bool) & np.isfinite(image)
    b = max(1, math.ceil(max(image.shape) / max_side))
    data = np.where(valid, image, 0.0)
    if b == 1:
        return Binned(data, valid, 1)
    h, w = image.shape[0] // b, image.shape[1] // b
    s = data[:h * b, :w * b].reshape(h, b, w, b).sum(axis=(1, 3))
    n = valid[:h * b, :w * b].reshape(h, b, w, b).sum(axis=(1, 3))
    return Binned(np.where(n > 0, s / np.maximum(n, 1), 0.0), n >= (b * b + 1) // 2, b)


def _smooth(image, valid, sigma):
    """Normalised convolution: Gaussian mean of the valid pixels only."""
    num = ndimage.gaussian_filter(np.where(valid, image, 0.0), sigma, mode="constant")
    den = ndimage.gaussian_filter(valid.astype(np.float64), sigma, mode="constant")
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0), den


def contrast(binned: Binned, sigma=4.0):
    """High-pass contrast (a local z-score) of the binned image and the usable pixels.

    ``z = (I - S) / noise`` with ``S`` the local mean (Gaussian ``sigma`` px). For
    counting data (non-negative integers before binning) ``noise = sqrt(S / n)`` (Poisson,
    ``n`` pixels per bin); otherwise the local RMS of ``I - S``. ``usable`` excludes
    pixels within 3 px of the mask. z is clipped to +-20 (hot pixels).
    """
    img, valid = binned.image, binned.valid
    smooth, _ = _smooth(img, valid, sigma)
    hp = np.where(valid, img - smooth, 0.0)
    vals = img[valid]
    counts = vals.size and vals.min() >= 0 and np.allclose(
        vals[:5000] * binned.factor ** 2, np.rint(vals[:5000] * binned.factor ** 2), atol=0.51)
    if counts and np.median(vals) > 0:
        var = np.maximum(smooth, 0.5) / binned.factor ** 2
    else:
        var, _ = _smooth(hp * hp, valid, 3 * sigma)
    z = hp / np.sqrt(np.maximum(var, 1e-30))
    usable = ndimage.binary_erosion(valid, iterations=3, border_value=0)
    return np.where(usable, np.clip(z, -20, 20), 0.0), usable


def _slab(p0, u, hi):
    """Range of t where ``0 <= p0 + u t <= hi`` (per element; all t where u = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = -p0 / u, (hi - p0) / u
    moving = u != 0
    return (np.where(moving, np.minimum(a, b), -np.inf),
            np.where(moving, np.maximum(a, b), np.inf))


def _vote(binned: Binned, usable, n_pixels=12000, cell=None, margin=0.35, seed=0):
    """Accumulator of gradient-line votes; returns (acc, y0, x0, cell)."""
    img, valid = binned.image, binned.valid
    h, w = img.shape
    smooth, _ = _smooth(img, valid, 1.5)
    pos = smooth[valid & (smooth > 0)]
    floor = 0.05 * float(np.median(pos)) if pos.size else 1.0
    log = np.log(np.maximum(smooth, 0.0) + floor + 1e-30)
    gy = ndimage.sobel(log, axis=0)
    gx = ndimage.sobel(log, axis=1)
    # structure tensor: the locally dominant gradient orientation (across rings), robust
    # to spotty rings and isotropic noise; its coherent energy picks ring flanks
    jxx = ndimage.gaussian_filter(gx * gx, 3.0)
    jyy = ndimage.gaussian_filter(gy * gy, 3.0)
    jxy = ndimage.gaussian_filter(gx * gy, 3.0)
    energy = np.sqrt((jxx - jyy) ** 2 + (2 * jxy) ** 2)
    energy[~usable] = 0.0
    cand = np.flatnonzero(energy > 0)
    if cand.size == 0:
        return None
    k = min(n_pixels, cand.size)
    top = cand[np.argpartition(energy.ravel()[cand], cand.size - k)[cand.size - k:]]
    ys, xs = np.unravel_index(top, energy.shape)
    theta = 0.5 * np.arctan2(2 * jxy.ravel()[top], (jxx - jyy).ravel()[top])
    uy, ux = np.sin(theta), np.cos(theta)
    cell = cell or max(2.0, max(h, w) / 350.0)
    my, mx = margin * h, margin * w
    ny, nx = int((h + 2 * my) / cell) + 1, int((w + 2 * mx) / cell) + 1
    length = math.hypot(h, w) * (1 + margin)
    t = np.arange(-length, length, cell * 0.7)
    acc = np.zeros(ny * nx, np.float64)
    y0, x0 = ys + my, xs + mx
    # only the stretch of each line inside the accumulator is sampled (a line meets the
    # box in one segment): its t-indices from the slab bounds, 2 samples to spare each
    # side, then the exact inside test; the same votes as sampling every t
    lo_y, hi_y = _slab(y0, uy, cell * (ny - 1))
    lo_x, hi_x = _slab(x0, ux, cell * (nx - 1))
    dt = cell * 0.7
    k_lo = np.clip(np.floor((np.maximum(lo_y, lo_x) - t[0]) / dt) - 2, 0, t.size)
    k_hi = np.clip(np.ceil((np.minimum(hi_y, hi_x) - t[0]) / dt) + 2, -1, t.size - 1)
    k_lo, k_hi = k_lo.astype(np.int64), k_hi.astype(np.int64)
    n_k = np.maximum(k_hi - k_lo + 1, 0)
    for s in range(0, ys.size, 1500):
        n = n_k[s:s + 1500]
        rep = np.repeat(np.arange(s, s + n.size), n)
        kk = np.arange(rep.size) + np.repeat(k_lo[s:s + 1500] - (np.cumsum(n) - n), n)
        tk = t[kk]
        py = (y0[rep] + uy[rep] * tk) / cell
        px = (x0[rep] + ux[rep] * tk) / cell
        ok = (py >= 0) & (py < ny - 1) & (px >= 0) & (px < nx - 1)
        idx = py[ok].astype(np.int64) * nx + px[ok].astype(np.int64)
        acc += np.bincount(idx, minlength=ny * nx)
    acc = acc.reshape(ny, nx)
    peak = ndimage.gaussian_filter(acc, 1.0) - ndimage.gaussian_filter(acc, 12.0)
    return peak, my, mx, cell


def _sharpness_grid(ry, rx, wts, cys, cxs, bin_px=1.0):
    """Concentration in radius of weighted ring pixels (float64 index coordinates) about
    each centre of the grid ``cys x cxs`` (higher = sharper): the sum of squares of
    their radial histogram (``bin_px`` bins, each pixel split linearly between its two
    nearest bins). Returns an array (len(cys), len(cxs))."""
    out = np.zeros((len(cys), len(cxs)))
    if ry.size == 0:
        return out
    dx2 = []
    for cx in cxs:  # (col - cx)^2 once per column of the grid
        d = rx - cx
        d *= d
        dx2.append(d)
    r = np.empty_like(ry)
    for a, cy in enumerate(cys):
        dy2 = ry - cy
        dy2 *= dy2
        for b, d in enumerate(dx2):
            np.add(dy2, d, out=r)
            np.sqrt(r, out=r)
            r /= bin_px
            i = r.astype(np.int64)
            wf = r - i
            wf *= wts
            n = int(i.max()) + 2
            h = np.bincount(i, wts - wf, minlength=n)
            h[1:] += np.bincount(i, wf, minlength=n)[:-1]
            out[a, b] = float(np.dot(h, h))
    return out


def find_beam_centre(binned: Binned, n_candidates=3, z=None, usable=None):
    """Candidate beam centres (binned index coordinates), best first.

    ``z, usable``: the image's :func:`contrast`, when already computed.

    Returns
    -------
    list of (row, col, score)
        Sharpened candidates; ``score`` is the radial concentration of ring pixels.
    """
    if z is None:
        z, usable = contrast(binned)
    voted = _vote(binned, usable)
    if voted is None:
        return []
    peak, my, mx, cell = voted
    # distinct local maxima of the vote map
    mx_f = ndimage.maximum_filter(peak, size=max(3, int(round(20 / cell))))
    cand = np.flatnonzero((peak == mx_f) & (peak > 0))
    cand = cand[np.argsort(peak.ravel()[cand])[::-1][:n_candidates]]
    sel = z > 2.0
    ry, rx = np.nonzero(sel)
    wts = np.minimum(z[sel], 6.0)
    if ry.size > 60000:
        pick = np.random.default_rng(1).choice(ry.size, 60000, replace=False)
        ry, rx, wts = ry[pick], rx[pick], wts[pick]
    ry, rx = ry.astype(np.float64), rx.astype(np.float64)
    out = []
    for c in cand:
        iy, ix = np.unravel_index(c, peak.shape)
        cy, cx = iy * cell + cell / 2 - my, ix * cell + cell / 2 - mx
        for step, half, bin_px in ((4.0, 8, 4.0), (1.0, 4, 1.0), (0.25, 3, 0.5)):
            offsets = np.arange(-half, half + 1) * step
            score = _sharpness_grid(ry, rx, wts, cy + offsets, cx + offsets, bin_px)
            a, b = np.unravel_index(int(np.argmax(score)), score.shape)  # first best
            best = (float(score[a, b]), cy + offsets[a], cx + offsets[b])
            cy, cx = best[1], best[2]
        out.append((best[1], best[2], best[0]))
    out.sort(key=lambda t: -t[2])
    return out


def radial_profile(binned: Binned, centre_rc, pixel_m, z=None, usable=None):
    """Mean positive contrast vs radius about ``centre_rc`` (binned index coordinates).

    Returns
    -------
    radius_m, mean_z, count : ndarray
        Bin centres on the detector (m, 1 binned-pixel steps), mean contrast, pixel count.
    """
    if z is None:
        z, usable = contrast(binned)
    p1, p2 = (p * binned.factor for p in pixel_m)
    step = min(p1, p2)
    ry, rx = np.nonzero(usable)
    r = np.sqrt(((ry - centre_rc[0]) * p1) ** 2 + ((rx - centre_rc[1]) * p2) ** 2) / step
    i = np.rint(r).astype(np.int64)
    n = np.bincount(i)
    s = np.bincount(i, np.clip(z[ry, rx], 0.0, 10.0))  # the ring, not its negative halo
    mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    return np.arange(n.size) * step, mean, n


def radial_peaks(radius_m, mean_z, count, min_count=20, min_height=0.25):
    """Peaks of a radial contrast profile: (radius_m, height) arrays, and covered range."""
    ok = count >= min_count
    prof = np.where(ok, mean_z, 0.0)
    prof = ndimage.gaussian_filter1d(prof, 1.0)
    idx, props = signal.find_peaks(prof, height=min_height, prominence=min_height / 2)
    idx = idx[ok[idx]]
    covered = radius_m[ok]
    rng = (float(covered.min()), float(covered.max())) if covered.size else (0.0, 0.0)
    return radius_m[idx], prof[idx], ok, rng


def match_distance(peak_r, peak_h, covered, radius_m, two_theta, step_m,
                   guess_m=None, d_range=(0.02, 20.0)):
    """Distance (m) whose predicted ring radii ``D tan(2theta)`` best explain the peaks.

    Score = (fraction of the predicted rings in the covered radii that hit an observed
    peak) x (fraction of the observed peak height that a predicted ring explains).
    With ``guess_m`` the search spans 0.65-1.5 x guess.

    Returns
    -------
    (distance_m, matched) where matched is a list of (ring_index, peak_radius_m), or
    (None, []) when nothing fits.
    """
    tth = np.asarray(two_theta, float)
    keep = tth < math.radians(85)
    ring_ids = np.flatnonzero(keep)
    tan = np.tan(tth[keep])
    if peak_r.size == 0 or tan.size == 0:
        return None, []
    lo, hi = (0.65 * guess_m, 1.5 * guess_m) if guess_m else d_range
    grid = np.exp(np.arange(math.log(lo), math.log(hi), 0.0005))
    rho = grid[:, None] * tan[None, :]                      # (nD, nring) predicted radii
    tol = np.maximum(2.5 * step_m, 0.012 * rho)
    cov_idx = np.clip(np.rint(rho / step_m).astype(np.int64), 0, covered.size - 1)
    inside = covered[cov_idx] & (rho < radius_m[-1]) & (rho > 3 * step_m)
    # nearest observed peak
    order = np.argsort(peak_r)
    pr, ph = peak_r[order], peak_h[order]
    j = np.clip(np.searchsorted(pr, rho), 1, pr.size - 1) if pr.size > 1 else \
        np.zeros(rho.shape, np.int64)
    if pr.size > 1:
        jl = j - 1
        j = np.where(np.abs(pr[jl] - rho) < np.abs(pr[j] - rho), jl, j)
    hit = inside & (np.abs(pr[j] - rho) < tol)
    n_pred = inside.sum(axis=1)
    f_pred = np.where(n_pred >= 2, hit.sum(axis=1) / np.maximum(n_pred, 1), 0.0)
    # observed height explained (each peak counted once)
    expl = np.zeros((grid.size, pr.size), bool)
    rows = np.broadcast_to(np.arange(grid.size)[:, None], j.shape)
    expl[rows[hit], j[hit]] = True
    obs_in = (pr >= radius_m[0]) & (pr <= radius_m[-1])
    f_obs = (expl * ph).sum(axis=1) / max(float(ph[obs_in].sum()), 1e-30)
    score = f_pred * f_obs * np.minimum(hit.sum(axis=1), 6) / 6.0
    if guess_m:
        score = score * np.exp(-0.5 * (np.log(grid / guess_m) / 0.35) ** 2)
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None, []
    matched = [(int(ring_ids[k]), float(pr[j[best, k]])) for k in np.flatnonzero(hit[best])]
    # least-squares distance from the matched pairs: R = D tan(2theta)
    t = np.array([math.tan(tth[m[0]]) for m in matched])
    r = np.array([m[1] for m in matched])
    dist = float(np.dot(r, t) / np.dot(t, t))
    return dist, matched
