"""gixs compare: a table and figure comparing films (control vs treated...)."""

from __future__ import annotations

import os

from gixs.cli.common import add_geometry_args

HELP = ("compare films from `gixs spacing` JSON files (or frames with --poni): spacing "
        "change (nm, %), intensity ratios; table, CSV, figure")


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="FILE",
                   help="JSON files written by `gixs spacing --json`, or frames (with --poni);"
                        " the first is the reference")
    p.add_argument("--labels", nargs="+", metavar="L", help="one label per input "
                   "(default: file names)")
    add_geometry_args(p, incidence_required=False)
    p.set_defaults(poni=None)
    for a in p._actions:
        if a.dest == "poni":
            a.required = False
    p.add_argument("--mask", metavar="M", help="mask image for frames")
    p.add_argument("--profile", default="ip", choices=("ip", "iq"))
    p.add_argument("--lattice", default="auto", choices=("auto", "hex2d", "fcc", "bcc", "sc"))
    p.add_argument("--q-range", nargs=2, type=float, metavar=("LO", "HI"))
    p.add_argument("--csv", metavar="OUT.csv", help="write the table as CSV (units in headers)")
    p.add_argument("--plot", metavar="OUT.png", help="write a comparison figure")


def _load(path, args):
    from gixs.errors import FormatError

    if path.lower().endswith(".json"):
        from gixs.io.jsonout import read_json

        try:
            d = read_json(path, schema="gixs.spacing")
        except FileNotFoundError:
            raise FormatError(f"{path}: JSON file not found") from None
        except UnicodeDecodeError as exc:
            raise FormatError(f"{path}: not a JSON file ({exc})") from None
        for key in ("q_star", "d_spacing", "peak_height", "peak_to_valley", "fit"):
            if key not in d:
                raise FormatError(f"{path}: missing '{key}'; expected a `gixs spacing "
                                  "--json` result")
        return d
    if not args.poni:
        raise ValueError(f"{path}: a frame needs --poni and --incidence-deg "
                         "(or give `gixs spacing` JSON files)")
    from gixs.io.frames import read_frame, read_mask
    from gixs.io.validate import normalization_for
    from gixs.superlattice.ordering import measure_frame
    from gixs.cli.common import geometry_from_args

    geometry, gi = geometry_from_args(args)
    frame = read_frame(path)
    mask = read_mask(args.mask, frame.data.shape) if args.mask else None
    return measure_frame(frame, geometry, gi, profile=args.profile, mask=mask,
                         lattice=args.lattice, q_range=args.q_range,
                         normalization=normalization_for(frame.metadata),
                         orientation=False).to_dict()


CSV_KEYS = (("label", "label"), ("q_star", "q_star_A^-1"), ("q_star_err", "q_star_err_A^-1"),
            ("d_spacing", "d_nm"), ("d_spacing_err", "d_err_nm"),
            ("d_change_nm", "d_change_nm"), ("d_change_err_nm", "d_change_err_nm"),
            ("d_change_pct", "d_change_%"), ("nn_distance", "nn_distance_nm"),
            ("lattice_model", "lattice_model"), ("fwhm", "fwhm_A^-1"),
            ("coherence_length", "coherence_length_nm"), ("paracrystal_g", "paracrystal_g"),
            ("peak_height", "peak_height_a.u."), ("height_ratio", "height_ratio"),
            ("height_ratio_err", "height_ratio_err"), ("peak_area", "peak_area_a.u.A^-1"),
            ("area_ratio", "area_ratio"), ("peak_to_valley", "peak_to_valley_a.u."),
            ("p2v_ratio_vs_ref", "peak_to_valley_ratio_vs_ref"),
            ("peak_to_valley_ratio", "peak_over_valley"), ("normalization", "normalization"),
            ("source", "source"))


def to_csv(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([h for _, h in CSV_KEYS])
    for r in rows:
        w.writerow(["" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float)
                                                 else r[k]) for k, _ in CSV_KEYS])
    return buf.getvalue()


def run(args) -> int:
    from gixs.io.frames import write_text
    from gixs.superlattice.comparison import compare, format_table

    labels = args.labels or [os.path.splitext(os.path.basename(p))[0] for p in args.inputs]
    if len(labels) != len(args.inputs):
        raise ValueError(f"--labels gives {len(labels)} labels for {len(args.inputs)} inputs")
    results = [_load(p, args) for p in args.inputs]
    rows = compare(results, labels)
    print(format_table(rows))
    ref = rows[0]
    for r in rows[1:]:
        print(f"{r['label']} vs {ref['label']}: d {r['d_change_nm']:+.3f} +- "
              f"{r['d_change_err_nm']:.3f} nm ({r['d_change_pct']:+.2f} %), peak height x"
              f"{r['height_ratio']:.2f}, peak-to-valley x{r['p2v_ratio_vs_ref']:.2f}")
    if args.csv:
        write_text(args.csv, to_csv(rows))
        print(f"-> {args.csv}")
    if args.plot:
        from gixs.plot.ordering import compare_figure, save

        save(compare_figure(results, labels), args.plot)
        print(f"-> {args.plot}")
    return 0
