"""gixs watch: reduce frames as they land in a folder (a live batch, restart-safe)."""

from __future__ import annotations

import os
import sys

from gixs.cli.batch import add_batch_options

HELP = "reduce frames as they land in a folder: NeXus file, table and a live PNG"

EPILOG = """\
A file is taken once its size and time stamp held for --settle-s seconds. Every update
rewrites OUT.h5 and the table with all frames so far (equal to gixs batch on the same
files); finished frames are kept in OUT.h5.parts/, so stopping (Ctrl-C) and running the
same command again continues without redoing them (--restart starts over).
example: gixs watch /data/run7 --setup gixs.toml --pattern '*.cbf' -o run7.h5 \\
         --name-pattern 'th(?P<incidence_deg>[0-9.]+)'"""


def add_arguments(p):
    p.epilog = EPILOG
    p.add_argument("folder", metavar="DIR", help="folder the frames are written into")
    p.add_argument("--pattern", default="*", metavar="GLOB",
                   help="file names to take (default '*'; e.g. '*.cbf')")
    p.add_argument("--name-pattern", metavar="REGEX",
                   help="regex on file names with groups incidence_deg (deg, per file) "
                        "and/or time_s (s, live-figure time axis)")
    p.add_argument("--settle-s", type=float, default=2.0, metavar="S",
                   help="seconds a file must stay unchanged to count as complete "
                        "(default 2)")
    p.add_argument("--poll-s", type=float, default=1.0, metavar="S",
                   help="seconds between folder listings (default 1)")
    p.add_argument("--idle-exit-s", type=float, metavar="S",
                   help="stop after S seconds without a new file (default: run until "
                        "Ctrl-C)")
    p.add_argument("--live-png", metavar="OUT.png",
                   help="live figure, refreshed at each update (default OUT_live.png "
                        "beside OUT.h5; 'none' for no figure)")
    p.add_argument("--restart", action="store_true",
                   help="forget the frames of an earlier watch into OUT.h5, start over")
    add_batch_options(p)


def run(args) -> int:
    from gixs.batch.watch import watch
    from gixs.cli.batch import batch_inputs

    if args.incidence_list:
        raise ValueError("--incidence-list does not fit frames that are still arriving: "
                         "use --incidence-deg or --name-pattern with (?P<incidence_deg>...)")
    if args.name_pattern and "incidence_deg" in args.name_pattern and args.incidence_deg is None:
        args.incidence_deg = 0.0  # replaced per file
    if not os.path.isdir(args.folder):
        raise FileNotFoundError(2, "folder to watch not found", args.folder)
    geometry, gi, kwargs = batch_inputs(args)
    output, table = kwargs.pop("output"), kwargs.pop("table")
    kwargs.pop("incidence_list")
    png = args.live_png or os.path.splitext(output)[0] + "_live.png"
    state = {"n": 0}

    def on_update(res, names):
        new = len(res.rows) - state["n"]
        state["n"] = len(res.rows)
        if png != "none":
            from gixs.plot.common import save
            from gixs.plot.watch import live_figure

            times = None
            if names and all("time_s" in v for v in names.values()):
                times = [names[r["source"]]["time_s"] for r in res.rows]
            save(live_figure(output, res.rows, times, title=os.path.basename(output)), png)
        print(f"gixs watch: +{new} frame(s), {len(res.rows)} in {output} "
              f"({res.n_ok} ok, {len(res.errors)} error(s))", file=sys.stderr, flush=True)

    print(f"gixs watch: watching {args.folder} for {args.pattern} (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    try:
        res = watch(args.folder, geometry, gi, output=output, table=table,
                    pattern=args.pattern, name_pattern=args.name_pattern,
                    settle_s=args.settle_s, poll_s=args.poll_s,
                    idle_exit_s=args.idle_exit_s, on_update=on_update,
                    restart=args.restart, **kwargs)
    except KeyboardInterrupt:
        print(f"gixs watch: stopped; {state['n']} frame(s) in {output}; run the same "
              "command again to continue", file=sys.stderr)
        return 0
    n = 0 if res is None else len(res.rows)
    print(f"gixs watch: idle for {args.idle_exit_s:g} s, stopping; {n} frame(s) -> {output}, "
          f"{table}")
    return 0
