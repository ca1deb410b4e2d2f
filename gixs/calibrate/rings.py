"""Control points on calibrant rings and least-squares refinement of a PONI geometry.

Helpers of :mod:`gixs.calibrate.core`. Control points are the intensity centroids of ring
segments: each ring's pixels within a window of its predicted 2theta are cut into
azimuthal sectors (about 12 px of arc each); in each sector the peak of the 2theta
profile is located and the background-subtracted centroid of the pixels around it
gives one point (row, column in index coordinates) and its measured 2theta.

The model is pyFAI's: a pixel at detector position ``(p1, p2)`` (m, from
``detector.calc_cartesian_positions``) seen through the PONI parameters has
``2theta = atan2(|t_xy|, t_z)`` with pyFAI's rotation matrices (checked against
``pyFAI.ext._geometry.calc_tth`` in the tests). Angles in rad, lengths in m.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import least_squares

#: Order of the refinable parameters (pyFAI's), wavelength last (m).
PARAMS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")
_SCALE = np.array([1e-3, 1e-4, 1e-4, 1e-3, 1e-3, 1e-3, 1e-13])


def tth_model(params, p1, p2, p3=None):
    """2theta (rad) of detector positions (m, detector frame) for PONI ``params``."""
    dist, poni1, poni2, rot1, rot2, rot3 = params[:6]
    if p3 is not None:
        from pyFAI.ext import _geometry
        return _geometry.calc_tth(L=dist, rot1=rot1, rot2=rot2, rot3=rot3,
                                  pos1=p1 - poni1, pos2=p2 - poni2, pos3=p3)
    a, b = p1 - poni1, p2 - poni2
    c1, s1, c2, s2 = math.cos(rot1), math.sin(rot1), math.cos(rot2), math.sin(rot2)
    c3, s3 = math.cos(rot3), math.sin(rot3)
    t1 = a * c2 * c3 + b * (c3 * s1 * s2 - c1 * s3) - dist * (c1 * c3 * s2 + s1 * s3)
    t2 = a * c2 * s3 + b * (c1 * c3 + s1 * s2 * s3) - dist * (-c3 * s1 + c1 * s2 * s3)
    t3 = a * s2 - b * c2 * s1 + dist * c1 * c2
    return np.arctan2(np.hypot(t1, t2), t3)


def ring_tth(dspacing_a, wavelength_m):
    """2theta (rad) of d-spacings (A) at a wavelength (m); NaN when unreachable."""
    s = wavelength_m * 1e10 / (2 * np.asarray(dspacing_a, float))
    return np.where(s < 1, 2 * np.arcsin(np.minimum(s, 1)), np.nan)


@dataclasses.dataclass
class ControlPoints:
    """Ring control points: positions (index coordinates), ring index, measured 2theta.

    Attributes
    ----------
    row, col : ndarray
        Centroid position (pixel index units; pixel ``i`` is centred at ``i``).
    ring : ndarray int
        Index into the calibrant's d-spacing list.
    tth : ndarray
        2theta (rad) of the centroid in the geometry used for the extraction.
    snr : ndarray
        Peak height over its noise in the sector profile.
    fwhm : ndarray
        Peak full width at half maximum in the sector profile (rad, coarse).
    """

    row: np.ndarray
    col: np.ndarray
    ring: np.ndarray
    tth: np.ndarray
    snr: np.ndarray
    fwhm: np.ndarray
    #: ring index -> number of azimuthal sectors with a usable profile (where a point
    #: could have been found), for the completeness check
    sectors: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return int(self.row.size)


class PixelAngles:
    """2theta and chi (rad) of a detector's usable pixels, for changing PONI geometries.

    The pixel positions on the detector (m) are computed once; each call only rotates
    them (pyFAI's ``_geometry.calc_pos_zyx``, with the detector's orientation) and takes
    the angles with pyFAI's formulas: ``2theta = atan2(sqrt(x^2 + y^2), z)`` and
    ``chi = atan2(y, x)``, the values of ``center_array(unit="2th_rad"/"chi_rad")`` at
    those pixels without building the full-frame position arrays each time.

    Parameters
    ----------
    detector : pyFAI Detector
        The (binned) detector of the image.
    valid : 2D bool array
        Usable pixels (the image's shape).

    Attributes
    ----------
    flat : ndarray int64
        Flat indices of the usable pixels (``np.flatnonzero(valid)``).
    rows, cols : ndarray
        Their index coordinates.

    Examples
    --------
    >>> import dataclasses
    >>> import numpy as np
    >>> from gixs.calibrate.core import detector_geometry
    >>> geo = dataclasses.replace(detector_geometry(pixel_size_um=100, shape=(50, 60)),
    ...                           dist_m=0.1, poni1_m=2e-3, poni2_m=3e-3)
    >>> pix = PixelAngles(geo.make_detector(), np.ones((50, 60), bool))
    >>> tth, yx = pix(np.array([0.1, 2e-3, 3e-3, 0, 0, 0]))
    >>> ai = geo.make_integrator()
    >>> ref = ai.center_array((50, 60), unit="2th_rad", scale=False).ravel()
    >>> bool(np.allclose(tth, ref, rtol=0, atol=1e-15))
    True
    >>> ref = ai.center_array((50, 60), unit="chi_rad", scale=False).ravel()
    >>> bool(np.allclose(pix.chi(yx), ref, rtol=0, atol=1e-15))
    True
    """

    def __init__(self, detector, valid):
        valid = np.asarray(valid, bool)
        self.shape = valid.shape
        self.flat = np.flatnonzero(valid)
        self.rows, self.cols = np.divmod(self.flat, valid.shape[1])
        self._pos = detector.calc_cartesian_positions(self.rows, self.cols)
        self._orientation = detector.orientation

    def subset(self, index):
        """The same detector restricted to the usable pixels ``index`` (ascending
        positions into :attr:`flat`): calls give those pixels' values, in order."""
        out = object.__new__(PixelAngles)
        out.shape, out._orientation = self.shape, self._orientation
        out.flat, out.rows, out.cols = self.flat[index], self.rows[index], self.cols[index]
        out._pos = tuple(None if p is None else np.asarray(p)[index] for p in self._pos)
        return out

    def __call__(self, params):
        """2theta (rad) at the usable pixels for PONI ``params`` (dist, poni1, poni2,
        rot1, rot2, rot3: m, rad), and their lab coordinates ``(y, x)`` (m): chi is
        ``atan2(y, x)`` (see :meth:`chi`)."""
        from pyFAI.ext import _geometry

        p1, p2, p3 = self._pos
        z, y, x = _geometry.calc_pos_zyx(*(float(v) for v in params[:6]), p1, p2, p3,
                                         orientation=self._orientation)
        r = x * x
        r += y * y
        np.sqrt(r, out=r)
        return np.arctan2(r, z, out=r), (y, x)

    @staticmethod
    def chi(yx, index=slice(None)):
        """chi (rad, pyFAI's: ``atan2(y, x)``) of the pixels ``index`` of a call's
        ``(y, x)``."""
        return np.arctan2(yx[0][index], yx[1][index])


def tth_shift_bound(params_a, params_b, pos3=None):
    """Largest possible change (rad) of any pixel's 2theta between two PONI geometries.

    A pixel's lab vector is ``R (p1 - poni1, p2 - poni2, dist + p3)``: changing the
    translation by ``e`` (m) turns it by at most ``asin(e / |v|)`` with ``|v| >= dist -
    max|p3|``, and changing the rotations by at most ``|d rot1| + |d rot2| + |d rot3|``;
    2theta (the angle to the beam) moves by no more than the vector turns. Returns inf
    when the bound does not hold (translation change not small against the distance).

    Examples
    --------
    >>> p = np.array([0.1, 0.01, 0.02, 0.0, 0.0, 0.0])
    >>> q = p + np.array([1e-4, 0, 0, 1e-3, 0, 0])
    >>> round(tth_shift_bound(p, q), 6)
    0.002
    """
    d = np.abs(np.asarray(params_b[:6], float) - np.asarray(params_a[:6], float))
    e = math.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
    near = min(params_a[0], params_b[0]) - (0.0 if pos3 is None else float(np.max(np.abs(pos3))))
    if near <= 0 or e >= 0.5 * near:
        return math.inf
    return float(d[3] + d[4] + d[5] + math.asin(e / near))


def extract(*args, **kwargs):
    """Control points of the given rings (see :func:`_extract` for the parameters)."""
    import warnings

    with warnings.catch_warnings():  # empty sectors give NaN means, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        return _extract(*args, **kwargs)


def _extract(image, pixels, tth, yx, rings, windows, radius_px, counts=True,
            arc_px=12.0, nbins=20, min_snr=5.0, pixel_tth=None):
    """Control points of the given rings.

    Parameters
    ----------
    image : 2D array
        Counts.
    pixels : PixelAngles
        The usable pixels (their flat indices and index coordinates).
    tth, yx : 1D array, pair of 1D arrays
        2theta (rad) and lab coordinates (m) of the usable pixels in the current
        geometry: what ``pixels`` called with the geometry's parameters returns.
    rings : sequence of (ring_index, tth_expected)
        Calibrant rings to look for.
    windows : sequence of float
        Half-width (rad) of the 2theta window of each ring (non-overlapping).
    radius_px : sequence of float
        Approximate ring radius (pixels), for the number of sectors.
    counts : bool
        Poisson noise model (counting detector); otherwise noise from the profile scatter.
    pixel_tth : float
        2theta extent of one pixel (rad), the smallest centroid half-window.
    """
    empty = ControlPoints(*(np.zeros(0) for _ in range(6)))
    if not len(rings):
        return empty
    centre = np.array([t for _, t in rings])
    hw = np.asarray(windows, float)
    order = np.argsort(centre)
    centre, hw = centre[order], hw[order]
    ring_ids = np.array([rings[i][0] for i in order])
    radius_px = np.asarray(radius_px, float)[order]
    edges = np.empty(2 * centre.size)
    edges[0::2], edges[1::2] = centre - hw, centre + hw
    if np.any(np.diff(edges) < 0):
        raise ValueError("ring windows overlap")
    pos = np.searchsorted(edges, tth, side="right")
    inside = np.flatnonzero((pos % 2) == 1)
    t, k = tth[inside], pos[inside] // 2
    flat = pixels.flat[inside]
    inten = image.ravel()[flat].astype(np.float64)
    chi = pixels.chi(yx, inside)
    nsec = np.clip(np.rint(2 * np.pi * radius_px / arc_px), 24, 720).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(nsec)])
    sec = np.floor((chi + np.pi) / (2 * np.pi) * nsec[k]).astype(np.int64) % nsec[k]
    group = offset[k] + sec
    ngroup = int(offset[-1])
    dt = t - centre[k]
    # per ring: bins of at least ~1 pixel in 2theta, between 8 and ``nbins``
    pix = pixel_tth if pixel_tth else (2 * hw / nbins)
    nb_k = np.clip(np.rint(2 * hw / (pix * np.cos(np.minimum(centre, 1.5)) ** 2)),
                   8, nbins).astype(np.int64)
    b = np.clip(((dt + hw[k]) / (2 * hw[k]) * nb_k[k]).astype(np.int64), 0, nb_k[k] - 1)
    key = group * nbins + b
    cnt = np.bincount(key, minlength=ngroup * nbins).reshape(ngroup, nbins)
    tot = np.bincount(key, inten, minlength=ngroup * nbins).reshape(ngroup, nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = np.where(cnt > 0, tot / cnt, np.nan)
    nb_g = np.repeat(nb_k, nsec)
    filled = (cnt > 0).sum(axis=1) >= 0.75 * nb_g
    prof[~filled] = np.nan
    good_rows = np.flatnonzero(filled)
    nb_good = nb_g[good_rows]
    if good_rows.size == 0:
        return empty
    p = prof[good_rows]
    # linear background through the window ends (mid-gap between rings): a steep diffuse
    # background (near the beam) would otherwise pull the centroids inwards
    nbins_all = np.arange(nbins)
    last = nb_good[:, None]
    left = np.nanmean(np.where(nbins_all < 2, p, np.nan), axis=1)
    right = np.nanmean(np.where((nbins_all >= last - 2) & (nbins_all < last), p, np.nan), axis=1)
    frac = (nbins_all[None, :] + 0.5) / last
    bgline = left[:, None] + (right - left)[:, None] * frac
    bg = np.nanmin(np.stack([left, right]), axis=0)
    exc = p - bgline
    pk = np.nanargmax(np.where(np.isnan(exc), -np.inf, exc), axis=1)
    emax = exc[np.arange(pk.size), pk]
    if counts:
        npk = np.maximum(cnt[good_rows, pk], 1)
        noise = np.sqrt(np.maximum(bg, 1.0) / npk)
    else:
        low = np.where(exc <= np.nanmedian(exc, axis=1)[:, None], exc, np.nan)
        noise = np.sqrt(np.nanmean(low ** 2, axis=1)) + 1e-30
    snr = emax / noise
    half = np.where(np.isnan(exc), 0, exc) > emax[:, None] / 2
    fwhm_bins = half.sum(axis=1)
    ok = (snr >= min_snr) & (pk >= 1) & (pk <= nb_good - 2) & (emax > 0)
    gid = good_rows[ok]
    if gid.size == 0:
        return empty
    g_ring = np.repeat(np.arange(centre.size), nsec)[gid]
    bw = 2 * hw[g_ring] / nb_k[g_ring]
    tc = np.full(ngroup, np.nan)
    tc[gid] = centre[g_ring] - hw[g_ring] + (pk[ok] + 0.5) * bw
    hwin = np.full(ngroup, np.nan)
    hwin[gid] = np.maximum(np.maximum(fwhm_bins[ok] * bw, 1.5 * bw), pixel_tth or 0.0)
    bgg = np.full(ngroup, np.nan)  # background at the ring centre and its slope per rad
    bgs = np.full(ngroup, np.nan)
    bgg[gid] = 0.5 * (left + right)[ok]
    bgs[gid] = ((right - left)[ok] / (2 * hw[g_ring]))
    rows, cols = pixels.rows[inside], pixels.cols[inside]
    # the centroid windows below move by at most hwin per pass (3 passes), so only
    # pixels within 3 hwin of the peak can ever be selected: drop the others now
    with np.errstate(invalid="ignore"):
        use = np.abs(t - tc[group]) < 3.5 * hwin[group]
    dt = dt[use]
    group, t, inten, rows, cols = group[use], t[use], inten[use], rows[use], cols[use]
    for _ in range(3):  # re-centre the centroid window on the centroid
        sel = np.abs(t - tc[group]) < hwin[group]
        g = group[sel]
        w = inten[sel] - bgg[g] - bgs[g] * dt[sel]
        wsum = np.bincount(g, w, minlength=ngroup)
        with np.errstate(invalid="ignore", divide="ignore"):
            new = np.bincount(g, w * t[sel], minlength=ngroup) / wsum
        bad = ~(wsum > 0) | (np.abs(new - tc) > hwin)
        tc = np.where(bad, np.nan, new)
    ry = np.bincount(g, w * rows[sel], minlength=ngroup) / np.where(wsum > 0, wsum, np.nan)
    rx = np.bincount(g, w * cols[sel], minlength=ngroup) / np.where(wsum > 0, wsum, np.nan)
    fin = np.flatnonzero(np.isfinite(tc) & np.isfinite(ry) & np.isfinite(rx))
    snr_all = np.full(ngroup, np.nan)
    snr_all[gid] = snr[ok]
    fwhm_all = np.full(ngroup, np.nan)
    fwhm_all[gid] = fwhm_bins[ok] * bw
    ring_of = np.repeat(ring_ids, nsec)
    usable = np.bincount(np.repeat(np.arange(centre.size), nsec)[good_rows],
                         minlength=centre.size)
    sectors = {int(r): int(n) for r, n in zip(ring_ids, usable)}
    return ControlPoints(ry[fin], rx[fin], ring_of[fin].astype(np.int64), tc[fin],
                         snr_all[fin], fwhm_all[fin], sectors)


@dataclasses.dataclass
class Fit:
    """Least-squares result: full parameter vector, standard errors, residuals (rad)."""

    params: np.ndarray
    stderr: np.ndarray
    free: tuple
    residuals: np.ndarray
    inliers: np.ndarray


def refine(cp: ControlPoints, detector, dspacing_a, start, free, robust_scale,
           tilt_sigma=0.05):
    """Refine PONI parameters on control points (robust, then plain least squares).

    Parameters
    ----------
    start : array of 7
        dist, poni1, poni2, rot1, rot2, rot3 (m, rad) and wavelength (m).
    free : tuple of names from :data:`PARAMS`
    robust_scale : float
        Residual (rad) beyond which points are down-weighted (soft-L1) in the first pass.
    tilt_sigma : float
        Width (rad) of a weak prior pulling rot1/rot2 towards 0: one extra residual each,
        ``rot / tilt_sigma`` times ``robust_scale / 2``. It only matters when the rings
        cannot tell a tilt from a PONI shift (all rings at small 2theta, e.g. AgBh).
    """
    p1, p2, p3 = detector.calc_cartesian_positions(cp.row, cp.col)
    d = np.asarray(dspacing_a, float)[cp.ring]
    idx = [PARAMS.index(n) for n in free]
    scale = _SCALE[idx]

    def full(x):
        par = np.array(start, float)
        par[idx] = x * scale
        return par

    tilt_idx = [i for i in (3, 4) if i in idx]

    def resid(x, keep, prior=True):
        par = full(x)
        model = tth_model(par, p1[keep], p2[keep], None if p3 is None else p3[keep])
        expected = 2 * np.arcsin(np.clip(par[6] * 1e10 / (2 * d[keep]), -1, 1))
        if not prior or not tilt_idx:
            return model - expected
        pri = par[tilt_idx] / tilt_sigma * (robust_scale / 2)
        return np.concatenate([model - expected, pri])

    x0 = np.asarray(start, float)[idx] / scale
    keep = np.ones(len(cp), bool)
    sol = least_squares(resid, x0, args=(keep,), loss="soft_l1", f_scale=robust_scale,
                        x_scale="jac", method="trf")
    r = resid(sol.x, np.ones(len(cp), bool), False)
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    keep = np.abs(r) < max(5 * mad, 0.5 * robust_scale)
    # whole rings off the common solution (another phase's peak, wrong assignment)
    for ring in np.unique(cp.ring):
        m = cp.ring == ring
        if abs(np.median(r[m])) > max(3 * mad, 0.25 * robust_scale):
            keep &= ~m
    if keep.sum() <= len(idx) + 2:
        keep = np.ones(len(cp), bool)
    sol = least_squares(resid, sol.x, args=(keep,), x_scale="jac", method="trf")
    jac = sol.jac
    dof = max(int(keep.sum()) + len(tilt_idx) - len(idx), 1)
    s2 = float(np.dot(sol.fun, sol.fun)) / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
        err = np.sqrt(np.clip(np.diag(cov), 0, None)) * scale
    except np.linalg.LinAlgError:
        err = np.full(len(idx), np.nan)
    stderr = np.full(7, np.nan)
    stderr[idx] = err
    r = resid(sol.x, np.ones(len(cp), bool), False)
    return Fit(full(sol.x), stderr, tuple(free), r, keep)


def pixel_gradient(params, detector, row, col):
    """|d(2theta)/d(pixel)| (rad per pixel) at positions, for residuals in pixels."""
    out = []
    for dr, dc in ((0.5, 0.0), (0.0, 0.5)):
        a = detector.calc_cartesian_positions(row + dr, col + dc)
        b = detector.calc_cartesian_positions(row - dr, col - dc)
        out.append(tth_model(params, a[0], a[1], a[2]) - tth_model(params, b[0], b[1], b[2]))
    return np.hypot(*out)
