"""gixs index: assign Bragg spots/rings of a GIWAXS frame, or peaks of a 1D pattern
(lab XRD), to (hkl) of one or more phases and refine their lattice constants."""

from __future__ import annotations

import math
import os
import sys

from gixs.errors import GixsError
from gixs.cli.common import (add_correction_args, add_instrument_args, corrections_from_args,
                             instrument_from_args, orientation_code, settings_from_args)

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
    add_instrument_args(p)
    p.add_argument("--scherrer-k", type=float, default=0.9, metavar="K",
                   help="Scherrer constant of the crystallite sizes (default 0.9)")
    p.add_argument("--pole-figure", action="store_true",
                   help="images: pole figure I(chi) at each assigned reflection's |q|, "
                        "with its Hermans f (wedge filled by a Legendre fit, refused below "
                        "0.6 chi coverage) and mosaicity (deg FWHM about the spot's chi)")
    p.add_argument("--source", default=None, metavar="ANODE",
                   help="lab tube of a 2theta pattern: Cu, Co, Mo or Ag K-alpha1/K-alpha2 "
                        "doublet (gixs.bragg.powder); replaces --wavelength-a")
    p.add_argument("--ka2-ratio", type=float, default=0.5, metavar="R",
                   help="K-alpha2/K-alpha1 intensity ratio with --source (default 0.5)")
    p.add_argument("--refine-zero", action="store_true",
                   help="with --source --refine, refine the 2theta zero shift (deg)")
    p.add_argument("--refine-displacement", action="store_true",
                   help="with --source --refine, refine the sample displacement (mm; "
                        "needs --goniometer-radius-mm)")
    p.add_argument("--goniometer-radius-mm", type=float, default=None, metavar="R",
                   help="diffractometer radius (mm) for the sample displacement")
    p.add_argument("--powder-geometry", choices=("powder_2d", "bragg_brentano"),
                   default=None, help="Lorentz-polarization of ring/peak intensities: "
                   "bragg_brentano (lab diffractometer; default for 2theta patterns) or "
                   "powder_2d (polarization-corrected 2D data; default otherwise)")
    p.add_argument("--march-dollase", type=float, default=None, metavar="R",
                   help="March-Dollase preferred-orientation parameter r (> 0; 1 random, "
                        "< 1 plates with --md-axis along the sample normal, > 1 needles) "
                        "for the predicted intensities of the random-powder phases: "
                        "P = (r^2 cos^2 a + sin^2 a / r)^-3/2, a the angle of a reflection "
                        "to the axis, averaged over each family (Dollase 1986)")
    p.add_argument("--md-axis", nargs=3, type=int, default=None, metavar=("H", "K", "L"),
                   help="preferred (texture) direction of --march-dollase (default 0 0 1)")
    p.add_argument("-o", "--output", "--json", dest="output", metavar="OUT.json",
                   help="write the result (with units) to this JSON file")
    p.add_argument("--plot", metavar="OUT.png", help="write the overlay figure")


