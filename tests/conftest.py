"""Shared fixtures: example geometries, seeded generators, the real-data folder."""

import os
import pathlib

import numpy as np
import pytest

#: ../shared/data/real beside the repository (absent on a bare clone: tests skip).
REAL = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real absent")


@pytest.fixture(autouse=True, scope="session")
def _plan_cache_dir(tmp_path_factory):
    """Keep the suite's reduction plans out of the user's cache (subprocesses inherit)."""
    if "GIXS_CACHE_DIR" not in os.environ:
        os.environ["GIXS_CACHE_DIR"] = str(tmp_path_factory.mktemp("plan-cache"))
    yield


@pytest.fixture
def engine_calls(monkeypatch):
    """Counts of calls into the compiled kernel (``kernel``) and the scipy reference
    (``reference``), so a test can show which reduction path really ran."""
    from gixs.reduce.engine.block import StackKernel
    from gixs.reduce.frame import Plan

    calls = {"kernel": 0, "reference": 0}
    real_block, real_sums = StackKernel.sums_block, Plan.sums

    def spy_block(self, *a, **k):
        calls["kernel"] += 1
        return real_block(self, *a, **k)

    def spy_sums(self, *a, **k):
        calls["reference"] += 1
        return real_sums(self, *a, **k)

    monkeypatch.setattr(StackKernel, "sums_block", spy_block)
    monkeypatch.setattr(Plan, "sums", spy_sums)
    return calls


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def make_geometry(detector="Pilatus1M", dist=0.3, poni1=0.02, poni2=0.085, wavelength_a=1.0,
                  rot1=0.0, rot2=0.0, rot3=0.0, binning=None):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry

    det = pyFAI.detectors.detector_factory(detector)
    if binning:
        det.binning = binning
    ai = AzimuthalIntegrator(detector=det, dist=dist, poni1=poni1, poni2=poni2, rot1=rot1,
                             rot2=rot2, rot3=rot3, wavelength=wavelength_a * 1e-10)
    return DetectorGeometry.from_integrator(ai)


@pytest.fixture
def pilatus_geometry():
    """Pilatus 1M (1043x981, 172 um) 300 mm away, beam near the bottom edge, 1 A."""
    return make_geometry(rot1=0.01, rot2=-0.02)
