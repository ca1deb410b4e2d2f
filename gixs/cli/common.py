"""Arguments shared by the subcommands: geometry, grazing incidence, corrections."""

from __future__ import annotations

import argparse
import os

from gixs.errors import GixsError


class DeprecatedAlias(argparse.Action):
    """An old option name kept working; the run warns once that it is deprecated."""

    def __init__(self, option_strings, dest, new=None, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        notes = list(getattr(namespace, "_deprecated", []) or [])
        notes.append(f"{option_string} is deprecated, use {self.new}")
        namespace._deprecated = notes


class Repeated(argparse.Action):
    """A repeatable option whose value stays a single value when given once (so a
    setup file's ``poni = "x.poni"`` and one ``--poni`` look alike) and becomes a list
    when given several times."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = f"_seen_{self.dest}"
        if not getattr(namespace, seen, False):
            setattr(namespace, seen, True)
            setattr(namespace, self.dest, values)
            return
        old = getattr(namespace, self.dest)
        setattr(namespace, self.dest, (old if isinstance(old, list) else [old]) + [values])


def as_list(value) -> list:
    """A :class:`Repeated` option's value as a list (``[]`` for None)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def add_geometry_args(p, incidence_required=True, several_poni=False):
    """--poni, --incidence-deg, --tilt-deg, --sample-orientation, --critical-angle-deg.

    ``several_poni``: ``--poni`` may be repeated (detector parts, :mod:`gixs.cli.parts`)
    and is not required (the command checks).
    """
    if several_poni:
        p.add_argument("--poni", action=Repeated, metavar="P.poni",
                       help="detector geometry: a pyFAI PONI file, or the name of a stored "
                            "geometry (gixs geometry --list); repeat it for several "
                            "detector parts: one per image (detector positions) or, with "
                            "--part-rows/--part-cols, one per pixel range of one image")
    else:
        p.add_argument("--poni", required=True, metavar="P.poni",
                       help="detector geometry: a pyFAI PONI file, or the name of a stored "
                            "geometry (gixs geometry --list)")
    p.add_argument("--incidence-deg", type=float, required=incidence_required, default=0.0,
                   metavar="A", help="incidence angle alpha_i (deg)")
    p.add_argument("--tilt-deg", type=float, default=0.0, metavar="T",
                   help="sample tilt, roll about the beam (deg, default 0)")
    p.add_argument("--sample-orientation", type=orientation_code, default=1, metavar="N",
                   help="sample orientation on the image, EXIF code 1-8 (default 1: "
                        "normal towards increasing row index; 4: towards row 0), or 'auto' "
                        "(where the command supports it): found from the frame's horizon")
    p.add_argument("--orientation", dest="sample_orientation", type=orientation_code,
                   metavar="N", action=DeprecatedAlias, new="--sample-orientation",
                   help="deprecated name of --sample-orientation")
    p.add_argument("--critical-angle-deg", type=float, default=None, metavar="C",
                   help="film critical angle (deg) for refraction-corrected q_z")


def add_correction_args(p):
    """--mask, --dark, --flat, --no-solid-angle, --polarization, --normalize-by."""
    p.add_argument("--mask", metavar="M", help="mask image, nonzero = masked")
    p.add_argument("--dark", metavar="D", help="dark frame, subtracted")
    p.add_argument("--flat", metavar="F", help="flat field, divided")
    p.add_argument("--no-solid-angle", action="store_true",
                   help="switch off the solid-angle correction")
    p.add_argument("--polarization", type=float, default=0.99, metavar="P",
                   help="polarization factor -1..1 (default 0.99, horizontal synchrotron); "
                        "use 'none' via --no-polarization")
    p.add_argument("--no-polarization", action="store_true",
                   help="switch off the polarization correction")
    add_normalization_arg(p)


def add_instrument_args(p):
    """--instrument-fwhm, --resolution, --beam-size-mm, --sample-length-mm: the widths
    removed from peak FWHMs (:class:`gixs.superlattice.widths.Instrument`)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--instrument-fwhm", type=float, default=None, metavar="W",
                   help="Gaussian instrument width (A^-1), constant in q; or --resolution")
    g.add_argument("--resolution", metavar="REPORT.json",
                   help="instrument resolution model: the report of `gixs calibrate "
                        "--report` on a calibrant frame (its 'resolution', FWHM vs q)")
    p.add_argument("--beam-size-mm", type=float, default=None, metavar="H",
                   help="beam height (mm) for the footprint width term: footprint "
                        "H / sin(a_i), at most --sample-length-mm")
    p.add_argument("--sample-length-mm", type=float, default=None, metavar="L",
                   help="sample length along the beam (mm), caps the footprint (alone: "
                        "the whole sample taken as lit)")


def instrument_from_args(args, geometry, incidence_deg):
    """:class:`gixs.superlattice.widths.Instrument` from :func:`add_instrument_args`'
    options at one incidence (deg), or None when none is given. A report without a
    resolution model, or one measured at another wavelength, is refused (FormatError /
    ValueError)."""
    from gixs.superlattice.widths import instrument_at_incidence

    base, beam, length = instrument_base_from_args(args, geometry)
    return instrument_at_incidence(base, beam_size_mm=beam, sample_length_mm=length,
                                   incidence_deg=incidence_deg, distance_m=geometry.dist_m,
                                   wavelength_a=geometry.wavelength_a)


def instrument_base_from_args(args, geometry):
    """(Instrument without footprint or None, beam size mm, sample length mm) from
    :func:`add_instrument_args`' options: the part shared by every frame of a batch,
    whose footprint then follows each frame's incidence
    (:func:`gixs.superlattice.widths.instrument_at_incidence`)."""
    import math

    from gixs.errors import FormatError
    from gixs.superlattice.widths import Instrument

    beam, length = getattr(args, "beam_size_mm", None), getattr(args, "sample_length_mm", None)
    for flag, v in (("--beam-size-mm", beam), ("--sample-length-mm", length),
                    ("--instrument-fwhm", getattr(args, "instrument_fwhm", None))):
        if v is not None and not (math.isfinite(v) and v >= 0 if flag == "--instrument-fwhm"
                                  else math.isfinite(v) and v > 0):
            raise ValueError(f"{flag} must be a finite number "
                             f"{'>= 0 (A^-1)' if flag == '--instrument-fwhm' else '> 0 (mm)'}"
                             f", got {v!r}")
    model, source = None, ""
    if getattr(args, "resolution", None):
        from gixs.calibrate.resolution import ResolutionModel
        from gixs.io.jsonout import read_json

        doc = read_json(args.resolution, schema="gixs.calibration")
        res = doc.get("resolution")
        if not isinstance(res, dict) or "error" in res or "W_deg2" not in res:
            why = res.get("error") if isinstance(res, dict) and res.get("error") else \
                "no 'resolution' entry"
            raise FormatError(f"{args.resolution}: --resolution: the calibration report has "
                              f"no resolution model ({why}); rerun `gixs calibrate --report`"
                              " on a calibrant frame with isolated rings")
        try:
            model = ResolutionModel.from_dict(res)
        except ValueError as exc:
            raise FormatError(f"{args.resolution}: --resolution: {exc}") from None
        lam = geometry.wavelength_a
        if abs(model.wavelength_a / lam - 1) > 1e-3:
            raise ValueError(f"--resolution {args.resolution}: model measured at "
                             f"{model.wavelength_a:.5f} A, this frame's geometry is at "
                             f"{lam:.5f} A; calibrate at the same energy")
        source = os.path.abspath(args.resolution)
    fixed = getattr(args, "instrument_fwhm", None)
    base = None
    if model is not None or fixed is not None:
        base = Instrument(gaussian_fwhm=fixed, resolution=model, source=source or (
            "--instrument-fwhm" if fixed is not None else ""))
    return base, beam, length


#: Named parts of --normalize-by and the unit each names.
NORM_PARTS = {"exposure_s": "s", "monitor": "", "thickness_nm": "nm"}


def add_normalization_arg(p):
    """--normalize-by SPEC: the one normalisation option of every command."""
    p.add_argument("--normalize-by", default=None, metavar="SPEC",
                   help="divide intensities by the product of comma-separated parts: a "
                        "number, 'exposure' / 'monitor' (the file's values), "
                        "'exposure_s=X', 'monitor=X', 'thickness_nm=X', or 'none'; "
                        "default: the file's exposure time when it has one, else 1")


#: Old per-part normalisation flags (``gixs spacing``; ``--monitor`` / ``--thickness-nm``
#: in ``gixs compare``, one value per input there) and the --normalize-by part each is.
NORM_ALIASES = {"--exposure-s": "exposure_s", "--monitor": "monitor",
                "--thickness-nm": "thickness_nm"}


def add_normalization_aliases(p, flags=tuple(NORM_ALIASES), nargs=None):
    """The deprecated ``--exposure-s X``, ``--monitor X``, ``--thickness-nm X``: each is
    the ``--normalize-by`` part of that name (see :func:`normalization_from_args`).
    ``flags`` picks some of them; ``nargs="+"`` takes one value per input (compare)."""
    for flag in flags:
        part = NORM_ALIASES[flag]
        each = " (one for all inputs or one per input)" if nargs else ""
        p.add_argument(flag, type=float, default=None, action=DeprecatedAlias, nargs=nargs,
                       metavar="X",
                       new=f"--normalize-by {part}=X",
                       help=f"deprecated: use --normalize-by {part}=X{each}")


def normalization_from_args(args, metadata=None, source="image"):
    """(factor, description) of a parsed command line: its ``--normalize-by`` SPEC, or
    the SPEC the deprecated part flags (:func:`add_normalization_aliases`) stand for.

    The old flags multiplied the file's exposure time (when the file has one and
    ``--exposure-s`` is not given) by the given parts; the SPEC they become says so:
    ``--thickness-nm 30`` on a file with an exposure time is ``exposure,thickness_nm=30``.
    Both ways at once is an error.

    Examples
    --------
    >>> import argparse
    >>> a = argparse.Namespace(normalize_by=None, exposure_s=None, monitor=None,
    ...                        thickness_nm=30.0)
    >>> normalization_from_args(a, {"exposure_s": 2.0})
    (60.0, 'exposure 2 s (from file), thickness 30 nm')
    """
    old = [(part, getattr(args, part)) for part in NORM_ALIASES.values()
           if getattr(args, part, None) is not None]
    spec = getattr(args, "normalize_by", None)
    if old and spec:
        raise ValueError("give --normalize-by or the deprecated "
                         f"{'/'.join(NORM_ALIASES)}, not both")
    if old:
        parts = [f"{k}={v!r}" for k, v in old]
        if "exposure_s" not in dict(old) and (metadata or {}).get("exposure_s"):
            parts.insert(0, "exposure")
        spec = ",".join(parts)
    return normalization_from_spec(spec, metadata, source)


def normalization_from_spec(spec, metadata=None, source="image"):
    """(factor, description) of a ``--normalize-by`` SPEC for a frame's metadata: the
    product of its :func:`normalization_parts`.

    Examples
    --------
    >>> normalization_from_spec("exposure,thickness_nm=30", {"exposure_s": 2.0})
    (60.0, 'exposure 2 s (from file), thickness 30 nm')
    >>> normalization_from_spec(None, {})
    (1.0, 'none')
    """
    import math

    parts = normalization_parts(spec, metadata, source)
    return (float(math.prod(v for _, v, _ in parts)),
            ", ".join(d for _, _, d in parts) or "none")


def normalization_parts(spec, metadata=None, source="image"):
    """The parts of a ``--normalize-by`` SPEC: a list of (name, value, description),
    name one of :data:`NORM_PARTS` or ``"factor"`` (a bare number); 'exposure' and
    'monitor' take the file's value from ``metadata``; no SPEC is the file's exposure
    time when it has one, else no part.

    Examples
    --------
    >>> normalization_parts("monitor=2e4,2")
    [('monitor', 20000.0, 'monitor 20000'), ('factor', 2.0, 'factor 2')]
    >>> normalization_parts(None, {"exposure_s": 0.5})
    [('exposure_s', 0.5, 'exposure 0.5 s (from file)')]
    """
    metadata = metadata or {}
    if spec is None or str(spec).strip() == "":
        exp = metadata.get("exposure_s")
        return [("exposure_s", float(exp), f"exposure {float(exp):g} s (from file)")] \
            if exp else []
    parts = []
    for raw in str(spec).split(","):
        part = raw.strip().lower()
        if part == "none":
            continue
        if part in FILE_PARTS:
            key = FILE_PARTS[part]
            val = metadata.get(key)
            if not val:
                raise ValueError(f"--normalize-by {part}: {source} has no {part} in its "
                                 "header; give the value (e.g. "
                                 f"{key}=...)")
            val = float(val)
            desc = f"exposure {val:g} s (from file)" if part == "exposure" else \
                f"monitor {val:g} (from file)"
        elif "=" in part:
            key, _, num = part.partition("=")
            key = key.strip()
            if key not in NORM_PARTS:
                raise ValueError(f"--normalize-by: unknown part {key!r} (known: "
                                 f"{', '.join(NORM_PARTS)}, exposure, monitor, a number)")
            val = _positive(num, f"--normalize-by {key}")
            desc = {"exposure_s": f"exposure {val:g} s", "monitor": f"monitor {val:g}",
                    "thickness_nm": f"thickness {val:g} nm"}[key]
        else:
            key = "factor"
            val = _positive(part, "--normalize-by")
            desc = f"factor {val:g}"
        parts.append((key, val, desc))
    return parts


#: The --normalize-by parts that read the file's header, and the value each reads.
FILE_PARTS = {"exposure": "exposure_s", "monitor": "monitor"}


def file_parts(spec) -> list:
    """The parts of a ``--normalize-by`` SPEC that read each file's header ('exposure',
    'monitor'), in order.

    Examples
    --------
    >>> file_parts("exposure, thickness_nm=30,MONITOR")
    ['exposure', 'monitor']
    """
    return [p for p in (q.strip().lower() for q in str(spec or "").split(","))
            if p in FILE_PARTS]


def batch_normalization(spec):
    """A ``--normalize-by`` SPEC for a batch: None (each frame's exposure time, the
    default and 'exposure') or one fixed factor; per-frame parts mixed with others are
    refused (the batch takes one number or each frame's exposure)."""
    if spec is None or str(spec).strip().lower() in ("", "exposure"):
        return None
    if file_parts(spec):
        raise ValueError("--normalize-by: a batch takes one fixed factor (numbers, "
                         "exposure_s=, monitor=, thickness_nm=) or 'exposure' alone (each "
                         "frame's exposure time); per-frame monitor is not supported")
    return normalization_from_spec(spec, {})[0]


def _positive(text, name):
    try:
        val = float(text)
    except ValueError:
        raise ValueError(f"{name}: expected a positive number, got {text.strip()!r}") from None
    if not val > 0 or val != val or val == float("inf"):
        raise ValueError(f"{name} must be > 0, got {text.strip()}")
    return val


def orientation_code(text):
    """argparse type of --orientation: an EXIF code 1-8 or 'auto'."""
    import argparse

    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        code = int(text)
    except ValueError:
        code = 0
    if not 1 <= code <= 8:
        raise argparse.ArgumentTypeError(f"expected an EXIF code 1-8 or 'auto', got {text!r}")
    return code


def geometry_from_args(args, allow_auto=False):
    """(DetectorGeometry, GIGeometry) from parsed arguments.

    ``--sample-orientation auto`` gives orientation 1 as a placeholder when ``allow_auto``
    (the command then calls :func:`resolve_orientation` on its frame); else it is an error.
    """
    return load_geometry(args.poni), gi_from_args(args, allow_auto)


def gi_from_args(args, allow_auto=False):
    """The GIGeometry of parsed arguments (incidence, tilt, sample orientation,
    critical angle), as :func:`geometry_from_args` makes it.

    Examples
    --------
    >>> import argparse
    >>> a = argparse.Namespace(incidence_deg=0.2, tilt_deg=0.0, sample_orientation=4,
    ...                        critical_angle_deg=None)
    >>> gi_from_args(a).orientation
    4
    """
    from gixs.geometry.model import GIGeometry

    code = args.sample_orientation
    if code == "auto" and not allow_auto:
        raise ValueError("--sample-orientation auto is not supported by this command; find the "
                         "code with `gixs spacing IMAGE --sample-orientation auto` and give it")
    try:
        gi = GIGeometry.from_degrees(args.incidence_deg, args.tilt_deg,
                                     1 if code == "auto" else code,
                                     args.critical_angle_deg)
    except ValueError as exc:
        raise ValueError(f"--{str(exc).split(' ')[0].replace('_', '-')} "
                         f"{' '.join(str(exc).split(' ')[1:])}") from None
    return gi


def load_geometry(spec):
    """DetectorGeometry from a PONI file, or from a stored geometry's name.

    A path that exists is read as a PONI file; a bare name (no folder, no ``.poni``) is
    looked up among the stored geometries (:func:`gixs.calibrate.core.known_geometry`).
    """
    from gixs.errors import GeometryError
    from gixs.geometry.model import load_poni

    spec = os.fspath(spec)
    if os.path.exists(spec) or os.sep in spec or spec.endswith(".poni"):
        return load_poni(spec)
    from gixs.calibrate.core import known_geometries, known_geometry  # scipy.signal: slow

    if spec in known_geometries():
        return known_geometry(spec)
    raise GeometryError(f"{spec}: neither a PONI file nor a stored geometry (stored: "
                        f"{', '.join(known_geometries()) or 'none'}; see gixs geometry "
                        "--list)")


def corrections_from_args(args, shape):
    """dict(mask=, dark=, flat=) read from files and checked against ``shape``."""
    from gixs.io.frames import read_array, read_mask

    from gixs.io.validate import check_corrections

    mask = read_mask(args.mask, shape) if args.mask else None
    dark = read_array(args.dark, shape, "dark") if args.dark else None
    flat = read_array(args.flat, shape, "flat") if args.flat else None
    names = {"mask": args.mask, "dark": args.dark, "flat": args.flat}
    mask, dark, flat = check_corrections(mask, dark, flat, shape, names=names)
    return {"mask": mask, "dark": dark, "flat": flat}


def settings_from_args(args, **extra):
    """ReduceSettings from the correction switches."""
    from gixs.reduce.frame import ReduceSettings

    pol = None if getattr(args, "no_polarization", False) else args.polarization
    return ReduceSettings(solid_angle=not getattr(args, "no_solid_angle", False),
                          polarization_factor=pol, **extra)


def output_dir(path, *, create=True):
    """Return an output folder, created when ``create`` (commands that write one set of
    files with :func:`gixs.io.frames.atomic_set` pass False: it makes the folder and
    removes it again if the set is never written); a file in the way is an error."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise GixsError(f"{path}: -o must name a folder, and this is a file")
    if create:
        os.makedirs(path, exist_ok=True)
    return path


#: File-name suffixes of the profiles a reduction writes as CSV.
PROFILE_SUFFIXES = {"iq": "_iq.csv", "ip": "_ip.csv", "oop": "_oop.csv"}


def reduction_paths(out, stem, sectors):
    """The files of one reduction's output set in folder ``out``: HDF5, profile CSVs,
    sector CSVs, ``.xy``, ``.chi`` and the PNG; sector CSVs of an earlier run belong to the
    set too (removed by :func:`gixs.io.frames.atomic_set` unless rewritten)."""
    import glob

    base = os.path.join(out, stem)
    paths = [base + ".h5"] + [base + PROFILE_SUFFIXES[k] for k in ("iq", "ip", "oop")] + \
        [base + f"_sector_{lo:g}_{hi:g}.csv" for lo, hi in sectors] + \
        [base + "_iq.xy", base + "_iq.chi", base + "_qmap.png"]
    return paths + sorted(set(glob.glob(glob.escape(base) + "_sector_*.csv")) - set(paths))


def figure_process(draw):
    """A context holding the :class:`gixs.plot.process.FigureProcess` of a command that
    will draw a figure (``draw`` true; else None), started now so that its imports
    overlap the command's work."""
    import contextlib

    if not draw:
        return contextlib.nullcontext(None)
    from gixs.plot.process import FigureProcess

    return FigureProcess()


def write_reduction(paths, stem, reduced, args, wavelength_a, figure=None, figures=None):
    """Write one reduction's output set (:func:`reduction_paths`) atomically: all files or
    none. ``.xy`` / ``.chi`` are written when ``--xy`` / ``--chi`` ask.

    ``figure`` is ``(function, args, kwargs)`` of the overview figure (``function`` as
    ``"module:name"``), drawn unless ``--no-plot`` by ``figures``, a
    :class:`gixs.plot.process.FigureProcess` that the command started before its work so
    that matplotlib's import overlaps it (one is started here when none is given); it is
    drawn while the other files are written and saved before the set is committed.
    """
    import contextlib

    from gixs.io.frames import atomic_set
    from gixs.io.output import write_chi, write_profile_csv, write_reduced_h5, write_xy

    draw = figure is not None and not args.no_plot
    with contextlib.ExitStack() as stack:
        if draw and figures is None:
            from gixs.plot.process import FigureProcess

            figures = stack.enter_context(FigureProcess())
        # all files or none, never a new .h5 beside old CSVs
        tmps = stack.enter_context(atomic_set(paths))
        tmp = {os.path.basename(p): t for p, t in zip(paths, tmps)}
        if draw:
            from gixs.cli.progress import stage

            png = stem + "_qmap.png"
            stage(f"drawing {os.path.join(os.path.dirname(paths[0]), png)}")
            func, fargs, fkw = figure
            figures.draw(tmp[png], func, *fargs, **fkw)
        write_reduced_h5(tmp[stem + ".h5"], reduced)
        for key, prof in reduced.profiles.items():
            write_profile_csv(tmp[stem + PROFILE_SUFFIXES.get(key, f"_{key}.csv")], prof,
                              reduced.provenance)
        if args.xy:
            write_xy(tmp[stem + "_iq.xy"], reduced.profiles["iq"], unit=args.xy,
                     wavelength_a=wavelength_a, provenance=reduced.provenance)
        if args.chi:
            write_chi(tmp[stem + "_iq.chi"], reduced.profiles["iq"], unit=args.chi,
                      wavelength_a=wavelength_a, title=stem)
        if draw:
            figures.wait()


#: Arguments that name files a command reads, and files it writes.
INPUT_ARGS = ("image", "inputs", "poni", "mask", "dark", "flat", "incidence_list", "setup",
              "resolution")
OUTPUT_ARGS = ("output", "table", "json", "plot", "csv", "report")


def _same_file(a, b) -> bool:
    a, b = os.path.realpath(a), os.path.realpath(b)
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs, inputs) -> None:
    """Refuse (GixsError) an output that is one of the inputs or another output.

    ``outputs`` and ``inputs`` map an argument name (as the user typed it, e.g. ``--json``)
    to a path or a list of paths; ``FILE.h5::/dataset`` names the file. Paths are compared
    resolved (symbolic links, ``..``, hard links), so ``gixs batch d/x.h5 -o ./d/x.h5``
    cannot overwrite its input.
    """
    from gixs.io.frames import split_h5_path

    def flat(mapping):
        for name, value in mapping.items():
            if value is None or isinstance(value, bool):
                continue
            for v in value if isinstance(value, (list, tuple)) else [value]:
                v = os.fspath(v)
                if v.startswith("@"):
                    v = v[1:]
                yield name, split_h5_path(v)[0]

    ins = [(n, p) for n, p in flat(inputs) if os.path.exists(p)]
    seen = []
    for name, path in flat(outputs):
        for iname, ipath in ins:
            if _same_file(path, ipath):
                raise GixsError(f"{path}: {name} would overwrite the input {iname} "
                                f"{ipath}; choose another output path")
        for oname, opath in seen:
            if os.path.realpath(path) == os.path.realpath(opath):
                raise GixsError(f"{path}: {name} and {oname} name the same file")
        seen.append((name, path))


