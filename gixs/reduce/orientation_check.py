"""Is the sample normal where the settings say? The below-horizon test, and ``auto``.

A film scatters only above the sample horizon (exit angle a_f >= 0): below it the
substrate shadows the detector. So with the right sample orientation code most counts
(corrected for solid angle and polarization, background included) lie above the
horizon; with a wrong code the horizon line cuts the frame elsewhere and a large share
of the counts falls "below" it.

* :func:`check_orientation` gives the share of counts below the horizon and warns
  (:class:`gixs.errors.GixsWarning`) when it exceeds 70%.
* :func:`detect_orientation` tries the four directions the normal can point to on the
  image (EXIF codes 1: towards increasing row, 4: towards row 0, 7: towards increasing
  column, 5: towards column 0; the mirror codes 2, 3, 6, 8 differ only in the sign of
  q_xy, which one frame of a fibre-symmetric film cannot tell) and picks the one with
  the fewest counts below the horizon. It refuses (:class:`gixs.errors.GeometryError`)
  unless that share is below 30% and at least 25 percentage points below every other
  direction's, since then the frame does not say where the normal points.

Only pixels valid in the frame and the mask count; incidence 0 (transmission) has no
horizon and is not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import numpy as np
from numba import njit

from gixs.reduce.binning import pairwise_sum
from gixs.reduce.engine.cache import CACHE

from gixs.errors import GeometryError, GixsWarning

#: The normal direction of each code tried by :func:`detect_orientation`.
NORMAL_DIRECTIONS = {1: "towards increasing row index", 4: "towards row 0",
                     7: "towards increasing column index", 5: "towards column 0"}
WARN_FRACTION = 0.7


@functools.lru_cache(maxsize=2)
def _pixels(geometry, shape):
    """Unit vectors to the pixel centres (3, n), solid angle x polarization, detector mask."""
    geom = geometry.for_image_shape(shape)
    pos = geom.lab_positions(shape)
    norm = geom.solid_angle(shape) * geom.polarization(CHECK_POLARIZATION, positions=pos)
    norm = norm.astype(np.float32).ravel()
    # float32 unit vectors: the test is a sign (which side of the horizon) and a share
    # of counts; kept per geometry, so half the memory of float64 matters (4 Mpx: 48 MB)
    z, y, x = pos
    r = np.sqrt(x * x + y * y + z * z)
    u = np.empty((3, r.size), np.float32)
    for k, c in enumerate((x, y, z)):
        np.divide(c, r, out=c)
        u[k] = c.ravel()
    del pos, z, y, x, r
    # a named detector's gaps come from pyFAI; a generic detector has none
    det_mask = None if geom.generic_detector() is not None else geom.make_detector().mask
    ok = np.ones(int(np.prod(shape)), bool)
    if det_mask is not None and tuple(det_mask.shape) == tuple(shape):
        ok &= det_mask.ravel() == 0
    return u, norm, ok


@njit(cache=CACHE, nogil=True, boundscheck=False, error_model="numpy")
def _nb_weights(d, norm, ok, mask, invalid, idx, lo, out):
    """out[k] = weight of pixel idx[lo + k] (pixel lo + k when idx is empty): counts >= 0
    / norm where ok, finite and not masked or invalid, else 0 (the numpy expression,
    element by element); ``norm`` is rounded to float32 as it is read (a plan's float64
    norm gives the check's float32 one without a float32 copy of it)."""
    use_m, use_i, use_idx = mask.size == d.size, invalid.size == d.size, idx.size > 0
    for k in range(out.size):
        i = idx[lo + k] if use_idx else lo + k
        v = np.float64(d[i])
        good = ok[i] and np.isfinite(v)
        if use_m and mask[i]:
            good = False
        if use_i and invalid[i]:
            good = False
        out[k] = (v if v > 0 else 0.0) / np.float64(np.float32(norm[i])) if good else 0.0


#: Weights summed a run at a time (float64 scratch of this many values).
_RUN = 1 << 16


def _weight_sums(data, norm, ok, mask, invalid, below):
    """Sums of the weights (counts, negative as 0, / solid angle x polarization; 0 where
    not valid) over every pixel and over each index array of ``below``: to the bit the
    sums numpy gives of the weights array and of its ``below`` pixels, without the array
    (numpy's pairwise halving down to runs of <= :data:`_RUN` values, each made and
    summed by :func:`gixs.reduce.binning.pairwise_sum`)."""
    d = np.ascontiguousarray(data).ravel()
    none = np.zeros(0, np.bool_)
    m = none if mask is None else np.ascontiguousarray(mask, np.bool_).ravel()
    inv = none if invalid is None else np.ascontiguousarray(invalid, np.bool_).ravel()
    norm = np.ascontiguousarray(norm)  # float32 (_pixels) or a plan's float64
    buf = np.empty(min(_RUN, d.size))

    def total(idx, lo, n):
        if n > _RUN:
            h = n // 2
            h -= h % 8
            return total(idx, lo, h) + total(idx, lo + h, n - h)
        _nb_weights(d, norm, ok, m, inv, idx, lo, buf[:n])
        return pairwise_sum(buf, 0, n, False)

    return 0.0 + total(np.zeros(0, np.int32), 0, d.size), [
        0.0 + total(idx, 0, idx.size) for idx in below]


@functools.lru_cache(maxsize=8)
def _below_pixels(geometry, shape, gi):
    """Pixels (flat indices, increasing) below the horizon of ``gi`` (exit angle < 0)."""
    from gixs.geometry.gi import sample_axes

    u = _pixels(geometry, shape)[0]
    _, _, n = sample_axes(gi)
    return np.flatnonzero((n @ u) < 0).astype(np.int32)


#: The corrections the check divides the counts by (solid angle on, this polarization).
CHECK_POLARIZATION = 0.99


def _plan_pixels(plan, geometry, shape, gi):
    """(norm, ok, below-horizon pixels) of the check from a reduction plan whose weights
    are the check's own (solid angle x polarization 0.99, the defaults) and whose sample
    orientation is ``gi``'s, else None. The same numbers as :func:`_pixels` (the plan's
    float64 norm is the same product, rounded to float32 as the sums read it) and
    :func:`_below_pixels` (exit angle < 0; a pixel within ~1e-7 rad of the horizon may
    fall on the other side of it), read from the plan instead of recomputed from the
    geometry (4 Mpx: 0.25 s and ~70 MB saved), without copies of its arrays. The plan's
    valid pixels already exclude its mask."""
    s = plan.settings
    if (plan.shape != tuple(shape) or not s.solid_angle
            or s.polarization_factor != CHECK_POLARIZATION or plan.gi != gi
            or plan.geometry != geometry.for_image_shape(shape)):
        return None
    return (plan.norm.ravel(), plan.static_valid.ravel(),
            np.flatnonzero(plan.below_horizon.ravel()))


def _share(total, below):
    return float(below) / float(total) if float(total) > 0 else float("nan")


def clear_cache() -> None:
    """Forget the per-geometry pixel arrays the checks keep (unit vectors, solid angle x
    polarization, below-horizon pixels: ~70 MB for a 4 Mpx detector), e.g. once a
    one-frame reduction has checked its frame and needs the memory for its plan."""
    _pixels.cache_clear()
    _below_pixels.cache_clear()


def below_horizon_fraction(data, geometry, gi, *, mask=None, invalid=None, plan=None):
    """Share (0-1) of the frame's counts at exit angle < 0 for ``gi``'s orientation.

    Counts are divided by solid angle x polarization (0.99) so that distance effects
    do not weigh; NaN when the frame has no positive count. ``plan``: the reduction plan
    (:func:`gixs.reduce.frame.get_plan`) of this geometry and frame shape, whose arrays
    are used when its corrections are these (see :func:`_plan_pixels`).
    """
    shape = tuple(np.shape(data))
    got = None if plan is None else _plan_pixels(plan, geometry, shape, gi)
    if got is None:
        _, norm, ok = _pixels(geometry, shape)
        below = _below_pixels(geometry, shape, gi)
    else:
        norm, ok, below = got
    total, (below,) = _weight_sums(data, norm, ok, mask, invalid, [below])
    return _share(total, below)


def check_orientation(data, geometry, gi, *, mask=None, invalid=None, warn=True,
                      source="", plan=None):
    """Below-horizon test of the sample orientation; a dict (and a warning when wrong).

    Returns ``{"below_horizon_fraction", "ok", "message", "orientation"}``; ``ok`` is
    None at incidence 0 (nothing to check). Warns when over 70% of the counts lie below
    the horizon. ``plan``: the frame's reduction plan, if the caller has it (its pixel
    arrays are then read, not recomputed; see :func:`below_horizon_fraction`).

    Examples
    --------
    >>> import numpy as np
    >>> from gixs.geometry.model import DetectorGeometry, GIGeometry
    >>> g = DetectorGeometry(dist_m=2.0, poni1_m=0.005, poni2_m=0.04, rot1=0, rot2=0,
    ...                      rot3=0, wavelength_m=1e-10, detector="Pilatus300k")
    >>> img = np.ones((619, 487), np.float32)
    >>> check_orientation(img, g, GIGeometry.from_degrees(0.3))["ok"]
    True
    """
    if gi.incidence <= 0:
        return {"below_horizon_fraction": None, "ok": None, "orientation": gi.orientation,
                "message": "incidence 0: no horizon, orientation not checked"}
    f = below_horizon_fraction(data, geometry, gi, mask=mask, invalid=invalid, plan=plan)
    ok = not (f > WARN_FRACTION)
    msg = (f"{100 * f:.0f}% of the counts lie below the sample horizon for sample "
           f"orientation {gi.orientation}")
    if not ok:
        msg += (f": is the orientation code right? ({', '.join(f'{c}: normal {d}' for c, d in NORMAL_DIRECTIONS.items())}; "
                "'auto' finds it from the frame)")
        if warn:
            warnings.warn((f"{source}: " if source else "") + msg, GixsWarning, stacklevel=2)
    return {"below_horizon_fraction": f, "ok": ok, "orientation": gi.orientation,
            "message": msg}


def detect_orientation(data, geometry, gi, *, mask=None, invalid=None, source=""):
    """The sample orientation code the frame supports (see module docstring).

    Parameters
    ----------
    data : ndarray
        The frame (counts).
    geometry : DetectorGeometry
    gi : GIGeometry
        Incidence (> 0), tilt and critical angle; its orientation is ignored.

    Returns
    -------
    (int, dict)
        The code and the evidence: below-horizon share of every direction tried and why.

    Raises
    ------
    GeometryError
        Incidence 0, or the frame does not single out one direction.
    """
    where = f"{source}: " if source else ""
    if gi.incidence <= 0:
        raise GeometryError(f"{where}sample orientation 'auto' needs an incidence angle > 0 "
                            "(the horizon tells where the normal points)")
    shape = tuple(np.shape(data))
    _, norm, ok = _pixels(geometry, shape)
    total, below = _weight_sums(data, norm, ok, mask, invalid, [
        _below_pixels(geometry, shape, dataclasses.replace(gi, orientation=code))
        for code in NORMAL_DIRECTIONS])
    shares = {code: _share(total, b) for code, b in zip(NORMAL_DIRECTIONS, below)}
    if not all(math.isfinite(v) for v in shares.values()):
        raise GeometryError(f"{where}sample orientation 'auto': the frame has no counts")
    order = sorted(shares, key=shares.get)
    best, second = order[0], order[1]
    evidence = {"below_horizon_fraction": {str(c): shares[c] for c in order},
                "directions": {str(c): NORMAL_DIRECTIONS[c] for c in order}}
    if not (shares[best] < 0.3 and shares[second] - shares[best] >= 0.25):
        raise GeometryError(
            f"{where}sample orientation 'auto': the frame does not tell where the normal "
            "points (share of counts below the horizon: " +
            ", ".join(f"code {c} {100 * shares[c]:.0f}%" for c in order) +
            "; need one below 30% and 25 points below the others); give the code")
    evidence["chosen"] = best
    evidence["why"] = (f"code {best} (normal {NORMAL_DIRECTIONS[best]}) leaves "
                       f"{100 * shares[best]:.0f}% of the counts below the horizon, the next "
                       f"best (code {second}) {100 * shares[second]:.0f}%")
    return best, evidence
