"""gixs demo: the whole chain on generated example frames (no network, no input)."""

from __future__ import annotations

import math
import os

from gixs.cli.common import output_dir

HELP = "run the whole chain on generated example frames and print a summary"


def add_arguments(p):
    p.add_argument("-o", "--output", default="gixs-demo", metavar="DIR",
                   help="output folder (default ./gixs-demo)")
    p.add_argument("--seed", type=int, default=7, help="noise seed")


def _geometries():
    """Example setups: GISAXS on a Pilatus 1M at 2.5 m, GIWAXS on a binned SX165."""
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry

    saxs = DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=pyFAI.detectors.detector_factory("Pilatus1M"), dist=2.5,
        poni1=0.012, poni2=0.085, wavelength=1.0332e-10))  # 12 keV, beam near the bottom
    sx = pyFAI.detectors.detector_factory("RayonixSx165")
    sx.binning = (4, 4)  # 1024x1024 at 158 um keeps the demo quick
    waxs = DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=sx, dist=0.175, poni1=0.010, poni2=0.081, wavelength=0.6888e-10,
        rot2=0.0))  # CLS HXMA: 17.998 keV, 175 mm
    return saxs, waxs


def run(args) -> int:
    import numpy as np

    from gixs import simulate
    from gixs.geometry.model import GIGeometry, write_poni
    from gixs.reduce.frame import ReduceSettings, reduce_frame
    from gixs.io.jsonout import write_json
    from gixs.io.output import write_profile_csv, write_reduced_h5
    from gixs.bragg import index, phases, spots
    from gixs.calibrate.core import calibrate
    from gixs.cli.progress import stage
    from gixs.superlattice import ordering

    def figure(make, path):
        if not args.no_plot:
            from gixs.plot.common import save

            save(make(), path)


    out = output_dir(args.output)
    saxs, waxs = _geometries()
    write_poni(saxs, os.path.join(out, "gisaxs_pilatus1m.poni"), "gixs demo GISAXS geometry")
    write_poni(waxs, os.path.join(out, "giwaxs_sx165.poni"), "gixs demo GIWAXS geometry")
    summary = {}

    # 1. GISAXS of a hexagonal superlattice, d(10) = 8 nm
    stage("1/3 GISAXS: simulating and reducing a hexagonal superlattice, d = 8 nm")
    gi = GIGeometry.from_degrees(0.3)
    d_true = 8.0
    img, bs = simulate.hex_superlattice(saxs, gi, d_true, rng=args.seed, return_mask=True)
    settings = ReduceSettings(npt_q=600, q_range=(0.01, 0.3), npt_map=(400, 300))
    red = reduce_frame(img, saxs, gi, settings, mask=bs, source="demo:gisaxs_hex_8nm")
    write_reduced_h5(os.path.join(out, "gisaxs_hex.h5"), red)
    for k in ("iq", "ip", "oop"):
        write_profile_csv(os.path.join(out, f"gisaxs_hex_{k}.csv"), red.profiles[k],
                          red.provenance)
    figure(lambda: _reduction_figure(red, img, bs, "demo GISAXS: hexagonal superlattice, "
                                     "d = 8 nm"), os.path.join(out, "gisaxs_hex.png"))
    ip = red.profiles["ip"].valid()
    sel = np.abs(ip.x) > 0.03
    q_peak = float(np.abs(ip.x[sel][np.nanargmax(ip.intensity[sel])]))
    summary["gisaxs"] = {"planted_d_nm": d_true, "in_plane_max_q_A^-1": round(q_peak, 5),
                         "d_from_max_nm": round(2 * math.pi / q_peak / 10, 3)}
    # profile auto: the frame itself says rods (2D film), measured on q_xy
    res = ordering.measure_frame(img, saxs, gi, mask=bs, orientation=False)
    summary["gisaxs"]["metrics"] = {k: v for k, v in res.to_dict().items()
                                    if k in ("q_star", "q_star_err", "d_spacing",
                                             "nn_distance", "lattice_model", "units",
                                             "scattering_type", "q_star_axis")}

    stage("2/3 GIWAXS: simulating, reducing and indexing a textured CsPbBr3 film")
    # 2. GIWAXS of a (001)-textured CsPbBr3 film, lattice extended by iodine (a = 6.03 A
    #    instead of 5.87 A), on an ITO substrate (random, rings)
    gi_w = GIGeometry.from_degrees(0.2)
    a_film, a_ito = 6.03, 10.14
    film = phases.builtin_phase("CsPbBr3").with_parameters(a=a_film)
    ito = phases.builtin_phase("ITO").with_parameters(a=a_ito)
    img_w = spots.render_film(waxs, gi_w, [(film, (0, 0, 1), 1.0), (ito, None, 0.3)],
                              rng=args.seed)
    title = "demo GIWAXS: (001) CsPbBr3 (a = 6.03 A) on ITO"
    red_w = reduce_frame(img_w, waxs, gi_w, ReduceSettings(npt_q=800, npt_map=(600, 600)),
                         source="demo:giwaxs_film")
    write_reduced_h5(os.path.join(out, "giwaxs_film.h5"), red_w)
    write_profile_csv(os.path.join(out, "giwaxs_film_iq.csv"), red_w.profiles["iq"],
                      red_w.provenance)
    figure(lambda: _reduction_figure(red_w, img_w, None, title),
           os.path.join(out, "giwaxs_film.png"))
    m = red_w.maps["qmap"]
    summary["giwaxs"] = {"planted_a_film_A": a_film, "planted_a_ito_A": a_ito,
                         "missing_wedge_empty_bins_percent":
                         round(100 * float(np.isnan(m.intensity).mean()), 1)}
    qh = 2 * math.pi / waxs.wavelength_a * math.sin(gi_w.incidence)
    res = index.index_map(m, [(phases.builtin_phase("CsPbBr3"), (0, 0, 1)),
                              (phases.builtin_phase("ITO"), None)], horizon_qz=qh)
    write_json(os.path.join(out, "giwaxs_film_index.json"), res.to_dict(), schema="gixs.index")
    summary["giwaxs"]["refined"] = {
        p["name"]: {"a_A": round(p["lattice"]["a"], 4), "n_peaks": p["n_peaks"]}
        for p in res.phases}
    summary["giwaxs"]["unassigned_peaks"] = len(res.unassigned)

    stage("3/3 calibrating a simulated LaB6 frame")
    # 3. LaB6 calibrant frame, calibrated automatically from a 200 mm guess
    lab6 = simulate.calibrant_image(waxs, "LaB6", rng=args.seed)
    summary["calibrant"] = {"frame_shape": list(lab6.shape)}
    cal = calibrate(lab6, calibrant="LaB6", wavelength_a=waxs.wavelength_a,
                    detector=waxs.make_detector(), distance_mm=200.0)
    cal.write_poni(os.path.join(out, "lab6_calibrated.poni"))
    summary["calibrant"]["calibrated_distance_mm"] = round(cal.geometry.dist_m * 1e3, 3)
    summary["calibrant"]["true_distance_mm"] = round(waxs.dist_m * 1e3, 3)
    tth = [g.make_integrator().center_array(unit="2th_deg") for g in (waxs, cal.geometry)]
    summary["calibrant"]["max_2theta_error_deg"] = float(np.abs(tth[0] - tth[1]).max())

    write_json(os.path.join(out, "summary.json"), summary, schema="gixs.demo")
    print(f"gixs demo: results in {out}/")
    g = summary["gisaxs"]
    print(f"  GISAXS hex superlattice: planted d = {d_true} nm; in-plane maximum at "
          f"q = {g['in_plane_max_q_A^-1']:.4f} A^-1 -> d = {g['d_from_max_nm']:.2f} nm")
    mm = g["metrics"]
    print(f"  fitted q* = {mm['q_star']:.5f} +- {mm['q_star_err']:.5f} A^-1, "
          f"d = {mm['d_spacing']:.3f} nm, lattice {mm['lattice_model']} "
          f"({mm['scattering_type']}s, q* on {mm['q_star_axis']})")
    gw = summary["giwaxs"]
    print(f"  GIWAXS film: missing wedge left empty "
          f"({gw['missing_wedge_empty_bins_percent']}% of map bins NaN)")
    for name, r in gw["refined"].items():
        planted = gw["planted_a_film_A"] if name.startswith("CsPbBr3") else gw["planted_a_ito_A"]
        print(f"  Bragg: {name} refined a = {r['a_A']:.4f} A from the library value "
              f"(planted {planted} A), {r['n_peaks']} peaks assigned")
    c = summary["calibrant"]
    print(f"  LaB6 calibration from a 200 mm guess: {c['calibrated_distance_mm']} mm "
          f"(true {c['true_distance_mm']} mm), 2theta within "
          f"{c['max_2theta_error_deg']:.4f} deg of the truth on every pixel")
    print("  files: *.h5 (NeXus), *.csv (profiles, q in A^-1), *.png (figures), *.poni")
    return 0


def _reduction_figure(*a):
    from gixs.plot.common import reduction_figure

    return reduction_figure(*a)
