"""Automatic detector calibration from a powder image of a standard (LaB6, CeO2, AgBh...).

No clicking: the beam centre and a first distance come from the image itself
(:mod:`gixs.calibrate.search`), then control points on the calibrant rings are
extracted and the PONI geometry refined by least squares, a few rounds with narrower
windows and more rings each time (:mod:`gixs.calibrate.rings`). The result says how
good it is (residuals per ring, in 2theta and in pixels; standard errors from the
least-squares Jacobian) and raises :class:`CalibrationError` rather than return a
geometry it cannot support.

Known setups: the geometries gixs derived for real setups are stored as PONI files in
the package's ``gixs/calibrations/`` folder; :func:`known_geometry` loads them by
name. A source checkout or editable install reads that folder; a regular install ships
a copy as ``gixs/calibrations``; ``GIXS_CALIBRATIONS`` names another folder.

Units: lengths in the geometry are metres and angles radians (pyFAI's PONI); the report
gives degrees, millimetres and pixels where its keys say so.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import time
import warnings

import numpy as np

from gixs.calibrate import rings as rings_mod
from gixs.calibrate import search
from gixs.errors import CalibrationError, GeometryError, GixsWarning
from gixs.geometry.model import DetectorGeometry, detector_fields, load_poni, write_poni
from gixs.units import HC_KEV_A

#: Residual RMS (pixels) above which a GixsWarning says the fit is poor.
WARN_RMS_PX = 1.0
MIN_RINGS = 3


@dataclasses.dataclass(frozen=True)
class CalibrationResult:
    """Refined geometry and its quality report.

    Attributes
    ----------
    geometry : DetectorGeometry
        Refined PONI geometry (SI units), for the image's (binned) detector.
    report : dict
        JSON-ready quality report (see :func:`calibrate`); ``report["units"]`` names units.
    control_points : calibrate_rings.ControlPoints
        Points used in the last refinement (``inlier`` marks those kept).
    residual_deg, residual_px : ndarray
        Per control point 2theta residual (deg) and the same in pixels.

    Examples
    --------
    :func:`calibrate` makes one; its PONI and report are written with
    :meth:`write_poni` and :meth:`to_json`:

    >>> import tempfile, pathlib
    >>> res = CalibrationResult(known_geometry("cms_lab6_jun23"), {"calibrant": "LaB6"})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "cms.poni"
    >>> res.write_poni(out, comment="stored CMS geometry")
    >>> load_poni(out) == res.geometry
    True
    """

    geometry: DetectorGeometry
    report: dict
    control_points: object = None
    residual_deg: np.ndarray = None
    residual_px: np.ndarray = None
    inlier: np.ndarray = None
    image: np.ndarray = dataclasses.field(default=None, repr=False)
    mask: np.ndarray = dataclasses.field(default=None, repr=False)

    def resolution_model(self, **kwargs):
        """Instrument resolution (:class:`gixs.calibrate.resolution.ResolutionModel`)
        from this calibrant frame's ring widths and the refined geometry."""
        from gixs.calibrate.resolution import resolution_from_image

        return resolution_from_image(self.image, self.geometry, self.report["calibrant"],
                                     mask=self.mask, **kwargs)

    def to_json(self, path) -> None:
        """Write the report as JSON, atomically."""
        from gixs.io.jsonout import write_json

        write_json(path, self.report, schema="gixs.calibration")

    def write_poni(self, path, comment=None) -> None:
        """Write the geometry as a pyFAI PONI file (atomic), with a provenance comment."""
        r = self.report
        note = comment or (
            f"gixs calibrate: {r['calibrant']} on {r['source']}, {r['n_rings']} rings, "
            f"{r['n_control_points']} points, residual RMS {r['residual_rms_deg']:.4f} deg "
            f"= {r['residual_rms_px']:.2f} px")
        write_poni(self.geometry, path, comment=note)


