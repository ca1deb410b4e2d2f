"""NeXus output: NXinstrument / NXsample / NXprocess per entry, a stacked NXdata and the
table as NXcollection in batch files; checked with nexusformat and opened with silx."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
nx = pytest.importorskip("nexusformat.nexus")

from gixs import simulate  # noqa: E402
from gixs.batch.run import reduce_stack  # noqa: E402
from gixs.geometry.model import DetectorGeometry, GIGeometry  # noqa: E402
from gixs.io.frames import Frame  # noqa: E402
from gixs.io.output import write_reduced_h5  # noqa: E402
from gixs.reduce.frame import ReduceSettings, reduce_frame  # noqa: E402


def _geometry(rot1=0.0, rot2=0.0):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    det = pyFAI.detectors.Detector(pixel1=172e-6, pixel2=150e-6, max_shape=(128, 160))
    return DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=1.2, poni1=0.004, poni2=0.006, rot1=rot1, rot2=rot2,
        wavelength=0.9e-10))


def _check(path):
    """(warnings, errors) of nexusformat's base-class check, messages silenced."""
    logger = logging.getLogger("NXValidate")
    old = logger.level
    try:
        return nx.nxload(str(path)).check(level="error")
    finally:
        logger.setLevel(old)


@pytest.mark.parametrize("rot", [(0.0, 0.0), (0.02, -0.03)])
def test_reduced_file_has_instrument_sample_process(tmp_path, rot):
    geo = _geometry(*rot)
    gi = GIGeometry.from_degrees(0.25, 0.5, 4)
    img = simulate.hex_superlattice(geo, gi, 9.0, rng=1)
    frame = Frame(data=img.astype(np.float32), invalid=np.zeros(img.shape, bool),
                  source="/x/film_07.tif", index=0, metadata={})
    red = reduce_frame(frame, geo, gi, ReduceSettings(npt_q=200, maps=False))
    write_reduced_h5(tmp_path / "r.h5", red)
    with h5py.File(tmp_path / "r.h5") as f:
        e = f["entry"]
        assert e["instrument"].attrs["NX_class"] == "NXinstrument"
        det = e["instrument/detector"]
        ai = geo.make_integrator()
        f2d = ai.getFit2D()  # pyFAI's own view of the same geometry
        assert det["distance"][()] == pytest.approx(f2d["directDist"] * 1e-3, rel=1e-9)
        assert det["beam_center_x"][()] == pytest.approx(f2d["centerX"], abs=1e-6)
        assert det["beam_center_y"][()] == pytest.approx(f2d["centerY"], abs=1e-6)
        assert det["x_pixel_size"][()] == 150e-6 and det["y_pixel_size"][()] == 172e-6
        assert det["distance"].attrs["units"] == "m"
        assert e["instrument/source/energy"][()] == pytest.approx(12.398419843320026 / 0.9)
        assert e["instrument/monochromator/wavelength"][()] == pytest.approx(0.9)
        s = e["sample"]
        assert s["name"][()].decode() == "film_07"
        assert s["incidence_angle"][()] == pytest.approx(0.25)
        assert s["tilt_angle"][()] == pytest.approx(0.5)
        assert s["sample_orientation"][()] == 4
        p = e["process"]
        assert p["program"][()].decode() == "gixs"
        assert p["corrections/polarization_factor"][()] == pytest.approx(
            red.provenance["corrections"]["polarization_factor"])
    warnings, errors = _check(tmp_path / "r.h5")
    assert errors == 0
    import silx.io
    from silx.io.nxdata import get_default

    with silx.io.open(str(tmp_path / "r.h5")) as h:  # silx finds the default plot: I(q)
        nxd = get_default(h)
        assert nxd is not None and nxd.is_valid and nxd.axes_dataset_names == ["q"]
        np.testing.assert_array_equal(nxd.signal[()], red.profiles["iq"].intensity)


