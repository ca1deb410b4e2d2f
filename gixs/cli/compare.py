"""gixs compare: a table and figure comparing films (control vs treated...)."""

from __future__ import annotations

import os

from gixs.cli.common import add_geometry_args, add_normalization_aliases

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
    p.add_argument("--profile", default="ip", choices=("ip", "iq"),
                   help="frames: ip = in-plane cut |q_xy| (default), iq = azimuthal I(q)")
    p.add_argument("--lattice", default="auto", choices=("auto", "hex2d", "fcc", "bcc", "sc"),
                   help="frames: lattice model of the nn distance (default auto)")
    p.add_argument("--q-range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="frames: |q| range to analyse (A^-1)")
    p.add_argument("-o", "--output", "--csv", dest="output", metavar="OUT.csv",
                   help="write the table as CSV (units in headers); --csv is its other "
                        "name")
    p.add_argument("--plot", metavar="OUT.png", help="write a comparison figure")
    n = p.add_argument_group("fair comparison (gixs.superlattice.normalize; each term is "
                             "recorded; exposure is already divided out by `gixs spacing`)")
    n.add_argument("--normalize-by", nargs="+", default=None, metavar="SPEC",
                   help="further divide each film's intensities by the product of "
                        "comma-separated parts, as in every command: a number, "
                        "'monitor=X', 'thickness_nm=X', 'exposure_s=X' or 'none'; one SPEC "
                        "for all inputs or one per input (values only: the inputs' own "
                        "exposure was divided out when they were measured)")
    add_normalization_aliases(n, flags=("--monitor", "--thickness-nm"), nargs="+")
    n.add_argument("--footprint", action="store_true",
                   help="divide by the footprint 1/sin(a_i) (needs --incidence-deg)")
    n.add_argument("--fresnel", action="store_true",
                   help="divide by |t(a_i)|^2 |t(a_f)|^2 of each film (needs --incidence-deg, "
                        "--exit-deg, --film, --energy-kev)")
    n.add_argument("--film", nargs="+", metavar="FORMULA:DENSITY",
                   help="film composition and density (g/cm^3) for the critical angle via "
                        "xraydb, one for all or one per input, e.g. PbS:7.6")
    n.add_argument("--depth-nm", nargs="+", metavar="Z",
                   help="depth of the scatterers below the film surface (nm; Z for a layer of "
                        "dot centres, TOP:BOTTOM for scatterers spread between two depths), "
                        "one for all or one per input: the evanescent-wave term "
                        "exp(-z/Lambda) of --fresnel, needed below the critical angle")
    n.add_argument("--exit-deg", type=float, metavar="A",
                   help="exit angle (deg) of the compared peak (the in-plane band's)")
    n.add_argument("--energy-kev", type=float, metavar="E", help="photon energy (keV)")


#: Metrics of a `gixs spacing` JSON that compare computes with: numbers or null.
_NUMBERS = ("q_star", "q_star_err", "d_spacing", "d_spacing_err", "nn_distance", "fwhm",
            "coherence_length", "paracrystal_g", "peak_height", "peak_height_err",
            "peak_area", "peak_area_err", "peak_to_valley", "peak_to_valley_ratio")


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
        for key in _NUMBERS:  # a hand-edited file: a metric that is not a number
            value = d.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise FormatError(f"{path}: '{key}' is {value!r}, expected a number (or "
                                  "null); expected a `gixs spacing --json` result")
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


def _csv_keys():
    """(row key, CSV header): metrics named by :func:`gixs.units.metric_column`."""
    from gixs.superlattice.ordering import UNITS
    from gixs.units import metric_column

    def m(key):
        return key, metric_column(key, UNITS.get(key))

    return (("label", "label"), m("q_star"), m("q_star_err"), m("d_spacing"),
            m("d_spacing_err"), ("d_change_nm", "d_change_nm"),
            ("d_change_err_nm", "d_change_err_nm"), ("d_change_pct", "d_change_%"),
            m("nn_distance"), ("lattice_model", "lattice_model"), m("fwhm"),
            m("coherence_length"), m("paracrystal_g"), m("peak_height"),
            ("height_ratio", "height_ratio"), ("height_ratio_err", "height_ratio_err"),
            m("peak_area"), ("area_ratio", "area_ratio"), m("peak_to_valley"),
            ("p2v_ratio_vs_ref", "peak_to_valley_ratio_vs_ref"), m("peak_to_valley_ratio"),
            ("normalization", "normalization"), ("source", "source"))


def to_csv(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = _csv_keys()
    w.writerow([h for _, h in keys])
    for r in rows:
        w.writerow(["" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float)
                                                 else r[k]) for k, _ in keys])
    return buf.getvalue()


def _per_input(values, n, name):
    if values is None:
        return [None] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise ValueError(f"{name} gives {len(values)} values for {n} inputs (give one, or one "
                         "per input)")
    return list(values)