# -- inputs ------------------------------------------------------------------------
def detector_geometry(detector=None, *, pixel_size_um=None, shape=None, source="image"):
    """A start :class:`DetectorGeometry` (placeholder PONI) for a detector and image shape.

    ``detector`` is a pyFAI detector name ("Pilatus1M", "Rayonix SX165", "Eiger2 4M"...),
    a pyFAI Detector, or None with ``pixel_size_um`` = size or (size along rows, columns)
    in micrometres. An image that is an integer fraction of the detector's shape is
    taken as binned.

    Examples
    --------
    >>> geo = detector_geometry(pixel_size_um=75, shape=(1000, 1200))
    >>> geo.make_detector().pixel1
    7.5e-05
    >>> detector_geometry("NoSuchDetector")
    Traceback (most recent call last):
    ...
    ValueError: detector: 'NoSuchDetector' is not a pyFAI detector name (e.g. 'Pilatus1M', 'Rayonix SX165', 'Eiger2 4M'; see pyFAI.detectors.ALL_DETECTORS)
    """
    import pyFAI.detectors

    from gixs.io.decode import library_logs

    if detector is None and pixel_size_um is None:
        raise ValueError("detector: give a pyFAI detector name (e.g. 'Pilatus1M') or a "
                         "pixel size in um")
    if detector is not None and not isinstance(detector, str):
        geo = DetectorGeometry(1.0, 0, 0, 0, 0, 0, 1e-10, *detector_fields(detector))
    elif detector is not None:
        try:
            with library_logs("pyFAI", "detector"):
                det = pyFAI.detectors.detector_factory(detector)
        except Exception:
            raise ValueError(f"detector: {detector!r} is not a pyFAI detector name "
                             "(e.g. 'Pilatus1M', 'Rayonix SX165', 'Eiger2 4M'; see "
                             "pyFAI.detectors.ALL_DETECTORS)") from None
        geo = DetectorGeometry(1.0, 0, 0, 0, 0, 0, 1e-10, *detector_fields(det))
    else:
        size = np.atleast_1d(np.asarray(pixel_size_um, float))
        if size.size == 1:
            size = np.repeat(size, 2)
        if size.size != 2 or not np.all(size > 0):
            raise ValueError(f"pixel_size_um must be one or two positive sizes in um, got "
                             f"{pixel_size_um!r}")
        cfg = {"pixel1": size[0] * 1e-6, "pixel2": size[1] * 1e-6}
        if shape is not None:
            cfg["max_shape"] = [int(s) for s in shape]
        geo = DetectorGeometry(1.0, 0, 0, 0, 0, 0, 1e-10, "Detector",
                               json.dumps(cfg, sort_keys=True))
    return geo.for_image_shape(shape, source=source) if shape is not None else geo


def _wavelength_m(wavelength_a, energy_kev):
    if (wavelength_a is None) == (energy_kev is None):
        raise ValueError("give exactly one of wavelength_a (A) and energy_kev (keV)")
    lam = float(wavelength_a) if wavelength_a is not None else HC_KEV_A / float(energy_kev)
    if not (0.05 < lam < 20):
        raise ValueError(f"wavelength {lam:g} A is outside 0.05-20 A: check the energy/"
                         "wavelength argument")
    return lam * 1e-10


@functools.lru_cache(maxsize=16)
def _calibrant_dspacing(name):
    """d-spacings (A) of a pyFAI calibrant, read once per process (read-only array)."""
    from pyFAI.calibrant import get_calibrant, names

    try:
        cal = get_calibrant(name)
    except Exception:
        raise ValueError(f"calibrant: {name!r} is not a pyFAI calibrant; known: "
                         f"{', '.join(sorted(names()))}") from None
    d = np.array(cal.dspacing, float)
    d.setflags(write=False)
    return d


def _calibrant(name):
    return _calibrant_dspacing(str(name))


