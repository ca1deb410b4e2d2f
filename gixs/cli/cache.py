"""gixs cache: where the reduction-plan cache lives, how big it is; empty it."""

from __future__ import annotations

HELP = "show (info) or empty (clear) the reduction-plan cache"


def add_arguments(p):
    p.add_argument("action", choices=("info", "clear"),
                   help="info: folder, entries and size; clear: delete every entry")


def run(args) -> int:
    from gixs.reduce import cache

    folder = cache.cache_dir()
    if folder is None:
        print("plan cache: off (GIXS_CACHE_DIR=off)")
        return 0
    if args.action == "clear":
        n, size = cache.clear(folder)
        print(f"plan cache {folder}: removed {n} file(s), {size / 2 ** 20:.1f} MB")
        return 0
    info = cache.info(folder)
    print(f"plan cache: {info['folder']}\n"
          f"entries: {info['entries']}\n"
          f"size: {info['bytes'] / 2 ** 20:.1f} MB of {info['max_bytes'] / 2 ** 20:.0f} MB "
          "(GIXS_CACHE_MAX_MB; least recently used evicted first)\n"
          f"format: {info['format']}")
    return 0
