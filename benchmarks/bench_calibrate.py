"""Time gixs's automatic calibration on a 2048x2048 frame, next to bare pyFAI.

gixs: ``gixs.calibrate.core.calibrate`` from nothing but the calibrant, wavelength, detector
(and optionally a distance guess 15 % off): beam-centre search, distance from ring
ratios, control points, refinement, report. pyFAI: only its refinement step, started
from a *good* geometry (centre 1 px and distance 1 % off, no tilt):
``SingleGeometry.extract_cp`` + ``geometry_refinement.refine3``; pyFAI has no automatic
start. Both are scored by the largest 2theta error over all pixels vs the planted truth.
Also times the real Pilatus 1M calibrant frames when ../shared/data/real exists.

Run: ``/work/venv/bin/python benchmarks/bench_calibrate.py``. The machine has 2 cores
shared with other jobs: numbers are noisy; each row is the median of ``--repeat`` runs
(the best in brackets), with gixs's split into the centre/distance search, the
control-point refinement and the rest (image load, calibrant, report), and the load
average at the start.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import time
import warnings

import numpy as np

from gixs.calibrate import core as cal
from gixs.simulate import beam_centre_px, beamstop_mask, poisson

REAL = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def synthetic(seed=0):
    """LaB6 on a 2x2-binned Rayonix SX165 (2048x2048, 79 um), tilted, off-centre beam."""
    from pyFAI.calibrant import get_calibrant

    g = cal.detector_geometry("Rayonix SX165", shape=(2048, 2048))
    px = 79e-6
    truth = dataclasses.replace(g, dist_m=0.12, poni1_m=1150.5 * px, poni2_m=900.5 * px,
                                rot1=0.012, rot2=-0.008, wavelength_m=0.9763e-10)
    c = get_calibrant("LaB6")
    c.wavelength = truth.wavelength_m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = c.fake_calibration_image(truth.make_integrator(), resolution=0.03, Imax=2000,
                                       Imin=0.0)
    img = poisson(np.asarray(img) + 20.0, seed)
    bc = beam_centre_px(truth)
    stop = beamstop_mask(img.shape, (bc[0] - 0.5, bc[1] - 0.5), 25, arm_width_px=10)
    return truth, img, stop


def tth_error(truth, geo, shape):
    a = truth.make_integrator().center_array(shape, unit="2th_deg", scale=False)
    b = geo.make_integrator().center_array(shape, unit="2th_deg", scale=False)
    return float(np.abs(a - b).max())


def run_gixs(truth, img, stop, guess_mm):
    t = time.perf_counter()
    res = cal.calibrate(img, calibrant="LaB6", wavelength_a=0.9763, detector="Rayonix SX165",
                        distance_mm=guess_mm, mask=stop)
    return time.perf_counter() - t, res


def run_pyfai(truth, img, stop, max_rings=8):
    from pyFAI.calibrant import get_calibrant
    from pyFAI.goniometer import SingleGeometry

    det = truth.make_detector()
    det.mask = (np.asarray(det.mask, bool) | stop).astype(np.int8)
    c = get_calibrant("LaB6")
    c.wavelength = truth.wavelength_m
    start = {"dist": truth.dist_m * 1.01, "poni1": truth.poni1_m + 79e-6,
             "poni2": truth.poni2_m - 79e-6, "rot1": 0.0, "rot2": 0.0, "rot3": 0.0,
             "wavelength": truth.wavelength_m}
    t = time.perf_counter()
    sg = SingleGeometry("bench", img, calibrant=c, detector=det, geometry=start)
    sg.extract_cp(max_rings=max_rings, pts_per_deg=1.0)
    t_cp = time.perf_counter() - t
    sg.geometry_refinement.refine3(fix=["wavelength", "rot3"])
    el = time.perf_counter() - t
    ai = sg.get_ai()
    geo = dataclasses.replace(truth, dist_m=ai.dist, poni1_m=ai.poni1, poni2_m=ai.poni2,
                              rot1=ai.rot1, rot2=ai.rot2, rot3=ai.rot3)
    return el, t_cp, geo, len(sg.geometry_refinement.data)


def real_frames():
    cms = REAL / "pywaxs_cms_giwaxs_perovskite"
    return [
        ("CMS LaB6", cms / "LaB6_5.6m_12.7keV_957.4s_x-1.601_th0.500_5.00s_1116948_maxs.tiff",
         "LaB6", 12.7, cms / "jun23_nslsii11bmcms_WAXS2pil1M_mask_01.edf", 270),
        ("CMS AgBh KW", cms / "AgBH_cali_12.7kev_openarea_5.8m_maxs_on_KW_35.9s_x-0.761_"
         "th0.130_10.00s_987819_maxs.tiff", "AgBh", 12.7,
         cms / "mar23_nslsii_11bmcms_pilatus800k_mask_1.edf", None),
        ("Dioptas CeO2", REAL / "dioptas_ceo2_pilatus1m" / "CeO2_Pilatus1M.tif", "CeO2",
         12.398419843320026 / 0.4066, None, 240),
    ]


def _split(times, reports):
    """'median s (best s) [search s + refine s + other s]' of repeated runs (medians)."""
    t = np.median(times)
    se = np.median([r["timing_s"]["search_s"] for r in reports])
    rf = np.median([r["timing_s"].get("refine_s", np.nan) for r in reports])  # nan: old gixs
    return (f"{t:6.2f} s (best {min(times):5.2f}) [search {se:.2f} + refine {rf:.2f} + "
            f"other {t - se - rf:.2f}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    truth, img, stop = synthetic()
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores); synthetic LaB6, Rayonix SX165 "
          f"2x2 binned {img.shape[0]}x{img.shape[1]}, distance {truth.dist_m * 1e3:.0f} mm, "
          f"tilt {truth.fit2d()['tilt']:.2f} deg (median of {args.repeat})")
    for label, guess in (("gixs, distance guess +15 %", truth.dist_m * 1e3 * 1.15),
                         ("gixs, no distance guess", None)):
        times, reports = [], []
        for _ in range(args.repeat):
            el, res = run_gixs(truth, img, stop, guess)
            times.append(el)
            reports.append(res.report)
        r = res.report
        print(f"  {label:34s} {_split(times, reports)}  max |d2theta| "
              f"{tth_error(truth, res.geometry, img.shape):.5f} deg, "
              f"{r['n_rings']} rings, {r['n_control_points']} points, "
              f"RMS {r['residual_rms_px']:.3f} px")
    runs = [run_pyfai(truth, img, stop) for _ in range(args.repeat)]
    el = [x[0] for x in runs]
    geo, npt = runs[-1][2], runs[-1][3]
    print(f"  {'pyFAI extract_cp+refine3 (good start)':34s} {np.median(el):6.2f} s "
          f"(best {min(el):5.2f}; extract_cp {np.median([x[1] for x in runs]):.2f} s)  "
          f"max |d2theta| {tth_error(truth, geo, img.shape):.5f} deg, {npt} points")
    if REAL.exists():
        print("real Pilatus 1M calibrant frames (1043x981), read from file each run:")
        for name, path, calib, e, mask, dmm in real_frames():
            times, reports = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = cal.calibrate(str(path), calibrant=calib, energy_kev=e,
                                        detector="Pilatus1M", mask=None if mask is None
                                        else str(mask), distance_mm=dmm)
                times.append(time.perf_counter() - t)
                reports.append(res.report)
            r = res.report
            f2d = r["fit2d"]
            print(f"  {name:14s} {_split(times, reports)}  {r['n_rings']} rings, "
                  f"RMS {r['residual_rms_px']:.2f} px, distance "
                  f"{f2d['direct_distance_mm']:.3f} mm, centre ({f2d['beam_centre_x_px']:.2f}, "
                  f"{f2d['beam_centre_y_px']:.2f}) px, tilt {f2d['tilt_deg']:.3f} deg")
    else:
        print("(../shared/data/real absent: real frames skipped)")


if __name__ == "__main__":
    main()
