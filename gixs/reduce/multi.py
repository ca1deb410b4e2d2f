"""Several detector parts, each with its own geometry, reduced into one set of profiles
and maps (pyFAI's ``MultiGeometry`` is the reference behaviour).

A *part* is a set of pixels of one image with the PONI that places them: a module of a
detector whose modules sit on an arc (the SMI Pilatus 900KW: three modules, 7.47 deg
apart), or a whole image taken at one of several detector positions (a WAXS arc scanned
over several angles). Every part is binned on the same bins; per bin, the sums of all
parts are added before dividing, as ``MultiGeometry.integrate1d`` does::

    I = sum_parts sum_pixels valid (raw - dark) / sum_parts sum_pixels valid flat
        (solid angle x polarization) / normalization

The solid angle of each part is made absolute (pyFAI's relative solid angle of the
part times ``pixel1 pixel2 / dist^2``, as MultiGeometry does) and expressed relative
to a pixel at the first part's PONI, so that a single part gives exactly
:func:`gixs.reduce.frame.reduce_frame`. The bin ranges are the union of the parts'
ranges (``ReduceSettings.bin_ranges``). Pixels of one image may belong to one part
only; all parts share one wavelength.

:func:`rotated_frame_geometry` turns a geometry stated on a rotated copy of the image
(smi-analysis states the SMI WAXS geometry on ``numpy.rot90(image, 1)``) into the
geometry of the image as read; :func:`smi_waxs_parts` builds the parts of the SMI WAXS
detectors from the numbers SMI users have (distance, beam centre, energy, arc angle).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.io.frames import Frame
from gixs.results import ReducedFrame


@dataclasses.dataclass(frozen=True)
class DetectorPart:
    """One part of a detector set-up: a geometry and the pixels it places.

    Parameters
    ----------
    geometry : DetectorGeometry
        PONI of the whole image the part lies on, as if the whole detector sat where
        this part sits.
    image : int
        Which image of the list given to :func:`reduce_parts` (0 = the first).
    rows, cols : (int, int) or None
        Pixel range ``(start, stop)`` (0-based, stop excluded) of the part in that
        image; None = all rows / columns.
    name : str
        Label for the provenance ("module 1", "wa 6.5 deg"...).

    Examples
    --------
    The left 100 columns of the second image, as one module:

    >>> g = DetectorGeometry(0.2, 0.01, 0.02, 0.0, 0.0, 0.0, 1e-10)
    >>> part = DetectorPart(g, image=1, cols=(0, 100), name="module 1")
    >>> int(part.selection((50, 300)).sum()), part.describe()["cols"]
    (5000, [0, 100])
    >>> DetectorPart(g, cols=(250, 400), name="module 3").selection((50, 300))
    Traceback (most recent call last):
    ...
    ValueError: part module 3: cols 250:400 must satisfy 0 <= start < stop <= 300 (the image has 300 cols)
    """

    geometry: DetectorGeometry
    image: int = 0
    rows: tuple | None = None
    cols: tuple | None = None
    name: str = ""

    def selection(self, shape) -> np.ndarray:
        """Boolean image (``shape``) of the part's pixels; ValueError for a range outside
        the image or an empty one.

        Examples
        --------
        >>> from gixs.geometry.model import DetectorGeometry
        >>> g = DetectorGeometry(0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-10)
        >>> int(DetectorPart(g, rows=(1, 3)).selection((4, 5)).sum())
        10
        """
        sel = np.zeros(shape, bool)
        r0, r1 = _span(self.rows, shape[0], "rows", self.name)
        c0, c1 = _span(self.cols, shape[1], "cols", self.name)
        sel[r0:r1, c0:c1] = True
        return sel

    def describe(self) -> dict:
        """JSON-ready description (provenance)."""
        return {"name": self.name, "image": int(self.image),
                "rows": None if self.rows is None else [int(v) for v in self.rows],
                "cols": None if self.cols is None else [int(v) for v in self.cols],
                "geometry": dataclasses.asdict(self.geometry)}


def _span(rng, n, what, name):
    if rng is None:
        return 0, n
    lo, hi = (int(v) for v in rng)
    if not 0 <= lo < hi <= n:
        raise ValueError(f"part {name or '?'}: {what} {lo}:{hi} must satisfy 0 <= start < "
                         f"stop <= {n} (the image has {n} {what})")
    return lo, hi


def _frame_arrays(item):
    if isinstance(item, Frame):
        return np.asarray(item.data), np.asarray(item.invalid, bool), item.source
    data = np.asarray(item)
    if data.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {data.shape}")
    invalid = ~np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else \
        np.zeros(data.shape, bool)
    return data, invalid, None


def _per_image(value, n, what):
    """One array (or None) per image from None, one array, or a list of n."""
    if value is None or isinstance(value, np.ndarray):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{what}: {len(value)} given for {n} image(s); give one for all "
                         "or one per image")
    return value


def _abs_solid_angle_scale(geometry) -> float:
    """pixel1 pixel2 / dist^2 (sr) of a pixel at the PONI: what turns pyFAI's relative
    solid angle into an absolute one."""
    det = geometry.make_detector()
    return float(det.pixel1) * float(det.pixel2) / geometry.dist_m ** 2


def _block_range(plan, block):
    """(lo, hi[, lo2, hi2]) of a block's bins, or None when no pixel falls in it."""
    r = block.rows
    if plan.indptr[r.stop] - plan.indptr[r.start] == 0:
        return None
    out = []
    for c in block.centres:
        w = (c[-1] - c[0]) / (len(c) - 1) if len(c) > 1 else 1.0
        out += [float(c[0] - w / 2), float(c[-1] + w / 2)]
    return tuple(out)


