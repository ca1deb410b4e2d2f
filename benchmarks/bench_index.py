"""Speed of ``gixs index`` (one phase, --refine) on a 2048x2048 GIWAXS frame, beside bare
pyFAI ``integrate2d`` of the same frame, in the same run.

    python benchmarks/bench_index.py [--runs 3] [--gixs-path DIR] [--profile]

Input (generated once in a temporary folder): a 2048x2048 int32 frame of a (001)-textured
cubic CsPbBr3 film (a = 6.03 A; 79 um pixels at 150 mm, 12.7 keV, incidence 0.3 deg,
Poisson noise) rendered by :func:`gixs.bragg.spots.render_film`, as a deflate TIFF, and
its PONI file.

Rows (medians of ``--runs``):

- bare pyFAI, new process: ``pyFAI.load`` + fabio read + ``integrate2d`` 600x600 (q in 1/A,
  chi in deg), write the cake as ``.npy``;
- ``gixs index IMAGE --phase CsPbBr3 --texture 0 0 1 --refine --json``, new process, plan
  cache warm (what a user feels, reduction included);
- in one process, the frame already reduced: :func:`gixs.bragg.index.index_map` alone
  (spot detection + assignment + refinement: the issue-11 goal is <= 3 s), and the
  refracted two-channel case (``--critical-angle-deg 0.2 --reflected-channel``).

``--profile`` prints the cProfile top 25 of the in-process ``index_map``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PYFAI_SCRIPT = """
import sys
import fabio, numpy as np, pyFAI
poni, image, out = sys.argv[1:4]
ai = pyFAI.load(poni)
img = np.array(fabio.open(image).data)
res = ai.integrate2d(img, 600, 600, unit="q_A^-1", polarization_factor=0.99)
np.save(out, res.intensity)
"""

# what the installed ``gixs`` executable runs (gixs.cli.app.console; main() in checkouts
# older than it, for --gixs-path)
GIXS = ("import sys; from gixs.cli import app; "
        "sys.exit(app.console() if hasattr(app, 'console') else app.main())")
LAMBDA = 0.9763
INCIDENCE_DEG = 0.3


def setup():
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry, GIGeometry

    det = pyFAI.detectors.Detector(pixel1=79e-6, pixel2=79e-6, max_shape=(2048, 2048))
    geo = DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=0.15, poni1=0.01, poni2=0.08, wavelength=LAMBDA * 1e-10))
    return geo, GIGeometry.from_degrees(INCIDENCE_DEG)


def make_inputs(folder):
    from PIL import Image

    from gixs.bragg.phases import builtin_phase
    from gixs.bragg.spots import render_film
    from gixs.geometry.model import write_poni

    geo, gi = setup()
    film = builtin_phase("CsPbBr3").with_parameters(a=6.03)
    img = render_film(geo, gi, [(film, (0, 0, 1), 1.0)], rng=1)
    path = os.path.join(folder, "film.tif")
    Image.fromarray(np.clip(img, 0, 2 ** 30).astype(np.int32)).save(
        path, compression="tiff_adobe_deflate")
    poni = os.path.join(folder, "setup.poni")
    write_poni(geo, poni)
    return poni, path, img


def run(cmd, env):
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=env.get("GIXS_BENCH_ROOT"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.decode()}")
    return time.perf_counter() - t


def in_process(img, runs, profile):
    from gixs.bragg.index import index_map
    from gixs.bragg.phases import builtin_phase
    from gixs.reduce.frame import ReduceSettings, reduce_frame

    geo, gi = setup()
    qmap = reduce_frame(img, geo, gi, ReduceSettings(npt_map=(600, 600))).maps["qmap"]
    horizon = 2 * math.pi / LAMBDA * math.sin(gi.incidence)
    start = builtin_phase("CsPbBr3")
    out = {}
    cases = {"index_map after reduction (no refraction)": {},
             "index_map after reduction (refraction, 2 channels)": dict(
                 refraction=(LAMBDA, gi.incidence, math.radians(0.2)),
                 channels=("transmitted", "reflected"))}
    for name, kw in cases.items():
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            res = index_map(qmap, [(start, (0, 0, 1))], horizon_qz=horizon, refine=True, **kw)
            times.append(time.perf_counter() - t)
        ph = res.phases[0]
        out[name] = (statistics.median(times), f"a = {ph['lattice']['a']:.4f} A, "
                     f"{len(res.peaks)} assigned / {len(res.unassigned)} unassigned")
    if profile:
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        index_map(qmap, [(start, (0, 0, 1))], horizon_qz=horizon, refine=True)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gixs-path", default=None, help="gixs checkout to run (PYTHONPATH)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    root = args.gixs_path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="gixs-bench-index-") as tmp:
        poni, image, img = make_inputs(tmp)
        env = dict(os.environ, PYTHONPATH=root, GIXS_BENCH_ROOT=root,
                   GIXS_CACHE_DIR=os.path.join(tmp, "cache"))
        cmd = [py, "-c", GIXS, "index", image, "--poni", poni, "--incidence-deg",
               str(INCIDENCE_DEG), "--phase", "CsPbBr3", "--texture", "0", "0", "1",
               "--refine", "--json", os.path.join(tmp, "r.json")]
        run(cmd, env)  # warm-up: plan cache, Numba cache, OS file cache
        pyfai = [py, "-c", PYFAI_SCRIPT, poni, image, os.path.join(tmp, "cake.npy")]
        run(pyfai, env)
        rows["bare pyFAI: load PONI + read + integrate2d 600x600 + write"] = (
            statistics.median(run(pyfai, env) for _ in range(args.runs)), "new process")
        rows["gixs index --refine (warm plan cache)"] = (
            statistics.median(run(cmd, env) for _ in range(args.runs)), "new process")
        rows.update(in_process(img, args.runs, args.profile))
    base = rows["bare pyFAI: load PONI + read + integrate2d 600x600 + write"][0]
    print(f"gixs at {root}; 2048x2048 deflate TIFF, one phase; medians of {args.runs}; "
          f"{os.cpu_count()} cores (shared machine: ratios, not absolute times)")
    print(f"{'what':58s} {'wall s':>7s} {'vs pyFAI':>9s}  note")
    for name, (wall, note) in rows.items():
        print(f"{name:58s} {wall:7.2f} {wall / base:8.2f}x  {note}")


if __name__ == "__main__":
    main()
