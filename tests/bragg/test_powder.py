"""Lab XRD: K-alpha doublets, zero shift and sample displacement on simulated scans whose
truth is Bragg's law (2theta = 2 asin(lambda / 2d)) with the instrument terms added."""

import math
import zlib

import numpy as np
import pytest

from gixs.bragg.phases import builtin_phase
from gixs.bragg.powder import (index_doublet_pattern, instrument_shift, kalpha2_position, source)


def _scan(phase, src, zero=0.0, disp=0.0, radius=240.0, fwhm=0.08, tt=(15.0, 125.0),
          step=0.01, seed=0, counts=20000.0):
    """Gaussian K-alpha1 + ratio x K-alpha2 lines at Bragg's-law 2theta of every ring
    (areas m|F|^2 x the textbook Bragg-Brentano factor (1 + cos^2 2theta) /
    (sin^2 theta cos theta)), shifted by zero + displacement, on a flat background with
    Poisson noise."""
    x = np.arange(tt[0], tt[1], step)
    lam1, lam2 = src.lambda1, src.lambda2
    q_max = 4 * math.pi * math.sin(math.radians(tt[1] + 2) / 2) / lam1
    r = phase.reflections(q_max, wavelength_a=lam1, min_rel_intensity=0.0)
    th = np.arcsin(np.clip(r.q * lam1 / (4 * math.pi), 0, 1))
    lp = (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))
    y = np.full_like(x, 30.0)
    sig = fwhm / (2 * math.sqrt(2 * math.log(2)))
    rel = r.intensity * lp / (r.intensity * lp).max()
    keep = rel >= 0.02
    q_lines, rel = r.q[keep], rel[keep]
    truth = []
    for d, h in zip(2 * math.pi / q_lines, rel):
        lines = []
        for lam, w in ((lam1, 1.0), (lam2, src.ratio)):
            if lam / (2 * d) >= 1:
                continue
            t = math.degrees(2 * math.asin(lam / (2 * d)))
            t_obs = t + zero + math.degrees(-2 * disp * math.cos(math.radians(t / 2)) / radius)
            y += counts * h * w * np.exp(-0.5 * ((x - t_obs) / sig) ** 2)
            lines.append(t_obs)
        if lines and tt[0] < lines[0] < tt[1]:
            truth.append(lines[0])
    y = np.random.default_rng(seed).poisson(y).astype(float)
    return x, y, truth


def test_wavelength_tables_against_xrayutilities_and_xraydb():
    import xraydb
    import xrayutilities as xu

    hc = 12398.419843320026  # eV A
    for name in ("Cu", "Co", "Mo", "Ag"):
        s = source(name)
        lines = xraydb.xray_lines(name, "K")
        # xraydb (Elam et al. tables): within 3e-4 relative
        assert s.lambda1 == pytest.approx(hc / lines["Ka1"].energy, rel=3e-4)
        assert s.lambda2 == pytest.approx(hc / lines["Ka2"].energy, rel=3e-4)
        assert 0.45 < lines["Ka2"].intensity / lines["Ka1"].intensity < 0.56
    # xrayutilities' named wavelengths (Cu: Hoelzer 1997 to 1e-7 A; Mo, Co: 5e-5 rel)
    assert source("Cu").lambda1 == pytest.approx(xu.utilities.wavelength("CuKa1"), abs=1e-6)
    assert source("Cu").lambda2 == pytest.approx(xu.utilities.wavelength("CuKa2"), rel=2e-5)
    assert source("Mo").lambda1 == pytest.approx(xu.utilities.wavelength("MoKa1"), rel=5e-5)
    assert source("Co").lambda1 == pytest.approx(xu.utilities.wavelength("CoKa1"), rel=5e-5)
    with pytest.raises(ValueError, match="source must be one of"):
        source("W")


def test_kalpha2_position_is_braggs_law():
    cu = source("Cu")
    for d in (3.1356, 1.6375, 0.9600):
        t1 = math.degrees(2 * math.asin(cu.lambda1 / (2 * d)))
        t2 = math.degrees(2 * math.asin(cu.lambda2 / (2 * d)))
        assert float(kalpha2_position(t1, cu)) == pytest.approx(t2, abs=1e-9)
    # 100 um on a 240 mm goniometer at 2theta = 30 deg: 2 s cos(15 deg) / R rad
    want = -math.degrees(2 * 0.1 * math.cos(math.radians(15)) / 240)
    assert float(instrument_shift(30.0, 0.0, 0.1, 240.0)) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name,phase_name,a_true,zero", [
    ("Cu", "Si", 5.4312, 0.025),
    pytest.param("Mo", "PbS", 5.9400, -0.04, marks=pytest.mark.xfail(strict=True, reason=(
        "open (issue 11): a weak high-angle Mo doublet of PbS is fitted as two peaks and "
        "its K-alpha2 line (q x lambda2/lambda1) stays unassigned; seen in 3 of 8 noise "
        "draws, this one (seed 65) included"))),
    ("Co", "LaB6", 4.1570, 0.0),
    ("Ag", "Si", 5.4300, 0.06)])