def part_plans(parts, gi: GIGeometry, shapes, settings=None, masks=None):
    """The plans of all parts on common bins, and the settings that made them.

    Returns ``(plans, settings)``: one :class:`gixs.reduce.frame.Plan` per part (its
    pixels only), all with the same bins.
    """
    from gixs.reduce.frame import ReduceSettings, get_plan

    settings = settings or ReduceSettings()
    parts = list(parts)
    if not parts:
        raise ValueError("no detector part given")
    masks = masks if masks is not None else [None] * len(shapes)
    wl0 = parts[0].geometry.wavelength_m
    for p in parts[1:]:
        if not math.isclose(p.geometry.wavelength_m, wl0, rel_tol=1e-9):
            raise ValueError(f"part {p.name or p.image}: wavelength "
                             f"{p.geometry.wavelength_a:.6g} A differs from the first part's "
                             f"{wl0 * 1e10:.6g} A; all parts of one reduction share one "
                             "wavelength")
    taken = {}
    part_masks, geoms = [], []
    for k, p in enumerate(parts):
        if not 0 <= p.image < len(shapes):
            raise ValueError(f"part {p.name or k}: image {p.image} but {len(shapes)} "
                             "image(s) given")
        shape = shapes[p.image]
        sel = p.selection(shape)
        prev = taken.get(p.image)
        if prev is not None and (prev[0] & sel).any():
            raise ValueError(f"parts {prev[1] or '?'} and {p.name or k} share pixels of image "
                             f"{p.image}; a pixel belongs to one part only")
        taken[p.image] = (sel if prev is None else prev[0] | sel,
                          p.name if prev is None else prev[1])
        user = masks[p.image]
        part_masks.append(~sel if user is None else (~sel | np.asarray(user, bool)))
        geoms.append(p.geometry.for_image_shape(shape, source=p.name or f"part {k}"))
    # first pass: each part's own ranges; their union becomes every part's bins
    first = [get_plan(g, gi, shapes[p.image], settings, m)
             for g, p, m in zip(geoms, parts, part_masks)]
    union = {}
    for plan in first:
        for b in plan.blocks:
            key = "iq" if (b.name.startswith("sector_") or b.name == "qchi") else b.name
            rng = _block_range(plan, b)
            if rng is None:
                continue
            if b.name == "qchi":
                rng = rng[:2]
            old = union.get(key)
            union[key] = rng if old is None else tuple(
                min(a, c) if i % 2 == 0 else max(a, c) for i, (a, c) in enumerate(zip(old, rng)))
    fixed = tuple((k, *v) for k, v in sorted(union.items()) if k in ("iq", "ip", "oop", "qmap"))
    common = dataclasses.replace(settings, bin_ranges=fixed)
    plans = [get_plan(g, gi, shapes[p.image], common, m)
             for g, p, m in zip(geoms, parts, part_masks)]
    ref = plans[0]
    for plan in plans[1:]:
        same = [b.name for b in plan.blocks] == [b.name for b in ref.blocks] and all(
            all(np.array_equal(x, y) for x, y in zip(a.centres, b.centres))
            for a, b in zip(plan.blocks, ref.blocks))
        if not same:  # a programming error, never a user's
            raise RuntimeError("detector parts were binned on different bins")
    return plans, common


