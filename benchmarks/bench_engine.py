"""Throughput of gixs's block engine against bare pyFAI on the same frames (one run).

Frames: synthetic 2048 x 2048 float32 Poisson frames (a ring pattern) on a Rayonix SX165
binned 2x2 (79 um pixels) at 175 mm, 0.6888 A. Prints frames/s, the speed-up over pyFAI's
integrate1d default (bbox splitting, CSR) and the fraction of the memory-bandwidth limit,
where the limit is the machine's read bandwidth (numpy sum over 512 MB, measured here)
divided by the bytes a frame needs: frame bytes + matrix bytes / block size.

    python benchmarks/bench_engine.py [--frames 32] [--quick]

The machine may be shared: numbers from one run are noisy; run it twice.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def read_bandwidth(nbytes=512 * 2**20, repeats=3):
    """Read bandwidth in bytes/s: best of numpy sums over a large float32 array."""
    a = np.ones(nbytes // 4, np.float32)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best


def timed(fn, n_frames, repeats):
    """Best frames/s over ``repeats`` runs of ``fn`` (which processes n_frames)."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n_frames / best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=32, help="frames in the stack (default 32)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, 16 frames, smaller map")
    args = ap.parse_args(argv)

    import numba
    import pyFAI
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    from pyFAI.integrator.fiber import FiberIntegrator

    from gixs.reduce.engine import block as engine
    from gixs.reduce.engine import pyfai_check
    from gixs.geometry.model import DetectorGeometry, GIGeometry
    from gixs.reduce.frame import ReduceSettings, get_plan

    n = 16 if args.quick else args.frames
    repeats = 1 if args.quick else 2
    npt_map = (500, 500) if args.quick else (1000, 1000)
    det = pyFAI.detector_factory("RayonixSx165")
    det.binning = (2, 2)
    shape = det.shape
    poni = dict(dist=0.175, poni1=0.02, poni2=0.081, wavelength=0.6888e-10)
    ai = AzimuthalIntegrator(detector=det, **poni)
    fi = FiberIntegrator(detector=det, **poni)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    rr = np.hypot(yy - 250, xx - 1025)
    base = (20 + 300 * np.exp(-((rr - 700) / 6.0) ** 2)).astype(np.float32)
    frames = rng.poisson(base, (n,) + shape).astype(np.float32)
    frame_bytes = frames[0].nbytes
    print(f"pyFAI {pyFAI.version}, numba {numba.__version__} ({numba.get_num_threads()} "
          f"threads, layer {numba.config.THREADING_LAYER}), {n} frames {shape} float32")
    bw = read_bandwidth()
    print(f"read bandwidth (numpy sum, 512 MB): {bw / 1e9:.1f} GB/s")

    rows = []

    refs = {}

    def add(name, fps, bytes_per_frame=None, ref=None):
        """ref: the row this one is compared with (None: it is the reference)."""
        if ref is None:
            refs[name] = fps
        rows.append((name, fps, bytes_per_frame, ref or name))
        print(f"  measured {name}: {fps:.1f} frames/s", flush=True)

    # -- 1D azimuthal I(q), 1000 bins -------------------------------------------------------
    ai.integrate1d(frames[0], 1000, unit="q_A^-1")            # build pyFAI's CSR
    add("pyFAI integrate1d default (bbox, csr)",
        timed(lambda: [ai.integrate1d(f, 1000, unit="q_A^-1") for f in frames], n, repeats))
    ai.integrate1d(frames[0], 1000, unit="q_A^-1", method=("no", "csr", "cython"))
    ref1d = "pyFAI integrate1d default (bbox, csr)"
    add("pyFAI integrate1d (no, csr)",
        timed(lambda: [ai.integrate1d(f, 1000, unit="q_A^-1", method=("no", "csr", "cython"))
                       for f in frames], n, repeats), ref=ref1d)
    t = time.perf_counter()
    kern = pyfai_check.azimuthal_kernel(None, shape, 1000, "q_A^-1", integrator=ai)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    kern.sums_block(frames[:1])
    t_first = time.perf_counter() - t
    print(f"  gixs engine 1D: kernel built from pyFAI's CSR in {t_build:.2f} s, first call "
          f"{t_first:.2f} s (Numba compile or cache load), matrix {kern.matrix_bytes / 1e6:.0f} MB")
    for block in (1, 8, 16):
        def run(block=block):
            for s in range(0, n, block):
                kern.sums_block(frames[s:s + block])
        add(f"gixs engine 1D, block {block}", timed(run, n, repeats),
            frame_bytes + kern.matrix_bytes / block, ref=ref1d)
    # check: same numbers as pyFAI on the last frame
    sig, norm, var, cnt = kern.sums_block(frames[-1:])
    ref = ai.integrate1d(frames[-1], 1000, unit="q_A^-1")
    ok = ref.count > 0
    err = np.nanmax(np.abs(kern.intensity(sig[0], norm[0])[ok] / ref.intensity[ok] - 1))
    print(f"  max relative difference gixs engine vs pyFAI I(q), non-empty bins: {err:.1e}")
    as_list = list(frames)  # separate arrays, as a reader yields them: stacked per block
    add("gixs reduce_stack_sums 1D, list of frames, block 8",
        timed(lambda: list(engine.reduce_stack_sums(kern, as_list, block=8)), n, repeats),
        frame_bytes + kern.matrix_bytes / 8, ref=ref1d)

    # -- gixs's existing single-frame path (scipy sparse products, all outputs off but iq)
    geo = DetectorGeometry.from_integrator(ai)
    plan = get_plan(geo, GIGeometry.from_degrees(0.2), shape,
                    ReduceSettings(npt_q=1000, maps=False, polarization_factor=None))
    inv = np.zeros(shape, bool)
    add("gixs Plan.sums (scipy, iq+ip+oop)",
        timed(lambda: [plan.sums(f, inv) for f in frames[: max(4, n // 4)]],
              max(4, n // 4), repeats))
    pk = engine.StackKernel.from_plan(plan)
    pk.sums_block(frames[:1])
    add("gixs engine Plan (iq+ip+oop), block 8",
        timed(lambda: [pk.sums_block(frames[s:s + 8]) for s in range(0, n, 8)], n, repeats),
        frame_bytes * pk.passes + pk.matrix_bytes / 8, ref="gixs Plan.sums (scipy, iq+ip+oop)")

    # -- q_xy/q_z map, conservative --------------------------------------------------------
    inc = math.radians(0.2)
    gi_kw = dict(incident_angle=inc, tilt_angle=0.0, sample_orientation=1)
    ranges = dict(ip_range=(-3.0, 3.0), oop_range=(-0.5, 5.0))
    map_kw = dict(npt_ip=npt_map[0], npt_oop=npt_map[1], unit_ip="qip_A^-1",
                  unit_oop="qoop_A^-1", **gi_kw, **ranges)
    fi.integrate2d_grazing_incidence(frames[0], **map_kw)
    m_n = min(n, 8)
    refmap = f"pyFAI FiberIntegrator map {npt_map[0]}x{npt_map[1]} (no, histogram)"
    add(refmap,
        timed(lambda: [fi.integrate2d_grazing_incidence(f, **map_kw) for f in frames[:m_n]],
              m_n, repeats))
    mk = pyfai_check.fiber_map_kernel(None, shape, npt_map, integrator=fi, **gi_kw, **ranges)
    mk.sums_block(frames[:1])
    sig, norm, var, cnt = mk.sums_block(frames[:1])
    res = fi.integrate2d_grazing_incidence(frames[0], **map_kw)
    mine = mk.intensity(sig[0], norm[0]).reshape(npt_map).T
    both = (np.asarray(cnt[0]).reshape(npt_map).T == res.count) & (res.count > 0)
    err = np.nanmax(np.abs(mine[both] / res.intensity[both] - 1))
    print(f"  map: {100 * both.sum() / (res.count > 0).sum():.3f} % of FiberIntegrator's "
          f"non-empty bins hold the same pixels; max relative difference there {err:.1e}")
    for block in (1, 4):
        def run_map(block=block):
            for s in range(0, n, block):
                mk.sums_block(frames[s:s + block])
        add(f"gixs engine map {npt_map[0]}x{npt_map[1]}, block {block}",
            timed(run_map, n, repeats), frame_bytes + mk.matrix_bytes / block
            + 2 * 8 * mk.n_bins, ref=refmap)  # + signal and variance written, float64
    print("  (pygid's interpolating remap, measured on this machine by the issue author: "
          "~86 frames/s)")

    # -- table ---------------------------------------------------------------------------
    print()
    print(f"{'method':<52} {'frames/s':>9} {'speed-up':>9} {'% of BW limit':>14}")
    for name, fps, bpf, ref in rows:
        pct = f"{100 * fps / (bw / bpf):.0f} %" if bpf else "-"
        print(f"{name:<52} {fps:>9.1f} {fps / refs[ref]:>8.1f}x {pct:>14}")
    print("\nspeed-up: against the reference row of each section (pyFAI integrate1d "
          "default; Plan.sums; FiberIntegrator).")
    print("\nBW limit = read bandwidth / (frame bytes x passes + matrix bytes / block "
          "[+ output bytes for maps]). Shared machine: noisy, run twice.")


if __name__ == "__main__":
    main()
