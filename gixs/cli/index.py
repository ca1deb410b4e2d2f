"""gixs index: assign Bragg spots/rings of a GIWAXS frame, or peaks of a 1D pattern
(lab XRD), to (hkl) of one or more phases and refine their lattice constants."""

from __future__ import annotations

import math
import os
import sys

from gixs.errors import GixsError
from gixs.cli.common import (add_correction_args, corrections_from_args, orientation_code,
                             settings_from_args)

HELP = "index Bragg spots/rings (GIWAXS frame or 1D pattern) and refine lattices"

_TEXT_EXT = (".xy", ".txt", ".dat", ".csv", ".chi", ".xye")


def add_arguments(p):
    p.add_argument("image", metavar="IMAGE", help="detector image, or a 2-column text "
                   "pattern (.xy/.txt/.dat/.csv: 2theta in deg or q in A^-1, intensity)")
    p.add_argument("--phase", action="append", required=True, metavar="NAME[:k=v,..]",
                   help="phase: built-in name (LaB6, Si, Au, CeO2, ITO, SnO2, FTO, PbS, PbI2, "
                        "CsPbBr3, CsPbBr3-tetra, CsPbBr3-ortho, CsPbI3, MAPbI3, MAPbI3-pc, "
                        "MAPbI3-cubic, FAPbI3), any pyFAI calibrant name, a .cif file, or "
                        "NAME:sg=GROUP,a=..; keys a,b,c (A), "
                        "alpha,beta,gamma (deg) override the lattice; hkl=H/K/L (textured) "
                        "or random set this phase's orientation; repeatable")
    grp = p.add_mutually_exclusive_group()
    grp.add_argument("--texture", nargs=3, type=int, metavar=("H", "K", "L"),
                     help="plane (hkl) parallel to the surface, for phases without their "
                          "own hkl= (fibre texture)")
    from gixs.cli.common import DeprecatedAlias

    grp.add_argument("--orientation", dest="texture", nargs=3, type=int,
                     metavar=("H", "K", "L"), action=DeprecatedAlias, new="--texture",
                     help="deprecated name of --texture")
    grp.add_argument("--random", action="store_true",
                     help="phases without their own hkl= are random powders (default)")
    p.add_argument("--refine", action="store_true",
                   help="search a +-5%% lattice scale, then refine lattice constants")
    p.add_argument("--fit-texture", action="store_true",
                   help="with --refine, also refine the tilt of the texture axis")
    p.add_argument("--tol", type=float, default=None, metavar="Q",
                   help="match tolerance (A^-1; default 0.7 x median peak FWHM)")
    p.add_argument("--min-snr", type=float, default=6.0, help="peak detection threshold")
    p.add_argument("--spot-fwhm", type=float, default=None, metavar="Q",
                   help="expected spot/peak FWHM (A^-1; default 0.03 for images, "
                        "max(0.01, 3 steps) for 1D patterns)")
    p.add_argument("--poni", metavar="P.poni", help="detector geometry (images): PONI file "
                   "or stored geometry name")
    p.add_argument("--incidence-deg", type=float, default=None, metavar="A",
                   help="incidence angle (deg, images)")
    p.add_argument("--tilt-deg", type=float, default=0.0, metavar="T",
                   help="sample tilt, roll about the beam (deg)")
    p.add_argument("--sample-orientation", type=orientation_code, default=1,
                   metavar="N", help="sample orientation on the image, EXIF code 1-8 "
                                     "(default 1; 4: surface normal towards row 0), "
                                     "or 'auto': found from the frame's horizon")
    p.add_argument("--critical-angle-deg", type=float, default=None, metavar="C",
                   help="film critical angle (deg): predicted q_z are shifted by refraction")
    p.add_argument("--reflected-channel", action="store_true",
                   help="with --critical-angle-deg, also predict the reflected exit channel "
                        "(Busch et al. 2006); each peak names its channel")
    p.add_argument("--frame", type=int, default=0, help="frame number in a multi-frame file")
    add_correction_args(p)
    p.add_argument("--pattern-axis", choices=("2theta_deg", "q_A^-1"), default=None,
                   help="abscissa of a 1D text pattern (default 2theta_deg)")
    p.add_argument("--wavelength-a", type=float, default=None, metavar="L",
                   help="wavelength (A) of a 2theta pattern, e.g. 1.5406 for Cu K-alpha")
    p.add_argument("--energy-kev", type=float, default=None, metavar="E",
                   help="photon energy (keV) of a 2theta pattern")
    p.add_argument("--powder-geometry", choices=("powder_2d", "bragg_brentano"),
                   default=None, help="Lorentz-polarization of ring/peak intensities: "
                   "bragg_brentano (lab diffractometer; default for 2theta patterns) or "
                   "powder_2d (polarization-corrected 2D data; default otherwise)")
    p.add_argument("--json", metavar="OUT.json", help="write the result as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write the overlay figure")