def _load(image, mask):
    from gixs.io.frames import read_frame, read_mask

    source = "array"
    invalid = None
    if isinstance(image, (str, os.PathLike)):
        image = read_frame(image)
    if hasattr(image, "invalid") and hasattr(image, "source"):  # a gixs.io.frames.Frame
        source = f"{image.source}" + (f" frame {image.index}" if image.index else "")
        image, invalid = image.data, image.invalid
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {image.shape}")
    image = image.astype(np.float64)
    bad = ~np.isfinite(image) | (image < 0)
    if invalid is not None:
        bad |= invalid
    if mask is not None:
        m = read_mask(mask, image.shape) if isinstance(mask, (str, os.PathLike)) else \
            np.asarray(mask, bool)
        if m.shape != image.shape:
            raise ValueError(f"mask has shape {m.shape}, expected {image.shape} like the image")
        bad |= m
    return np.where(bad, 0.0, image), bad, source


# -- the calibration ---------------------------------------------------------------
def calibrate(image, *, calibrant="LaB6", wavelength_a=None, energy_kev=None, detector=None,
              distance_mm=None, mask=None, refine_wavelength=False, pixel_size_um=None,
              max_rings=None, refine_rot3=False) -> CalibrationResult:
    """Calibrate the detector geometry from a powder image of a standard.

    Parameters
    ----------
    image : 2D array, path or gixs.io.frames.Frame
        Calibrant frame (counts). Negative/NaN pixels are masked (Pilatus gaps).
    calibrant : str
        pyFAI calibrant name ("LaB6", "CeO2", "AgBh", "Si", ...).
    wavelength_a, energy_kev : float
        One of them: X-ray wavelength (A) or photon energy (keV).
    detector : str or pyFAI Detector
        pyFAI detector name; its mask (gaps) is applied; binning inferred from the shape.
    distance_mm : float, optional
        Rough sample-detector distance (mm); 10-20% off is fine, None searches all.
    mask : 2D bool array or path, optional
        True / nonzero = bad pixel (beamstop, dead pixels).
    refine_wavelength : bool
        Refine the wavelength too (needs rings to high angle; correlated with distance).
    pixel_size_um : float or (float, float), optional
        Instead of ``detector``: pixel size (um) of a generic detector of the image's shape.
    max_rings : int, optional
        Use at most this many (innermost) rings.
    refine_rot3 : bool
        Refine rot3 (rotation about the beam; it does not change 2theta, so it is fixed
        at 0 by default).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationError
        Fewer than 3 rings found, or no centre/distance explains the rings.

    Examples
    --------
    A simulated LaB6 frame (400 x 400 pixels of 172 um, 80 mm, 1 A) calibrated from a
    90 mm guess:

    >>> import dataclasses
    >>> from gixs.simulate import calibrant_image
    >>> start = detector_geometry(pixel_size_um=172, shape=(400, 400))
    >>> truth = dataclasses.replace(start, dist_m=0.080, poni1_m=0.030, poni2_m=0.036,
    ...                             wavelength_m=1.0e-10)
    >>> res = calibrate(calibrant_image(truth, "LaB6", rng=1), calibrant="LaB6",
    ...                 wavelength_a=1.0, pixel_size_um=172, distance_mm=90)
    >>> abs(res.geometry.dist_m - 0.080) < 1e-4, res.report["n_rings"] >= 3
    (True, True)
    """
    t_start = time.perf_counter()
    lam = _wavelength_m(wavelength_a, energy_kev)
    dspacing = _calibrant(calibrant)
    data, bad, source = _load(image, mask)
    geo0 = detector_geometry(detector, pixel_size_um=pixel_size_um, shape=data.shape,
                             source=source)
    det = geo0.make_detector()
    if det.mask is not None and det.mask.shape == data.shape:
        bad = bad | (det.mask != 0)
    valid = ~bad
    if valid.mean() < 0.05:
        raise CalibrationError(f"{source}: fewer than 5% of the pixels are usable (mask)")
    pixel = (float(det.pixel1), float(det.pixel2))
    tth_all = rings_mod.ring_tth(dspacing, lam)  # all rings for the search, even with
    # max_rings: fewer predicted rings would let D/2 (AgBh) explain the peaks as well
    guess = float(distance_mm) * 1e-3 if distance_mm else None
    if guess is not None and not 0.005 < guess < 100:
        raise ValueError(f"distance_mm must lie within 5-100000 mm, got {distance_mm!r}")

    # 1. beam centre and distance from the image
    t0 = time.perf_counter()
    binned = search.bin_image(data, bad)
    z, usable = search.contrast(binned)
    cands = search.find_beam_centre(binned, z=z, usable=usable)
    step = min(pixel) * binned.factor
    tried = []
    start = None
    for cy, cx, _ in cands:
        r, mz, n = search.radial_profile(binned, (cy, cx), pixel, z, usable)
        pr, ph, cov, _ = search.radial_peaks(r, mz, n)
        d, matched = search.match_distance(pr, ph, cov, r, np.nan_to_num(tth_all, nan=9.0),
                                           step, guess_m=guess)
        tried.append((binned.to_full((cy, cx)), d, len(matched)))
        if d is not None and len(matched) >= MIN_RINGS:
            start = (binned.to_full((cy, cx)), d, matched)
            break
    t_search = time.perf_counter() - t0
    if start is None:
        best = max(tried, key=lambda t: t[2]) if tried else (None, None, 0)
        raise CalibrationError(
            f"{source}: found {best[2]} {calibrant} rings, need at least {MIN_RINGS}; "
            "check energy and distance guess (and the calibrant name)")
    (cy, cx), dist, matched = start
    params = np.array([dist, (cy + 0.5) * pixel[0], (cx + 0.5) * pixel[1], 0, 0, 0, lam])

    # 2. control points + least squares, narrowing the windows
    t0 = time.perf_counter()
    free = ["dist", "poni1", "poni2", "rot1", "rot2"]
    if refine_rot3:
        free.append("rot3")
    counts = _is_counts(data, valid)
    uncert_px, rel = 3.0 * binned.factor, 0.02
    fit = cp = None
    fwhm = 0.0  # typical ring FWHM (rad), measured from the control points
    history = []
    all_pixels = rings_mod.PixelAngles(det, valid)
    ref = None  # (params, 2theta of all usable pixels) of the first round
    for it in range(6):
        tth_rings = rings_mod.ring_tth(dspacing, params[6])
        # only the pixels that can lie in a ring window or at the 2theta extremes, when
        # the geometry moved little since the last round over all pixels
        band = None if ref is None else _band(ref, params, tth_rings, pixel, uncert_px,
                                              rel, max_rings, fwhm, all_pixels._pos[2])
        pixels = all_pixels if band is None else all_pixels.subset(band)
        tth_px, yx_px = pixels(params)
        if band is None:
            ref = (params.copy(), tth_px.copy())
        sel = _select_rings(tth_px, tth_rings, params, pixel, uncert_px, rel, max_rings, fwhm)
        limit = (5, 10)[it] if it < 2 else None  # innermost rings first, then all
        sel = tuple(x[:limit] for x in sel)
        if len(sel[0]) < MIN_RINGS:
            raise CalibrationError(
                f"{source}: found {len(sel[0])} {calibrant} rings on the detector, need at "
                f"least {MIN_RINGS}; check energy and distance guess")
        cp = rings_mod.extract(data, pixels, tth_px, yx_px, *sel, counts=counts,
                               pixel_tth=min(pixel) / params[0])
        n_r = np.unique(cp.ring).size if len(cp) else 0
        if n_r < MIN_RINGS and it == 0:
            raise CalibrationError(
                f"{source}: found {n_r} {calibrant} rings, need at least {MIN_RINGS}; "
                "check energy and distance guess")
        step_free = free if it > 0 else ["dist", "poni1", "poni2"]  # no tilt at first
        if refine_wavelength and it >= 1:
            step_free = step_free + ["wavelength"]
        old = params.copy()
        fit = rings_mod.refine(cp, det, dspacing, params, tuple(step_free),
                               robust_scale=2 * min(pixel) / params[0])
        params = fit.params
        gpx = rings_mod.pixel_gradient(params, det, cp.row, cp.col)
        res_px = fit.residuals / gpx
        rms_px = float(np.sqrt(np.mean(res_px[fit.inliers] ** 2)))
        history.append({"iteration": it, "n_rings": int(n_r), "n_points": len(cp),
                        "rms_px": rms_px})
        uncert_px, rel = max(4 * rms_px, 1.5), 0.0
        fwhm = float(np.nanmedian(cp.fwhm)) if len(cp) else 0.0
        shift = np.abs(params - old)[:5] / np.array([params[0] * 1e-5, pixel[0] / 20,
                                                     pixel[1] / 20, 1e-5, 1e-5])
        if it >= 2 and shift.max() < 1 and (not refine_wavelength or it >= 3):
            break

    t_refine = time.perf_counter() - t0
    geometry = dataclasses.replace(
        geo0, dist_m=float(params[0]), poni1_m=float(params[1]), poni2_m=float(params[2]),
        rot1=float(params[3]), rot2=float(params[4]), rot3=float(params[5]),
        wavelength_m=float(params[6]))
    used = np.unique(cp.ring[fit.inliers]).size
    if used < MIN_RINGS:
        raise CalibrationError(f"{source}: found {used} {calibrant} rings, need at least "
                               f"{MIN_RINGS}; check energy and distance guess")
    _check_complete(cp, fit.inliers, source, calibrant, lam)
    res_deg = np.degrees(fit.residuals)
    report = _report(geometry, fit, cp, res_deg, res_px, dspacing, calibrant, source,
                     data.shape, binned, guess, refine_wavelength, history,
                     {"search_s": t_search, "refine_s": t_refine,
                      "total_s": time.perf_counter() - t_start},
                     (cy, cx), dist)
    if report["residual_rms_px"] > WARN_RMS_PX:
        warnings.warn(f"{source}: calibration residual RMS {report['residual_rms_px']:.2f} px "
                      f"({report['residual_rms_deg']:.4f} deg) is large; check the calibrant, "
                      "wavelength and mask", GixsWarning, stacklevel=2)
    return CalibrationResult(geometry, report, cp, res_deg, res_px, fit.inliers, data, bad)


