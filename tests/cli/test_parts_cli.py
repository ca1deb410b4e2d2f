"""`gixs reduce` over detector parts: PONIs per pixel range or per image, and the SMI
WAXS detectors from smi-analysis's numbers (the real SMI frames when present)."""

import json
import math
import pathlib

import fabio
import numpy as np
import pytest

from gixs.cli.app import main
from gixs.geometry.model import DetectorGeometry, GIGeometry, write_poni
from gixs.io.output import read_profile_csv

PX = 172e-6
SHAPE = (120, 160)
REAL = next((a / "shared" / "data" / "real" for a in pathlib.Path(__file__).resolve().parents
             if (a / "shared" / "data" / "real").is_dir()),
            pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real")
TT1 = REAL / "smi_giwaxs_tortorici_TT1"


def _geometry(rot1_deg, poni1_px):
    return DetectorGeometry(0.2, poni1_px * PX, -30 * PX, math.radians(rot1_deg), 0.0, 0.0,
                            1.0e-10, "Detector", json.dumps({"pixel1": PX, "pixel2": PX,
                                                            "max_shape": list(SHAPE)}))


@pytest.fixture(scope="module")
def two_modules(tmp_path_factory):
    d = tmp_path_factory.mktemp("parts")
    rng = np.random.default_rng(11)
    img = rng.poisson(100, SHAPE).astype(np.int32)
    fabio.tifimage.TifImage(data=img).write(str(d / "f.tif"))
    for name, rot, p1 in (("a", -4.0, 60), ("b", 4.0, -10)):
        write_poni(_geometry(rot, p1), d / f"{name}.poni")
    return d


@pytest.mark.slow
def test_reduce_with_a_poni_per_pixel_range_equals_reduce_parts(two_modules, capsys):
    from gixs.io.frames import read_frame
    from gixs.reduce.frame import ReduceSettings
    from gixs.reduce.multi import DetectorPart, reduce_parts

    d = two_modules
    assert main(["reduce", str(d / "f.tif"), "--poni", str(d / "a.poni"), "--part-rows",
                 "0:55", "--poni", str(d / "b.poni"), "--part-rows", "60:120",
                 "--incidence-deg", "0.2", "--npt", "200", "-o", str(d / "out"),
                 "--no-plot", "--normalize-by", "none"]) == 0
    assert "2 part(s)" in capsys.readouterr().out
    _, q, inten, _, count = read_profile_csv(d / "out" / "f_parts_iq.csv")
    from gixs.geometry.model import load_poni

    parts = [DetectorPart(load_poni(d / "a.poni"), rows=(0, 55)),
             DetectorPart(load_poni(d / "b.poni"), rows=(60, 120))]
    ref = reduce_parts(read_frame(str(d / "f.tif")), parts, GIGeometry.from_degrees(0.2),
                       ReduceSettings(npt_q=200)).profiles["iq"].valid()
    np.testing.assert_allclose(q, ref.x, rtol=1e-6)
    np.testing.assert_allclose(inten, ref.intensity, rtol=1e-5)
    assert count.sum() == 115 * SHAPE[1]  # every pixel of both ranges, none of the gap
    import h5py

    with h5py.File(d / "out" / "f_parts.h5") as f:
        text = json.dumps([f[k].attrs.get("provenance", "") for k in f]) + str(
            [f[k]["provenance"][()] for k in f if "provenance" in f[k]])
    assert "a.poni on f.tif" in text and "b.poni on f.tif" in text


@pytest.mark.parametrize("argv,needle", [
    (["--poni", "{d}/a.poni", "--part-rows", "0:55", "--poni", "{d}/b.poni"],
     "--part-rows: 1 given for 2 --poni"),
    (["--poni", "{d}/a.poni", "--part-rows", "0:70", "--poni", "{d}/b.poni",
      "--part-rows", "60:120"], "share pixels"),
    (["--poni", "{d}/a.poni", "--part-rows", "0-55", "--poni", "{d}/b.poni",
      "--part-rows", "60:120"], "expected START:STOP"),
    (["--smi-waxs", "900KW", "--distance-mm", "278", "--arc-deg", "10"],
     "--smi-waxs needs --smi-center-px"),
    (["--poni", "{d}/a.poni", "--arc-deg", "3", "--part-rows", "0:55"],
     "--arc-deg belongs to --smi-waxs"),
])
def test_bad_part_options_exit_2_with_one_line(two_modules, capsys, argv, needle):
    d = two_modules
    argv = ["reduce", str(d / "f.tif"), "--incidence-deg", "0.2", "-o", str(d / "bad"),
            *[a.format(d=d) for a in argv]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def _centroid(x, y, q0, hw=0.02):
    w = (x > q0 - hw) & (x < q0 + hw) & np.isfinite(y)
    xx, yy = x[w], y[w]
    h = np.clip(yy - np.linspace(yy[0], yy[-1], yy.size), 0, None)
    return float((xx * h).sum() / h.sum())


@pytest.mark.slow
@pytest.mark.skipif(not TT1.is_dir(), reason="real SMI frames not present")
@pytest.mark.parametrize("ai", ["0.11", "0.14"])
def test_smi_900kw_tt1_peaks_where_smi_analysis_has_them(tmp_path, ai):
    """The SMI 900KW GIWAXS frames of TC_TT1, reduced from the source's numbers (14 keV,
    278 mm, centre [306, 1255] of the turned image, arc 10.6 deg), against the source's
    own smi-analysis radial average (Radint_0-90deg): same q reach, same ring positions."""
    img = TT1 / f"900KW_TC_TT1_14keV_ai{ai}deg_wa10.6_000001_WAXS.tif"
    out = tmp_path / "o"
    assert main(["reduce", str(img), "--smi-waxs", "900KW", "--smi-center-px", "306",
                 "1255", "--distance-mm", "278", "--arc-deg", "10.6", "--energy-kev", "14",
                 "--incidence-deg", ai, "--sample-orientation", "4", "--npt", "3000",
                 "-o", str(out), "--no-plot"]) == 0
    _, q, inten, _, _ = read_profile_csv(next(out.glob("*_iq.csv")))
    ref = np.loadtxt(TT1 / f"Radint_0-90deg_waxs_TC_TT1_14keV_ai{ai}deg_.txt")
    ok = np.isfinite(ref[:, 1]) & (ref[:, 1] > 0)
    rq, ri = ref[ok, 0], ref[ok, 1]
    assert q.max() == pytest.approx(rq.max(), rel=0.003)  # 5.169 A^-1: the detector's reach
    for q0 in (0.891, 1.416, 2.002):  # sharp rings of the source's curve
        assert _centroid(q, inten, q0) == pytest.approx(_centroid(rq, ri, q0), rel=0.006)


@pytest.mark.slow
def test_batch_and_watch_with_parts_equal_reduce_frame_by_frame(two_modules, tmp_path,
                                                                 capsys):
    """The setup file's parts (a list of PONIs and one pixel range each) drive gixs batch
    and gixs watch: every frame equals gixs reduce over the same parts."""
    import h5py

    d = two_modules
    rng = np.random.default_rng(5)
    live = tmp_path / "live"
    live.mkdir()
    frames = []
    for i in range(2):
        img = rng.poisson(50 + 40 * i, SHAPE).astype(np.int32)
        frames.append(live / f"f{i}.tif")
        fabio.tifimage.TifImage(data=img).write(str(frames[-1]))
    (tmp_path / "gixs.toml").write_text(
        f'incidence_deg = 0.2\nnpt = 200\nnormalize_by = "none"\n\n[parts]\n'
        f'poni = ["{d / "a.poni"}", "{d / "b.poni"}"]\npart_rows = ["0:55", "60:120"]\n')
    setup = ["--setup", str(tmp_path / "gixs.toml")]
    assert main(["batch", *map(str, frames), *setup, "-o", str(tmp_path / "b.h5"),
                 "--metrics-profile", "iq"]) == 0
    assert main(["watch", str(live), *setup, "--pattern", "*.tif", "-o",
                 str(tmp_path / "w.h5"), "--poll-s", "0.1", "--settle-s", "0.2",
                 "--idle-exit-s", "1", "--no-metrics", "--live-png", "none"]) == 0
    for i, frame in enumerate(frames):
        assert main(["reduce", str(frame), *setup, "-o", str(tmp_path / f"r{i}"),
                     "--no-plot"]) == 0
        _, q, inten, _, _ = read_profile_csv(tmp_path / f"r{i}" / f"f{i}_parts_iq.csv")
        for out in ("b.h5", "w.h5"):
            with h5py.File(tmp_path / out) as f:
                e = f[f"entry_{i:06d}"]
                assert json.loads(e["provenance"][()])["source"].endswith(f"f{i}.tif")
                got_q, got = e["iq/q"][()], e["iq/intensity"][()]
            ok = np.isfinite(got)
            np.testing.assert_allclose(got_q[ok], q, rtol=1e-6)
            np.testing.assert_allclose(got[ok], inten, rtol=1e-5)
    rows = list(__import__("csv").DictReader(open(tmp_path / "b.csv")))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    # metrics measured on the reduced iq profile: a q* or "no peak", never a failure
    assert all(r.get("q_star_A^-1") or r["note"].startswith("no peak") for r in rows), rows
    assert not any("metrics failed" in r["note"] for r in rows)
    capsys.readouterr()
    # refused with the option named: positions need one image per PONI; auto metrics
    assert main(["batch", *map(str, frames), "--poni", str(d / "a.poni"), "--poni",
                 str(d / "b.poni"), "--incidence-deg", "0.2", "-o",
                 str(tmp_path / "x.h5")]) == 2
    assert "--part-rows/--part-cols" in capsys.readouterr().err
    assert main(["batch", *map(str, frames), *setup, "-o", str(tmp_path / "x.h5")]) == 2
    assert "--metrics-profile auto" in capsys.readouterr().err