def _specs(args, n):
    """One ``--normalize-by`` SPEC (or None) per input; the deprecated ``--monitor`` /
    ``--thickness-nm`` (one value per input) become the SPEC parts of their names."""
    from gixs.cli.common import NORM_ALIASES

    old = {part: _per_input(getattr(args, part, None), n, flag)
           for flag, part in NORM_ALIASES.items() if getattr(args, part, None) is not None}
    if old and args.normalize_by:
        raise ValueError("give --normalize-by or the deprecated --monitor/--thickness-nm, "
                         "not both")
    if old:
        return [",".join(f"{part}={vals[i]!r}" for part, vals in old.items())
                for i in range(n)]
    return _per_input(args.normalize_by, n, "--normalize-by")


def _normalizations(args, n):
    """One normalize.normalization per input from the flags, or None when none is set."""
    from gixs.cli.common import file_parts, normalization_parts
    from gixs.superlattice.normalize import normalization

    specs = _specs(args, n)
    if not (any(specs) or args.footprint or args.fresnel):
        return None
    films = []
    for spec in _per_input(args.film, n, "--film"):
        if spec is None:
            films.append(None)
            continue
        formula, sep, dens = spec.partition(":")
        try:
            films.append({"formula": formula, "density": float(dens)})
        except ValueError:
            raise ValueError(f"--film {spec!r}: expected FORMULA:DENSITY (g/cm^3), e.g. "
                             "PbS:7.6") from None
        if not sep or not formula:
            raise ValueError(f"--film {spec!r}: expected FORMULA:DENSITY (g/cm^3)")
    if args.fresnel and (films[0] is None or args.energy_kev is None):
        raise ValueError("--fresnel needs --film FORMULA:DENSITY and --energy-kev")
    depths = _per_input(getattr(args, "depth_nm", None), n, "--depth-nm")
    if any(d is not None for d in depths) and not args.fresnel:
        raise ValueError("--depth-nm is a term of --fresnel: give --fresnel too")
    for i, spec in enumerate(depths):
        if spec is None:
            continue
        try:
            parts = [float(x) for x in spec.split(":")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2):
            raise ValueError(f"--depth-nm {spec!r}: expected Z or TOP:BOTTOM (nm), e.g. 2.5 "
                             "or 0:50")
        films[i] = dict(films[i], depth_nm=parts[0] if len(parts) == 1 else tuple(parts))
    inc = getattr(args, "incidence_deg", None)
    out = []
    for spec, f in zip(specs, films):
        if file_parts(spec):
            raise ValueError(f"--normalize-by {spec}: compare takes values (monitor=X, "
                             "thickness_nm=X, exposure_s=X, a number), not the file's "
                             f"{'/'.join(file_parts(spec))}: the inputs are measured films "
                             "whose exposure is already divided out")
        kw = {}  # part names are normalization()'s keywords; a repeated part multiplies
        for name, val, _ in normalization_parts(spec or "none"):
            kw[name] = kw.get(name, 1.0) * val
        out.append(normalization(incidence_deg=inc, exit_deg=args.exit_deg,
                                 footprint=args.footprint, fresnel=args.fresnel, film=f,
                                 energy_kev=args.energy_kev, **kw))
    return out


def run(args) -> int:
    from gixs.io.frames import write_text
    from gixs.superlattice.comparison import compare, format_table

    labels = args.labels or [os.path.splitext(os.path.basename(p))[0] for p in args.inputs]
    if len(labels) != len(args.inputs):
        raise ValueError(f"--labels gives {len(labels)} labels for {len(args.inputs)} inputs")
    results = [_load(p, args) for p in args.inputs]
    norms = _normalizations(args, len(results))
    rows = compare(results, labels, normalizations=norms)
    print(format_table(rows))
    if norms is not None:
        for lab, n in zip(labels, norms):
            terms = ", ".join(f"{k} {v['value']:.4g}{' ' + v['unit'] if v['unit'] else ''}"
                              for k, v in n["terms"].items()) or "none"
            film = n.get("film")
            extra = (f"; film a_c {film['critical_angle_deg']:.3f} deg ({film['source']})"
                     if film else "")
            if film and "depth_nm" in film:
                extra += (f"; scatterers at {film['depth_nm']} nm: scattering depth "
                          f"{film['scattering_depth_nm']:.3g} nm, depth term "
                          f"{film['depth_term']:.4f}")
            print(f"normalisation {lab}: divided by {n['factor']:.4g} = {terms}; off: "
                  f"{', '.join(n['off']) or 'none'}{extra}")
    ref = rows[0]
    for r in rows[1:]:
        def flag(key):
            return " (within error)" if r[key] else ""
        print(f"{r['label']} vs {ref['label']}: d {r['d_change_nm']:+.3f} +- "
              f"{r['d_change_err_nm']:.3f} nm ({r['d_change_pct']:+.2f} %){flag('d_within_error')}"
              f", peak height x{r['height_ratio']:.3f} +- {r['height_ratio_err']:.3f}"
              f"{flag('height_within_error')}, area x{r['area_ratio']:.3f} +- "
              f"{r['area_ratio_err']:.3f}{flag('area_within_error')}, peak-to-valley x"
              f"{r['p2v_ratio_vs_ref']:.2f}")
    if args.output:
        write_text(args.output, to_csv(rows))
        print(f"-> {args.output}")
    if args.plot:
        from gixs.plot.ordering import compare_figure, save

        save(compare_figure(results, labels), args.plot)
        print(f"-> {args.plot}")
    return 0