def reduce_parts(images, parts, gi: GIGeometry, settings=None, *, mask=None, dark=None,
                 flat=None, normalization=1.0, source=None) -> ReducedFrame:
    """Reduce the parts of one or more images into one set of profiles and maps.

    Parameters
    ----------
    images : Frame, ndarray or list of them
        The image(s) the parts lie on (counts).
    parts : sequence of DetectorPart
        Geometry and pixel range of each part; ``part.image`` indexes ``images``.
    gi : GIGeometry
        Grazing-incidence settings of the sample (one for all parts).
    settings : ReduceSettings, optional
        As :func:`gixs.reduce.frame.reduce_frame`; the bin ranges are set here.
    mask, dark, flat : ndarray or list of ndarray, optional
        One for all images or one per image (True = masked for ``mask``).
    normalization : float or sequence of float
        Divisor of the intensities (exposure time, monitor...): one for all images or
        one per image; per image it weights that image's normalization sums, as the
        ``normalization_factor`` list of MultiGeometry does.
    source : str, optional
        Name for the provenance (default: the images' file names).

    Returns
    -------
    ReducedFrame
        Profiles and maps as from :func:`~gixs.reduce.frame.reduce_frame`; the provenance
        lists the parts (``provenance["parts"]``).

    Examples
    --------
    Two halves of one frame, each with its own (here equal) PONI, give the frame's I(q):

    >>> import numpy as np
    >>> from pyFAI.detectors import Detector
    >>> from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    >>> from gixs.reduce.frame import ReduceSettings, reduce_frame
    >>> ai = AzimuthalIntegrator(dist=0.2, poni1=0.001, poni2=0.006, wavelength=1e-10,
    ...                          detector=Detector(1e-4, 1e-4, max_shape=(64, 128)))
    >>> geo = DetectorGeometry.from_integrator(ai)
    >>> gi, s = GIGeometry.from_degrees(0.2), ReduceSettings(npt_q=40, maps=False)
    >>> img = np.random.default_rng(0).poisson(50, (64, 128)).astype(np.float32)
    >>> halves = [DetectorPart(geo, rows=(0, 32)), DetectorPart(geo, rows=(32, 64))]
    >>> two = reduce_parts(img, halves, gi, s).profiles["iq"]
    >>> one = reduce_frame(img, geo, gi, s).profiles["iq"]
    >>> bool(np.allclose(two.intensity, one.intensity, equal_nan=True))
    True
    """
    from gixs.io.validate import check_corrections
    from gixs.reduce.frame import provenance

    items = images if isinstance(images, (list, tuple)) else [images]
    arrays = [_frame_arrays(it) for it in items]
    shapes = [a[0].shape for a in arrays]
    masks = _per_image(mask, len(items), "mask")
    darks = _per_image(dark, len(items), "dark")
    flats = _per_image(flat, len(items), "flat")
    for i, shape in enumerate(shapes):
        masks[i], darks[i], flats[i] = check_corrections(masks[i], darks[i], flats[i], shape)
    norms = [float(v) for v in (normalization if np.ndim(normalization) else
                                [normalization] * len(items))]
    if len(norms) != len(items) or not all(np.isfinite(v) and v > 0 for v in norms):
        raise ValueError(f"normalization must be one positive number or one per image, "
                         f"got {normalization!r}")
    parts = list(parts)
    plans, common = part_plans(parts, gi, shapes, settings, masks)
    scale0 = _abs_solid_angle_scale(plans[0].geometry)
    total = None
    for p, plan in zip(parts, plans):
        data, invalid, _ = arrays[p.image]
        kern = plan.kernel(darks[p.image], flats[p.image])
        s, n, v, c = (x[0] for x in kern.sums_block(
            np.ascontiguousarray(data)[None], invalid[None] if invalid.any() else None))
        n = n * norms[p.image]
        if common.solid_angle:
            n = n * (_abs_solid_angle_scale(plan.geometry) / scale0)
        sums = [np.asarray(x, np.float64) for x in (s, n, v, c)]
        total = sums if total is None else [a + b for a, b in zip(total, sums)]
    profiles, maps = plans[0].unpack(*total)
    names = sorted({a[2] for a in arrays if a[2]})
    prov = provenance(plans[0].geometry, gi, common, source=source or ", ".join(names),
                      dark=any(d is not None for d in darks),
                      flat=any(f is not None for f in flats),
                      mask=any(m is not None for m in masks), normalization=norms[0])
    prov["corrections"]["normalization_per_image"] = norms
    prov["parts"] = [p.describe() for p in parts]
    prov["sources"] = [a[2] for a in arrays]
    return ReducedFrame(profiles=profiles, maps=maps, provenance=prov)


