"""`gixs spacing` and `gixs compare` end to end on planted superlattices, and the real
P03 frames (skipped without ../shared/data/real)."""

import csv
import json
import pathlib

import fabio
import numpy as np
import pytest

from gixs import simulate
from gixs.cli.app import main
from gixs.errors import GixsWarning
from gixs.geometry.model import DetectorGeometry, GIGeometry, write_poni

#: ../shared/data/real of the checkout (or of a worktree's parent folders), if present
REAL = next((a / "shared" / "data" / "real" for a in pathlib.Path(__file__).resolve().parents
             if (a / "shared" / "data" / "real").is_dir()),
            pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real")
P03 = REAL / "p03_gisaxs_4nm_insitu"
PX = 172e-6


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spacing")
    g = DetectorGeometry(dist_m=3.0, poni1_m=60 * PX, poni2_m=490 * PX, rot1=0.0, rot2=0.0,
                         rot3=0.0, wavelength_m=12.398419843320026 / 12 * 1e-10,
                         detector="Pilatus1M")
    gi = GIGeometry.from_degrees(0.3)
    poni = tmp / "p1m.poni"
    write_poni(g, poni)
    out = {"tmp": tmp, "poni": poni}
    for name, d, pc, seed in (("control", 12.5, 400.0, 1), ("treated", 11.3, 1200.0, 2)):
        img, mask = simulate.hex_superlattice(g, gi, d, peak_counts=pc, diffuse=20.0, rng=seed,
                                              return_mask=True)
        path = tmp / f"{name}.tif"
        fabio.tifimage.TifImage(data=img.astype(np.int32)).write(str(path))
        out[name] = path
    fabio.tifimage.TifImage(data=mask.astype(np.uint8)).write(str(tmp / "mask.tif"))
    out["mask"] = tmp / "mask.tif"
    noise = simulate.hex_superlattice(g, gi, 12.5, peak_counts=0.0, diffuse=20.0, rng=3)
    fabio.tifimage.TifImage(data=noise.astype(np.int32)).write(str(tmp / "blank.tif"))
    out["blank"] = tmp / "blank.tif"
    return out


def test_spacing_json_plot_and_summary(films, capsys):
    tmp = films["tmp"]
    js, png = tmp / "control.json", tmp / "control.png"
    rc = main(["spacing", str(films["control"]), "--poni", str(films["poni"]),
               "--incidence-deg", "0.3", "--mask", str(films["mask"]), "--json", str(js),
               "--plot", str(png), "--thickness-nm", "30"])
    assert rc == 0
    d = json.loads(js.read_text())
    assert d["d_spacing"] == pytest.approx(12.5, rel=0.015)
    assert d["units"]["q_star"] == "A^-1" and d["units"]["nn_distance"] == "nm"
    assert d["normalization"] == 30.0
    assert png.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "nm" in out and "A^-1" in out and "q* =" in out
    assert "{" not in out  # every field formatted (the g value once printed as its template)
    g = float(out.split("paracrystal g = ")[1].split()[0].rstrip(",;"))
    assert g == pytest.approx(d["paracrystal_g"], abs=1e-3)
    assert not list(tmp.glob(".*.part"))  # atomic writes left no temp file


@pytest.mark.slow
def test_compare_table_csv_plot(films, capsys):
    tmp = films["tmp"]
    for name in ("control", "treated"):
        assert main(["spacing", str(films[name]), "--poni", str(films["poni"]),
                     "--incidence-deg", "0.3", "--mask", str(films["mask"]),
                     "--json", str(tmp / f"{name}.json"), "--no-orientation"]) == 0
    capsys.readouterr()
    rc = main(["compare", str(tmp / "control.json"), str(tmp / "treated.json"),
               "--csv", str(tmp / "cmp.csv"), "--plot", str(tmp / "cmp.png")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "d_change_%" in out and "treated" in out
    rows = list(csv.DictReader(open(tmp / "cmp.csv")))
    assert float(rows[1]["d_change_nm"]) == pytest.approx(11.3 - 12.5, abs=0.19)  # 1.5 % each
    assert float(rows[1]["d_change_%"]) == pytest.approx(100 * (11.3 / 12.5 - 1), abs=2.0)
    assert float(rows[0]["height_ratio"]) == 1.0
    assert float(rows[1]["height_ratio"]) > 2.0  # 3x rods, minus form-factor differences
    assert (tmp / "cmp.png").stat().st_size > 10_000


def test_spacing_no_peak_and_bad_args(films, capsys):
    js, png = films["tmp"] / "blank.json", films["tmp"] / "blank.png"
    rc = main(["spacing", str(films["blank"]), "--poni", str(films["poni"]),
               "--incidence-deg", "0.3", "--json", str(js), "--plot", str(png)])
    assert rc == 2
    assert "no superlattice peak found" in capsys.readouterr().err
    # a failed measurement still writes its JSON (error, rejected candidates) and figure
    d = json.loads(js.read_text())
    assert "no superlattice peak found" in d["error"]
    assert set(d["candidates"]) == {"in-plane cut", "I(|q|)"}
    assert all(isinstance(v, str) for v in d["candidates"].values())
    assert len(d["profiles"]) == 2 and png.stat().st_size > 10_000
    rc = main(["spacing", str(films["control"]), "--poni", str(films["poni"]),
               "--incidence-deg", "0.3", "--q-range", "0.1", "0.05"])
    assert rc == 2
    assert "--q-range" in capsys.readouterr().err
    rc = main(["compare", str(films["tmp"] / "nothere.json")])
    assert rc == 2
    assert "nothere.json" in capsys.readouterr().err


# -- real data --------------------------------------------------------------------------
#: P03 frames: geometry from the README's hints and from the image itself. The hint
#: "beam_center_y 368" counts rows from the other edge: 1679 - 368 = 1311 is the row of
#: the round direct-beam stop; the small stop at row ~1097 on the same streak is the
#: specular beam; the intensity edge (sample horizon) at row ~1203 lies half-way, so the
#: surface normal points to decreasing rows (orientation code 4) and
#: 2 alpha_i = 211 px x 172 um / 2565 mm -> alpha_i = 0.405 deg. The Yoneda maximum at
#: row ~1175 (28 px above the horizon) gives alpha_c ~ 0.11 deg, plausible for a
#: ligand-rich dot film at 12 keV. The distance (2565 mm) is a hint only: d scales with it.
REAL_INCIDENCE_DEG = 0.405
REAL_CENTRE_ROW, REAL_CENTRE_COL = 1311.0, 791.5


@pytest.mark.slow
@pytest.mark.skipif(not P03.exists(), reason="../shared/data/real absent")
# Frame 33 (d 7.65 nm, q* error 1.9%; frame 5: 7.17 nm, 1.1%) was a strict xfail at
# 2.01%: its peak's q_xy drifts with q_z (0.0825, 0.0832, 0.089 A^-1 in q_z 0.044-0.058,
# 0.058-0.072, 0.072-0.09 A^-1: spots of an oriented 3D film, not pure rods), and the
# "rod above the ring's top" seeded the band height from the drifted q_xy. A rod is now
# taken from up there only when it is vertical (same q_xy in both halves of that band),
# so the band is set from the horizon cut. The film is broad (FWHM 41% of q*): the
# margin to the 2% bound is thin, and honest.
@pytest.mark.parametrize("index", ["00005", "00033"])
def test_real_p03_frame_gives_a_plausible_spacing(index):
    """Only what the hints justify is asserted: a significant in-plane peak with d in
    the 4-8 nm expected of 4 nm dots with ligands (measured: ~7.2-7.5 nm)."""
    from gixs.io.frames import read_frame
    from gixs.superlattice.ordering import measure_frame

    g = real_geometry()
    gi = GIGeometry.from_degrees(REAL_INCIDENCE_DEG, orientation=4)
    fr = read_frame(P03 / f"jg_gisaxs_4nm_old_3ml_insitu_ds03_00001_{index}.cbf")
    res = measure_frame(fr, g, gi, mask=real_mask(fr.data), orientation=False, profile="ip")
    assert res.q_star_axis == "qxy"
    assert 4.0 < res.d_spacing < 8.0
    assert res.snr > 10
    assert res.q_star_err < 0.02 * res.q_star


@pytest.mark.skipif(not P03.exists(), reason="../shared/data/real absent")
def test_real_p03_orientation_detected_and_wrong_code_flagged():
    """The README analysis: the sample horizon lies between the direct-beam and the
    specular stops, the normal pointing to decreasing rows (code 4)."""
    from gixs.io.frames import read_frame
    from gixs.reduce.orientation_check import check_orientation, detect_orientation

    g = real_geometry()
    fr = read_frame(P03 / "jg_gisaxs_4nm_old_3ml_insitu_ds03_00001_00005.cbf")
    m = real_mask(fr.data)
    wrong = GIGeometry.from_degrees(REAL_INCIDENCE_DEG, orientation=1)
    with pytest.warns(GixsWarning, match="below the sample horizon"):
        chk = check_orientation(fr.data, g, wrong, mask=m, invalid=fr.invalid)
    assert chk["ok"] is False
    code, ev = detect_orientation(fr.data, g, wrong, mask=m, invalid=fr.invalid)
    assert code == 4 and "towards row 0" in ev["why"]
    # the normal along the columns (codes 5/7) is flagged as wrong too
    for c in (5, 7):
        side = GIGeometry.from_degrees(REAL_INCIDENCE_DEG, orientation=c)
        assert check_orientation(fr.data, g, side, mask=m, invalid=fr.invalid,
                                 warn=False)["ok"] is False


def real_geometry():
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    det = pyFAI.detectors.detector_factory("Pilatus2M")
    ai = AzimuthalIntegrator(detector=det, wavelength=12.398419843320026 / 12.0 * 1e-10)
    ai.setFit2D(2565.0, REAL_CENTRE_COL, REAL_CENTRE_ROW)  # mm, column, row
    return DetectorGeometry.from_integrator(ai)


def real_mask(data):
    """Gaps and dead pixels (negative) grown by 2 px (module edges), both beam stops."""
    from scipy import ndimage

    m = ndimage.binary_dilation(data < 0, iterations=2)
    rows, cols = np.indices(data.shape)
    m |= (rows - 1308) ** 2 + (cols - 795) ** 2 < 28 ** 2   # direct-beam stop
    m |= (rows - 1097) ** 2 + (cols - 805) ** 2 < 22 ** 2   # specular stop
    return m


def test_spacing_resolution_model_and_footprint(films, capsys):
    """--resolution (a calibration report's model) and the footprint term reach the
    width correction, and the JSON records them (widths at q*, the lower-bound flag)."""
    import math

    from gixs.calibrate.resolution import ResolutionModel
    from gixs.io.jsonout import write_json
    from gixs.superlattice.widths import footprint_fwhm

    tmp = films["tmp"]
    lam = 12.398419843320026 / 12
    model = ResolutionModel(U=0.0, V=0.0, W=0.004 ** 2, wavelength_a=lam)
    write_json(tmp / "cal.json", {"resolution": model.to_dict()}, schema="gixs.calibration")
    js = tmp / "res.json"
    assert main(["spacing", str(films["control"]), "--poni", str(films["poni"]),
                 "--incidence-deg", "0.3", "--mask", str(films["mask"]), "--json", str(js),
                 "--resolution", str(tmp / "cal.json"), "--beam-size-mm", "0.1",
                 "--sample-length-mm", "10", "--no-orientation"]) == 0
    d = json.loads(js.read_text())
    assert d["instrument"]["resolution"]["W_deg2"] == pytest.approx(0.004 ** 2)
    # 0.1 mm / sin 0.3 deg = 19.1 mm > 10 mm: the sample length caps the footprint
    assert d["instrument"]["footprint_length_mm"] == pytest.approx(10.0)
    w = d["instrument_widths"]
    q = d["q_star_centre"]
    assert w["gaussian"] == pytest.approx(model.fwhm_q(q), rel=1e-9)
    assert w["footprint"] == pytest.approx(footprint_fwhm(q, sample_length_m=0.01,
                                                          distance_m=3.0, wavelength_a=lam))
    assert d["instrument_fwhm"] == pytest.approx(w["gaussian"])
    assert isinstance(d["coherence_is_lower_bound"], bool)
    assert d["fwhm_corrected"] < d["fwhm"]
    assert d["coherence_length"] == pytest.approx(2 * math.pi * 0.9 / d["fwhm_corrected"] / 10)
    assert d["setup"]["resolution"] == str(tmp / "cal.json")
    # a report without a model: one-line refusal, exit 2
    write_json(tmp / "bad.json", {"resolution": {"error": "no ring"}}, schema="gixs.calibration")
    assert main(["spacing", str(films["control"]), "--poni", str(films["poni"]),
                 "--incidence-deg", "0.3", "--resolution", str(tmp / "bad.json")]) == 2
    assert "no resolution model (no ring)" in capsys.readouterr().err
