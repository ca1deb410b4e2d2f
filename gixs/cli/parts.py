"""``gixs reduce`` over several detector parts: several images (detector positions), or
pixel ranges of one image with their own PONIs, or the SMI WAXS detectors from their
numbers; all parts reduced into one set of profiles and maps (:mod:`gixs.reduce.multi`).

::

    gixs reduce wa0.tif wa6.5.tif --poni wa0.poni --poni wa6.5.poni ...      positions
    gixs reduce f.tif --poni m1.poni --part-rows 0:195 --poni m2.poni --part-rows 212:407
    gixs reduce 900KW_..._wa10.6_....tif --smi-waxs 900KW --smi-center-px 306 1255 \\
        --distance-mm 278 --arc-deg 10.6 --incidence-deg 0.11 --sample-orientation 7 -o out
"""

from __future__ import annotations

import os

from gixs.cli.common import as_list
from gixs.errors import GixsError


def add_part_args(p):
    """Options of the detector parts (added to ``gixs reduce``)."""
    p.add_argument("--part-rows", action="append", default=[], metavar="R0:R1",
                   help="pixel rows (0-based, R1 excluded; 'all') of the part of the same "
                        "rank as its --poni; repeat once per --poni")
    p.add_argument("--part-cols", action="append", default=[], metavar="C0:C1",
                   help="pixel columns of the part of the same rank as its --poni "
                        "(default all)")
    p.add_argument("--smi-waxs", choices=("900KW", "300KW"), default=None,
                   help="SMI (NSLS-II 12-ID) WAXS detector: its modules on the WAXS arc "
                        "from --smi-center-px, --distance-mm and --arc-deg (smi-analysis's "
                        "numbers), instead of PONI files")
    p.add_argument("--smi-center-px", nargs=2, type=float, metavar=("X", "Y"),
                   help="SMI beam centre (pixels) as smi-analysis states it: column, row "
                        "of the image turned by numpy.rot90(image, 1)")
    p.add_argument("--distance-mm", type=float, metavar="D",
                   help="SMI sample-detector distance (mm)")
    p.add_argument("--arc-deg", type=float, nargs="+", metavar="A",
                   help="SMI WAXS arc angle (deg), one per image ('wa' in the file names)")
    p.add_argument("--smi-flat", action="store_true",
                   help="take the 900KW as one flat detector at the arc angle (an "
                        "approximation; default: three modules 7.47 deg apart)")
    wl = p.add_mutually_exclusive_group()
    wl.add_argument("--energy-kev", type=float, metavar="E",
                    help="SMI photon energy (keV); default the header's wavelength")
    wl.add_argument("--wavelength-a", type=float, metavar="L",
                    help="SMI wavelength (A); default the header's")


def is_multi(args) -> bool:
    """True when the command line asks for several detector parts."""
    return bool(len(as_list(args.image)) > 1 or len(as_list(args.poni)) > 1
                or args.part_rows or args.part_cols or args.smi_waxs)


