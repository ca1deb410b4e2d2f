"""Time of the form-factor fit (gixs.superlattice.formfactor) on a 1000-point profile.

Profile: touching polydisperse dots (sasmodels sphere R 5.5 nm, Schulz sigma 0.1) times
a Lorentzian S(q) peak at 2 pi / 12.5 nm (FWHM 10% and 20% of q*) plus a flat
background, Poisson noise, 1000 bins over 0.01..0.15 1/A (an I(|q|) profile). Prints,
per case, the median wall time (ms) of

* ``measure`` (plain line-shape fit, the reference in the same run),
* ``measure(form_factor="sphere:R=5.5,sigma=0.1")`` and ``measure(form_factor="auto")``,
* ``fit_form_factor`` alone (the extra cost of the form factor),
* the same two fits' CPU time (process time: less inflated on a shared machine),
* one bare sasmodels call of the polydisperse sphere on the 1000 points (the unit cost
  the fit is made of).

Goal (issue 10): the form-factor fit <= 200 ms per frame.

    python benchmarks/bench_formfactor.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np


def profile(rel_width, rng=1):
    from gixs.results import Profile
    from gixs.superlattice.formfactor import sphere_form_factor

    x = np.linspace(0.01, 0.15, 1000)
    qs = 2 * math.pi / 125
    s_q = 1 + 3 / (1 + 4 * ((x - qs) / (rel_width * qs)) ** 2)
    mean = 2000 * sphere_form_factor(x, 5.5, 0.1) * s_q / 0.5 + 5
    y = np.random.default_rng(rng).poisson(mean).astype(float)
    sig = np.sqrt(np.maximum(y, 1))
    return Profile("iq", "q", x, y, sig, np.ones(x.size, np.int64), {})


CPU = {}


def median_ms(fn, repeats):
    """Median wall time (ms); the median CPU time of the process goes to CPU[fn]."""
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU["last"] = 1e3 * statistics.median(cpu)
    return 1e3 * statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    from sasmodels.core import load_model
    from sasmodels.direct_model import call_kernel

    from gixs.superlattice.formfactor import fit_form_factor
    from gixs.superlattice.ordering import measure

    warnings.simplefilter("ignore")
    x = np.linspace(0.01, 0.15, 1000)
    kern = load_model("sphere", dtype="double").make_kernel([x])
    pars = dict(radius=55.0, radius_pd=0.1, radius_pd_type="schulz", radius_pd_n=35,
                radius_pd_nsigma=3.0, sld=1.0, sld_solvent=0.0, scale=1.0, background=0.0)
    bare = median_ms(lambda: call_kernel(kern, pars), 20)
    print(f"bare sasmodels sphere P(q), 1000 points, Schulz 35 points: {bare:.2f} ms/call")
    print(f"{'case':>10} {'measure':>9} {'+sphere:R':>10} {'+auto':>9} "
          f"{'fit R given':>12} {'fit auto':>9}  (ms, median of {args.repeats})")
    for rw in (0.1, 0.2):
        p = profile(rw)
        measure(p, form_factor="auto")  # warm-up (model load, numba)
        plain = median_ms(lambda: measure(p), args.repeats)
        given = median_ms(lambda: measure(p, form_factor="sphere:R=5.5,sigma=0.1"),
                          args.repeats)
        auto = median_ms(lambda: measure(p, form_factor="auto"), args.repeats)
        r = measure(p)
        xs, ys, ss = r.profile_x, r.profile_y, r.profile_sigma
        kw = dict(q_star=r.q_star_centre, fwhm=r.fwhm)
        fg = median_ms(lambda: fit_form_factor(xs, ys, ss, "sphere:R=5.5,sigma=0.1", **kw),
                       args.repeats)
        fg_cpu = CPU["last"]
        fa = median_ms(lambda: fit_form_factor(xs, ys, ss, "auto", **kw), args.repeats)
        fa_cpu = CPU["last"]
        print(f"{f'FWHM {rw:.0%}':>10} {plain:9.1f} {given:10.1f} {auto:9.1f} {fg:12.1f} "
              f"{fa:9.1f}   (CPU: fit R given {fg_cpu:.1f}, fit auto {fa_cpu:.1f})")


if __name__ == "__main__":
    main()