def _models(args):
    from gixs.bragg.index import PhaseModel
    from gixs.bragg.phases import parse_phase_model

    default = tuple(args.texture) if args.texture else None
    parsed = [parse_phase_model(spec, default) for spec in args.phase]
    if args.march_dollase is None:
        if args.md_axis is not None:
            raise ValueError("--md-axis needs --march-dollase R")
        return [PhaseModel(ph, o, refine=args.refine) for ph, o in parsed]
    if all(o is not None for _, o in parsed):
        raise ValueError("--march-dollase: no random-powder phase (it sets the texture "
                         "of rings; a fibre-textured phase has hkl= / --texture instead)")
    if not (math.isfinite(args.march_dollase) and args.march_dollase > 0):
        raise ValueError(f"--march-dollase: r must be a number > 0, got {args.march_dollase}")
    axis = tuple(args.md_axis) if args.md_axis is not None else (0, 0, 1)
    if not any(axis):
        raise ValueError("--md-axis: the preferred direction must be a nonzero H K L")
    return [PhaseModel(ph, o, refine=args.refine,
                       texture=None if o is not None else (axis, args.march_dollase))
            for ph, o in parsed]


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
    if args.source:  # lab doublet: gixs.bragg.powder works on the 2theta axis itself
        if axis != "2theta_deg":
            raise ValueError("--source needs a 2theta pattern (a q axis already folds one "
                             "wavelength in)")
        order = np.argsort(x)
        return x[order], y[order], axis, None
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
        q, y, axis, lam = _read_pattern(args.image, args)
    if is_text and args.source:
        from gixs.bragg.powder import index_doublet_pattern, instrument_shift, source

        src = source(args.source, args.ka2_ratio)
        result, lab = index_doublet_pattern(q, y, models, src, refine=args.refine,
                                            refine_zero=args.refine_zero,
                                            refine_displacement=args.refine_displacement,
                                            radius_mm=args.goniometer_radius_mm,
                                            min_snr=args.min_snr, tol=args.tol)
        meta.update(kind="pattern", pattern_axis=axis, lab_source=lab)
        # the plot's q axis: K-alpha1, instrument terms removed
        q = src.q(q - instrument_shift(q, lab["zero_deg"], lab["displacement_mm"],
                                       args.goniometer_radius_mm))
        inst = _pattern_instrument(args)
    elif is_text:
        from gixs.bragg.index import index_pattern
        from gixs.errors import IndexingError

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
        if args.pole_figure:
            raise ValueError("--pole-figure needs a detector image (a 1D pattern has no chi)")
        inst = _pattern_instrument(args)
    else:
        from gixs.cli.progress import stage

        stage("reducing to a q map and indexing")
        result, qmap, extra = _index_image(args, models)
        inst = extra.pop("_instrument")
        poles, pixels = extra.pop("_poles"), extra.pop("_pixels")
        meta.update(extra)
    d = result.to_dict()
    d["instrument"] = None if inst is None else inst.to_dict()
    if is_text:
        _add_sizes(d, inst, args.scherrer_k, _pattern_radial(q, y),
                   "line-shape fit of the 1D pattern about the peak")
    else:
        _add_sizes(d, inst, args.scherrer_k, _pixel_radial(pixels), "line-shape fit of the "
                   "pixels' I(|q|) in the spot's chi sector +-4 deg, rings all chi")
    if not is_text and args.pole_figure:
        d["pole_figures"] = poles(d["peaks"])
        d["units"] = dict(d["units"], **{
            "pole_figures.chi_deg": "deg", "pole_figures.q": "A^-1",
            "pole_figures.mosaicity_deg": "deg (FWHM)", "pole_figures.hermans_f": "1"})
    d["input"] = meta
    from gixs.cli.setup import effective_setup

    d["setup"] = effective_setup(args)
    if args.output:
        from gixs.io.jsonout import write_json

        write_json(args.output, d, schema="gixs.index")
    if args.plot:
        from gixs.plot.common import save

        if is_text:
            from gixs.plot.index import pattern_figure

            fig = pattern_figure(q, y, result, title=os.path.basename(args.image))
        else:
            from gixs.plot.index import index_figure

            fig = index_figure(qmap, result, title=os.path.basename(args.image),
                               horizon_qz=extra["horizon_qz_A^-1"],
                               refraction=extra.get("refraction"),
                               channels=("transmitted", "reflected")
                               if args.reflected_channel else ("transmitted",))
        save(fig, args.plot)
    _print_summary(result)
    _print_extras(d)
    lab = meta.get("lab_source")
    if lab:
        def pm(v, e, unit):
            return f"{v:+.4f} {unit}" + ("" if e is None else f" +- {e:.4f} {unit}")
        print(f"{lab['source']} K-alpha doublet (ratio {lab['ka2_ratio']:g}): zero shift "
              f"{pm(lab['zero_deg'], lab['zero_deg_error'], 'deg')}, sample displacement "
              f"{pm(lab['displacement_mm'], lab['displacement_mm_error'], 'mm')}")
    return 0


def _pattern_instrument(args):
    """The Instrument of a 1D pattern: a resolution model or fixed width; no footprint
    (no detector distance)."""
    import types

    if args.beam_size_mm is not None or args.sample_length_mm is not None:
        raise ValueError("--beam-size-mm/--sample-length-mm: the footprint term needs a "
                         "detector image and its --poni (distance); a 1D pattern has none")
    if args.resolution and args.wavelength_a is None and args.energy_kev is None:
        raise ValueError("--resolution with a 1D pattern needs --wavelength-a or "
                         "--energy-kev (the model holds only at its calibrant's wavelength)")
    from gixs.units import energy_kev_to_wavelength_a

    lam = args.wavelength_a or (energy_kev_to_wavelength_a(args.energy_kev)
                                if args.energy_kev else None)
    return instrument_from_args(args, types.SimpleNamespace(wavelength_a=lam, dist_m=None),
                                None)


def _radial_fwhm(p):
    """Starting FWHM (1/A) of a peak along |q|: a ring's own; for a spot (an axis-aligned
    2D Gaussian fit, broadened along the arc by the mosaic) the smaller axis width."""
    if p.get("kind") == "spot":
        w = [v for v in (p.get("fwhm_qxy"), p.get("fwhm_qz")) if v and math.isfinite(v)]
        return min(w) if w else None
    return p.get("fwhm")