def build_parts(args, frames, images=None):
    """The :class:`~gixs.reduce.multi.DetectorPart` list of the command line.

    ``images``: the image names (default ``args.image``); ``frames`` the frames read
    from them, or None (``gixs batch`` / ``gixs watch``: parts of every frame, built
    before any frame is read; the SMI wavelength must then be given)."""
    from gixs.cli.common import load_geometry
    from gixs.reduce.multi import DetectorPart, smi_waxs_parts

    images = as_list(args.image) if images is None else list(images)
    ponis = as_list(args.poni)
    if args.smi_waxs:
        if ponis:
            raise GixsError("give --poni or --smi-waxs, not both")
        missing = [f for f, v in (("--smi-center-px", args.smi_center_px),
                                  ("--distance-mm", args.distance_mm),
                                  ("--arc-deg", args.arc_deg)) if v is None]
        if missing:
            raise GixsError(f"--smi-waxs needs {', '.join(missing)}")
        if len(args.arc_deg) != len(images):
            raise GixsError(f"--arc-deg: {len(args.arc_deg)} angle(s) for {len(images)} "
                            "image(s); give one arc angle (deg) per image")
        parts = []
        for i, (frame, arc) in enumerate(zip(frames or [None] * len(images),
                                             args.arc_deg)):
            wl = _wavelength_a(args, frame)
            parts += smi_waxs_parts(args.smi_waxs, distance_mm=args.distance_mm,
                                    center_px=args.smi_center_px, wavelength_a=wl,
                                    arc_deg=arc, image=i, flat_900kw=args.smi_flat)
        return parts
    for flag in ("smi_center_px", "distance_mm", "arc_deg", "energy_kev", "wavelength_a",
                 "smi_flat"):
        if getattr(args, flag) not in (None, False):
            raise GixsError(f"--{flag.replace('_', '-')} belongs to --smi-waxs")
    if not ponis:
        raise GixsError("give --poni P.poni (or --smi-waxs for the SMI WAXS detectors)")
    rows, cols = list(args.part_rows), list(args.part_cols)
    for name, given in (("--part-rows", rows), ("--part-cols", cols)):
        if given and len(given) != len(ponis):
            raise GixsError(f"{name}: {len(given)} given for {len(ponis)} --poni; give one "
                            "per --poni ('all' for all)")
    if rows or cols:
        if len(images) != 1:
            raise GixsError("--part-rows/--part-cols split one image into parts; give one "
                            f"image, not {len(images)}")
        where = [0] * len(ponis)
    elif len(ponis) == len(images):
        where = list(range(len(images)))
    else:
        raise GixsError(f"{len(ponis)} --poni for {len(images)} images: give one PONI per "
                        "image (detector positions), or one image with --part-rows/"
                        "--part-cols per PONI (for the same geometry on several frames "
                        "use gixs batch)")
    parts = []
    for k, (poni, img) in enumerate(zip(ponis, where)):
        parts.append(DetectorPart(load_geometry(poni), image=img,
                                  rows=_span(rows[k] if rows else None, "--part-rows"),
                                  cols=_span(cols[k] if cols else None, "--part-cols"),
                                  name=f"{os.path.basename(os.fspath(poni))} on "
                                       f"{os.path.basename(images[img])}"))
    return parts


def frame_parts(args):
    """The detector parts of every frame of ``gixs batch`` / ``gixs watch`` (None when
    the command line gives one geometry): several --poni with --part-rows/--part-cols,
    or --smi-waxs with one --arc-deg; a part list reduced as ``gixs reduce`` reduces
    one image (:func:`gixs.reduce.multi.reduce_parts`)."""
    if not (len(as_list(args.poni)) > 1 or args.part_rows or args.part_cols
            or args.smi_waxs):
        return None
    if len(as_list(args.poni)) > 1 and not (args.part_rows or args.part_cols):
        raise GixsError(f"{len(as_list(args.poni))} --poni: in gixs batch/watch every "
                        "frame is one image, so several PONIs need --part-rows/--part-cols "
                        "(one pixel range per PONI); detector positions (one image per "
                        "PONI) are gixs reduce IMAGE... --poni ...")
    return tuple(build_parts(args, None, images=["each frame"]))


def _wavelength_a(args, frame):
    from gixs.units import HC_KEV_A

    if args.wavelength_a:
        return float(args.wavelength_a)
    if args.energy_kev:
        return HC_KEV_A / float(args.energy_kev)
    if frame is None:
        raise GixsError("--smi-waxs in gixs batch/watch needs --energy-kev or "
                        "--wavelength-a (the parts are built before any frame is read)")
    wl = (frame.metadata or {}).get("wavelength_a")
    if not wl:
        raise GixsError(f"{frame.source}: no wavelength in the header; give --energy-kev "
                        "or --wavelength-a")
    return float(wl)