def _models(args):
    from gixs.bragg.index import PhaseModel
    from gixs.bragg.phases import parse_phase_model

    default = tuple(args.texture) if args.texture else None
    return [PhaseModel(*parse_phase_model(spec, default), refine=args.refine)
            for spec in args.phase]


def _read_pattern(path, args):
    """(q in 1/A, intensity, axis name, wavelength in A or None) of a 2-column text
    pattern; a 2theta abscissa is converted with the given wavelength."""
    import numpy as np

    from gixs.units import energy_kev_to_wavelength_a, two_theta_deg_to_q

    try:
        data = np.loadtxt(path, comments=("#", ";", "!"), delimiter="," if path.lower()
                          .endswith(".csv") else None, ndmin=2, usecols=(0, 1))
    except (OSError, ValueError) as exc:
        raise GixsError(f"{path}: expected a 2-column text pattern (x, intensity): "
                        f"{exc}") from None
    if data.shape[0] < 10:
        raise GixsError(f"{path}: pattern has {data.shape[0]} rows, need >= 10")
    x, y = data[:, 0], data[:, 1]
    axis = args.pattern_axis or "2theta_deg"
    lam = None
    if args.wavelength_a is not None or args.energy_kev is not None:
        lam = args.wavelength_a or energy_kev_to_wavelength_a(args.energy_kev)
    if axis == "2theta_deg":
        if lam is None:
            raise ValueError("a 2theta pattern needs --wavelength-a (e.g. 1.5406 for Cu "
                             "K-alpha) or --energy-kev")
        if not (0 < x.min() and x.max() < 180):
            raise GixsError(f"{path}: 2theta must lie within 0-180 deg, got "
                            f"{x.min():g}-{x.max():g} (use --pattern-axis q_A^-1 for q)")
        x = two_theta_deg_to_q(x, lam)
    order = np.argsort(x)
    return x[order], y[order], axis, lam


def run(args) -> int:
    models = _models(args)
    is_text = args.image.lower().endswith(_TEXT_EXT) or args.pattern_axis is not None
    meta = {"source": os.path.abspath(args.image)}
    if is_text:
        from gixs.bragg.index import index_pattern
        from gixs.errors import IndexingError

        q, y, axis, lam = _read_pattern(args.image, args)
        geometry = args.powder_geometry or ("bragg_brentano" if axis == "2theta_deg"
                                            else "powder_2d")
        try:
            result = index_pattern(q, y, models, peak_fwhm=args.spot_fwhm,
                                   min_snr=args.min_snr, refine=args.refine, tol=args.tol,
                                   fit_texture=args.fit_texture, wavelength_a=lam,
                                   powder_geometry=geometry)
        except IndexingError as exc:
            raise GixsError(f"{args.image}: {exc}") from None
        meta.update(kind="pattern", pattern_axis=axis, wavelength_a=args.wavelength_a,
                    energy_kev=args.energy_kev)
    else:
        from gixs.cli.progress import stage

        stage("reducing to a q map and indexing")
        result, qmap, extra = _index_image(args, models)
        meta.update(extra)
    d = result.to_dict()
    d["input"] = meta
    from gixs.cli.setup import effective_setup

    d["setup"] = effective_setup(args)
    if args.json:
        from gixs.io.jsonout import write_json

        write_json(args.json, d, schema="gixs.index")
    if args.plot:
        from gixs.plot.common import save

        if is_text:
            from gixs.plot.index import pattern_figure

            fig = pattern_figure(q, y, result, title=os.path.basename(args.image))
        else:
            from gixs.plot.index import index_figure

            fig = index_figure(qmap, result, title=os.path.basename(args.image),
                               horizon_qz=extra["horizon_qz_A^-1"])
        save(fig, args.plot)
    _print_summary(result)
    return 0


