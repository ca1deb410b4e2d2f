"""gixs reduce: one frame -> NeXus file, CSV profiles and a q-map figure."""

from __future__ import annotations

import os

from gixs.cli.common import (add_correction_args, add_geometry_args, check_outputs,
                             corrections_from_args, geometry_from_args,
                             normalization_from_spec, output_dir, reduction_paths,
                             settings_from_args, write_reduction)
from gixs.cli.setup import effective_setup

HELP = "reduce a frame to GI maps and profiles (HDF5/NeXus, CSV, PNG)"


def add_arguments(p):
    p.add_argument("image", metavar="IMAGE", nargs="+",
                   help="detector image (TIFF, EDF, CBF, HDF5...); several images: one per "
                        "detector position, reduced together (see --poni, --smi-waxs)")
    add_geometry_args(p, several_poni=True)
    add_correction_args(p)
    p.add_argument("--frame", type=int, default=0, help="frame number in a multi-frame file")
    p.add_argument("--npt", type=int, default=1000, help="bins of the 1D profiles")
    p.add_argument("--sector", nargs=2, type=float, action="append", default=[],
                   metavar=("CHI_LO", "CHI_HI"),
                   help="extra sector I(q), chi range in deg (0 = surface normal); repeatable")
    p.add_argument("--ip-band", nargs=2, type=float, metavar=("QZ_LO", "QZ_HI"),
                   help="q_z band of the in-plane cut (A^-1); default from the horizon up")
    p.add_argument("--oop-band", nargs=2, type=float, metavar=("QXY_LO", "QXY_HI"),
                   help="q_xy band of the out-of-plane cut (A^-1)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--xy", choices=("q", "2th"), metavar="UNIT",
                   help="also write the azimuthal I(q) as STEM_iq.xy in q (1/A) or 2th "
                        "(deg), for Dioptas, GSAS-II, FullProf")
    p.add_argument("--chi", choices=("q", "2th"), metavar="UNIT",
                   help="also write the azimuthal I(q) as a Fit2D .chi file (STEM_iq.chi)")
    from gixs.cli.parts import add_part_args

    add_part_args(p)


def run(args) -> int:
    from gixs.cli.common import figure_process
    from gixs.cli.parts import is_multi, run_parts

    if is_multi(args):  # several detector parts: gixs.cli.parts
        return run_parts(args)
    with figure_process(not args.no_plot) as figures:  # matplotlib's import overlaps the work
        return _reduce_one(args, figures)


def _reduce_one(args, figures) -> int:
    from gixs.cli.progress import stage
    from gixs.errors import FormatError
    from gixs.io.frames import read_frame
    from gixs.io.validate import check_frame
    from gixs.reduce.frame import get_plan, reduce_frame

    from gixs.cli.common import resolve_orientation
    from gixs.reduce.orientation_check import check_orientation
    from gixs.reduce.orientation_check import clear_cache as clear_orientation_cache

    args.image = args.image[0]
    if args.poni is None:
        raise ValueError("--poni is required (a PONI file or a stored geometry name)")
    geometry, gi = geometry_from_args(args, allow_auto=True)
    out = args.output
    stem = os.path.splitext(os.path.basename(args.image.split("::")[0]))[0]
    if args.frame:
        stem += f"_{args.frame:05d}"
    base = os.path.join(out, stem)
    paths = reduction_paths(out, stem, args.sector)
    check_outputs({"-o": paths}, {"IMAGE": args.image, "--poni": args.poni,
                                  "--mask": args.mask, "--dark": args.dark,
                                  "--flat": args.flat})
    stage(f"reading {args.image}")
    frame = read_frame(args.image, args.frame)
    geometry.for_image_shape(frame.data.shape, source=args.image)
    corr = corrections_from_args(args, frame.data.shape)
    check_frame(frame, corr["mask"])
    gi = resolve_orientation(args, frame, geometry, gi, corr["mask"])
    settings = settings_from_args(args, npt_q=args.npt, sectors=tuple(map(tuple, args.sector)),
                                  ip_band=tuple(args.ip_band) if args.ip_band else None,
                                  oop_band=tuple(args.oop_band) if args.oop_band else None)
    norm, _ = normalization_from_spec(args.normalize_by, frame.metadata, args.image)
    # one frame: once the binning is made, its pixel coordinates give way to the kernel,
    # and a new plan is written to the disk cache while the frame is reduced
    plan = get_plan(geometry, gi, frame.data.shape, settings, corr["mask"],
                    keep_pixel_q=False, store_in_background=True)
    # corr is check_corrections' output, as reduce_frame(plan=) needs; the check reads
    # the plan's pixel arrays when its corrections are the check's own (the defaults),
    # else it computes them, freed right after (one frame)
    check_orientation(frame.data, geometry, gi, mask=corr["mask"], invalid=frame.invalid,
                      source=args.image, plan=plan)
    clear_orientation_cache()
    reduced = reduce_frame(frame, geometry, gi, settings, normalization=norm, plan=plan,
                           **corr)
    reduced = reduced.with_provenance(setup=effective_setup(args))
    iq = reduced.profiles["iq"].valid()
    if iq.x.size == 0:
        raise FormatError(f"{args.image}: frame {frame.index}: no q bin holds a valid pixel "
                          "(all pixels invalid, masked or outside the detector geometry)")
    output_dir(out, create=False)
    stage(f"writing {base}.h5 and CSV profiles")

    shown = frame.invalid | (corr["mask"] if corr["mask"] is not None else False)
    write_reduction(paths, stem, reduced, args, geometry.wavelength_a,
                    ("gixs.plot.common:reduction_figure", (reduced, frame.data, shown),
                     {"title": stem}), figures)
    print(f"{args.image}: frame {frame.index}, {frame.data.shape[0]}x{frame.data.shape[1]} px, "
          f"incidence {args.incidence_deg:g} deg, q {iq.x[0]:.4g}-{iq.x[-1]:.4g} A^-1 "
          f"-> {base}.h5, {base}_iq.csv, {base}_ip.csv, {base}_oop.csv")
    return 0