def test_batch_file_stacks_frames_and_table(tmp_path):
    from fabio.edfimage import EdfImage
    import silx.io

    geo = _geometry()
    gi = GIGeometry.from_degrees(0.3)
    files = []
    for i, d in enumerate((9.0, 8.5, 8.0)):
        p = tmp_path / f"f{i}.edf"
        EdfImage(data=simulate.hex_superlattice(geo, gi, d, rng=i).astype(np.float32)).write(str(p))
        files.append(str(p))
    res = reduce_stack(files, geo, gi, output=tmp_path / "b.h5", table=tmp_path / "b.csv",
                       metrics=False, settings=ReduceSettings(npt_q=150, maps=False))
    assert res.n_ok == 3
    with h5py.File(tmp_path / "b.h5") as f:
        assert f.attrs["default"] == "series"
        g = f["series/iq"]
        assert g.attrs["NX_class"] == "NXdata" and list(g.attrs["axes"]) == ["frame", "q"]
        assert g["intensity"].shape == (3, 150)
        for i in range(3):
            np.testing.assert_array_equal(g["intensity"][i], f[f"entry_{i:06d}/iq/intensity"])
        np.testing.assert_array_equal(g["frame"][()], [0, 1, 2])
        tab = f["series/table"]
        assert tab.attrs["NX_class"] == "NXcollection"
        np.testing.assert_array_equal(tab["frame"][()], [0, 0, 0])
        assert [v.decode() for v in tab["status"][()]] == ["ok"] * 3
    _, errors = _check(tmp_path / "b.h5")
    assert errors == 0
    with silx.io.open(str(tmp_path / "b.h5")) as h:  # silx reads the stack as NXdata
        from silx.io.nxdata import NXdata

        nxd = NXdata(h["series/iq"])
        assert nxd.is_valid and nxd.signal.shape == (3, 150)
        assert nxd.axes_dataset_names == ["frame", "q"]
        assert math.isfinite(float(np.nanmax(nxd.signal[()])))


def test_xy_and_chi_in_two_theta_match_pyfai(tmp_path):
    """q -> 2theta as pyFAI relates them pixel by pixel; .chi has Fit2D's header lines."""
    from gixs.io.output import write_chi, write_xy
    from gixs.results import Profile

    lam = 0.9
    q = np.linspace(0.5, 4.0, 8)
    prof = Profile(name="iq", axis="q", x=q, intensity=np.arange(8.0), sigma=np.ones(8),
                   count=np.r_[np.ones(7, int), 0])
    write_xy(tmp_path / "a.xy", prof, unit="2th", wavelength_a=lam)
    arr = np.loadtxt(tmp_path / "a.xy")
    # truth: pyFAI's per-pixel q and 2theta of a geometry at this wavelength
    ai = _geometry(0.3, 0.2).make_integrator()
    ai.wavelength = lam * 1e-10
    q_pix = ai.array_from_unit(shape=(128, 160), unit="q_A^-1").ravel()
    tth_pix = ai.array_from_unit(shape=(128, 160), unit="2th_deg").ravel()
    order = np.argsort(q_pix)
    q = np.interp(np.linspace(0.1, 0.9, 8), np.linspace(0, 1, q_pix.size), q_pix[order])
    prof = Profile(name="iq", axis="q", x=q, intensity=np.arange(8.0), sigma=np.ones(8),
                   count=np.r_[np.ones(7, int), 0])
    write_xy(tmp_path / "a.xy", prof, unit="2th", wavelength_a=lam)
    arr = np.loadtxt(tmp_path / "a.xy")
    np.testing.assert_allclose(arr[:, 0], np.interp(q[:7], q_pix[order], tth_pix[order]),
                               rtol=1e-4)
    assert arr.shape == (7, 3)  # the empty bin is left out
    write_xy(tmp_path / "q.xy", prof, unit="q", wavelength_a=lam)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "q.xy")[:, 0], q[:7], rtol=1e-6)
    write_chi(tmp_path / "a.chi", prof, unit="2th", wavelength_a=lam, title="t")
    lines = (tmp_path / "a.chi").read_text().splitlines()
    assert lines[1].startswith("2-Theta") and int(lines[3]) == 7 and len(lines) == 11
    with pytest.raises(ValueError, match="not \\|q\\|"):
        write_xy(tmp_path / "b.xy", Profile("ip", "qxy", q, q, q, np.ones(8, int)),
                 unit="2th", wavelength_a=lam)