def rotated_frame_geometry(geometry: DetectorGeometry, shape, k: int = 1) -> DetectorGeometry:
    """The geometry of an image as read, from one stated on ``numpy.rot90(image, k)``.

    ``geometry`` places the pixels of the rotated copy (``shape`` is the image as read,
    rows x columns); the result places the same pixels, each at the same point in
    space, in the image's own pixel frame. A quarter turn of the pixel frame is a
    rotation of the detector about its normal, so the distance is kept and the PONI
    and the three pyFAI rotations are solved for (least squares on the positions of
    the four corners and the centre, which must agree to 1e-9 m).

    Examples
    --------
    >>> g = DetectorGeometry(0.278, 1255 * 172e-6, 306 * 172e-6, math.radians(10.6), 0.0,
    ...                      0.0, 0.88564e-10, "Detector",
    ...                      '{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [1475, 619]}')
    >>> raw = rotated_frame_geometry(g, (619, 1475))
    >>> round(math.degrees(raw.rot2), 6), round(math.degrees(raw.rot3), 6)
    (-10.6, 90.0)
    """
    from scipy.optimize import least_squares

    k = int(k) % 4
    rows, cols = (int(s) for s in shape)
    rshape = (rows, cols) if k % 2 == 0 else (cols, rows)
    g_rot = geometry.for_image_shape(rshape, source="rotated image")
    det = g_rot.make_detector()
    # raw pixels (r, c) and the rotated-image pixel each one became
    rr = np.array([0, 0, rows - 1, rows - 1, rows // 2], float)
    cc = np.array([0, cols - 1, 0, cols - 1, cols // 2], float)
    order = (rr * cols + cc).astype(np.int64)
    idx = np.rot90(np.arange(rows * cols, dtype=np.int64).reshape(rows, cols), k)
    found = {int(idx[i, j]): (i, j) for i, j in np.argwhere(np.isin(idx, order))}
    ri = np.array([found[int(o)][0] for o in order], float)
    rj = np.array([found[int(o)][1] for o in order], float)
    target = np.stack(g_rot.make_integrator().calc_pos_zyx(d1=ri, d2=rj), axis=-1)
    config = json.loads(g_rot.detector_config or "{}")
    config["max_shape"] = [rows, cols]
    base = dataclasses.replace(g_rot, detector="Detector", detector_config=json.dumps(
        {"pixel1": float(det.pixel2 if k % 2 else det.pixel1),
         "pixel2": float(det.pixel1 if k % 2 else det.pixel2),
         "max_shape": [rows, cols],
         **({"orientation": config["orientation"]} if "orientation" in config else {})},
        sort_keys=True))

    def positions(x):
        g = dataclasses.replace(base, poni1_m=x[0], poni2_m=x[1], rot1=x[2], rot2=x[3],
                                rot3=x[4])
        return np.stack(g.make_integrator().calc_pos_zyx(d1=rr, d2=cc), axis=-1)

    best = None
    size = (rshape[0] * det.pixel1, rshape[1] * det.pixel2)
    for guess in _rotation_guesses(g_rot, k, size):
        fit = least_squares(lambda x: (positions(x) - target).ravel(), guess,
                            x_scale=[1e-2, 1e-2, 1.0, 1.0, 1.0], xtol=1e-15, ftol=1e-15,
                            gtol=1e-15)
        if best is None or fit.cost < best.cost:
            best = fit
        if np.abs(positions(best.x) - target).max() < 1e-12:
            break
    err = float(np.abs(positions(best.x) - target).max())
    if err > 1e-9:
        raise ValueError(f"no geometry of the image as read reproduces the rotated image's "
                         f"pixel positions (off by {err * 1e3:.3g} mm)")
    x = best.x
    wrap = [(v + math.pi) % (2 * math.pi) - math.pi for v in x[2:]]
    return dataclasses.replace(base, poni1_m=float(x[0]), poni2_m=float(x[1]),
                               rot1=float(wrap[0]), rot2=float(wrap[1]), rot3=float(wrap[2]))


def _rotation_guesses(g, k, size):
    """Starting points: first the exact answer for a geometry with rot2 = 0 (a quarter
    turn: PONI (p2, L1 - p1), rotations (0, -rot1, rot3 + 90 deg)), then the PONI moved
    with the pixel frame and the rotations permuted."""
    p1, p2 = g.poni1_m, g.poni2_m
    r1, r2, r3 = g.rot1, g.rot2, g.rot3
    half = math.pi / 2
    out = []
    if k == 1:
        out.append([p2, size[0] - p1, r2, -r1, r3 + half])
    for a, b in ((r1, r2), (r2, r1), (-r2, r1), (r2, -r1), (-r1, -r2)):
        for c in (r3 + k * half, r3 - k * half):
            for q1, q2 in ((p1, p2), (p2, p1)):
                out.append([q1, q2, a, b, c])
    return out


#: SMI WAXS detectors as smi-analysis describes them: pixel rows of each module in the
#: image as read, and each module's angle on the arc relative to the arc angle (deg).
SMI_WAXS = {
    "900KW": {"shape": (619, 1475), "modules": ((0, 195), (212, 407), (424, 619)),
              "offsets_deg": (-7.47, 0.0, 7.47)},
    "300KW": {"shape": (195, 1475), "modules": ((0, 195),), "offsets_deg": (0.0,)},
}


def smi_waxs_parts(detector, *, distance_mm, center_px, wavelength_a, arc_deg=0.0,
                   image=0, flat_900kw=False):
    """The parts of an SMI (NSLS-II 12-ID) WAXS image from the numbers SMI users have.

    smi-analysis states the geometry on the image turned a quarter turn
    (``numpy.rot90(image, 1)``: 1475 rows; its column = the image row as read) with a
    Fit2D beam centre ``center_px = [x, y]`` (column, row of the turned image, the frame
    of its beamstop position ``bs_pos``) and the sample-detector distance. The 900KW's
    three modules (image rows 0-194, 212-406, 424-618) sit on the WAXS arc at
    ``arc_deg - 7.47``, ``arc_deg`` and ``arc_deg + 7.47`` deg (pyFAI ``rot1``, as in
    smi-analysis), each module placed like the middle one: the centre is taken in the
    middle module's own columns (``x - 212``), so the direct beam at ``arc_deg = 0``
    lands where ``x`` says. ``flat_900kw`` instead takes the 900KW as one flat detector at
    ``arc_deg`` (an approximation: its outer modules are really turned by 7.47 deg).

    Parameters
    ----------
    detector : {"900KW", "300KW"}
    distance_mm : float
        Sample-detector distance (mm).
    center_px : (float, float)
        Beam centre [x, y] in pixels of the whole turned image (smi-analysis's
        ``center``, e.g. [306, 1255]).
    wavelength_a : float
        Wavelength (A).
    arc_deg : float
        WAXS arc angle (deg; ``wa`` in SMI file names).
    image : int
        Index of the image in the list given to :func:`reduce_parts`.

    Returns
    -------
    list of DetectorPart
        Geometries of the image as read (1475 columns), one per module.

    Examples
    --------
    >>> parts = smi_waxs_parts("900KW", distance_mm=278, center_px=(306, 1255),
    ...                        wavelength_a=0.8856, arc_deg=10.6)
    >>> [p.rows for p in parts], [round(math.degrees(p.geometry.rot2), 2) for p in parts]
    ([(0, 195), (212, 407), (424, 619)], [-3.13, -10.6, -18.07])
    """
    from gixs.geometry.from_numbers import geometry_from_beam_center

    key = str(detector).upper().replace("PILATUS", "").strip()
    if key not in SMI_WAXS:
        raise ValueError(f"SMI WAXS detector must be one of {', '.join(SMI_WAXS)}, got "
                         f"{detector!r}")
    spec = SMI_WAXS[key]
    rows, cols = spec["shape"]
    px = 172e-6
    modules = spec["modules"]
    offsets = spec["offsets_deg"]
    if key == "900KW" and flat_900kw:
        modules, offsets = ((0, rows),), (0.0,)
    x0 = modules[len(modules) // 2][0]  # the middle module's first turned column
    local = (float(center_px[0]) - x0, float(center_px[1]))
    parts = []
    for (r0, r1), off in zip(modules, offsets):
        width = r1 - r0
        g_turned = dataclasses.replace(
            geometry_from_beam_center(beam_center_px=local, distance_mm=distance_mm,
                                      wavelength_a=wavelength_a, pixel_size_um=px * 1e6,
                                      shape=(cols, width)),
            rot1=math.radians(float(arc_deg) + off))  # the arc turns the detector: rot1
        own = rotated_frame_geometry(g_turned, (width, cols), k=1)
        cfg = json.loads(own.detector_config)
        cfg["max_shape"] = [rows, cols]
        whole = dataclasses.replace(own, poni1_m=own.poni1_m + r0 * px,
                                    detector_config=json.dumps(cfg, sort_keys=True))
        label = f"{key} module {len(parts) + 1}" if len(modules) > 1 else key
        parts.append(DetectorPart(whole, image=image, rows=(r0, r1),
                                  name=f"{label} at {float(arc_deg) + off:g} deg"))
    return parts


__all__ = ["DetectorPart", "reduce_parts", "part_plans", "rotated_frame_geometry",
           "smi_waxs_parts", "SMI_WAXS"]