def _check_complete(cp, inliers, source, calibrant, lam):
    """Refuse a solution whose inner rings are mostly empty: with the right geometry the
    strongest (inner) calibrant rings give a point in most azimuthal sectors; a wrong
    wavelength or ring assignment fits a few rings and leaves the others empty."""
    rings = sorted(r for r, n in cp.sectors.items() if n >= 6)[:5]
    if len(rings) < MIN_RINGS:
        return
    frac = [np.count_nonzero(inliers & (cp.ring == r)) / cp.sectors[r] for r in rings]
    if float(np.median(frac)) < 0.25:
        shown = ", ".join(f"ring {r}: {f:.0%}" for r, f in zip(rings, frac))
        raise CalibrationError(
            f"{source}: the {calibrant} rings predicted at {lam * 1e10:.4f} A are mostly "
            f"empty ({shown} of their sectors have a point); check energy and distance "
            "guess")


def _is_counts(data, valid):
    v = data[valid][:20000]
    return bool(v.size and np.allclose(v, np.rint(v)) and np.median(v) >= 0)


def _band(ref, params, tth_rings, pixel, uncert_px, rel, max_rings, fwhm, pos3):
    """Positions (into the usable pixels) of those whose 2theta in geometry ``params``
    can lie inside a ring window of :func:`_select_rings` or be the smallest/largest:
    from the 2theta ``ref`` of all pixels in another geometry and the most any pixel's
    2theta can have moved (:func:`rings.tth_shift_bound`). The windows are
    :func:`_select_rings`'s for every ring (it only narrows the list by the 2theta
    range), so control points and range are the same as from all pixels. None when
    the bound exceeds 10 pixels (most pixels would be in the band: use them all)."""
    p_ref, tth_ref = ref
    delta = 2.0 * rings_mod.tth_shift_bound(p_ref, params, pos3)  # twice the bound
    if not delta < 10 * min(pixel) / params[0]:
        return None
    rings, win, _ = _select_rings(np.array([-1.0, 10.0]), tth_rings, params, pixel,
                                  uncert_px, rel, max_rings, fwhm)
    lo, hi = float(tth_ref.min()), float(tth_ref.max())
    starts = [-np.inf, hi - 2 * delta] + [t - w - delta for (_, t), w in zip(rings, win)]
    ends = [lo + 2 * delta, np.inf] + [t + w + delta for (_, t), w in zip(rings, win)]
    order = np.argsort(starts)
    edges = []
    for a, b in zip(np.asarray(starts)[order], np.asarray(ends)[order]):  # merge
        if edges and a <= edges[-1]:
            edges[-1] = max(edges[-1], b)
        else:
            edges += [a, b]
    pos = np.searchsorted(np.asarray(edges), tth_ref, side="right")
    return np.flatnonzero(pos % 2 == 1)