def _pattern_radial(q, y):
    """radial(requests) for a 1D pattern: per (peak, fwhm0, chi), a function giving
    (x, y, None, PeakFit) about the peak."""
    from gixs.peaks import fit_peak

    def radial(requests):
        return [lambda p=p, f0=f0: (q, y, None, fit_peak(
            q, y, None, centre=p["q"], fwhm=f0, backgrounds=("linear",)))
            for p, f0, _ in requests]
    return radial


def _pixel_radial(pixels):
    """radial(requests) for a frame: the radial profiles of every requested (peak,
    fwhm0, chi) in one pass over the pixels (:func:`radial_profiles`), then per peak a
    function giving (x, y, sigma, PeakFit)."""
    from gixs.superlattice.orientation import radial_fit, radial_profiles

    def fitted(prof, q, f0):
        fit = radial_fit(prof, q, f0)  # raises the ValueError of a profile too short
        return (*prof, fit)

    def radial(requests):
        if not requests:
            return []
        profs = radial_profiles(*pixels, [p["q"] for p, _, _ in requests],
                                [f0 for _, f0, _ in requests], [c for _, _, c in requests])
        return [lambda prof=prof, p=p, f0=f0: fitted(prof, p["q"], f0)
                for prof, (p, f0, _) in zip(profs, requests)]
    return radial


def _add_sizes(d, inst, K, radial, how):
    """Per assigned peak: radial FWHM from ``radial(requests)`` (for each (peak, fwhm0,
    chi) a function giving a line-shape fit along |q|), instrument-corrected FWHM and
    Scherrer size."""
    from gixs.superlattice.widths import scherrer_size

    requests = []
    for p in d["peaks"]:
        f0 = _radial_fwhm(p)
        if f0 is None or not (math.isfinite(f0) and f0 > 0):
            continue
        chi = math.degrees(math.atan2(abs(p["qxy"]), p["qz"])) if p.get("kind") == "spot" \
            else None
        requests.append((p, f0, chi))
    for (p, _, _), fitted in zip(requests, radial(requests)):
        try:
            x, y, s, fit = fitted()
            r = scherrer_size(fit.to_dict(), inst, K=K, x=x, y=y, sigma=s)
        except (ValueError, RuntimeError) as exc:
            p["size_note"] = f"radial fit failed: {exc}"
            continue
        p["fwhm_radial"] = r["fwhm"]
        p["fwhm_radial_err"] = r["fwhm_err"]
        p["fwhm_corrected"] = r["fwhm_corrected"]
        p["crystallite_size_nm"] = r["size_nm"]
        # uncorrected, the instrument's width is in the FWHM: the size is a lower bound
        p["size_is_lower_bound"] = r["size_is_lower_bound"] or inst is None
        p["instrument_widths"] = r["instrument"]
    d["units"] = dict(d["units"], fwhm_radial="A^-1", fwhm_corrected="A^-1",
                      crystallite_size_nm="nm", instrument_widths="A^-1 (FWHMs at q)")
    d["crystallite_size_definition"] = (
        f"Scherrer 2 pi K / FWHM (K = {K:g}) of the radial FWHM ({how}), " + (
            "instrument widths removed (Voigt deconvolution: Gaussian and footprint in "
            "quadrature, Lorentzian linearly)" if inst is not None else
            "no instrument correction (give --resolution or --instrument-fwhm): the size "
            "is a lower bound"))


def _print_extras(d):
    for p in d["peaks"]:
        if p.get("crystallite_size_nm") is not None and d.get("instrument"):
            lb = " (lower bound: width within the instrument's)" if p["size_is_lower_bound"] \
                else ""
            print(f"  {p['phase']} ({' '.join(map(str, p['hkl']))}) at q = {p['q']:.4f} A^-1: "
                  f"FWHM {p['fwhm_radial']:.4f} -> {p['fwhm_corrected']:.4f} A^-1, size "
                  f"{p['crystallite_size_nm']:.1f} nm{lb}")
    for pf in d.get("pole_figures", ()):
        herm = "refused" if pf["hermans_f"] is None else f"{pf['hermans_f']:+.3f}"
        mos = "n/a" if pf["mosaicity_deg"] is None else f"{pf['mosaicity_deg']:.1f} deg"
        print(f"  pole figure {pf['phase']} ({' '.join(map(str, pf['hkl']))}) at |q| = "
              f"{pf['q']:.4f} A^-1: Hermans f {herm} (coverage {pf['hermans_coverage']:.2f}),"
              f" mosaicity {mos}")


