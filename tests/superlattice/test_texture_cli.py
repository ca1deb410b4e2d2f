"""GIWAXS texture and crystallite size through `gixs index` against planted truth.

The frame is rendered on pyFAI's own pixel coordinates (|q| = qArray, chi from the
fibre units qip/qoop, tests/superlattice/films.py), not gixs.geometry: spots of a
(001)-textured cubic film (a = 6 A, analytic positions q = 2 pi |hkl| / a) with a
Gaussian radial profile of FWHM sqrt(f_sample^2 + f_instrument^2) and a Gaussian arc of
FWHM ``mosaic`` (deg). Truth: f_sample and mosaic.
"""

import json
import math

import numpy as np
import pytest

from tests.superlattice import films

A = 6.0
C2 = 2 * math.sqrt(2 * math.log(2))


def _frame(g, ai, *, f_sample, f_inst, mosaic, seed=5):
    q, qip, qoop, af = films.pyfai_coords(g, ai)
    chi = np.arctan2(qip, qoop)
    f = math.hypot(f_sample, f_inst)
    img = np.zeros_like(q)
    for h, k, l_ in [(0, 0, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1), (0, 0, 2),
                     (2, 0, 0), (2, 0, 1), (1, 0, 2)]:
        qxy, qz = 2 * math.pi * math.hypot(h, k) / A, 2 * math.pi * l_ / A
        big = math.hypot(qxy, qz)
        for sign in ((1, -1) if qxy > 0 else (1,)):
            c0 = math.atan2(sign * qxy, qz)
            d = np.angle(np.exp(1j * (chi - c0)))
            img += np.exp(-0.5 * ((q - big) / (f / C2)) ** 2
                          - 0.5 * (d / math.radians(mosaic / C2)) ** 2)
    lam = np.where(af < 0, 2.0, 400 * img + 10.0)
    return np.random.default_rng(seed).poisson(lam).astype(np.int32)


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    import fabio

    from gixs.geometry.model import write_poni
    from tests.conftest import make_geometry

    tmp = tmp_path_factory.mktemp("tex")
    g = make_geometry("Pilatus300k", dist=0.2, poni1=0.008, poni2=0.042, wavelength_a=0.9763)
    write_poni(g, tmp / "g.poni")
    truth = {"f_sample": 0.02, "f_inst": 0.015, "mosaic": 8.0}
    img = _frame(g, 0.3, **truth)
    fabio.edfimage.EdfImage(data=img).write(str(tmp / "f.edf"))
    return tmp, truth


