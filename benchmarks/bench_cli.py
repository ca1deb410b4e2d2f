"""Speed a user feels: `gixs reduce` / `gixs spacing` / `gixs --help` as new processes, beside
a bare pyFAI script doing the same job, in the same run.

    python benchmarks/bench_cli.py [--runs 3] [--gixs-path DIR]

Inputs (generated once in a temporary folder): a 2048x2048 int32 GISAXS frame of a
hexagonal superlattice (d = 8 nm; 79 um pixels at 3 m, 12 keV) saved as a deflate-compressed
TIFF, a second frame of the same setup, a beamstop mask (TIFF) and the PONI file.

Rows (medians of ``--runs`` new processes each; peak RSS of the process from wait4):

- bare pyFAI: ``pyFAI.load`` the PONI, fabio read frame + mask, ``integrate1d`` 1000 bins
  (q in 1/A, polarization 0.99, mask), write the profile as text;
- ``gixs reduce``, empty plan cache (a new ``GIXS_CACHE_DIR`` per run; Numba's compiler
  cache warm), with and without the PNG;
- ``gixs reduce``, plan cache warm (the second frame of the same setup);
- ``gixs spacing`` of the second frame, plan cache warm;
- ``gixs --help``.

Ratios are against the bare pyFAI script of the same run. ``--gixs-path`` runs another
checkout of gixs (e.g. ``git archive main``) for before/after tables.
"""

from __future__ import annotations

import argparse
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
poni, image, mask, out = sys.argv[1:5]
ai = pyFAI.load(poni)
img = np.array(fabio.open(image).data)
m = np.array(fabio.open(mask).data)
res = ai.integrate1d(img, 1000, unit="q_A^-1", mask=m, polarization_factor=0.99)
np.savetxt(out, np.c_[res.radial, res.intensity, res.sigma if res.sigma is not None else
                      np.zeros_like(res.radial)])
"""

# what the installed ``gixs`` executable runs (gixs.cli.app.console; main() in checkouts
# older than it, for --gixs-path)
GIXS = ("import sys; from gixs.cli import app; "
        "sys.exit(app.console() if hasattr(app, 'console') else app.main())")


def make_inputs(folder):
    import pyFAI.detectors
    from PIL import Image
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs import simulate
    from gixs.geometry.model import DetectorGeometry, GIGeometry, write_poni

    det = pyFAI.detectors.Detector(pixel1=79e-6, pixel2=79e-6, max_shape=(2048, 2048))
    geo = DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=3.0, poni1=0.01, poni2=0.081, wavelength=1.0332e-10))
    gi = GIGeometry.from_degrees(0.2)
    poni = os.path.join(folder, "setup.poni")
    write_poni(geo, poni)
    paths = []
    for seed in (1, 2):
        img, bs = simulate.hex_superlattice(geo, gi, 8.0, rng=seed, return_mask=True)
        img = np.clip(np.nan_to_num(img), 0, 2 ** 30).astype(np.int32)
        path = os.path.join(folder, f"frame{seed}.tif")
        Image.fromarray(img).save(path, compression="tiff_adobe_deflate")
        paths.append(path)
    mask = os.path.join(folder, "mask.tif")
    Image.fromarray(bs.astype(np.uint8)).save(mask, compression="tiff_adobe_deflate")
    return poni, paths, mask


def run(cmd, env, cwd=None):
    """(wall s, peak RSS MB) of one new process (RSS from GNU time: the process's own)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], env=env,
                              cwd=env.get("GIXS_BENCH_ROOT"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode()}")
        return wall, float(rss.read().split()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gixs-path", default=None, help="gixs checkout to run (PYTHONPATH)")
    args = ap.parse_args()
    py = sys.executable
    root = args.gixs_path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="gixs-bench-cli-") as tmp:
        poni, (img1, img2), mask = make_inputs(tmp)
        # run from the checkout's root: ``python -c`` puts the cwd first on sys.path
        env = dict(os.environ, PYTHONPATH=root, GIXS_BENCH_ROOT=root)
        inc = ["--poni", poni, "--incidence-deg", "0.2", "--mask", mask]

        def reduce_cmd(img, out, plot=True):
            c = [py, "-c", GIXS, "reduce", img, *inc, "-o", os.path.join(tmp, out)]
            return c + ([] if plot else ["--no-plot"])

        def cold_env(i):
            return dict(env, GIXS_CACHE_DIR=os.path.join(tmp, f"cold{i}-{time.time_ns()}"))

        warm_env = dict(env, GIXS_CACHE_DIR=os.path.join(tmp, "warm"))
        # warm-up: Numba's compiler cache, the OS file cache, the warm plan cache
        run(reduce_cmd(img1, "w0"), warm_env)
        run([py, "-c", PYFAI_SCRIPT, poni, img1, mask, os.path.join(tmp, "p0.txt")], env)
        rows = {}

        def add(name, fn):
            vals = [fn(i) for i in range(args.runs)]
            rows[name] = (statistics.median(v[0] for v in vals), max(v[1] for v in vals))

        add("bare pyFAI: load PONI + read + integrate1d + write",
            lambda i: run([py, "-c", PYFAI_SCRIPT, poni, img2, mask,
                           os.path.join(tmp, f"p{i}.txt")], env))
        add("gixs reduce, empty plan cache (with PNG)",
            lambda i: run(reduce_cmd(img1, f"c{i}"), cold_env(i)))
        add("gixs reduce, empty plan cache, --no-plot",
            lambda i: run(reduce_cmd(img1, f"cn{i}", plot=False), cold_env(i)))
        add("gixs reduce, plan cache warm (with PNG)",
            lambda i: run(reduce_cmd(img2, f"w{i}"), warm_env))
        add("gixs reduce, plan cache warm, --no-plot",
            lambda i: run(reduce_cmd(img2, f"wn{i}", plot=False), warm_env))
        run([py, "-c", GIXS, "spacing", img1, "--poni", poni, "--incidence-deg", "0.2",
             "--mask", mask], warm_env)  # its own plan into the warm cache
        add("gixs spacing, plan cache warm",
            lambda i: run([py, "-c", GIXS, "spacing", img2, "--poni", poni,
                           "--incidence-deg", "0.2", "--mask", mask], warm_env))
        add("gixs --help", lambda i: run([py, "-c", GIXS, "--help"], env))
    base = rows["bare pyFAI: load PONI + read + integrate1d + write"][0]
    print(f"gixs at {root}; 2048x2048 deflate TIFF + mask; medians of {args.runs} new "
          f"processes; {os.cpu_count()} cores (shared machine: ratios, not absolute times)")
    print(f"{'what':52s} {'wall s':>7s} {'vs pyFAI':>9s} {'peak RSS MB':>12s}")
    for name, (wall, rss) in rows.items():
        print(f"{name:52s} {wall:7.2f} {wall / base:8.2f}x {rss:12.0f}")


if __name__ == "__main__":
    main()
