"""Batch throughput, scaling, memory and read overlap, beside bare pyFAI, in one run.

    python benchmarks/bench_batch.py            # 2048x2048: 48 frames; memory 100 vs 1000
    python benchmarks/bench_batch.py --quick    # 2048x2048: 16 frames; memory 50 vs 500
    python benchmarks/bench_batch.py --frames 96 --mem-frames 200 2000
    python benchmarks/bench_batch.py --issue12 200 [--runs 3]   # the issue-12 row only

Sections (all on generated frames of a hexagonal superlattice):

1. throughput on a 2048x2048 bitshuffle-LZ4 HDF5 stack, metrics off: bare pyFAI (h5py
   read + ``integrate1d`` CSR, one azimuthal profile per frame), gixs batch in this
   process, with 1 and 2 local worker processes, and on a Dask LocalCluster of 2
   single-threaded worker processes (gixs makes three profiles per frame and writes them
   as NeXus). The plan comes from the plan cache (``GIXS_CACHE_DIR``, a fresh folder per
   run: the first worker builds it, ~1-3 s for 4 Mpixel, the others load it); the steady
   rate (frames/s after every worker finished its first chunk, from the per-frame time
   stamps in the output) is the figure that scales, the wall time includes plan builds.
2. read overlap: the same stack in this process with and without the prefetch thread,
   beside the time to only read and to only reduce the frames.
3. memory: peak RSS (psutil, the ``gixs batch`` process and its children) for a short and
   a ten times longer stack of 256x256 frames.

``--issue12 N``: issue 12's batch row alone: ``gixs batch --workers 2`` over N frames with
metrics on (the default: superlattice peak fits per frame) and default reduction settings,
a new process with an empty plan cache, against a bare pyFAI loop (h5py read +
``integrate1d`` 1000 bins, CSR) on 2 threads over the same file; medians of ``--runs``.

Numba runs one thread per process here (NUMBA_NUM_THREADS=1) so that worker scaling is
measured, not thread scaling. On a shared machine the numbers are noisy.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def geometry(size):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry

    pix = 79e-6 * 2048 / size
    det = pyFAI.detectors.Detector(pixel1=pix, pixel2=pix, max_shape=(size, size))
    return DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=3.0, poni1=0.01, poni2=0.02, wavelength=1.0332e-10))


def make_stack(path, geo, n, size):
    """n Poisson frames of one expected superlattice image, bitshuffle-LZ4 per frame."""
    import h5py
    import hdf5plugin

    from gixs import simulate
    from gixs.geometry.model import GIGeometry

    img = simulate.hex_superlattice(geo, GIGeometry.from_degrees(0.3), 12.0, rng=False,
                                    shape=(size, size))
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("entry/data/data", shape=(n, size, size), dtype=np.uint32,
                             chunks=(1, size, size), **hdf5plugin.Bitshuffle())
        base = rng.poisson(img).astype(np.uint32)
        for i in range(n):  # cheap variation: roll a fresh noise image every 8 frames
            if i % 8 == 0 and i:
                base = rng.poisson(img).astype(np.uint32)
            d[i] = np.roll(base, i % 8, axis=1)
        f["entry/instrument/detector/count_time"] = np.ones(n)


def steady_rate(out):
    """(frames/s once every worker has its plan, worker pids) from the output file.

    Counts the frames whose reduction started after the last worker finished its first
    block, over the time from that moment to the last frame (per-frame time stamps in
    the entries' provenance).
    """
    import h5py

    stamps = []
    with h5py.File(out, "r") as f:
        for k in f:
            if k.startswith("entry_"):
                b = json.loads(f[k]["provenance"][()])["batch"]
                stamps.append((b["pid"], np.datetime64(b["started"][:23]),
                               np.datetime64(b["processed"][:23])))
    first = {}
    for pid, _, t in stamps:
        first[pid] = min(first.get(pid, t), t)
    warm = max(first.values())
    later = [t for _, s, t in stamps if s >= warm]
    if len(later) < 2:
        return float("nan"), len(first)
    span = (max(later) - warm) / np.timedelta64(1, "s")
    return len(later) / span, len(first)


def bare_pyfai(path, geo, n):
    import h5py
    import hdf5plugin  # noqa: F401

    ai = geo.make_integrator()
    with h5py.File(path, "r") as f:
        d = f["entry/data/data"]
        ai.integrate1d(d[0], 1000, unit="q_A^-1", method=("no", "csr", "cython"))
        t = time.perf_counter()
        for i in range(n):
            ai.integrate1d(d[i], 1000, unit="q_A^-1", method=("no", "csr", "cython"))
        return n / (time.perf_counter() - t)


def run_gixs(path, geo, tmp, name, **kw):
    from gixs.batch.run import reduce_stack
    from gixs.geometry.model import GIGeometry

    out = os.path.join(tmp, f"{name}.h5")
    t = time.perf_counter()
    res = reduce_stack(path, geo, GIGeometry.from_degrees(0.3), metrics=False, output=out,
                       progress=False, **kw)
    wall = time.perf_counter() - t
    assert res.n_ok == len(res.rows), res.errors[:3]
    rate, procs = steady_rate(out)
    return {"wall_s": wall, "frames_per_s_wall": len(res.rows) / wall,
            "frames_per_s_steady": rate, "processes": procs}


def throughput(tmp, n, size):
    from gixs.reduce.frame import ReduceSettings

    geo = geometry(size)
    path = os.path.join(tmp, "stack.h5")
    t = time.perf_counter()
    make_stack(path, geo, n, size)
    print(f"stack: {n} frames {size}x{size} uint32, bitshuffle-LZ4 "
          f"({os.path.getsize(path) / n / 1e6:.1f} MB/frame), made in "
          f"{time.perf_counter() - t:.0f} s")
    res = {"pyFAI integrate1d (1 profile), 1 process": {"frames_per_s_steady":
                                                         bare_pyfai(path, geo, min(n, 16))}}
    st = ReduceSettings(maps=False)
    res["gixs batch --workers 1 (this process)"] = run_gixs(path, geo, tmp, "serial",
                                                             settings=st)
    res["gixs batch --workers 1, no prefetch"] = None
    res["gixs batch --workers 2"] = run_gixs(path, geo, tmp, "pool2", settings=st, workers=2)
    try:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          dashboard_address=None, memory_limit=0) as cl, Client(cl) as client:
            res["gixs batch --scheduler (LocalCluster 2x1)"] = run_gixs(
                path, geo, tmp, "dask", settings=st, scheduler=client)
    except ImportError:
        pass
    import gixs.io.stack

    gixs.io.stack.PREFETCH = False
    res["gixs batch --workers 1, no prefetch"] = run_gixs(path, geo, tmp, "nopf", settings=st)
    gixs.io.stack.PREFETCH = True
    return path, geo, {k: v for k, v in res.items() if v is not None}


def read_vs_compute(path, geo, n):
    """Seconds per frame to only read (gixs.io.stack) and to only reduce (cached plan)."""
    from gixs.batch.chunk import _kernel
    from gixs.reduce.engine.block import StackKernel  # noqa: F401
    from gixs.geometry.model import GIGeometry
    from gixs.reduce.frame import ReduceSettings, get_plan
    from gixs.io.stack import FrameRef, read_frames

    refs = [FrameRef(i, path, i) for i in range(n)]
    t = time.perf_counter()
    frames = [f for _, f in read_frames(refs[:8], prefetch=False)]
    t_read = (time.perf_counter() - t) / 8
    import gixs.reduce.engine.block as eng

    class J:  # the attributes _kernel reads
        dark = flat = None

    plan = get_plan(geo, GIGeometry.from_degrees(0.3), frames[0].data.shape,
                    ReduceSettings(maps=False))
    kern = _kernel(eng, plan, J)
    data = np.stack([f.data for f in frames[:4]])
    inv = np.stack([f.invalid for f in frames[:4]])
    kern.sums_block(data, inv)
    t = time.perf_counter()
    for _ in range(2):
        kern.sums_block(data, inv)
    return t_read, (time.perf_counter() - t) / 8


def peak_rss(cmd):
    """Peak resident memory (MB) of a command and all its children, sampled every 20 ms."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode())
    return peak / 2 ** 20


def memory(tmp, counts, workers):
    from gixs.geometry.model import write_poni

    geo = geometry(256)
    write_poni(geo, os.path.join(tmp, "m.poni"))
    exe = os.path.join(os.path.dirname(sys.executable), "gixs")
    out = {}
    for n in counts:
        path = os.path.join(tmp, f"mem_{n}.h5")
        make_stack(path, geo, n, 256)
        cmd = [exe, "batch", path, "--poni", os.path.join(tmp, "m.poni"), "--incidence-deg",
               "0.3", "--no-metrics", "-o", os.path.join(tmp, f"mem_{n}_out.h5"),
               "--workers", str(workers)]
        t = time.perf_counter()
        out[n] = (peak_rss(cmd), time.perf_counter() - t)
    return out


def bare_pyfai_threads(path, geo, n, threads=2):
    """Frames/s of a bare pyFAI loop on ``threads`` threads (each its own integrator and
    HDF5 handle, frames dealt round-robin), read + integrate1d 1000 bins (CSR)."""
    import concurrent.futures

    import h5py
    import hdf5plugin  # noqa: F401

    def work(k):
        ai = geo.make_integrator()
        with h5py.File(path, "r") as f:
            d = f["entry/data/data"]
            for i in range(k, n, threads):
                ai.integrate1d(d[i], 1000, unit="q_A^-1", method=("bbox", "csr", "cython"),
                               polarization_factor=0.99)
        return True

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        assert all(ex.map(work, range(threads)))
    return n / (time.perf_counter() - t)


def issue12(n, runs):
    """Issue 12's row: gixs batch --workers 2, metrics on, vs bare pyFAI on 2 threads."""
    import statistics

    from gixs.geometry.model import write_poni

    with tempfile.TemporaryDirectory(prefix="gixs-bench-i12-") as tmp:
        geo = geometry(2048)
        path = os.path.join(tmp, "stack.h5")
        t = time.perf_counter()
        make_stack(path, geo, n, 2048)
        print(f"stack: {n} frames 2048x2048 uint32, bitshuffle-LZ4, made in "
              f"{time.perf_counter() - t:.0f} s; load average {os.getloadavg()[0]:.1f}")
        poni = os.path.join(tmp, "g.poni")
        write_poni(geo, poni)
        exe = os.path.join(os.path.dirname(sys.executable), "gixs")
        env = dict(os.environ)
        env.pop("NUMBA_NUM_THREADS", None)  # the user's default
        bare, ours = [], []
        bare_pyfai_threads(path, geo, 4)  # warm-up: file cache, pyFAI import
        for r in range(runs):
            bare.append(bare_pyfai_threads(path, geo, n))
            out = os.path.join(tmp, f"out{r}.h5")
            env["GIXS_CACHE_DIR"] = os.path.join(tmp, f"cache{r}")
            t = time.perf_counter()
            subprocess.run([exe, "batch", path, "--poni", poni, "--incidence-deg", "0.3",
                            "--workers", "2", "-o", out, "-q"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            ours.append(n / (time.perf_counter() - t))
            os.unlink(out)
            print(f"run {r + 1}: pyFAI 2 threads {bare[-1]:.2f} frames/s, gixs batch "
                  f"--workers 2 (metrics on) {ours[-1]:.2f} frames/s", flush=True)
    b, g = statistics.median(bare), statistics.median(ours)
    print(f"\n{'what':62s} {'frames/s':>9s} {'vs pyFAI':>9s}")
    print(f"{'bare pyFAI: h5py read + integrate1d, 2 threads':62s} {b:9.2f} {1:8.2f}x")
    print(f"{'gixs batch --workers 2, metrics on (new process, empty cache)':62s} "
          f"{g:9.2f} {g / b:8.2f}x   (goal >= 2x)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=48, help="2048x2048 frames (default 48)")
    ap.add_argument("--mem-frames", type=int, nargs=2, default=(100, 1000),
                    metavar=("SHORT", "LONG"), help="frames of the memory runs")
    ap.add_argument("--quick", action="store_true", help="16 frames; memory 50 vs 500")
    ap.add_argument("--issue12", type=int, metavar="N", default=None,
                    help="only issue 12's row: gixs batch --workers 2 (metrics on) over N "
                         "frames vs bare pyFAI on 2 threads")
    ap.add_argument("--runs", type=int, default=3, help="runs of the --issue12 row")
    args = ap.parse_args(argv)
    if args.issue12:
        return issue12(args.issue12, args.runs)
    n = 16 if args.quick else args.frames
    mem_counts = (50, 500) if args.quick else tuple(args.mem_frames)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"(shared machines give noisy figures); NUMBA_NUM_THREADS="
          f"{os.environ['NUMBA_NUM_THREADS']}")
    with tempfile.TemporaryDirectory(prefix="gixs-bench-batch-") as tmp:
        path, geo, res = throughput(tmp, n, 2048)
        print(f"\n{'run':48s} {'wall s':>7s} {'fr/s wall':>9s} {'fr/s steady':>11s}")
        for name, r in res.items():
            print(f"{name:48s} {r.get('wall_s', float('nan')):7.1f} "
                  f"{r.get('frames_per_s_wall', float('nan')):9.2f} "
                  f"{r['frames_per_s_steady']:11.2f}")
        one = res["gixs batch --workers 1 (this process)"]["frames_per_s_steady"]
        two = res["gixs batch --workers 2"]["frames_per_s_steady"]
        p2 = res["gixs batch --workers 2"]
        print(f"\n2 workers / 1 worker (steady): {two / one:.2f}x   (goal >= 1.8x)")
        dk = res.get("gixs batch --scheduler (LocalCluster 2x1)")
        if dk:
            print(f"Dask LocalCluster / local pool: steady {dk['frames_per_s_steady'] / two:.2f}"
                  f", wall {p2['wall_s'] / dk['wall_s']:.2f}   (goal within 10%: >= 0.90)")
        t_read, t_red = read_vs_compute(path, geo, n)
        pf = res["gixs batch --workers 1 (this process)"]["frames_per_s_steady"]
        npf = res["gixs batch --workers 1, no prefetch"]["frames_per_s_steady"]
        print(f"\nread only {t_read * 1e3:.0f} ms/frame (decompress + float32 + invalid mask),"
              f" reduce only {t_red * 1e3:.0f} ms/frame (engine, 3 profiles)")
        print(f"in process: {1e3 / pf:.0f} ms/frame with prefetch, {1e3 / npf:.0f} ms/frame "
              f"without (read + reduce + unpack + NeXus write)")
        mem = memory(tmp, mem_counts, workers=1)
        (a, (ma, ta)), (b, (mb, tb)) = sorted(mem.items())
        print(f"\npeak RSS (gixs batch + children, 256x256 frames, 1 process): {a} frames "
              f"{ma:.0f} MB ({ta:.0f} s), {b} frames {mb:.0f} MB ({tb:.0f} s): "
              f"ratio {mb / ma:.3f}   (goal <= 1.10)")
        mem2 = memory(tmp, mem_counts, workers=2)
        (a, (ma, ta)), (b, (mb, tb)) = sorted(mem2.items())
        print(f"peak RSS, --workers 2: {a} frames {ma:.0f} MB ({ta:.0f} s), {b} frames "
              f"{mb:.0f} MB ({tb:.0f} s): ratio {mb / ma:.3f}")


if __name__ == "__main__":
    main()