def _index_image(args, models):
    from gixs.cli.common import load_geometry, normalization_from_spec
    from gixs.geometry.model import GIGeometry
    from gixs.bragg.index import index_map
    from gixs.reduce.frame import get_plan, reduce_frame
    from gixs.io.frames import read_frame

    if not args.poni or args.incidence_deg is None:
        raise ValueError("an image needs --poni and --incidence-deg (or give a text "
                         "pattern with --pattern-axis)")
    geometry = load_geometry(args.poni)
    inst = instrument_from_args(args, geometry, args.incidence_deg)
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
    settings = settings_from_args(args, npt_map=(600, 600))
    plan = get_plan(geometry, gi, frame.data.shape, settings, corr["mask"])  # corr: checked
    check_orientation(frame.data, geometry, gi, mask=corr["mask"], invalid=frame.invalid,
                      source=args.image, plan=plan)
    norm, _ = normalization_from_spec(args.normalize_by, frame.metadata, args.image)
    reduced = reduce_frame(frame, geometry, gi, settings, normalization=norm, plan=plan,
                           **corr)
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
    pixels = _pixels(frame, geometry, gi, settings, corr, norm)

    def poles(peaks):
        return _pole_figures(pixels, peaks, args.spot_fwhm)

    return result, qmap, {"kind": "image", "frame": frame.index,
                          "geometry": reduced.provenance["geometry"],
                          "grazing_incidence": gi.as_dict(), "horizon_qz_A^-1": horizon,
                          "refraction": refraction,
                          "_instrument": inst, "_poles": poles, "_pixels": pixels}


def _pixels(frame, geometry, gi, settings, corr, norm):
    """(data, valid, norm, PixelQ) of the frame: counts with dark/flat and the
    normalisation applied, validity, solid angle x polarization, pixel q (only the
    |q|, chi and exit angle the radial profiles and pole figures read: half the time
    and memory of all six arrays)."""
    import numpy as np

    from gixs.geometry.gi import pixel_q
    from gixs.reduce.frame import get_plan

    data = np.asarray(frame.data, float)
    if corr.get("dark") is not None:
        data = data - corr["dark"]
    if corr.get("flat") is not None:
        data = data / corr["flat"]
    plan = get_plan(geometry, gi, data.shape, settings, corr.get("mask"))
    valid = plan.static_valid & ~frame.invalid & np.isfinite(data)
    pq = pixel_q(plan.geometry, plan.gi, fields=("q", "chi", "exit_angle"))
    return data / norm, valid, plan.norm, pq


def _pole_figures(pixels, peaks, spot_fwhm):
    """:func:`gixs.superlattice.orientation.reflection_texture` of each assigned
    reflection (phase, hkl) at its predicted |q|, band = its median radial FWHM."""
    import numpy as np

    from gixs.superlattice.orientation import reflection_texture

    groups = {}
    for p in peaks:
        groups.setdefault((p["phase"], tuple(p["hkl"]), p.get("channel")), []).append(p)
    out = []
    for (phase, hkl, channel), ps in sorted(groups.items(), key=lambda kv: kv[1][0]["q_pred"]):
        widths = [w for w in (p.get("fwhm_radial") or _radial_fwhm(p) for p in ps)
                  if w and math.isfinite(w)]
        width = float(np.median(widths)) if widths else spot_fwhm
        chi0 = None
        if ps[0].get("qxy_pred") is not None and ps[0].get("qz_pred") is not None:
            chi0 = math.degrees(math.atan2(ps[0]["qxy_pred"], ps[0]["qz_pred"]))
        r = reflection_texture(*pixels, ps[0]["q_pred"], width, chi_expected_deg=chi0)
        out.append({"phase": phase, "hkl": list(hkl), "channel": channel,
                    "chi_expected_deg": chi0, **r})
    return out


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
            md = p.get("march_dollase")
            md = "" if not md else (f", March-Dollase r = {md['r']:g} about "
                                    f"({' '.join(map(str, md['axis']))})")
            print(f"  intensities ({ag['geometry']}{md}): rank correlation {rho}, R factor "
                  f"{ag['r_factor']:.3f} over {ag['n']} peaks")
        elif ag.get("note"):
            print(f"  intensities: {ag['note']}")
        for w in p.get("warnings", ()):
            print(f"WARNING {p['name']}: {w}", file=sys.stderr)
    amb = sum(p["ambiguous"] for p in result.peaks)
    print(f"{len(result.peaks)} peaks assigned ({amb} ambiguous), "
          f"{len(result.unassigned)} unassigned")


