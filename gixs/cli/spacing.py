"""gixs spacing: superlattice spacing, ordering intensity and orientation of one frame."""

from __future__ import annotations


from gixs.cli.common import (add_correction_args, add_geometry_args, add_instrument_args,
                             add_normalization_aliases, corrections_from_args,
                             geometry_from_args, instrument_from_args,
                             normalization_from_args, settings_from_args)

HELP = ("superlattice metrics of a GISAXS frame: q*, d, nn distance, FWHM, coherence, "
        "g, peak height/area/peak-to-valley, orders, orientation (JSON, PNG)")


def add_arguments(p):
    p.add_argument("image", metavar="IMAGE", help="GISAXS frame (TIFF, EDF, CBF, HDF5...)")
    add_geometry_args(p)
    add_correction_args(p)
    p.add_argument("--frame", type=int, default=0, help="frame number in a multi-frame file")
    p.add_argument("--lattice", default="auto", choices=("auto", "hex2d", "fcc", "bcc", "sc"),
                   help="lattice model of the nn distance (default auto: from higher orders)")
    p.add_argument("--q-range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="|q| range to analyse (A^-1)")
    p.add_argument("--profile", default="auto", choices=("auto", "ip", "iq"),
                   help="auto (default): decide from the frame whether the peak is a rod "
                        "(constant q_xy: 2D film) or a ring (constant |q|: 3D-isotropic "
                        "film) and measure rods on |q_xy| (in-plane cut 0.3 q* tall from "
                        "just above the horizon, or the Yoneda when --critical-angle-deg is "
                        "given) and rings on |q| (pixels above the horizon and the Yoneda "
                        "band, off the specular rod); ip / iq force one (a choice the frame "
                        "contradicts warns). Output keys: q_star / d_spacing = observed "
                        "peak (maximum of the profile), q_star_centre = line-shape centre, "
                        "scattering_type = rod|ring|mixed, q_star_axis = qxy|q")
    from gixs.superlattice.ffspec import CLI_HELP as _FF_HELP

    p.add_argument("--form-factor", metavar="SPEC|auto", default=None, help=_FF_HELP)
    p.add_argument("--ip-band", nargs=2, type=float, metavar=("QZ_LO", "QZ_HI"),
                   help="q_z band of the in-plane cut (A^-1); default set from the peak")
    p.add_argument("--npt", type=int, default=None,
                   help="profile bins (default: 3 x the larger image dimension)")
    add_instrument_args(p)
    p.add_argument("--scherrer-k", type=float, default=0.9, metavar="K",
                   help="Scherrer constant (default 0.9)")
    p.add_argument("--valley", default="low", choices=("low", "high"),
                   help="valley of the peak-to-valley metrics (default low: below q*)")
    add_normalization_aliases(p)
    p.add_argument("--no-orientation", action="store_true", help="skip the orientation metrics")
    p.add_argument("-o", "--output", "--json", dest="output", metavar="OUT.json",
                   help="write the metrics (with units) to this JSON file")
    p.add_argument("--plot", metavar="OUT.png", help="write a figure of profile and fit here")


def run(args) -> int:
    from gixs.cli.common import resolve_orientation
    from gixs.errors import NoPeakError
    from gixs.io.frames import read_frame
    from gixs.io.jsonout import write_json
    from gixs.superlattice.ordering import measure_frame

    from gixs.superlattice.ffspec import parse_form_factor

    form_factor = parse_form_factor(args.form_factor)
    geometry, gi = geometry_from_args(args, allow_auto=True)
    frame = read_frame(args.image, args.frame)
    geometry.for_image_shape(frame.data.shape, source=args.image)
    corr = corrections_from_args(args, frame.data.shape)
    mask = corr["mask"]
    gi = resolve_orientation(args, frame, geometry, gi, mask)
    norm, norm_desc = normalization_from_args(args, frame.metadata, args.image)
    import math

    inst = instrument_from_args(args, geometry, math.degrees(gi.incidence))
    if args.q_range and not 0 <= args.q_range[0] < args.q_range[1]:
        raise ValueError(f"--q-range must be LO HI in A^-1 with 0 <= LO < HI, got "
                         f"{args.q_range[0]:g} {args.q_range[1]:g}")
    from gixs.cli.progress import stage

    stage("reducing and measuring")
    try:
        res = measure_frame(frame, geometry, gi, profile=args.profile, mask=mask,
                            lattice=args.lattice, q_range=args.q_range,
                            instrument_fwhm=inst, normalization=norm,
                            K=args.scherrer_k, valley=args.valley, npt_q=args.npt,
                            ip_band=args.ip_band, orientation=not args.no_orientation,
                            settings=settings_from_args(args), dark=corr["dark"],
                            flat=corr["flat"],
                            form_factor=form_factor)
    except NoPeakError as exc:
        _write_failure(args, exc, gi, write_json)
        raise
    d = res.to_dict()
    d["normalization_description"] = norm_desc
    d["instrument"] = None if inst is None else inst.to_dict()
    d["grazing_incidence"] = gi.as_dict()
    from gixs.cli.setup import effective_setup

    d["setup"] = effective_setup(args)
    if args.output:
        write_json(args.output, d, schema="gixs.spacing")
    if args.plot:
        from gixs.plot.ordering import result_figure, save

        save(result_figure(d), args.plot)
    print(f"{args.image} (frame {frame.index}):")
    print(res.summary())
    if args.output:
        print(f"-> {args.output}")
    if args.plot:
        print(f"-> {args.plot}")
    return 0


def _write_failure(args, exc, gi, write_json):
    """A failed measurement still writes its JSON (error, rejected candidates) and figure."""
    from gixs.io.jsonout import to_jsonable as _jsonable

    details = getattr(exc, "details", None) or {}
    profiles = details.get("profiles", {})
    d = {"error": str(exc), "image": args.image, "frame": args.frame,
         "candidates": _jsonable(details.get("candidates", {})),
         "scattering_evidence": _jsonable(details.get("scattering_evidence")),
         "grazing_incidence": gi.as_dict(),
         "profiles": {name: {"axis": p.axis, "q": _jsonable(p.x),
                             "intensity": _jsonable(p.intensity),
                             "sigma": _jsonable(p.sigma)} for name, p in profiles.items()},
         "units": {"profiles.q": "A^-1 (q_xy or |q| as the axis says)",
                   "profiles.intensity": "a.u.", "candidates.q": "A^-1"}}
    if args.output:
        write_json(args.output, d, schema="gixs.spacing")
    if args.plot:
        from gixs.plot.ordering import failure_figure, save

        save(failure_figure(d), args.plot)
