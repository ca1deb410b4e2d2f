"""Superlattice metrics per frame on 2048x2048 frames, beside bare pyFAI, in one run.

    python benchmarks/bench_metrics.py              # 6 frames
    python benchmarks/bench_metrics.py --frames 10

Generated GISAXS frames of a hexagonal superlattice (d = 8 nm, rods) on a 2048x2048
detector (79 um pixels, 3 m, 12 keV, incidence 0.3 deg), Poisson noise, one seed per
frame. Rows (median seconds per frame over the frames after the first, and the first
frame, which builds the plans):

* bare pyFAI: ``AzimuthalIntegrator.integrate1d`` (CSR, 2048 bins, with the mask) of the
  same frame: the reference of a plain reduction;
* gixs ``reduce_frame`` (azimuthal + cuts, no maps) of the same frame;
* ``measure_frame`` (profile auto: reduction, rods/rings classification and the fit),
  with the number of plans it built and asked the plan cache for per frame;
* of which: the profile sums (``subset_profile``, the reduction of the pixel subsets),
  the peak fits (candidates and the measurement, :mod:`gixs.peaks`), and the rest (hot
  pixels, shadows, Yoneda band, film region, rods/rings decision, orientation check);
* ``measure`` alone on the measured profile (the plain fit after reduction).

The plan cache lives in a temporary folder (``GIXS_CACHE_DIR``), empty at the start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np


def geometry(size=2048):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry

    det = pyFAI.detectors.Detector(pixel1=79e-6, pixel2=79e-6, max_shape=(size, size))
    return DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=3.0, poni1=0.012, poni2=0.081, wavelength=1.0332e-10))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="gixs-bench-metrics-")
    os.environ["GIXS_CACHE_DIR"] = tmp

    from gixs import simulate
    from gixs.geometry.model import GIGeometry
    from gixs.reduce import frame as rframe
    from gixs.reduce.frame import ReduceSettings, reduce_frame
    from gixs.superlattice import ordering, pixelprofile

    counters = {"built": 0, "asked": 0, "sums_s": 0.0, "fits_s": 0.0}
    init, getp = rframe.Plan.__init__, rframe.get_plan

    def spy_init(self, *a, **k):
        counters["built"] += 1
        return init(self, *a, **k)

    def spy_get(*a, **k):
        counters["asked"] += 1
        return getp(*a, **k)

    def timed(mod, name, key):
        f = getattr(mod, name)

        def w(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                counters[key] += time.perf_counter() - t
        setattr(mod, name, w)
        return f

    rframe.Plan.__init__ = spy_init
    rframe.get_plan = spy_get
    timed(pixelprofile, "subset_profile", "sums_s")
    measure_plain = timed(ordering, "measure", "fits_s")
    timed(ordering, "_try_measure", "fits_s")

    g = geometry(args.size)
    gi = GIGeometry.from_degrees(0.3)
    frames = []
    for k in range(args.frames):
        img, mask = simulate.hex_superlattice(g, gi, 8.0, rng=100 + k, return_mask=True,
                                              shape=(args.size, args.size))
        frames.append(img)
    ai = g.make_integrator()
    rows = {k: [] for k in ("pyfai", "reduce", "frame", "sums", "fits", "rest", "fit",
                            "built", "asked")}
    d_vals = []
    for k, img in enumerate(frames):
        t = time.perf_counter()
        ai.integrate1d(img, 2048, unit="q_A^-1", method=("bbox", "csr", "cython"),
                       mask=mask)
        rows["pyfai"].append(time.perf_counter() - t)
        t = time.perf_counter()
        reduce_frame(img, g, gi, ReduceSettings(npt_q=2048, maps=False), mask=mask)
        rows["reduce"].append(time.perf_counter() - t)
        counters.update(built=0, asked=0, sums_s=0.0, fits_s=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            res = ordering.measure_frame(img, g, gi, mask=mask, orientation=False)
            dt = time.perf_counter() - t
        rows["frame"].append(dt)
        rows["sums"].append(counters["sums_s"])
        rows["fits"].append(counters["fits_s"])
        rows["rest"].append(dt - counters["sums_s"] - counters["fits_s"])
        rows["built"].append(counters["built"])
        rows["asked"].append(counters["asked"])
        d_vals.append(res.d_spacing)
        from gixs.results import Profile

        prof = Profile(res.profile_name, res.q_star_axis, res.profile_x, res.profile_y,
                       res.profile_sigma, np.ones(res.profile_x.size, np.int64), {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            measure_plain(prof)
            rows["fit"].append(time.perf_counter() - t)

    def med(v):
        return statistics.median(v[1:]) if len(v) > 1 else v[0]

    print(f"gixs metrics per frame, {args.size}x{args.size}, {args.frames} frames "
          f"(first frame builds the plans); {os.cpu_count()} cores, shared machine")
    print(f"{'what':58s} {'first s':>8s} {'median s':>9s} {'vs pyFAI':>9s}")
    base = med(rows["pyfai"])
    for key, label in (("pyfai", "bare pyFAI integrate1d (CSR, 2048 bins)"),
                       ("reduce", "gixs reduce_frame (iq + cuts)"),
                       ("frame", "gixs measure_frame (profile auto, whole)"),
                       ("sums", "  of which profile sums of the pixel subsets"),
                       ("fits", "  of which peak fits (candidates + measurement)"),
                       ("rest", "  of which the rest (hot px, shadows, Yoneda, rods/rings)"),
                       ("fit", "measure() alone on the measured profile (plain fit)")):
        print(f"{label:58s} {rows[key][0]:8.3f} {med(rows[key]):9.3f} "
              f"{med(rows[key]) / base:8.2f}x")
    print(f"plans built per frame: {rows['built']}; plans asked of the cache per frame: "
          f"{rows['asked']}")
    print(f"d (nm) per frame: {', '.join(f'{d:.3f}' for d in d_vals)} (planted 8.000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
