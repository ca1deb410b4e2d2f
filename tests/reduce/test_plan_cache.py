"""The plan: direct CSR construction equals the former COO + np.unique build exactly, and
the persistent plan cache (gixs.reduce.cache) gives back the same plan, keys on every
input, survives concurrent writers and rebuilds corrupt entries."""

import dataclasses
import math
import multiprocessing as mp
import os

import numpy as np
import pytest
import scipy.sparse as sp

from gixs.geometry.model import GIGeometry
from gixs.reduce import cache
from gixs.reduce.frame import Plan, ReduceSettings, get_plan, reduce_frame
from tests.conftest import make_geometry


def old_plan_matrix(plan):
    """The former construction: per block, COO (bin, pixel) pairs of np.floor bins turned
    into CSR by scipy, blocks stacked with sp.vstack, used columns by np.unique."""
    pq, s, valid = plan.pq, plan.settings, plan.static_valid
    parts = []

    def add(coords, ranges, npts, select):
        sel = (select & valid).ravel()
        for c in coords:
            sel &= np.isfinite(c.ravel())
        idx = np.flatnonzero(sel)
        flat_bin = np.zeros(idx.size, np.int64)
        keep = np.ones(idx.size, bool)
        stride = 1
        for c, (lo, hi), n in reversed(list(zip(coords, ranges, npts))):
            vals = c.ravel()[idx].astype(np.float64)
            b = np.floor((vals - lo) / ((hi - lo) / n)).astype(np.int64)
            keep &= (b >= 0) & (b < n)
            flat_bin += np.clip(b, 0, n - 1) * stride
            stride *= n
        parts.append(sp.csr_matrix((np.ones(int(keep.sum())), (flat_bin[keep], idx[keep])),
                                   shape=(int(np.prod(npts)), sel.size)))

    def rng_(arr, select=None, default=None):
        sel = valid if select is None else valid & select
        vals = arr[sel & np.isfinite(arr)]
        if vals.size == 0:
            return default
        lo, hi = float(vals.min()), float(vals.max())
        return lo, hi + (hi - lo) * 1e-6 + 1e-9

    every = np.ones(plan.shape, bool)
    q_range = s.q_range or rng_(pq.q)
    chi = np.degrees(pq.chi)
    if s.azimuthal:
        add((pq.q,), (q_range,), (s.npt_q,), every)
        for lo, hi in s.sectors:
            add((pq.q,), (q_range,), (s.npt_q,), (chi >= lo) & (chi < hi))
    k0 = plan.k0
    w = k0 * math.sin(math.radians(0.5))
    qz_h = k0 * math.sin(plan.gi.incidence)
    ip_band = s.ip_band or (qz_h, qz_h + w)
    oop_band = s.oop_band or (-w / 2, w / 2)
    if s.cuts:
        sel = (pq.qz >= ip_band[0]) & (pq.qz < ip_band[1])
        add((pq.qxy,), (rng_(pq.qxy, sel, (-1.0, 1.0)),), (s.npt_q,), sel)
        sel = (pq.qxy >= oop_band[0]) & (pq.qxy < oop_band[1])
        add((pq.qz,), (rng_(pq.qz, sel, (0.0, 1.0)),), (s.npt_q,), sel)
    if s.maps:
        add((pq.qxy, pq.qz), (rng_(pq.qxy), rng_(pq.qz)), tuple(s.npt_map), every)
        add((pq.q, chi), (q_range, (-180.0, 180.0)), (s.npt_q // 2, s.npt_chi), every)
    m = sp.vstack(parts, format="csr", dtype=np.float64)
    return m, np.unique(m.indices)


CASES = [
    # (detector, binning, dist, incidence deg, critical angle deg, settings)
    ("Pilatus1M", None, 0.25, 0.2, None,
     ReduceSettings(npt_q=400, npt_map=(150, 120), npt_chi=90,
                    sectors=((-30.0, 30.0), (60.0, 120.0)))),
    ("RayonixSx165", (4, 4), 0.9, 0.12, 0.1,
     ReduceSettings(npt_q=700, npt_map=(200, 220), npt_chi=72, q_range=(0.005, 0.2))),
    ("Pilatus300k", None, 0.15, 0.35, None,
     ReduceSettings(npt_q=250, maps=False, ip_band=(0.02, 0.06), oop_band=(-0.01, 0.01),
                    polarization_factor=None, solid_angle=False)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fast_plan_equals_old_construction_exactly(case, monkeypatch):
    monkeypatch.setenv("GIXS_CACHE_DIR", "off")
    det, binning, dist, inc, ac, settings = case
    geo = make_geometry(detector=det, binning=binning, dist=dist, poni1=0.03, poni2=0.04,
                        rot1=0.005, rot2=-0.01, wavelength_a=1.1)
    gi = GIGeometry.from_degrees(inc, critical_angle_deg=ac) if ac else \
        GIGeometry.from_degrees(inc)
    shape = geo.shape()
    rng = np.random.default_rng(1)
    mask = rng.random(shape) < 0.02
    plan = Plan(geo, gi, shape, settings, mask)
    old, old_cols = old_plan_matrix(plan)
    assert old.nnz > 10000
    np.testing.assert_array_equal(plan.indptr, old.indptr)
    np.testing.assert_array_equal(plan.indices, old.indices)
    np.testing.assert_array_equal(plan.columns, old_cols)
    assert (plan.matrix != old).nnz == 0
    # the CSC form is the same matrix
    csc = old.tocsc()
    csc.sort_indices()
    np.testing.assert_array_equal(plan.col_ptr, csc.indptr)
    np.testing.assert_array_equal(plan.col_rows, csc.indices)


# -- the disk cache ---------------------------------------------------------------------
SMALL = ReduceSettings(npt_q=120, npt_map=(40, 50), npt_chi=36, sectors=((-20.0, 20.0),))


@pytest.fixture
def small():
    geo = make_geometry(detector="Pilatus100k", dist=0.2, poni1=0.005, poni2=0.04)
    return geo, GIGeometry.from_degrees(0.25), geo.shape()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    d = tmp_path / "plans"
    monkeypatch.setenv("GIXS_CACHE_DIR", str(d))
    monkeypatch.delenv("GIXS_CACHE_MAX_MB", raising=False)
    cache.clear_memory()
    yield d
    cache.clear_memory()


def assert_same_plan(a, b):
    for name in ("indptr", "indices", "col_ptr", "col_rows", "norm", "static_valid",
                 "below_horizon", "columns"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.shape == b.shape and a.k0 == b.k0 and a.geometry == b.geometry
    assert [(x.name, x.rows, x.band) for x in a.blocks] == \
        [(x.name, x.rows, x.band) for x in b.blocks]
    for x, y in zip(a.blocks, b.blocks):
        for cx, cy in zip(x.centres, y.centres):
            np.testing.assert_array_equal(cx, cy)


def test_cached_plan_equals_fresh_one(small, folder, rng):
    geo, gi, shape = small
    mask = np.zeros(shape, bool)
    mask[50:60, 100:140] = True
    fresh = get_plan(geo, gi, shape, SMALL, mask)
    assert len(cache.entries(folder)) == 1
    cache.clear_memory()
    loaded = get_plan(geo, gi, shape, SMALL, mask)
    assert loaded is not fresh and loaded._pq is None  # read from disk, not rebuilt
    assert_same_plan(loaded, fresh)
    np.testing.assert_array_equal(loaded.pq.q, fresh.pq.q)  # recomputed on demand
    img = rng.poisson(30, shape).astype(np.float32)
    a = reduce_frame(img, geo, gi, SMALL, mask=mask)
    cache.clear_memory()
    os.environ["GIXS_CACHE_DIR"] = "off"
    b = reduce_frame(img, geo, gi, SMALL, mask=mask)  # built afresh, no disk
    for k in a.profiles:
        np.testing.assert_array_equal(a.profiles[k].intensity, b.profiles[k].intensity)
    np.testing.assert_array_equal(a.maps["qmap"].intensity, b.maps["qmap"].intensity)


def test_key_changes_with_every_input(small):
    geo, gi, shape = small
    mask = np.zeros(shape, bool)
    base = cache.plan_key(geo, gi, shape, SMALL, mask)
    assert cache.plan_key(geo, gi, shape, SMALL, mask.copy()) == base  # content, not id
    one = mask.copy()
    one[100, 200] = True
    poni = dataclasses.replace(geo, poni1_m=geo.poni1_m + 1e-9)   # the 7th digit of a PONI
    keys = {
        "mask pixel": cache.plan_key(geo, gi, shape, SMALL, one),
        "no mask": cache.plan_key(geo, gi, shape, SMALL, None),
        "poni digit": cache.plan_key(poni, gi, shape, SMALL, mask),
        "wavelength": cache.plan_key(dataclasses.replace(geo, wavelength_m=1.0001e-10), gi,
                                     shape, SMALL, mask),
        "incidence": cache.plan_key(geo, GIGeometry.from_degrees(0.2501), shape, SMALL, mask),
        "orientation": cache.plan_key(geo, dataclasses.replace(gi, orientation=4), shape,
                                      SMALL, mask),
        "bins": cache.plan_key(geo, gi, shape, dataclasses.replace(SMALL, npt_q=121), mask),
        "polarization": cache.plan_key(geo, gi, shape, dataclasses.replace(
            SMALL, polarization_factor=0.95), mask),
    }
    assert base not in keys.values()
    assert len(set(keys.values())) == len(keys)
    d = cache.key_dict(geo, gi, shape, SMALL, mask)
    assert d["format"] == cache.CACHE_FORMAT and set(d["versions"]) == {"gixs", "pyFAI",
                                                                         "numpy"}


def _write_entry(args):
    folder, key, plan = args
    for _ in range(3):
        cache.store(folder, key, plan)
    return True


def test_concurrent_writers_leave_one_valid_entry(small, folder):
    geo, gi, shape = small
    plan = Plan(geo, gi, shape, SMALL)
    key = cache.plan_key(geo, gi, shape, SMALL, None)
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        assert all(pool.map(_write_entry, [(str(folder), key, plan)] * 8))
    names = os.listdir(folder)
    assert names == [f"{key}.npz"]  # one entry, no temporary file left
    assert_same_plan(cache.load(str(folder), key, Plan), plan)


def test_corrupt_entry_is_rebuilt_never_used(small, folder):
    geo, gi, shape = small
    fresh = get_plan(geo, gi, shape, SMALL)
    (path,) = [e[0] for e in cache.entries(folder)]
    raw = open(path, "rb").read()
    for damage in ("truncate", "flip", "garbage"):
        if damage == "truncate":
            open(path, "wb").write(raw[: len(raw) // 2])
        elif damage == "flip":
            bad = bytearray(raw)
            bad[len(bad) // 2] ^= 0xFF
            open(path, "wb").write(bytes(bad))
        else:
            open(path, "wb").write(b"not a plan")
        cache.clear_memory()
        again = get_plan(geo, gi, shape, SMALL)
        assert again._pq is not None  # rebuilt, not loaded
        assert_same_plan(again, fresh)
        cache.clear_memory()
        assert cache.load(str(folder), os.path.basename(path)[:-4], Plan) is not None  # rewritten


def test_loaded_plan_is_mapped_and_outlives_a_replaced_entry(small, folder, rng):
    """A plan from disk is a copy-on-write mapping of its entry (not read into memory);
    a writer renaming another file over the entry leaves the loaded plan's numbers intact."""
    import mmap

    geo, gi, shape = small
    img = rng.poisson(30, shape).astype(np.float32)
    get_plan(geo, gi, shape, SMALL)
    ref = reduce_frame(img, geo, gi, SMALL)
    (path,) = [e[0] for e in cache.entries(folder)]
    cache.clear_memory()
    loaded = get_plan(geo, gi, shape, SMALL)
    assert loaded._pq is None
    base = loaded.indices
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(getattr(base, "obj", base), mmap.mmap)
    assert loaded.indices.flags.writeable  # copy-on-write: the same array types as built
    tmp = path + ".new"
    with open(tmp, "wb") as fh:
        fh.write(b"\0" * os.path.getsize(path))
    os.replace(tmp, path)  # the old inode stays valid for the mapping
    again = reduce_frame(img, geo, gi, SMALL)
    for k in ref.profiles:
        np.testing.assert_array_equal(again.profiles[k].intensity, ref.profiles[k].intensity)
    np.testing.assert_array_equal(again.maps["qmap"].intensity, ref.maps["qmap"].intensity)
    cache.clear_memory()
    assert cache.load(str(folder), os.path.basename(path)[:-4], Plan) is None  # zeros: refused


def test_lru_bound_evicts_oldest(small, folder, monkeypatch):
    geo, gi, shape = small
    p = get_plan(geo, gi, shape, SMALL)
    size = cache.entries(folder)[0][1]
    monkeypatch.setenv("GIXS_CACHE_MAX_MB", str(2.5 * size / 2 ** 20))
    first = cache.entries(folder)[0][0]
    os.utime(first, (1, 1))
    get_plan(geo, GIGeometry.from_degrees(0.3), shape, SMALL)
    get_plan(geo, GIGeometry.from_degrees(0.35), shape, SMALL)
    left = [e[0] for e in cache.entries(folder)]
    assert len(left) == 2 and first not in left
    assert p is not None
    info = cache.info(str(folder))
    assert info["entries"] == 2 and info["bytes"] <= info["max_bytes"]
    assert cache.clear(str(folder))[0] == 2 and cache.info(str(folder))["entries"] == 0


def test_cache_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("GIXS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == str(tmp_path / "xdg" / "gixs" / "plans")
    monkeypatch.setenv("GIXS_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("GIXS_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    monkeypatch.setenv("GIXS_CACHE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="GIXS_CACHE_MAX_MB"):
        cache.max_bytes()
    monkeypatch.delenv("GIXS_CACHE_MAX_MB")
    assert cache.max_bytes() == cache.DEFAULT_MAX_BYTES == 2 * 2 ** 30


def test_cached_kernel_equals_fresh_one(small, folder, rng, monkeypatch):
    """The compiled kernel of a plan from the disk cache comes from the stored arrays (no
    pass over the matrix) and gives the same sums as a kernel built from the plan."""
    from gixs.reduce.engine.block import StackKernel

    geo, gi, shape = small
    mask = np.zeros(shape, bool)
    mask[20:40, 10:90] = True
    fresh = get_plan(geo, gi, shape, SMALL, mask)
    built = fresh.kernel()
    cache.clear_memory()
    loaded = get_plan(geo, gi, shape, SMALL, mask)
    assert loaded._kernel_state is not None
    calls = []
    monkeypatch.setattr(StackKernel, "from_plan", classmethod(
        lambda cls, *a, **k: calls.append(1)))
    kern = loaded.kernel()
    assert calls == [] and loaded._kernel_state is None
    frames = rng.poisson(20, (3, *shape)).astype(np.float32)
    frames[1, 5, 7] = np.nan
    frames[2, 100:110, 100:110] = -1
    for a, b in zip(kern.sums_block(frames), built.sums_block(frames)):
        np.testing.assert_array_equal(a, b)
    for name in ("norm_sum", "count_sum", "dark_sum", "dvar_sum", "pix_norm"):
        np.testing.assert_array_equal(getattr(kern, name), getattr(built, name))


def test_kernel_arrays_that_do_not_fit_are_refused(small, folder):
    from gixs.reduce.engine.block import StackKernel

    geo, gi, shape = small
    plan = get_plan(geo, gi, shape, SMALL)
    meta, arrays = plan.kernel().state()
    bad = dict(arrays, norm_sum=arrays["norm_sum"][:-1])
    with pytest.raises(ValueError, match="norm_sum"):
        StackKernel.from_state(plan, meta, bad)
    part = next(i for i, p in enumerate(meta["parts"]) if p["kind"] == "scatter")
    bad = dict(arrays, **{f"part{part}_col_ptr": arrays[f"part{part}_col_ptr"][:-1]})
    with pytest.raises(ValueError, match="CSC slice"):
        StackKernel.from_state(plan, meta, bad)
    # a plan whose stored kernel does not fit rebuilds it from the plan
    plan._kernels.clear()
    plan._kernel_state = (meta, bad)
    np.testing.assert_array_equal(plan.kernel().norm_sum, arrays["norm_sum"])


def test_plans_of_one_setup_share_their_pixel_coordinates(small, folder):
    """Plans differing only in binning share one read-only PixelQ (computed once), equal
    to pixel_q's own."""
    from gixs.geometry.gi import pixel_q
    from gixs.reduce import frame

    geo, gi, shape = small
    frame._PQ_CACHE.clear()
    a = Plan(geo, gi, shape, SMALL)
    b = Plan(geo, gi, shape, dataclasses.replace(SMALL, npt_q=77))
    assert a.pq is b.pq
    assert not a.pq.q.flags.writeable
    np.testing.assert_array_equal(a.pq.qxy, pixel_q(geo, gi, shape).qxy)
    c = Plan(geo, GIGeometry.from_degrees(0.4), shape, SMALL)
    assert c.pq is not a.pq


@pytest.mark.parametrize("s", [
    ReduceSettings(npt_q=200, npt_map=(40, 40), npt_chi=36),
    # no maps: |q| and chi are dropped once the profiles and sectors are binned
    ReduceSettings(npt_q=150, maps=False, sectors=((-30.0, 30.0), (60.0, 120.0)))],
    ids=["maps", "sectors-no-maps"])
def test_plan_built_without_pixel_q_reduces_the_same(small, folder, s):
    """A plan that released its pixel coordinates (one-frame ``gixs reduce``) bins and
    reduces like one that kept them, and recomputes the same coordinates when asked."""
    from gixs.reduce import frame as rframe

    geo, gi, shape = small
    cache.clear_memory()
    rframe._PQ_CACHE.clear()
    lean = get_plan(geo, gi, shape, s, keep_pixel_q=False)
    # built from its own coordinates (only those the binning reads, chi made degrees
    # in place), never shared
    assert lean._own_pq
    assert lean._pq is None and (lean.geometry, gi) not in rframe._PQ_CACHE
    cache.clear_memory()
    kept = Plan(geo, gi, shape, s)
    assert_same_plan(lean, kept)
    img = np.random.default_rng(5).poisson(20, shape).astype(np.float32)
    a = reduce_frame(img, geo, gi, s, plan=lean)
    b = reduce_frame(img, geo, gi, s, plan=kept)
    for name in a.profiles:
        np.testing.assert_array_equal(a.profiles[name].intensity, b.profiles[name].intensity)
    for f in dataclasses.fields(kept.pq):
        np.testing.assert_array_equal(getattr(lean.pq, f.name), getattr(kept.pq, f.name))


def test_plan_stored_in_background_is_the_same_entry(small, folder):
    """A plan written by the background writer (one-frame gixs reduce) is on disk once
    wait_for_writes returns, and loads as the plan it was."""
    geo, gi, shape = small
    built = get_plan(geo, gi, shape, SMALL, store_in_background=True)
    cache.wait_for_writes()
    assert not cache._WRITERS
    (path,) = [e[0] for e in cache.entries(folder)]
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
    cache.clear_memory()
    loaded = get_plan(geo, gi, shape, SMALL)
    assert loaded is not built and loaded._pq is None
    assert_same_plan(loaded, built)


def test_one_flipped_byte_in_any_member_is_caught(small, folder):
    """The CRC check covers every member of an entry: one byte flipped in the data of
    any array makes the entry unusable (load gives None and deletes it)."""
    import zipfile

    geo, gi, shape = small
    get_plan(geo, gi, shape, SMALL)
    (path,) = [e[0] for e in cache.entries(folder)]
    key = os.path.basename(path)[:-4]
    raw = open(path, "rb").read()
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if i.file_size > 200]
    assert len(infos) >= 5
    for info in infos:
        name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28],
                                  "little")
        extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30],
                                   "little")
        start = info.header_offset + 30 + name_len + extra_len
        bad = bytearray(raw)
        bad[start + info.file_size - 1] ^= 0x01  # the member's last data byte
        open(path, "wb").write(bytes(bad))
        assert cache.load(str(folder), key, Plan) is None, info.filename
        assert not os.path.exists(path)
    open(path, "wb").write(raw)
    assert cache.load(str(folder), key, Plan) is not None