def check_args_outputs(args) -> None:
    """:func:`check_outputs` over the file arguments of a parsed command line (the output
    folder of ``gixs reduce`` is checked by that command, file by file)."""
    folder_out = getattr(args, "_name", None) == "reduce"
    outputs = {f"--{k}" if k != "output" else "-o": getattr(args, k, None)
               for k in OUTPUT_ARGS if not (folder_out and k == "output")}
    inputs = {k.replace("_", "-"): getattr(args, k, None) for k in INPUT_ARGS}
    check_outputs(outputs, inputs)


def resolve_orientation(args, frame, geometry, gi, mask=None, option="--sample-orientation"):
    """``gi`` with the orientation the frame supports when ``option`` was 'auto'.

    Prints the code chosen and why on stderr; raises GeometryError when the frame does
    not tell (see :func:`gixs.reduce.orientation_check.detect_orientation`).
    """
    import dataclasses
    import sys

    from gixs.reduce.orientation_check import detect_orientation

    value = getattr(args, option.lstrip("-").replace("-", "_"))
    if value != "auto":
        return gi
    code, ev = detect_orientation(frame.data, geometry, gi, mask=mask, invalid=frame.invalid,
                                  source=frame.source)
    print(f"{option} auto: {ev['why']}", file=sys.stderr)
    return dataclasses.replace(gi, orientation=code)



#: Options that must be finite numbers > 0 when given (unit in the message).
POSITIVE_ARGS = {"wavelength_a": "A", "energy_kev": "keV", "distance_mm": "mm",
                 "pixel_um": "um", "npt": "bins", "thickness_nm": "nm", "exposure_s": "s",
                 "monitor": "counts", "chunk": "frames", "workers": "processes"}


def check_number_args(args) -> None:
    """ValueError (one line naming the option) for a non-positive or non-finite value of
    the options in :data:`POSITIVE_ARGS`, or a reversed ``--q-range``."""
    import math

    for key, unit in POSITIVE_ARGS.items():
        value = getattr(args, key, None)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None:
                continue
            if not (math.isfinite(float(v)) and float(v) > 0):
                raise ValueError(f"--{key.replace('_', '-')} must be a finite number > 0 "
                                 f"({unit}), got {v!r}")
    q_range = getattr(args, "q_range", None)
    if q_range is not None:
        lo, hi = map(float, q_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"--q-range must be Q_LO Q_HI with 0 <= Q_LO < Q_HI (A^-1), got "
                             f"{lo:g} {hi:g}")