def _index_image(args, models):
    from gixs.cli.common import load_geometry, normalization_from_spec
    from gixs.geometry.model import GIGeometry
    from gixs.bragg.index import index_map
    from gixs.reduce.frame import reduce_frame
    from gixs.io.frames import read_frame

    if not args.poni or args.incidence_deg is None:
        raise ValueError("an image needs --poni and --incidence-deg (or give a text "
                         "pattern with --pattern-axis)")
    geometry = load_geometry(args.poni)
    from gixs.cli.common import resolve_orientation
    from gixs.reduce.orientation_check import check_orientation

    code = args.sample_orientation
    gi = GIGeometry.from_degrees(args.incidence_deg, args.tilt_deg,
                                 1 if code == "auto" else code)
    frame = read_frame(args.image, args.frame)
    geometry.for_image_shape(frame.data.shape, source=args.image)
    corr = corrections_from_args(args, frame.data.shape)
    gi = resolve_orientation(args, frame, geometry, gi, corr["mask"],
                             option="--sample-orientation")
    check_orientation(frame.data, geometry, gi, mask=corr["mask"], invalid=frame.invalid,
                      source=args.image)
    settings = settings_from_args(args, npt_map=(600, 600))
    norm, _ = normalization_from_spec(args.normalize_by, frame.metadata, args.image)
    reduced = reduce_frame(frame, geometry, gi, settings, normalization=norm, **corr)
    qmap = reduced.maps["qmap"]
    k0 = 2 * math.pi / geometry.wavelength_a
    horizon = k0 * math.sin(gi.incidence)
    refraction = None
    if args.critical_angle_deg:
        refraction = (geometry.wavelength_a, gi.incidence, math.radians(args.critical_angle_deg))
    result = index_map(qmap, models, min_snr=args.min_snr,
                       **({} if args.spot_fwhm is None else {"spot_fwhm": args.spot_fwhm}),
                       horizon_qz=horizon, refine=args.refine, tol=args.tol,
                       wavelength_a=geometry.wavelength_a,
                       powder_geometry=args.powder_geometry or "powder_2d",
                       refraction=refraction, fit_texture=args.fit_texture,
                       channels=("transmitted", "reflected") if args.reflected_channel
                       else ("transmitted",))
    return result, qmap, {"kind": "image", "frame": frame.index,
                          "geometry": reduced.provenance["geometry"],
                          "grazing_incidence": gi.as_dict(), "horizon_qz_A^-1": horizon}


def _print_summary(result):
    for p in result.phases:
        lat = p["lattice"]
        cells = ", ".join(f"{k}={lat[k]:.5g}{' A' if k in 'abc' else ' deg'}"
                          for k in ("a", "b", "c", "alpha", "beta", "gamma"))
        orient = p["orientation"] if p["orientation"] == "random" else \
            "(" + " ".join(map(str, p["orientation"])) + ") textured"
        rms = "-" if p["rms_residual"] is None else f"{p['rms_residual']:.4f} A^-1"
        print(f"{p['name']} [{orient}]{' refined' if p['refined'] else ''}: {cells}; "
              f"{p['n_peaks']} peaks, rms residual {rms}")
        ag = p.get("intensity_agreement") or {}
        if ag.get("n"):
            rho = "-" if ag["spearman"] is None else f"{ag['spearman']:.3f}"
            print(f"  intensities ({ag['geometry']}): rank correlation {rho}, R factor "
                  f"{ag['r_factor']:.3f} over {ag['n']} peaks")
        elif ag.get("note"):
            print(f"  intensities: {ag['note']}")
        for w in p.get("warnings", ()):
            print(f"WARNING {p['name']}: {w}", file=sys.stderr)
    amb = sum(p["ambiguous"] for p in result.peaks)
    print(f"{len(result.peaks)} peaks assigned ({amb} ambiguous), "
          f"{len(result.unassigned)} unassigned")