def _run(tmp, *extra):
    from gixs.cli.app import main

    out = tmp / f"idx{len(extra)}.json"
    assert main(["index", str(tmp / "f.edf"), "--poni", str(tmp / "g.poni"),
                 "--incidence-deg", "0.3", "--phase", "CsPbBr3:a=6.0,hkl=0/0/1",
                 "--spot-fwhm", "0.025", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_index_size_and_pole_figure(textured):
    """Radial FWHM from the pixels' I(|q|) in the spot's chi sector, instrument removed:
    within 5% of the planted sample width (the former 2D spot fit's axis widths were
    +27..33% off: the mosaic arc broadens them); mosaicity within 10% of the planted."""
    tmp, truth = textured
    d = _run(tmp, "--instrument-fwhm", str(truth["f_inst"]), "--pole-figure",
             "--sample-length-mm", "1")
    assert d["instrument"]["gaussian_fwhm"] == truth["f_inst"]
    sized = [p for p in d["peaks"] if p.get("crystallite_size_nm")]
    assert len(sized) >= 4
    for p in sized:
        # the footprint (1 mm at 200 mm) was not planted: remove it from the truth's side
        fp = p["instrument_widths"]["footprint"]
        assert fp > 0
        want = math.sqrt(truth["f_sample"] ** 2 - fp ** 2)
        assert p["fwhm_corrected"] == pytest.approx(want, rel=0.05), p
        assert p["crystallite_size_nm"] == pytest.approx(2 * math.pi * 0.9 / want / 10,
                                                         rel=0.05)
        assert p["size_is_lower_bound"] is False
    pf = {tuple(p["hkl"]): p for p in d["pole_figures"]}
    p101 = next(v for k, v in pf.items() if sorted(map(abs, k)) == [0, 1, 1])
    assert p101["chi_expected_deg"] == pytest.approx(45.0, abs=0.5)
    assert p101["mosaicity_deg"] == pytest.approx(truth["mosaic"], rel=0.1)
    assert p101["chi_peak_deg"] == pytest.approx(45.0, abs=1.0)
    assert d["units"]["pole_figures.mosaicity_deg"].startswith("deg")


def test_index_resolution_refusals(tmp_path, capsys):
    import fabio

    from gixs.cli.app import main
    from gixs.geometry.model import write_poni
    from gixs.io.jsonout import write_json
    from tests.conftest import make_geometry

    tmp = tmp_path
    write_poni(make_geometry("Pilatus300k", wavelength_a=0.9763), tmp / "g.poni")
    fabio.edfimage.EdfImage(data=np.ones((619, 487), np.int32)).write(str(tmp / "f.edf"))
    # a calibration report without a resolution model is refused with a clear message
    write_json(tmp_path / "cal.json", {"resolution": {"error": "no ring width"}},
               schema="gixs.calibration")
    args = ["index", str(tmp / "f.edf"), "--poni", str(tmp / "g.poni"), "--incidence-deg",
            "0.3", "--phase", "CsPbBr3:a=6.0,hkl=0/0/1", "--resolution",
            str(tmp_path / "cal.json")]
    assert main(args) == 2
    assert "no resolution model" in capsys.readouterr().err
    # a model at another wavelength is refused
    write_json(tmp_path / "cal2.json", {"resolution": {"U_deg2": 0.0, "V_deg2": 0.0,
                                                       "W_deg2": 0.01, "wavelength_A": 1.54}},
               schema="gixs.calibration")
    assert main(args[:-1] + [str(tmp_path / "cal2.json")]) == 2
    assert "1.54000 A" in capsys.readouterr().err
    assert main(args[:-2] + ["--beam-size-mm", "-1"]) == 2
    assert "--beam-size-mm must be" in capsys.readouterr().err


def test_index_pattern_sizes_with_instrument(tmp_path):
    """1D powder pattern of PbS (a = 5.936 A) with Gaussian lines of FWHM
    sqrt(0.012^2 + 0.008^2) 1/A in q: sizes from the instrument-corrected widths."""
    from gixs.cli.app import main

    q = np.arange(0.8, 4.0, 0.002)
    f_s, f_i = 0.012, 0.008
    f = math.hypot(f_s, f_i)
    y = 5.0 + 0 * q
    for hkl in ((1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1), (2, 2, 2)):
        y += 100 * np.exp(-4 * math.log(2) * (q - 2 * math.pi * math.sqrt(sum(
            v * v for v in hkl)) / 5.936) ** 2 / f ** 2)
    y = np.random.default_rng(1).poisson(y * 20) / 20
    np.savetxt(tmp_path / "p.xy", np.c_[q, y])
    out = tmp_path / "p.json"
    assert main(["index", str(tmp_path / "p.xy"), "--pattern-axis", "q_A^-1", "--phase",
                 "PbS", "--instrument-fwhm", str(f_i), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    sized = [p for p in d["peaks"] if p.get("crystallite_size_nm")]
    assert len(sized) >= 4
    for p in sized:
        assert p["fwhm_corrected"] == pytest.approx(f_s, rel=0.05), p
        assert p["crystallite_size_nm"] == pytest.approx(2 * math.pi * 0.9 / f_s / 10,
                                                         rel=0.05)
    assert "1D pattern" in d["crystallite_size_definition"]
    # the footprint term needs a detector distance: refused for a pattern
    assert main(["index", str(tmp_path / "p.xy"), "--pattern-axis", "q_A^-1", "--phase",
                 "PbS", "--sample-length-mm", "5"]) == 2
