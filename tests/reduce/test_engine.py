"""The block engine reproduces gixs's Plan.sums and pyFAI's own integrations.

Truth: ``Plan.sums`` (scipy sparse products, the existing path) on the same frames, and
pyFAI's ``integrate1d`` default / ``FiberIntegrator.integrate2d_grazing_incidence`` on
the same frames. Frames are a Pilatus 1M (1043 x 981) with its module gaps.
"""

import copy
import math

import numpy as np
import pyFAI
import pytest
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.integrator.fiber import FiberIntegrator

from gixs.reduce.engine import block as engine
from gixs.reduce.engine import pyfai_check
from gixs.geometry.model import DetectorGeometry, GIGeometry
from gixs.reduce.frame import ReduceSettings, get_plan
from gixs.io.frames import Frame

SHAPE = (1043, 981)
PONI = dict(dist=0.25, poni1=0.16, poni2=0.085, rot1=0.01, rot2=-0.005,
            wavelength=1.0e-10)


@pytest.fixture(scope="module")
def ai():
    return AzimuthalIntegrator(detector=pyFAI.detector_factory("Pilatus1M"), **PONI)


@pytest.fixture(scope="module")
def plan(ai):
    geo = DetectorGeometry.from_integrator(ai)
    settings = ReduceSettings(npt_q=300, npt_map=(120, 100), npt_chi=90,
                              sectors=((-30.0, 30.0), (60.0, 120.0)))
    return get_plan(geo, GIGeometry.from_degrees(0.3), SHAPE, settings)