def _select_rings(tth_valid, tth_rings, params, pixel, uncert_px, rel, max_rings, fwhm=0.0):
    """Rings on the detector whose window (half the gap to their neighbours) exceeds the
    position uncertainty; returns (rings, windows, radius_px) for ``extract``."""
    lo, hi = float(np.min(tth_valid)), float(np.max(tth_valid))
    t = np.asarray(tth_rings, float)
    ids = np.flatnonzero(np.isfinite(t))
    if max_rings:
        ids = ids[ids < int(max_rings)]
    t = t[ids]
    order = np.argsort(t)
    ids, t = ids[order], t[order]
    t, first = np.unique(t, return_index=True)  # coincident reflections: one ring
    ids = ids[first]
    dist = params[0]
    ang_px = min(pixel) / dist  # rad per pixel near the beam
    gap = np.diff(np.concatenate([[-np.inf], t, [np.inf]]))
    half_gap = 0.45 * np.minimum(gap[:-1], gap[1:])
    radius = dist * np.tan(np.minimum(t, 1.5)) / min(pixel)
    need = (uncert_px + rel * radius) * ang_px * np.cos(np.minimum(t, 1.5)) ** 2
    win = np.minimum(half_gap, np.maximum.reduce([2.5 * need, 6 * ang_px * np.cos(t) ** 2,
                                                  np.full(t.shape, 1.5 * fwhm)]))
    ok = (half_gap >= need) & (t - win > lo) & (t + win < hi) & (win > 1.5 * ang_px *
                                                               np.cos(t) ** 2)
    rings = [(int(i), float(v)) for i, v in zip(ids[ok], t[ok])]
    return rings, win[ok], radius[ok]


