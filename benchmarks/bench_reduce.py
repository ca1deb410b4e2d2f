"""GI reduction speed: gixs (cached sparse plan) vs bare pyFAI FiberIntegrator.

Frames: 2048x2048 float32 (Rayonix SX165 2x2 binned, 175 mm, 0.6888 A), incidence 0.2 deg.
Prints frames/s of: an in-plane GI cut I(q_xy), a q_xy/q_z map 500x500, and gixs's full
reduction (azimuthal I(q) + cuts + both maps in one pass), single frames: through scipy's
sparse product and through ``reduce_frame`` (compiled engine, results and provenance).
Stacks go faster still with blocks of frames: see bench_engine.py.

    python benchmarks/bench_reduce.py [--frames N]
"""

import argparse
import time

import numpy as np


def rate(fn, frames):
    fn(frames[0])  # warm-up: builds caches / look-up tables
    t = time.perf_counter()
    for f in frames:
        fn(f)
    return len(frames) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    args = ap.parse_args()
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs import GIGeometry, ReduceSettings
    from gixs.geometry.model import DetectorGeometry
    from gixs.reduce.frame import get_plan, reduce_frame

    det = pyFAI.detectors.detector_factory("RayonixSx165")
    det.binning = (2, 2)
    geo = DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=0.175, poni1=0.01, poni2=0.081, wavelength=0.6888e-10))
    gi = GIGeometry.from_degrees(0.2)
    rng = np.random.default_rng(0)
    frames = [rng.poisson(50, (2048, 2048)).astype(np.float32) for _ in range(args.frames)]
    fi = geo.make_integrator(fiber=True)
    kw = dict(incident_angle=gi.incidence, tilt_angle=0.0, sample_orientation=1)
    ip = ReduceSettings(npt_q=1000, ip_band=(0.0, 0.1), maps=False, azimuthal=False)
    cut_plan = get_plan(geo, gi, (2048, 2048), ip)
    map_only = ReduceSettings(npt_map=(500, 500), azimuthal=False, cuts=False)
    map_plan = get_plan(geo, gi, (2048, 2048), map_only)
    full = ReduceSettings(npt_q=1000, npt_map=(500, 500))
    full_plan = get_plan(geo, gi, (2048, 2048), full)

    def pyfai_cut(f):
        return fi.integrate1d_grazing_incidence(
            f, npt_ip=1000, npt_oop=100, unit_ip="qip_A^-1", unit_oop="qoop_A^-1",
            oop_range=(0.0, 0.1), vertical_integration=False, **kw)

    def pyfai_map(f):
        return fi.integrate2d_grazing_incidence(
            f, npt_ip=500, npt_oop=500, unit_ip="qip_A^-1", unit_oop="qoop_A^-1", **kw)

    def gixs_cut(f):
        return cut_plan.unpack(*cut_plan.sums(f))

    def gixs_map(f):
        return map_plan.unpack(*map_plan.sums(f))

    def gixs_full(f):
        return full_plan.unpack(*full_plan.sums(f))

    def engine_map(f):
        return reduce_frame(f, geo, gi, map_only)

    def engine_full(f):
        return reduce_frame(f, geo, gi, full)

    n_slow = max(2, min(4, args.frames))
    rows = [
        ("pyFAI FiberIntegrator 1D in-plane cut", rate(pyfai_cut, frames[:n_slow])),
        ("gixs in-plane cut (cached plan)", rate(gixs_cut, frames)),
        ("pyFAI FiberIntegrator 2D map 500x500", rate(pyfai_map, frames[:n_slow])),
        ("gixs q_xy/q_z + (q, chi) maps, scipy path", rate(gixs_map, frames)),
        ("gixs q_xy/q_z + (q, chi) maps, reduce_frame", rate(engine_map, frames)),
        ("gixs I(q)+cuts+2 maps, scipy path (map)", rate(gixs_full, frames)),
        ("gixs I(q)+cuts+2 maps, reduce_frame (map)", rate(engine_full, frames)),
    ]
    base_cut, base_map = rows[0][1], rows[2][1]
    print(f"2048x2048 float32 frames, {args.frames} frames, 2 cores (machine shared: figures noisy)")
    print(f"{'method':45s} {'frames/s':>9s} {'vs pyFAI':>9s}")
    for name, r in rows:
        ref = base_cut if "cut" in name else base_map
        print(f"{name:45s} {r:9.2f} {r / ref:8.1f}x")


if __name__ == "__main__":
    main()