@pytest.fixture(scope="module")
def frames():
    """Six Poisson frames with dead (negative), NaN and saturated-looking pixels."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    base = 40 + 400 * np.exp(-((np.hypot(yy - 500, xx - 400) - 300) / 8.0) ** 2)
    fr = rng.poisson(base, (6,) + SHAPE).astype(np.float32)
    fr[0, 100:160, 100:700] = -1       # > 4096 invalid pixels: overflow fallback path
    fr[1, 5, 5] = np.nan
    fr[1, 600, 300] = -2
    fr[2] = -1                         # a fully dead frame: every bin empty
    fr[4, 700, 700] = np.inf
    return fr


def reference(plan, frames, invalid, dark=None, flat=None):
    out = []
    for f in range(frames.shape[0]):
        inv = ~np.isfinite(frames[f]) | (frames[f] < 0)
        if invalid is not None:
            inv |= invalid[f]
        out.append(plan.sums(frames[f], inv, dark, flat))
    return [np.stack([o[i] for o in out]) for i in range(4)]


def assert_sums_equal(got, ref, rtol=1e-6):
    for name, g, r in zip(("signal", "norm", "variance", "count"), got, ref):
        scale = np.abs(r).max() or 1.0
        # 1e-6 relative on every bin, plus 1e-12 of the largest bin for bins that cancel
        np.testing.assert_allclose(g, r, rtol=rtol, atol=1e-12 * scale, err_msg=name)


# 2000: the bin-major gather kernel too (its parallel compile is ~8 s on a cold cache)
@pytest.mark.parametrize("scatter_max", [32768, pytest.param(2000, marks=pytest.mark.slow)])
def test_block_sums_equal_plan_sums(plan, frames, monkeypatch, scatter_max):
    """Both kernels (pixel-major scatter, bin-major gather) with dark, flat, masks."""
    monkeypatch.setattr(engine, "SCATTER_MAX_BINS", scatter_max)
    rng = np.random.default_rng(3)
    dark = rng.uniform(0, 5, SHAPE)
    flat = rng.uniform(0.8, 1.2, SHAPE)
    invalid = np.zeros(frames.shape, bool)
    invalid[3, 300:400, 200:500] = True           # per-frame mask (values look valid)
    invalid[0, 120:130, 100:200] = True           # overlaps already-negative pixels
    kern = engine.StackKernel.from_plan(plan, dark=dark, flat=flat)
    kinds = {p["kind"] for p in kern.parts}
    assert kinds == ({"scatter"} if scatter_max == 32768 else {"scatter", "gather"})
    got = kern.sums_block(frames, invalid)
    ref = reference(plan, frames, invalid, dark, flat)
    assert_sums_equal(got, ref)
    # the dead frame: every bin empty, exactly
    assert np.all(got[3][2] == 0) and np.all(got[1][2] == 0)
    # the masked block left fewer pixels in frame 3 than in frame 5
    assert got[3][3].sum() < got[3][5].sum()


def test_clean_block_gives_static_norm(plan, frames):
    kern = engine.StackKernel.from_plan(plan)
    sig, norm, var, count = kern.sums_block(frames[[3, 5]])
    np.testing.assert_array_equal(norm[0], kern.norm_sum)
    np.testing.assert_array_equal(count[1], kern.count_sum)
    assert_sums_equal((sig, norm, var, count), reference(plan, frames[[3, 5]], None))


def test_integer_frames_saturation_is_invalid(plan):
    rng = np.random.default_rng(11)
    raw = rng.poisson(30, (3,) + SHAPE).astype(np.uint32)
    raw[1, 200:210, 200:400] = np.iinfo(np.uint32).max     # saturated / dead (gixs.io.frames)
    kern = engine.StackKernel.from_plan(plan)
    got = kern.sums_block(raw)
    ref = reference(plan, raw.astype(np.float64), raw == np.iinfo(np.uint32).max)
    assert_sums_equal(got, ref)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_integer_frames_sum_like_their_float64_values(plan, dtype):
    """Integer frames are converted once before the kernels (uint16 to float32, int32 to
    float64): the sums equal, bit for bit, those of the same values given as float64,
    with the dtype's maximum invalid and the value below it (not exact in float32 for
    int32) still counted."""
    rng = np.random.default_rng(12)
    top = np.iinfo(dtype).max
    raw = rng.poisson(30, (2,) + SHAPE).astype(dtype)
    raw[0, 5, :50] = top
    raw[1, 7, 7] = top - 1
    raw[1, 9, 9] = 2**24 + 1 if dtype == np.int32 else 2**15 + 1
    kern = engine.StackKernel.from_plan(plan)
    got = kern.sums_block(raw)
    want = kern.sums_block(np.where(raw == top, np.nan, raw.astype(np.float64)))
    for name, g, w in zip(("signal", "norm", "variance", "count"), got, want):
        np.testing.assert_array_equal(g, w, err_msg=name)
    assert got[3][0].sum() < got[3][1].sum()  # the saturated row left out


def test_reduce_stack_sums_blocks(plan, frames):
    items = [Frame(data=np.where(frames[f] < 0, 0, frames[f]),
                   invalid=~np.isfinite(frames[f]) | (frames[f] < 0),
                   source="synthetic", index=f, metadata={}) for f in range(6)]
    ref = reference(plan, frames, None)
    kern = engine.StackKernel.from_plan(plan)
    out = list(engine.reduce_stack_sums(kern, iter(items), block=4))
    assert len(out) == 6
    got = [np.stack([o[i] for o in out]) for i in range(4)]
    with np.errstate(invalid="ignore"):
        assert_sums_equal([np.nan_to_num(g) for g in got], ref)
    # a 3D array is cut into blocks without copies: same sums as one frame at a time
    clean = np.abs(np.nan_to_num(frames[3:6], posinf=0.0))
    a = list(engine.reduce_stack_sums(kern, clean, block=2))
    b = [[x[0] for x in kern.sums_block(clean[f][None])] for f in range(3)]
    for x, y in zip(a, b):
        assert_sums_equal(y, x)
    with pytest.raises(ValueError, match="block"):
        list(engine.reduce_stack_sums(kern, clean, block=0))
    with pytest.raises(TypeError, match="reduce_frames"):
        list(engine.reduce_stack_sums(plan, clean))


def test_bad_frames_shape(plan):
    kern = engine.StackKernel.from_plan(plan)
    with pytest.raises(ValueError, match="frames must have shape"):
        kern.sums_block(np.zeros((2, 100, 100), np.float32))


def _valid(*arrays):
    return np.all([np.isfinite(a) for a in arrays], axis=0)


def test_azimuthal_kernel_equals_pyfai_integrate1d(ai, frames):
    """pyFAI's own bbox CSR: intensity and Poisson sigma within 1e-4 on non-empty bins."""
    rng = np.random.default_rng(5)
    mask = ai.detector.mask.astype(bool).copy()
    mask[400:440, 300:360] = True                          # a beamstop
    dark = rng.uniform(0, 3, SHAPE).astype(np.float32)
    flat = rng.uniform(0.9, 1.1, SHAPE).astype(np.float32)
    good = np.clip(np.nan_to_num(frames[[3, 5]], nan=0.0, posinf=0.0), 0, None)
    kern = pyfai_check.azimuthal_kernel(None, SHAPE, 500, "q_A^-1", mask=mask,
                                   polarization_factor=0.99, dark=dark, flat=flat,
                                   integrator=ai)
    sig, norm, var, count = kern.sums_block(good)
    for f in range(2):
        res = ai.integrate1d(good[f], 500, unit="q_A^-1", mask=mask, dark=dark, flat=flat,
                             polarization_factor=0.99, error_model="poisson")
        assert res.method.split_lower == "bbox" and res.method.algo_lower == "csr"
        np.testing.assert_allclose(kern.centres, res.radial, rtol=1e-9)
        inten, sigma = kern.intensity(sig[f], norm[f], variance=var[f])
        filled = res.count > 0
        assert filled.sum() > 400
        np.testing.assert_allclose(inten[filled], res.intensity[filled], rtol=1e-4)
        np.testing.assert_allclose(sigma[filled], res.sigma[filled], rtol=1e-4)
        np.testing.assert_allclose(count[f][filled], res.count[filled], rtol=1e-4)


