"""gixs geometry: a PONI file from beam centre, distance, energy and detector (no calibrant)."""

from __future__ import annotations

HELP = ("write a PONI geometry from beam centre, distance, energy and detector (Fit2D, "
        "pyFAI or Nika numbers, or a file header); list stored geometries")

EPILOG = """\
examples:
  gixs geometry --detector Pilatus2M --beam-center-px 791.5 368 --y-from bottom \\
      --distance-mm 2565 --energy-kev 12 -o p03.poni
  gixs geometry --from-header frame.tif --energy-kev 14 -o setup.poni
  gixs geometry --list            (stored geometries, usable as --poni NAME)
  gixs geometry --show setup.poni (print the Fit2D view of a PONI file or stored name)
X is the column, Y the row; with --y-from bottom, Y counts rows from the last row up.
Fit2D convention (default): beam centre where the direct beam hits, pixel edges at whole
numbers, distance along the beam to that point, --detector-tilt-deg and --tilt-plane-deg as
Fit2D's tilt and tilt plane rotation. pyFAI: the centre is the PONI in pixels, the distance
the normal distance, --rot-deg R1 R2 R3. Nika: 0-based pixel-centre indices (Fit2D minus
0.5 px), no tilts. The Fit2D view of the result is printed back for checking."""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("--list", action="store_true",
                   help="list the stored geometries (names for --poni) and exit")
    p.add_argument("--show", metavar="PONI",
                   help="print the Fit2D view of a PONI file or stored geometry and exit")
    p.add_argument("--from-header", metavar="IMAGE",
                   help="take beam centre, distance, wavelength and detector from this "
                        "file's header (command-line numbers override); also gives the "
                        "image shape")
    det = p.add_mutually_exclusive_group()
    det.add_argument("--detector", metavar="NAME",
                     help="pyFAI detector name ('Pilatus1M', 'Pilatus2M', 'Eiger2 4M'...)")
    det.add_argument("--pixel-um", type=float, nargs="+", metavar="P",
                     help="generic detector: pixel size (um), one value or rows columns "
                          "(needs --shape)")
    p.add_argument("--shape", type=int, nargs=2, metavar=("ROWS", "COLS"),
                   help="image shape (pixels); checks a named detector, sizes a generic one")
    p.add_argument("--beam-center-px", type=float, nargs=2, metavar=("X", "Y"),
                   help="beam centre (pixels): X = column, Y = row (see --convention)")
    p.add_argument("--y-from", choices=("top", "bottom"), default="top",
                   help="Y counted from the first row as read (top, default) or from "
                        "the last row (bottom)")
    p.add_argument("--distance-mm", type=float, metavar="D",
                   help="sample-detector distance (mm): along the beam (fit2d, nika) or "
                        "normal to the detector (pyfai)")
    wl = p.add_mutually_exclusive_group()
    wl.add_argument("--energy-kev", type=float, metavar="E", help="photon energy (keV)")
    wl.add_argument("--wavelength-a", type=float, metavar="L", help="wavelength (angstrom)")
    p.add_argument("--detector-tilt-deg", type=float, default=0.0, metavar="T",
                   help="detector tilt from normal incidence (deg, Fit2D 'tilt'; default 0)")
    p.add_argument("--tilt-plane-deg", type=float, default=0.0, metavar="P",
                   help="direction of the detector tilt (deg, Fit2D 'tilt plane rotation')")
    p.add_argument("--rot-deg", type=float, nargs=3, metavar=("R1", "R2", "R3"),
                   help="pyFAI rotations rot1 rot2 rot3 (deg); --convention pyfai only")
    p.add_argument("--convention", choices=("fit2d", "pyfai", "nika"), default="fit2d",
                   help="meaning of the beam centre, distance and tilts (default fit2d)")
    p.add_argument("-o", "--output", metavar="OUT.poni", help="PONI file to write")