def _span(text, flag):
    """'R0:R1' -> (R0, R1); 'all' or None -> None."""
    if text is None or str(text).strip().lower() == "all":
        return None
    lo, sep, hi = str(text).partition(":")
    try:
        if not sep:
            raise ValueError
        return int(lo), int(hi)
    except ValueError:
        raise GixsError(f"{flag}: expected START:STOP pixel indices (e.g. 0:195) or 'all', "
                        f"got {text!r}") from None


def run_parts(args) -> int:
    """``gixs reduce`` with several detector parts: one NeXus file, CSV profiles and a
    figure named after the first image."""
    from gixs.cli.common import (check_outputs, corrections_from_args,
                                 normalization_from_spec, output_dir, reduction_paths,
                                 settings_from_args, write_reduction)
    from gixs.cli.progress import stage
    from gixs.cli.setup import effective_setup
    from gixs.geometry.model import GIGeometry
    from gixs.io.frames import read_frame
    from gixs.reduce.multi import reduce_parts

    images = as_list(args.image)
    if args.sample_orientation == "auto":
        raise GixsError("--sample-orientation auto is not supported with detector parts; "
                        "give the code (1-8)")
    if args.frame:
        raise GixsError("--frame is not supported with detector parts (one frame per file)")
    out = args.output
    stem = os.path.splitext(os.path.basename(images[0].split("::")[0]))[0] + "_parts"
    base = os.path.join(out, stem)
    paths = reduction_paths(out, stem, args.sector)
    check_outputs({"-o": paths}, {"IMAGE": images, "--poni": as_list(args.poni),
                                  "--mask": args.mask, "--dark": args.dark,
                                  "--flat": args.flat})
    frames = []
    for path in images:
        stage(f"reading {path}")
        frames.append(read_frame(path, 0))
    shapes = {f.data.shape for f in frames}
    if len(shapes) > 1:
        raise GixsError(f"images of different shapes ({', '.join(map(str, shapes))}); "
                        "parts of one reduction come from one detector")
    corr = corrections_from_args(args, frames[0].data.shape)
    parts = build_parts(args, frames)
    gi = GIGeometry.from_degrees(args.incidence_deg, args.tilt_deg, args.sample_orientation,
                                 args.critical_angle_deg)
    settings = settings_from_args(args, npt_q=args.npt, sectors=tuple(map(tuple, args.sector)),
                                  ip_band=tuple(args.ip_band) if args.ip_band else None,
                                  oop_band=tuple(args.oop_band) if args.oop_band else None)
    norms = [normalization_from_spec(args.normalize_by, f.metadata, f.source)[0]
             for f in frames]
    stage(f"reducing {len(parts)} detector part(s) of {len(frames)} image(s)")
    reduced = reduce_parts(frames, parts, gi, settings, normalization=norms, **corr)
    reduced = reduced.with_provenance(setup=effective_setup(args))
    iq = reduced.profiles["iq"].valid()
    if iq.x.size == 0:
        raise GixsError("no q bin holds a valid pixel (all pixels invalid, masked or "
                        "outside the parts)")
    output_dir(out, create=False)
    wl = parts[0].geometry.wavelength_a

    mask0 = corr["mask"]
    shown = frames[0].invalid | (mask0 if mask0 is not None else False)
    write_reduction(paths, stem, reduced, args, wl,
                    ("gixs.plot.common:reduction_figure", (reduced, frames[0].data, shown),
                     {"title": f"{stem}: {len(parts)} part(s), detector panel: "
                               f"{os.path.basename(images[0])}"}))
    for p in parts:
        print(f"  part {p.name}: rows {p.rows or 'all'}, cols {p.cols or 'all'}")
    print(f"{len(images)} image(s), {len(parts)} part(s), incidence {args.incidence_deg:g} "
          f"deg, q {iq.x[0]:.4g}-{iq.x[-1]:.4g} A^-1 -> {base}.h5, {base}_iq.csv, "
          f"{base}_ip.csv, {base}_oop.csv")
    return 0
