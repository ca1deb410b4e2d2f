"""gixs calibrate: detector geometry from a powder image of a standard, no clicking."""

from __future__ import annotations

import os

HELP = "refine the detector geometry (PONI) from a LaB6/CeO2/AgBh/... calibrant image"

EPILOG = """\
The beam centre and the distance are found from the image (the distance guess may be
10-20 % off, or absent); then control points on the rings are refined by least squares.
Writes a PONI file pyFAI reads unchanged; --report writes every refined parameter with its
standard error and the residuals (deg and pixels); --plot a QA figure. Exit status 2 with
a one-line error when too few rings are found (check energy and distance)."""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("image", metavar="IMAGE", help="calibrant frame (TIFF, CBF, EDF, HDF5...)")
    p.add_argument("--frame", type=int, default=0, help="frame number in a multi-frame file")
    p.add_argument("--calibrant", required=True,
                   help="pyFAI calibrant name: LaB6, CeO2, AgBh, Si, LaB6_SRM660c, ...")
    wl = p.add_mutually_exclusive_group(required=True)
    wl.add_argument("--energy-kev", type=float, metavar="E", help="photon energy (keV)")
    wl.add_argument("--wavelength-a", type=float, metavar="L", help="wavelength (angstrom)")
    det = p.add_mutually_exclusive_group()
    det.add_argument("--detector", metavar="NAME",
                     help="pyFAI detector name ('Pilatus1M', 'Rayonix SX165', 'Eiger2 4M'"
                          "...); binning is inferred from the image shape; default: "
                          "inferred from the header and shape when unambiguous")
    det.add_argument("--pixel-um", type=float, nargs="+", metavar="P",
                     help="generic detector: pixel size (um), one value or rows columns")
    p.add_argument("--distance-mm", type=float, metavar="D",
                   help="rough sample-detector distance (mm); optional")
    p.add_argument("--mask", metavar="M", help="mask file (nonzero = bad pixel)")
    p.add_argument("--refine-wavelength", action="store_true",
                   help="refine the wavelength too (needs rings to high angle)")
    p.add_argument("--max-rings", type=int, metavar="N", help="use at most the N inner rings")
    p.add_argument("-o", "--output", required=True, metavar="OUT.poni", help="PONI file")
    p.add_argument("--report", metavar="OUT.json", help="JSON quality report")
    p.add_argument("--plot", metavar="OUT.png", help="QA figure (PNG, PDF or SVG)")
    from gixs.cli.common import orientation_code

    p.add_argument("--sample-orientation", type=orientation_code, default=1, metavar="N",
                   help="sample orientation code of the setup (EXIF 1-8, as in every "
                        "command; default 1): the QA figure's detector panel is drawn with "
                        "the sample normal up, as the reduction figures are; geometry "
                        "unaffected")


def run(args) -> int:
    from gixs.calibrate.core import calibrate
    from gixs.io.frames import read_frame

    if not os.path.exists(args.image.split("::")[0]):
        raise FileNotFoundError(2, "image file not found", args.image)
    if args.pixel_um is not None and len(args.pixel_um) > 2:
        raise ValueError("--pixel-um takes one or two sizes (um)")
    frame = read_frame(args.image, args.frame)
    detector = args.detector
    if detector is None and args.pixel_um is None:
        from gixs.cli.geometry import image_header
        from gixs.geometry.from_numbers import infer_detector

        meta, shape, sensor = image_header(args.image)
        detector = infer_detector(frame.data.shape, header_name=meta.get("detector"),
                                  sensor=sensor, source=args.image)
        print(f"{args.image}: detector {detector} (from the "
              f"{'header' if meta.get('detector') else 'image shape and sensor'}; "
              "--detector overrides)")
    from gixs.cli.progress import stage

    stage("calibrating")
    res = calibrate(frame, calibrant=args.calibrant, wavelength_a=args.wavelength_a,
                    energy_kev=args.energy_kev, detector=detector,
                    pixel_size_um=args.pixel_um, distance_mm=args.distance_mm,
                    mask=args.mask, refine_wavelength=args.refine_wavelength,
                    max_rings=args.max_rings)
    res.write_poni(args.output)
    try:
        model = res.resolution_model()
        res.report["resolution"] = model.to_dict()
        pts = model.points
        print(f"resolution: {len(pts)} ring widths, FWHM(2theta) "
              f"{min(p['fwhm_deg'] for p in pts):.4f}..{max(p['fwhm_deg'] for p in pts):.4f}"
              f" deg over 2theta {model.tth_range_deg[0]:.2f}..{model.tth_range_deg[1]:.2f} "
              f"deg; U={model.U:.3g} V={model.V:.3g} W={model.W:.3g} deg^2 (Caglioti)")
    except ValueError as exc:
        res.report["resolution"] = {"error": str(exc)}
        print(f"resolution: not measured ({exc})")
    if args.report:
        from gixs.cli.setup import effective_setup

        res.report["setup"] = effective_setup(args)
        res.to_json(args.report)
    if args.plot:
        from gixs.plot.calibration import plot_calibration

        code = args.sample_orientation
        if code == "auto":  # a setup file's 'auto' means a film frame's horizon
            print("QA figure drawn as read (sample orientation code 1): --sample-orientation "
                  "auto needs a film's horizon, a calibrant frame has none")
            code = 1
        plot_calibration(res, args.plot, orientation=code)
    r = res.report
    f = r["fit2d"]
    print(f"{args.output}: {r['n_rings']} rings, {r['n_control_points']} points, residual "
          f"RMS {r['residual_rms_deg']:.4f} deg ({r['residual_rms_px']:.2f} px); "
          f"distance {r['parameters']['dist_m']['value'] * 1e3:.3f} mm, beam centre "
          f"x={f['beam_centre_x_px']:.2f} y={f['beam_centre_y_px']:.2f} px, tilt "
          f"{f['tilt_deg']:.3f} deg")
    return 0
