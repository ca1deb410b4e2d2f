"""gixs batch: reduce stacks of frames to one NeXus file and a table of film metrics."""

from __future__ import annotations

import json
import os
import sys

from gixs.cli.common import add_correction_args, add_geometry_args, add_instrument_args, \
    geometry_from_args, settings_from_args

HELP = "reduce many frames (files, globs, multi-frame stacks) to one NeXus file and a table"

EPILOG = """\
exit status: 0 when every frame was reduced, or when some failed (error rows) without
--strict; 1 when nothing succeeded, or with --strict when any frame failed; 2 for a usage
error. Interrupted? Run the same command again with --resume."""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, globs ('run_*.cbf'), multi-frame HDF5/NeXus (Eiger "
                        "master files; FILE.h5::/dataset), multi-frame TIFF/EDF/CBF, or "
                        "@LIST.txt (one input per line)")
    add_batch_options(p)


def add_batch_options(p):
    """The options of ``gixs batch`` besides its inputs (``gixs watch`` shares them)."""
    add_geometry_args(p, incidence_required=False, several_poni=True)
    p.set_defaults(incidence_deg=None)  # required unless --incidence-list
    p.add_argument("--incidence-list", metavar="FILE.txt",
                   help="one incidence angle (deg) per frame, for incidence scans; "
                        "replaces --incidence-deg")
    add_correction_args(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.h5",
                   help="HDF5/NeXus file, one NXentry per reduced frame")
    p.add_argument("--table", metavar="OUT.csv",
                   help="table, one row per frame (default: OUT.csv beside OUT.h5)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="local worker processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786); its workers must see the files")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted batch, skipping the frames it finished")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 if any frame failed")
    p.add_argument("--maps", action="store_true", help="store the q_xy/q_z and q/chi maps too")
    p.add_argument("--npt", type=int, default=1000, help="bins of the 1D profiles")
    p.add_argument("--no-metrics", action="store_true",
                   help="skip the superlattice metrics (gixs.superlattice.ordering)")
    p.add_argument("--metrics-profile", choices=("auto", "ip", "iq", "oop"), default="auto",
                   help="profile measured for the metrics: auto (default) as gixs spacing "
                        "(rods on q_xy, rings on |q|, decided from each frame); ip / iq "
                        "force one; oop the out-of-plane cut")
    p.add_argument("--q-range", nargs=2, type=float, metavar=("Q_LO", "Q_HI"),
                   help="q range of the metrics (A^-1)")
    p.add_argument("--lattice", default="auto", choices=("auto", "hex2d", "fcc", "bcc", "sc"),
                   help="lattice model of the nearest-neighbour distance (default auto)")
    from gixs.superlattice.ffspec import CLI_HELP as _FF_HELP

    p.add_argument("--form-factor", metavar="SPEC|auto", default=None,
                   help=_FF_HELP + " (columns q_star_structure_A^-1, d_spacing_structure_nm, "
                   "form_factor_radius_nm, form_factor_sigma and their errors)")
    add_instrument_args(p)  # widths removed from each frame's FWHM; footprint per frame a_i
    p.add_argument("--chunk", type=int, default=None, metavar="K",
                   help="frames per task and per committed part (default up to 8)")
    p.add_argument("--engine", choices=("gixs", "reference"), default="gixs",
                   help="gixs: compiled block engine; reference: scipy sparse products "
                   "(slow, for checking)")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="progress bar on stderr (auto: only on a terminal)")
    from gixs.cli.parts import add_part_args

    add_part_args(p)  # detector parts of every frame (gixs.cli.parts.frame_parts)


def batch_inputs(args):
    """(geometry, gi, keyword arguments of reduce_stack) from the batch options."""
    from gixs.cli.common import batch_normalization, instrument_base_from_args
    from gixs.cli.setup import effective_setup
    from gixs.io.frames import read_array, read_mask
    from gixs.io.stack import read_incidence_list

    if args.incidence_list is None and args.incidence_deg is None:
        raise ValueError("--incidence-deg or --incidence-list is required")
    if args.incidence_list is not None and args.incidence_deg is None:
        args.incidence_deg = 0.0
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    from gixs.cli.parts import frame_parts

    parts = frame_parts(args)
    if parts is None:
        if args.poni is None:
            raise ValueError("--poni is required (a PONI file or a stored geometry name)")
        geometry, gi = geometry_from_args(args)
    else:
        from gixs.cli.common import gi_from_args

        geometry, gi = parts[0].geometry, gi_from_args(args)
    incidence = read_incidence_list(args.incidence_list) if args.incidence_list else None
    mask = read_mask(args.mask) if args.mask else None
    dark = read_array(args.dark, None, "dark") if args.dark else None
    flat = read_array(args.flat, None, "flat") if args.flat else None
    settings = settings_from_args(args, npt_q=args.npt, maps=args.maps)
    table = args.table or os.path.splitext(args.output)[0] + ".csv"
    metrics_kwargs = {"lattice": args.lattice}
    if args.q_range:
        metrics_kwargs["q_range"] = tuple(args.q_range)
    if args.form_factor:
        from gixs.superlattice.ffspec import parse_form_factor

        if parse_form_factor(args.form_factor) is not None:
            metrics_kwargs["form_factor"] = args.form_factor
    base, beam, length = instrument_base_from_args(args, geometry)
    progress = False if args.quiet else {"auto": None, "on": True, "off": False}[args.progress]
    kwargs = dict(settings=settings, mask=mask, dark=dark, flat=flat, workers=args.workers,
                  scheduler=args.scheduler, output=args.output, table=table,
                  metrics=not args.no_metrics, incidence_list=incidence, engine=args.engine,
                  normalization=batch_normalization(args.normalize_by),
                  metrics_profile=args.metrics_profile,
                  metrics_kwargs=metrics_kwargs, chunk_size=args.chunk, progress=progress,
                  detector_parts=parts,
                  instrument=base, beam_size_mm=beam, sample_length_mm=length,
                  attrs={"setup": json.dumps(effective_setup(args), default=str)})
    return geometry, gi, kwargs


def run(args) -> int:
    from gixs.batch.run import reduce_stack

    geometry, gi, kwargs = batch_inputs(args)
    try:
        res = reduce_stack(args.inputs, geometry, gi, resume=args.resume, **kwargs)
    except KeyboardInterrupt:
        print(f"gixs batch: interrupted; finished chunks are kept in {args.output}.parts/: "
              "run the same command with --resume to continue", file=sys.stderr)
        return 130
    n, errs = len(res.rows), res.errors
    rate = n / res.elapsed_s if res.elapsed_s > 0 else float("nan")
    print(f"gixs batch: {n} frame(s), {res.n_ok} ok, {len(errs)} error(s) in "
          f"{res.elapsed_s:.1f} s ({rate:.1f} frames/s) -> {res.output}, {res.table}")
    for row in errs[:10]:
        where = "" if row["error"].startswith(row["source"]) else \
            f"{row['source']} frame {row['frame']}: "
        print(f"gixs batch: error: {where}{row['error']}", file=sys.stderr)
    if len(errs) > 10:
        print(f"gixs batch: ... and {len(errs) - 10} more error rows in {res.table}",
              file=sys.stderr)
    if res.n_ok == 0 or (args.strict and errs):
        return 1
    return 0