def _report(geometry, fit, cp, res_deg, res_px, dspacing, calibrant, source, shape, binned,
            guess, refine_wavelength, history, timing, centre0, dist0):
    inl = fit.inliers
    names = ("dist_m", "poni1_m", "poni2_m", "rot1_rad", "rot2_rad", "rot3_rad",
             "wavelength_m")
    params = {}
    for name, key, val, err in zip(names, rings_mod.PARAMS, fit.params, fit.stderr):
        params[name] = {"value": float(val), "stderr": None if not np.isfinite(err)
                        else float(err), "refined": key in fit.free}
    per_ring = []
    for ring in np.unique(cp.ring[inl]):
        m = inl & (cp.ring == ring)
        per_ring.append({
            "ring_index": int(ring), "d_spacing_A": float(dspacing[ring]),
            "two_theta_deg": float(np.degrees(2 * np.arcsin(fit.params[6] * 1e10 /
                                                           (2 * dspacing[ring])))),
            "n_points": int(m.sum()),
            "mean_residual_deg": float(res_deg[m].mean()),
            "rms_residual_deg": float(np.sqrt(np.mean(res_deg[m] ** 2))),
            "rms_residual_px": float(np.sqrt(np.mean(res_px[m] ** 2)))})
    f2d = geometry.fit2d()
    return {
        "source": source, "calibrant": calibrant, "image_shape": list(shape),
        "detector": geometry.detector,
        "detector_config": json.loads(geometry.detector_config),
        "wavelength_A": geometry.wavelength_a, "energy_keV": geometry.energy_kev,
        "refine_wavelength": bool(refine_wavelength),
        "parameters": params,
        "fit2d": {"direct_distance_mm": f2d.get("directDist"),
                  "beam_centre_x_px": f2d.get("centerX"), "beam_centre_y_px": f2d.get("centerY"),
                  "tilt_deg": f2d.get("tilt"),
                  "tilt_plane_rotation_deg": f2d.get("tiltPlanRotation")},
        "n_rings": len(per_ring), "n_control_points": int(inl.sum()),
        "n_rejected_points": int((~inl).sum()),
        "residual_rms_deg": float(np.sqrt(np.mean(res_deg[inl] ** 2))),
        "residual_max_deg": float(np.max(np.abs(res_deg[inl]))),
        "residual_rms_px": float(np.sqrt(np.mean(res_px[inl] ** 2))),
        "residual_max_px": float(np.max(np.abs(res_px[inl]))),
        "rings": per_ring,
        "search": {"beam_centre_row_px": float(centre0[0]),
                   "beam_centre_col_px": float(centre0[1]),
                   "distance_m": float(dist0), "binning_used": int(binned.factor),
                   "distance_guess_m": guess},
        "iterations": history,
        "timing_s": {k: round(v, 3) for k, v in timing.items()},
        "stderr_note": "standard errors from the least-squares Jacobian, assuming "
                       "independent control points (optimistic when ring positions have "
                       "systematic errors)",
        "units": {"dist_m": "m", "poni1_m": "m", "poni2_m": "m", "rot*_rad": "rad",
                  "wavelength_m": "m", "wavelength_A": "angstrom", "energy_keV": "keV",
                  "*_deg": "degree (2theta for residuals)", "*_px": "detector pixels",
                  "direct_distance_mm": "mm", "beam_centre_*_px": "pixels (Fit2D, from "
                  "the pixel edge)", "d_spacing_A": "angstrom", "timing_s": "s"},
    }