def test_doublet_lattice_and_zero_shift_recovered(name, phase_name, a_true, zero):
    src = source(name)
    truth_phase = builtin_phase(phase_name).with_parameters(a=a_true)
    fwhm = 0.06 if name in ("Cu", "Co") else 0.04
    tt = (15.0, 125.0) if name in ("Cu", "Co") else (8.0, 60.0)
    x, y, truth = _scan(truth_phase, src, zero=zero, fwhm=fwhm, tt=tt, seed=zlib.crc32(name.encode()) % 97)
    start = builtin_phase(phase_name).with_parameters(a=a_true * 1.006)
    res, inst = index_doublet_pattern(x, y, [start], src, refine_zero=True)
    ph = res.phases[0]
    assert ph["refined"] and ph["warnings"] == []
    assert ph["lattice"]["a"] == pytest.approx(a_true, rel=5e-5)
    assert abs(ph["lattice"]["a"] - a_true) < 4 * ph["errors"]["a"] + 2e-5
    assert inst["zero_deg"] == pytest.approx(zero, abs=3e-3)
    assert abs(inst["zero_deg"] - zero) < 4 * inst["zero_deg_error"] + 5e-4
    # every K-alpha1 line is one assigned peak: no K-alpha2 line taken for a reflection
    assert len(res.peaks) >= 0.75 * len(truth) and not res.unassigned
    assert ph["figure_of_merit"]["name"].startswith("M") and \
        ph["figure_of_merit"]["value"] > 50


def test_single_wavelength_biases_d_the_doublet_does_not():
    """Blended low-angle peaks: reading them with K-alpha1 alone biases a (the issue's
    0.08 %); the doublet fit recovers it."""
    from gixs.bragg.index import assign
    from gixs.bragg.spots import detect_peaks_1d

    cu = source("Cu")
    si = builtin_phase("Si").with_parameters(a=5.4312)
    x, y, _ = _scan(si, cu, fwhm=0.25, tt=(20.0, 80.0), seed=4)
    res, _ = index_doublet_pattern(x, y, [builtin_phase("Si")], cu, refine_zero=False)
    assert res.phases[0]["lattice"]["a"] == pytest.approx(5.4312, rel=1e-4)
    peaks = detect_peaks_1d(cu.q(x), y, fwhm=0.02)
    naive = assign(peaks, [builtin_phase("Si")]).phases[0]["lattice"]["a"]
    # K-alpha2 drags blended peaks to higher 2theta: read with K-alpha1, d comes out small
    assert naive / 5.4312 - 1 < -4e-4


@pytest.mark.parametrize("radius,disp,zero", [
    (240.0, 0.10, 0.0), pytest.param(185.0, -0.15, 0.02, marks=pytest.mark.slow)])
def test_sample_displacement_recovered(radius, disp, zero):
    cu = source("Cu")
    lab6 = builtin_phase("LaB6")
    x, y, _ = _scan(lab6, cu, zero=zero, disp=disp, radius=radius, fwhm=0.06, seed=11)
    res, inst = index_doublet_pattern(x, y, [lab6], cu, refine_zero=True,
                              refine_displacement=True, radius_mm=radius)
    # displacement, zero and a are correlated (cos theta, 1, tan theta): the stated
    # error says how well; it must cover the truth and be useful (< 30 um)
    assert abs(inst["displacement_mm"] - disp) < 4 * inst["displacement_mm_error"] + 2e-3
    assert inst["displacement_mm_error"] < 0.03
    assert abs(inst["zero_deg"] - zero) < 4 * inst["zero_deg_error"] + 5e-4
    assert abs(res.phases[0]["lattice"]["a"] - lab6.a) < 4 * res.phases[0]["errors"]["a"]
    # without the displacement term the same scan gives a biased cell
    res0, _ = index_doublet_pattern(x, y, [lab6], cu, refine_zero=False)
    assert abs(res0.phases[0]["lattice"]["a"] / lab6.a - 1) > 2e-4
    with pytest.raises(ValueError, match="goniometer radius"):
        index_doublet_pattern(x, y, [lab6], cu, refine_displacement=True)


def test_cli_source_flag(tmp_path, capsys):
    import json

    from gixs.cli.app import main

    cu = source("Cu")
    si = builtin_phase("Si").with_parameters(a=5.4325)
    x, y, _ = _scan(si, cu, zero=-0.03, fwhm=0.07, tt=(20.0, 120.0), seed=2)
    path = tmp_path / "si.xy"
    np.savetxt(path, np.c_[x, y])
    out = tmp_path / "r.json"
    assert main(["index", str(path), "--source", "Cu", "--phase", "Si", "--refine",
                 "--refine-zero", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["phases"][0]["lattice"]["a"] == pytest.approx(5.4325, rel=1e-4)
    assert d["input"]["lab_source"]["zero_deg"] == pytest.approx(-0.03, abs=5e-3)
    assert d["input"]["lab_source"]["lambda1_A"] == cu.lambda1
    # a q pattern cannot take a doublet: refused with exit 2
    assert main(["index", str(path), "--source", "Cu", "--phase", "Si",
                 "--pattern-axis", "q_A^-1"]) == 2
    assert "--source needs a 2theta pattern" in capsys.readouterr().err