def run(args) -> int:
    from gixs.calibrate.core import known_geometries, known_geometry
    from gixs.cli.common import load_geometry
    from gixs.geometry.from_numbers import (format_fit2d, geometry_from_beam_center,
                                            geometry_from_header, make_detector)
    from gixs.geometry.model import write_poni

    if args.list:
        names = known_geometries()
        if not names:
            print("no stored geometries")
        for name in names:
            g = known_geometry(name)
            f = g.fit2d()
            print(f"{name}: {g.detector}, direct distance {f['directDist']:.1f} mm, beam "
                  f"centre x={f['centerX']:.1f} y={f['centerY']:.1f} px, "
                  f"{g.energy_kev:.3f} keV")
        return 0
    if args.show:
        g = load_geometry(args.show)
        print(f"{args.show}: {format_fit2d(g)}")
        return 0
    if not args.output:
        raise ValueError("-o OUT.poni is required (or --list / --show)")
    shape = tuple(args.shape) if args.shape else None
    header_note = ""
    meta, sensor = {}, None
    if args.from_header:
        meta, shape, sensor = image_header(args.from_header, shape)
    numbers = dict(beam_center_px=args.beam_center_px, distance_mm=args.distance_mm,
                   energy_kev=args.energy_kev, wavelength_a=args.wavelength_a)
    if args.from_header and not any(v is not None for v in numbers.values()) \
            and args.convention == "fit2d" and args.y_from == "top":
        geometry, used = geometry_from_header(meta, shape=shape, detector=args.detector,
                                              sensor=sensor, source=args.from_header)
        header_note = f"; from {args.from_header} header: {', '.join(used)}"
    else:
        used = []
        if meta:
            if numbers["beam_center_px"] is None and meta.get("beam_center_px") is not None:
                if args.convention != "fit2d" or args.y_from != "top":
                    raise ValueError(f"{args.from_header}: the header's beam centre is in "
                                     "array coordinates (x column, y row from the top); "
                                     "--convention/--y-from apply to --beam-center-px only")
                numbers["beam_center_px"] = meta["beam_center_px"]
                used.append("beam_center_px")
            if numbers["distance_mm"] is None and meta.get("distance_m") is not None:
                numbers["distance_mm"] = meta["distance_m"] * 1e3
                used.append("distance_m")
            if numbers["energy_kev"] is None and numbers["wavelength_a"] is None \
                    and meta.get("wavelength_a") is not None:
                numbers["wavelength_a"] = meta["wavelength_a"]
                used.append("wavelength_a")
        missing = [f for f, k in (("--beam-center-px", "beam_center_px"),
                                  ("--distance-mm", "distance_mm")) if numbers[k] is None]
        if numbers["energy_kev"] is None and numbers["wavelength_a"] is None:
            missing.append("--energy-kev or --wavelength-a")
        if missing:
            raise ValueError(f"missing {', '.join(missing)}"
                             + (f" (not in the header of {args.from_header})"
                                if args.from_header else ""))
        name = args.detector or (meta.get("detector") if meta else None)
        if name is None and args.pixel_um is None:
            if shape is None:
                raise ValueError("give --detector NAME (or --pixel-um with --shape, or "
                                 "--from-header IMAGE)")
            from gixs.geometry.from_numbers import infer_detector

            name = infer_detector(shape, sensor=sensor, source=args.from_header or "--shape")
        elif name is not None and not args.detector:
            used.append("detector")
        if args.pixel_um is not None and len(args.pixel_um) > 2:
            raise ValueError("--pixel-um takes one or two sizes (um)")
        det = make_detector(name, pixel_size_um=args.pixel_um, shape=shape,
                            source=args.from_header or "--detector")
        geometry = geometry_from_beam_center(
            det, tilt_deg=args.detector_tilt_deg, tilt_plane_deg=args.tilt_plane_deg,
            rot_deg=args.rot_deg, convention=args.convention, y_from=args.y_from,
            shape=shape, **numbers)
        if used:
            header_note = f"; from {args.from_header} header: {', '.join(used)}"
    write_poni(geometry, args.output, comment=(
        "gixs geometry: " + " ".join(_given(args)) + header_note))
    print(f"{args.output}: {format_fit2d(geometry, shape)}{header_note}")
    return 0


def image_header(path, shape=None):
    """(parsed header metadata, image shape, sensor material or None) of an image file;
    the metadata is {} when gixs.io.headers is not installed."""
    from gixs.geometry.from_numbers import sensor_from_header
    from gixs.io.frames import open_image

    raw = open_image(path.split("::")[0])
    data_shape = tuple(int(s) for s in raw.data.shape[-2:])
    if shape is not None and tuple(shape) != data_shape:
        raise ValueError(f"{path}: image is {data_shape[0]}x{data_shape[1]}, --shape says "
                         f"{shape[0]}x{shape[1]}")
    header = dict(getattr(raw, "header", {}) or {})
    from gixs.io.headers import parse_header

    meta = parse_header(header, source=path)
    return meta, data_shape, sensor_from_header(header)


def _given(args):
    out = []
    for key in ("detector", "pixel_um", "shape", "beam_center_px", "y_from", "distance_mm",
                "energy_kev", "wavelength_a", "detector_tilt_deg", "tilt_plane_deg",
                "rot_deg", "convention", "from_header"):
        val = getattr(args, key, None)
        if val is None or (key in ("detector_tilt_deg", "tilt_plane_deg") and not val):
            continue
        val = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in val) \
            if isinstance(val, (list, tuple)) else val
        out.append(f"--{key.replace('_', '-')} {val}")
    return out