def test_fiber_map_kernel_equals_fiber_integrator(ai):
    """No-split q_ip/q_oop map == FiberIntegrator's default histogram, bin by bin."""
    fi = FiberIntegrator(detector=ai.detector, **PONI)
    rng = np.random.default_rng(9)
    img = rng.poisson(50, SHAPE).astype(np.float32)
    inc = math.radians(0.25)
    kw = dict(incident_angle=inc, tilt_angle=0.0, sample_orientation=1)
    ranges = dict(ip_range=(-1.5, 1.5), oop_range=(-0.5, 2.5))
    kern = pyfai_check.fiber_map_kernel(None, SHAPE, (150, 120), integrator=fi,
                                   polarization_factor=0.99, **kw, **ranges)
    sig, norm, var, count = kern.sums_block(img[None])
    res = fi.integrate2d_grazing_incidence(img, npt_ip=150, npt_oop=120,
                                           unit_ip="qip_A^-1", unit_oop="qoop_A^-1",
                                           polarization_factor=0.99, **kw, **ranges)
    inten = kern.intensity(sig[0], norm[0]).reshape(150, 120).T
    cnt = np.asarray(count[0]).reshape(150, 120).T
    np.testing.assert_allclose(kern.centres[0], res.inplane, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(kern.centres[1], res.outofplane, rtol=1e-6, atol=1e-9)
    both = (cnt > 0) & (res.count > 0)
    assert both.sum() > 5000
    # pixels exactly on a bin edge may land on either side (float32 vs float64 positions)
    same = np.isclose(cnt, res.count)
    assert same[both].mean() > 0.999
    np.testing.assert_allclose(inten[both & same], res.intensity[both & same], rtol=1e-4)


def test_negative_values_counted_when_asked(plan):
    """negative_invalid=False: negatives count in signal and count, clipped in variance."""
    rng = np.random.default_rng(2)
    img = (rng.normal(0, 5, SHAPE)).astype(np.float32)      # dark-subtracted-like data
    kern = engine.StackKernel.from_plan(plan, negative_invalid=False)
    got = kern.sums_block(img[None])
    ref = plan.sums(img, ~np.isfinite(img))
    assert_sums_equal([g[0] for g in got], ref)


def test_plan_kernel_is_cached_and_matches_reduce_frame_semantics(plan, frames):
    kern = plan.kernel()
    assert plan.kernel() is kern
    rng = np.random.default_rng(4)
    dark = rng.uniform(0, 2, SHAPE)
    assert plan.kernel(dark) is not kern and plan.kernel(dark.copy()) is plan.kernel(dark)
    img = np.nan_to_num(frames[5], nan=0.0, posinf=0.0)
    inv = np.zeros(SHAPE, bool)
    inv[10:20, 10:900] = True
    got = [a[0] for a in kern.sums_block(img[None], inv[None])]
    assert_sums_equal(got, plan.sums(img, inv))


@pytest.mark.parametrize("negative_invalid", [True, False])
def test_kernel_from_the_plans_csc_equals_the_weighted_matrix_kernel(plan, frames,
                                                                      monkeypatch,
                                                                      negative_invalid):
    """A plan's kernel without dark or flat is made from the plan's CSC form alone (no
    array of unit weights, ~50 MB less on a 4 Mpx plan) and gives the weighted-matrix
    kernel's sums bit for bit, with invalid values and per-frame masks; a plan that holds
    a pixel the kernel must leave out is built from the weighted matrix."""
    assert engine.StackKernel.unit_state(plan, negative_invalid) is not None
    fast = engine.StackKernel.from_plan(plan, negative_invalid=negative_invalid)
    assert fast.weights.strides == (0,)             # no per-entry weights in memory
    monkeypatch.setattr(engine.StackKernel, "unit_state",
                        classmethod(lambda cls, plan, negative_invalid=True: None))
    slow = engine.StackKernel.from_plan(plan, negative_invalid=negative_invalid)
    monkeypatch.undo()
    assert slow.weights.strides != (0,)
    inv = np.zeros(frames.shape, bool)
    inv[3, 200:260, 50:900] = True
    for got, ref in zip(fast.sums_block(frames, inv), slow.sums_block(frames, inv)):
        np.testing.assert_array_equal(got, ref)
    for name in ("norm_sum", "count_sum", "dark_sum", "dvar_sum"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    # a pixel with bins but a non-finite normalisation: the kernel drops it
    bad = copy.copy(plan)
    bad.norm = plan.norm.copy()
    j = int(np.flatnonzero(np.diff(plan.col_ptr) > 0)[0])
    bad.norm[j] = np.nan
    assert engine.StackKernel.unit_state(bad, negative_invalid) is None


@pytest.mark.parametrize("which", ["plan", "plan dark flat", "pyfai"])
def test_a_frames_sums_do_not_depend_on_its_block(ai, plan, frames, which):
    """Blocks of 11, 9 and 5 frames go through groups of eight, four and one frames
    (accumulation lanes); each frame's four sums equal, bit for bit, those of the same
    frame alone, with invalid values in every lane of a group, and the block of 11 equals
    Plan.sums (or is checked against the others for pyFAI's kernel)."""
    rng = np.random.default_rng(21)
    if which == "pyfai":
        kern = pyfai_check.azimuthal_kernel(None, SHAPE, 400, "q_A^-1", integrator=ai)
    elif which == "plan":
        kern = engine.StackKernel.from_plan(plan)
    else:
        kern = engine.StackKernel.from_plan(plan, dark=rng.uniform(0, 3, SHAPE),
                                            flat=rng.uniform(0.8, 1.2, SHAPE))
    stack = np.concatenate([frames, frames[::-1][:5]])             # 11 frames
    stack = stack + rng.random(stack.shape, np.float32)  # sums of fractions round
    for f in range(11):                          # bad pixels in every lane, scattered
        bad = rng.random(SHAPE) < 0.01
        stack[f][bad] = np.nan if f % 2 else -5.0
    alone = [kern.sums_block(stack[f][None]) for f in range(11)]
    for size in (11, 9, 5):
        got = kern.sums_block(stack[:size])
        for f in range(size):
            for name, g, a in zip(("signal", "norm", "variance", "count"), got, alone[f]):
                np.testing.assert_array_equal(g[f], a[0], err_msg=f"{name} {f}/{size}")
    if which == "plan":
        assert_sums_equal(kern.sums_block(stack), reference(plan, stack, None))
