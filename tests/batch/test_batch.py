"""Batch reduction: serial = local processes = Dask, error rows, exit codes, resume after
SIGKILL, multi-frame HDF5 metadata and incidence lists, NeXus output and table units."""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from gixs import simulate  # noqa: E402
from gixs.batch.run import read_table, reduce_stack  # noqa: E402
from gixs.cli.app import main  # noqa: E402
from gixs.geometry.model import DetectorGeometry, GIGeometry, write_poni  # noqa: E402
from gixs.reduce.frame import ReduceSettings, reduce_frame  # noqa: E402
from gixs.io.frames import read_frame  # noqa: E402

D_TRUE = [12.5, 12.3, 12.1, 11.9, 11.7, 11.5]  # nm, planted (10) spacings of the series
INCIDENCE = 0.3


def _geometry():
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    det = pyFAI.detectors.Detector(pixel1=172e-6, pixel2=172e-6, max_shape=(256, 256))
    # 12 keV, 2.5 m, direct beam near the bottom-left corner: q_xy up to ~0.09 A^-1
    return DetectorGeometry.from_integrator(AzimuthalIntegrator(
        detector=det, dist=2.5, poni1=0.004, poni2=0.007, wavelength=1.0332e-10))


def _frame(geo, d_nm, seed, incidence=INCIDENCE):
    return simulate.hex_superlattice(geo, GIGeometry.from_degrees(incidence), d_nm,
                                     peak_counts=2000.0, rng=seed)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Six EDF frames of a shrinking superlattice, 1 min apart, 2 s exposures."""
    from fabio.edfimage import EdfImage

    root = tmp_path_factory.mktemp("series")
    geo = _geometry()
    write_poni(geo, root / "g.poni")
    for i, d in enumerate(D_TRUE):
        EdfImage(data=_frame(geo, d, i), header={
            "Date": f"2024-05-01T10:{i:02d}:00", "ExposureTime": "2.0"}).write(
            str(root / f"frame_{i:02d}.edf"))
    return root, geo


def _cli(*argv):
    return main(["batch", *map(str, argv)])


def _entries(path):
    with h5py.File(path, "r") as f:
        return {k: (f[k]["ip/intensity"][()], f[k]["iq/intensity"][()],
                    json.loads(f[k]["provenance"][()]))
                for k in f if k.startswith("entry_")}


def test_serial_output_table_and_truth(series, capsys):
    root, geo = series
    out = root / "serial" / "out.h5"
    assert _cli(root / "frame_*.edf", "--poni", root / "g.poni", "--incidence-deg", INCIDENCE,
                "-o", out, "--q-range", 0.03, 0.09) == 0
    captured = capsys.readouterr()
    assert "6 ok, 0 error" in captured.out
    assert "frame/s]" not in captured.err and "%|" not in captured.err  # no bar off a TTY
    rows = read_table(root / "serial" / "out.csv")
    assert [r["frame"] for r in rows] == [0] * 6
    assert [os.path.basename(r["source"]) for r in rows] == [f"frame_{i:02d}.edf"
                                                              for i in range(6)]
    cols = list(rows[0])
    assert cols[:5] == ["source", "frame", "status", "error", "note"]
    # times from the EDF Date headers: one minute apart; exposure normalises intensities
    t = np.array([r["time_s"] for r in rows])
    assert np.allclose(np.diff(t), 60.0)
    assert all(r["exposure_s"] == 2.0 and r["normalization"] == 2.0 for r in rows)
    assert not os.path.exists(str(out) + ".parts")  # work folder removed after the merge
    ents = _entries(out)
    assert sorted(ents) == [f"entry_{i:06d}" for i in range(6)]
    with h5py.File(out, "r") as f:
        assert all(f[k].attrs["NX_class"] == "NXentry" for k in ents)
        assert f["entry_000000/ip/qxy"].attrs["units"] == "1/angstrom"
        assert "qmap" not in f["entry_000000"]  # maps only with --maps
    # each entry is exactly reduce_frame of its frame
    fr = read_frame(root / "frame_03.edf")
    ref = reduce_frame(fr, geo, GIGeometry.from_degrees(INCIDENCE),
                       ReduceSettings(maps=False), normalization=2.0)
    ip, iq, prov = ents["entry_000003"]
    np.testing.assert_allclose(ip, ref.profiles["ip"].intensity, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(iq, ref.profiles["iq"].intensity, rtol=1e-9, equal_nan=True)
    assert prov["frame"] == 0 and prov["source"].endswith("frame_03.edf")
    assert prov["batch"]["metadata"]["exposure_s"] == 2.0
    # the in-plane maximum sits at the planted q* = 2 pi / d (planted truth, no fit)
    with h5py.File(out, "r") as f:
        for i, d in enumerate(D_TRUE):
            x = f[f"entry_{i:06d}/ip/qxy"][()]
            y = f[f"entry_{i:06d}/ip/intensity"][()]
            sel = (np.abs(x) > 0.03) & np.isfinite(y)
            q_peak = abs(x[sel][np.nanargmax(y[sel])])
            assert q_peak == pytest.approx(2 * math.pi / (d * 10), abs=0.0015)  # ~2 bins


def test_metrics_columns_follow_planted_spacing(series):
    pytest.importorskip("gixs.superlattice.ordering")
    root, geo = series
    res = reduce_stack(sorted(glob.glob(str(root / "frame_*.edf"))), geo,
                       GIGeometry.from_degrees(INCIDENCE),
                       metrics_kwargs={"q_range": (0.03, 0.09)})
    cols = res.columns
    for c in ("q_star_A^-1", "d_spacing_nm", "peak_height_au", "coherence_length_nm",
              "nn_distance_nm", "peak_to_valley_ratio"):
        assert c in cols
    found = [r for r in res.rows if r.get("d_spacing_nm") is not None]
    assert len(found) >= 5  # strong peaks: at most one noisy frame may be rejected
    for r in found:
        d = D_TRUE[int(os.path.basename(r["source"])[6:8])]
        assert r["d_spacing_nm"] == pytest.approx(d, rel=0.01)  # 1%: bin width ~0.7% of q*
        assert r["q_star_A^-1"] == pytest.approx(2 * math.pi / (10 * r["d_spacing_nm"]))
    assert all(r["note"].startswith("no peak") for r in res.rows if r not in found)
    # new columns, and the same numbers as gixs spacing's measure_frame on the same frame
    assert {"scattering_type", "q_star_axis", "q_star_centre_A^-1", "rod_fraction"} <= set(cols)
    from gixs.io.frames import read_frame
    from gixs.superlattice.ordering import measure_frame

    r0 = found[0]
    one = measure_frame(read_frame(r0["source"]), geo, GIGeometry.from_degrees(INCIDENCE),
                        q_range=(0.03, 0.09), orientation=False,
                        normalization=r0["normalization"])
    assert r0["scattering_type"] == one.scattering_type == "rod"
    assert r0["q_star_axis"] == "qxy"
    assert r0["q_star_A^-1"] == pytest.approx(one.q_star, rel=1e-9)
    assert r0["q_star_err_A^-1"] == pytest.approx(one.q_star_err, rel=1e-9)


@pytest.mark.slow
def test_serial_pool_dask_tables_equal(series):
    distributed = pytest.importorskip("distributed")
    root, geo = series
    files = sorted(glob.glob(str(root / "frame_*.edf")))
    gi = GIGeometry.from_degrees(INCIDENCE)
    kw = dict(metrics_kwargs={"q_range": (0.03, 0.09)}, chunk_size=1)
    outs = {m: str(root / f"eq_{m}.h5") for m in ("serial", "pool", "dask")}
    a = reduce_stack(files, geo, gi, output=outs["serial"], **kw)
    b = reduce_stack(files, geo, gi, output=outs["pool"], workers=2, **kw)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        c = reduce_stack(files, geo, gi, output=outs["dask"], scheduler=client, **kw)
        pids = {json.loads(h5py.File(outs["dask"], "r")[k]["provenance"][()])["batch"]["pid"]
                for k in _entries(outs["dask"])}
    assert a.n_ok == 6
    assert a.to_csv() == b.to_csv() == c.to_csv()  # value for value, floats in full
    assert a.rows == b.rows == c.rows
    ea, eb, ec = (_entries(outs[m]) for m in ("serial", "pool", "dask"))
    for k in ea:
        for i in (0, 1):
            np.testing.assert_array_equal(ea[k][i], eb[k][i])
            np.testing.assert_array_equal(ea[k][i], ec[k][i])
    assert os.getpid() not in pids and len(pids) >= 1  # done by the cluster's processes


def test_bad_frames_become_error_rows_and_exit_codes(series, tmp_path, capsys):
    from fabio.edfimage import EdfImage
    from fabio.tifimage import TifImage

    root, geo = series
    good = sorted(glob.glob(str(root / "frame_*.edf")))[:2]
    TifImage(data=_frame(geo, 12.0, 9).astype(np.int32)).write(str(tmp_path / "t.tif"))
    blob = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "truncated.tif").write_bytes(blob[: len(blob) // 3])
    EdfImage(data=np.ones((128, 128), np.float32)).write(str(tmp_path / "small.edf"))
    EdfImage(data=np.full((256, 256), np.nan, np.float32)).write(str(tmp_path / "nan.edf"))
    (tmp_path / "junk.cbf").write_bytes(b"not an image at all")
    bad = [tmp_path / n for n in ("truncated.tif", "small.edf", "nan.edf", "junk.cbf")]
    argv = [*good, *bad, "--poni", root / "g.poni", "--incidence-deg", INCIDENCE,
            "--no-metrics", "-o", tmp_path / "o.h5"]
    assert _cli(*argv) == 0  # some frames reduced: success unless --strict
    rows = {os.path.basename(r["source"]): r for r in read_table(tmp_path / "o.csv")}
    assert [rows[os.path.basename(g)]["status"] for g in good] == ["ok", "ok"]
    assert "truncated" in rows["truncated.tif"]["error"]
    assert "128x128" in rows["small.edf"]["error"] and "256x256" in rows["small.edf"]["error"]
    assert "no valid pixel" in rows["nan.edf"]["error"]
    assert "junk.cbf" in rows["junk.cbf"]["error"]
    assert all(rows[b.name]["status"] == "error" for b in bad)
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert len([k for k in f if k.startswith("entry_")]) == 2
        assert f.attrs["frames_error"] == 4
    err = capsys.readouterr().err
    assert err.count("gixs batch: error:") == 4
    assert _cli(*argv, "--strict") == 1
    assert _cli(*bad, "--poni", root / "g.poni", "--incidence-deg", INCIDENCE,
                "--no-metrics", "-o", tmp_path / "o2.h5") == 1  # nothing succeeded
    assert _cli(*good, "--poni", root / "g.poni", "-o", tmp_path / "o3.h5") == 2  # no angle


def _stack_h5(path, geo, n, incidences=None):
    frames = np.stack([_frame(geo, 12.5 - 0.05 * i, 100 + i,
                              incidence=INCIDENCE if incidences is None else incidences[i])
                       for i in range(n)]).astype(np.uint32)
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=frames, chunks=(1, 256, 256),
                         compression="gzip")
        f["entry/instrument/detector/count_time"] = np.full(n, 0.5)
        f["entry/instrument/detector/timestamp"] = 1.7e9 + 10.0 * np.arange(n)
        ang = f.create_dataset("entry/sample/incidence_angle",
                               data=np.radians(incidences if incidences is not None
                                               else np.full(n, INCIDENCE)))
        ang.attrs["units"] = "rad"


def test_hdf5_stack_metadata_and_incidence_list(tmp_path):
    geo = _geometry()
    inc = [0.2 + 0.05 * i for i in range(5)]
    _stack_h5(tmp_path / "scan.h5", geo, 5, inc)
    (tmp_path / "inc.txt").write_text("# incidence scan, deg\n" + "\n".join(map(str, inc)))
    write_poni(geo, tmp_path / "g.poni")
    assert _cli(tmp_path / "scan.h5", "--poni", tmp_path / "g.poni", "--incidence-list",
                tmp_path / "inc.txt", "--no-metrics", "-o", tmp_path / "o.h5") == 0
    rows = read_table(tmp_path / "o.csv")
    assert [r["frame"] for r in rows] == list(range(5))
    assert [r["incidence_deg"] for r in rows] == pytest.approx(inc)
    assert [r["file_incidence_deg"] for r in rows] == pytest.approx(inc)  # rad -> deg
    assert [r["time_s"] for r in rows] == pytest.approx(1.7e9 + 10.0 * np.arange(5))
    assert all(r["exposure_s"] == 0.5 and r["normalization"] == 0.5 for r in rows)
    ents = _entries(tmp_path / "o.h5")
    got = [ents[f"entry_{i:06d}"][2]["grazing_incidence"]["incidence_deg"] for i in range(5)]
    assert got == pytest.approx(inc)
    # a frame reduced with its own incidence equals reduce_frame with that incidence
    fr = read_frame(str(tmp_path / "scan.h5"), 4)
    ref = reduce_frame(fr, geo, GIGeometry.from_degrees(inc[4]), ReduceSettings(maps=False),
                       normalization=0.5)
    np.testing.assert_allclose(ents["entry_000004"][0], ref.profiles["ip"].intensity,
                               rtol=1e-9, equal_nan=True)
    (tmp_path / "short.txt").write_text("0.2\n0.3\n")
    with pytest.raises(ValueError, match="2 angle"):
        reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), incidence_list=tmp_path /
                     "short.txt")
    with pytest.raises(ValueError, match="no such file"):
        reduce_stack(tmp_path / "nothing_*.h5", geo, GIGeometry())


def test_progress_bar_api_table_and_pandas(tmp_path, capsys):
    geo = _geometry()
    _stack_h5(tmp_path / "s.h5", geo, 3)
    res = reduce_stack(f"{tmp_path / 's.h5'}::/entry/data/data", geo,
                       GIGeometry.from_degrees(INCIDENCE), metrics=False, progress=True,
                       table=tmp_path / "t.csv")
    err = capsys.readouterr().err
    assert "3/3" in err and "frame/s" in err  # tqdm: count and rate
    assert res.output is None and not (tmp_path / "t.csv.parts").exists()
    assert (tmp_path / "t.csv").read_text() == res.to_csv()
    back = read_table(tmp_path / "t.csv")
    assert [r["frame"] for r in back] == [0, 1, 2]
    assert [r["time_s"] for r in back] == [r["time_s"] for r in res.rows]
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            res.to_pandas()
    else:
        assert list(res.to_pandas()["frame"]) == [0, 1, 2]


def test_engine_and_reference_paths_agree(tmp_path, engine_calls):
    """--engine gixs runs the compiled kernel, --engine reference scipy's products (both
    checked to be called), and they agree; an unknown engine is refused."""
    calls = engine_calls
    geo = _geometry()
    _stack_h5(tmp_path / "s.h5", geo, 4)
    gi = GIGeometry.from_degrees(INCIDENCE)
    a = reduce_stack(tmp_path / "s.h5", geo, gi, metrics=False, engine="gixs",
                     output=tmp_path / "a.h5", settings=ReduceSettings(npt_q=300))
    assert calls["kernel"] >= 1 and calls["reference"] == 0
    b = reduce_stack(tmp_path / "s.h5", geo, gi, metrics=False, engine="reference",
                     output=tmp_path / "b.h5", settings=ReduceSettings(npt_q=300))
    assert calls["reference"] == 4
    assert a.n_ok == b.n_ok == 4
    with pytest.raises(ValueError, match="engine must be one of"):
        reduce_stack(tmp_path / "s.h5", geo, gi, metrics=False, engine="scipy")
    ea, eb = _entries(tmp_path / "a.h5"), _entries(tmp_path / "b.h5")
    for k in ea:
        for i in (0, 1):
            np.testing.assert_allclose(ea[k][i], eb[k][i], rtol=1e-9, equal_nan=True)


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    geo = _geometry()
    n = 40
    _stack_h5(tmp_path / "s.h5", geo, n)
    write_poni(geo, tmp_path / "g.poni")
    exe = os.path.join(os.path.dirname(sys.executable), "gixs")

    def cmd(out, *extra):
        return [exe, "batch", str(tmp_path / "s.h5"), "--poni", str(tmp_path / "g.poni"),
                "--incidence-deg", str(INCIDENCE), "--no-metrics", "--chunk", "1",
                "-o", str(out), *extra]

    out = tmp_path / "run" / "out.h5"
    parts = str(out) + ".parts"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(glob.glob(os.path.join(parts, "chunk-*.h5"))) < 3:
        assert proc.poll() is None and time.time() < deadline, "batch ended before the kill"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # killed before the merge: no output, and no corrupt one
    first = sorted(glob.glob(os.path.join(parts, "chunk-*.h5")))
    assert 3 <= len(first) < n
    run1 = {os.path.basename(p).split("-")[2][:-3] for p in first}
    done1 = {int(os.path.basename(p).split("-")[1]) for p in first}
    assert len(run1) == 1
    res = subprocess.run(cmd(out, "--resume"), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"{n} frame(s), {n} ok" in res.stdout
    assert not os.path.exists(parts)
    ref_out = tmp_path / "ref" / "out.h5"
    assert subprocess.run(cmd(ref_out), capture_output=True, timeout=120).returncode == 0
    assert (tmp_path / "run" / "out.csv").read_text() == (tmp_path / "ref" / "out.csv").read_text()
    got, ref = _entries(out), _entries(ref_out)
    assert sorted(got) == sorted(ref) == [f"entry_{i:06d}" for i in range(n)]
    for k in ref:
        np.testing.assert_array_equal(got[k][0], ref[k][0])
        np.testing.assert_array_equal(got[k][1], ref[k][1])
    # frames committed before the kill were not redone: their entries come from run 1
    runs = {int(k[6:]): got[k][2]["batch"]["run"] for k in got}
    assert {runs[i] for i in done1} == run1
    assert run1.isdisjoint({runs[i] for i in set(range(n)) - done1})


@pytest.mark.slow
def test_batch_instrument_footprint_per_frame_and_resume(tmp_path):
    """--instrument-fwhm with --beam-size-mm/--sample-length-mm: each frame's footprint is
    beam / sin(its own a_i) (capped by the sample), its width the Smilgies relation
    L sin 2theta / D at that frame's q* (computed here by hand), the corrected FWHM the
    same as gixs spacing's at that incidence; the instrument and the incidence list are
    part of what a resume must match."""
    from gixs.errors import GixsError
    from gixs.superlattice.ordering import measure_frame
    from gixs.superlattice.widths import Instrument, instrument_at_incidence

    geo = _geometry()
    inc = [0.2, 0.3, 0.45]
    _stack_h5(tmp_path / "scan.h5", geo, 3, inc)
    (tmp_path / "inc.txt").write_text("\n".join(map(str, inc)))
    write_poni(geo, tmp_path / "g.poni")
    beam, length, inst_w = 0.2, 40.0, 5e-4  # mm, mm, A^-1
    args = [tmp_path / "scan.h5", "--poni", tmp_path / "g.poni", "--incidence-list",
            tmp_path / "inc.txt", "--instrument-fwhm", inst_w, "--beam-size-mm", beam,
            "--sample-length-mm", length, "-o", tmp_path / "o.h5"]
    assert _cli(*args) == 0
    rows = read_table(tmp_path / "o.csv")
    assert [r["status"] for r in rows] == ["ok"] * 3
    lam = geo.wavelength_a
    for r, a in zip(rows, inc):
        lit = min(beam / math.sin(math.radians(a)), length)  # 40 mm caps the 0.2 deg frame
        assert r["footprint_length_mm"] == pytest.approx(lit)
        theta = math.asin(r["q_star_centre_A^-1"] * lam / (4 * math.pi))  # fit centre
        d2t = (lit * 1e-3) * math.sin(2 * theta) / geo.dist_m
        fp = 2 * math.pi / lam * math.cos(theta) * d2t
        assert r["instrument_fwhm_total_A^-1"] == pytest.approx(math.hypot(inst_w, fp),
                                                               rel=1e-6)
        # the spacing path at this frame's incidence gives the same corrected width
        fr = read_frame(str(tmp_path / "scan.h5"), inc.index(a))
        one = instrument_at_incidence(Instrument(gaussian_fwhm=inst_w), beam_size_mm=beam,
                                      sample_length_mm=length, incidence_deg=a,
                                      distance_m=geo.dist_m, wavelength_a=lam)
        ref = measure_frame(fr, geo, GIGeometry.from_degrees(a), instrument_fwhm=one,
                            normalization=0.5, orientation=False)
        assert r["fwhm_corrected_A^-1"] == pytest.approx(ref.fwhm_corrected, rel=1e-9)
        assert r["fwhm_corrected_A^-1"] < r["fwhm_A^-1"]
    # the footprint shrinks with a_i: the 0.45 deg frame loses less width
    loss = [1 - r["fwhm_corrected_A^-1"] / r["fwhm_A^-1"] for r in rows]
    assert loss[0] > loss[1] > loss[2]
    # --resolution: the calibration report's model, its FWHM at each frame's q*
    from gixs.calibrate.resolution import ResolutionModel
    from gixs.io.jsonout import write_json

    model = ResolutionModel(U=0.0, V=0.0, W=0.003 ** 2, wavelength_a=lam)
    write_json(tmp_path / "cal.json", {"resolution": model.to_dict()},
               schema="gixs.calibration")
    assert _cli(*args[:5], "--resolution", tmp_path / "cal.json", "-o", tmp_path / "r.h5") == 0
    for r in read_table(tmp_path / "r.csv"):
        assert "footprint_length_mm" not in r or r["footprint_length_mm"] is None
        assert r["instrument_fwhm_total_A^-1"] == pytest.approx(
            model.fwhm_q(r["q_star_centre_A^-1"]), rel=1e-9)
    other = ResolutionModel(U=0.0, V=0.0, W=0.003 ** 2, wavelength_a=1.5406)
    write_json(tmp_path / "cu.json", {"resolution": other.to_dict()}, schema="gixs.calibration")
    assert _cli(*args[:5], "--resolution", tmp_path / "cu.json", "-o", tmp_path / "c.h5") == 2
    # resume (parts kept, as gixs watch does): the same settings resume; another beam
    # size, or another incidence for a frame already done, does not
    kw = dict(incidence_list=inc, instrument=Instrument(gaussian_fwhm=inst_w),
              beam_size_mm=beam, sample_length_mm=length, output=tmp_path / "k.h5",
              keep_parts=True)
    first = reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), **kw)
    again = reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), resume=True, **kw)
    assert [r["fwhm_corrected_A^-1"] for r in again.rows] == \
        [r["fwhm_corrected_A^-1"] for r in first.rows]
    with pytest.raises(GixsError, match="instrument differ"):
        reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), resume=True,
                     **dict(kw, beam_size_mm=0.1))
    with pytest.raises(GixsError, match="frame 1 was reduced at incidence 0.3 deg, now 0.35"):
        reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), resume=True,
                     **dict(kw, incidence_list=[0.2, 0.35, 0.45]))
    with pytest.raises(ValueError, match="beam size needs the incidence"):
        reduce_stack(tmp_path / "scan.h5", geo, GIGeometry(), **dict(
            kw, incidence_list=[0.2, 0.0, 0.45], output=tmp_path / "z.h5"))