# -- stored geometries -------------------------------------------------------------
def calibrations_dir() -> pathlib.Path:
    """Folder of the stored geometries: ``$GIXS_CALIBRATIONS``, else the
    ``gixs/calibrations`` folder shipped inside the package.

    Examples
    --------
    >>> calibrations_dir().name
    'calibrations'
    """
    env = os.environ.get("GIXS_CALIBRATIONS")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[1] / "calibrations"


def known_geometries() -> list:
    """Names of the stored geometries (``calibrations/<name>.poni``).

    Examples
    --------
    >>> "cms_lab6_jun23" in known_geometries()
    True
    """
    folder = calibrations_dir()
    return sorted(p.stem for p in folder.glob("*.poni")) if folder.is_dir() else []


def known_geometry(name: str) -> DetectorGeometry:
    """Load the stored geometry ``calibrations/<name>.poni`` (see calibrations/README.md).

    Raises
    ------
    GeometryError
        The folder is absent (``GIXS_CALIBRATIONS`` pointing nowhere) or has no such
        file (the message lists the known names).

    Examples
    --------
    >>> geo = known_geometry("cms_lab6_jun23")
    >>> round(geo.wavelength_a, 4) > 0
    True
    """
    folder = calibrations_dir()
    if not folder.is_dir():
        raise GeometryError(f"{folder}: stored calibrations folder not found; set "
                            "GIXS_CALIBRATIONS to a folder of .poni files")
    path = folder / f"{name}.poni"
    if not path.is_file():
        raise GeometryError(f"{path}: no stored geometry named {name!r}; known: "
                            f"{', '.join(known_geometries()) or 'none'}")
    return load_poni(path)


__all__ = ["calibrate", "CalibrationResult", "detector_geometry", "known_geometry",
           "known_geometries", "calibrations_dir"]
