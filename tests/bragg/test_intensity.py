"""Predicted Bragg intensities against xrayutilities structure factors and xraydb tables.

Truth: films, powder maps and lab patterns rendered here from xrayutilities'
structure factors (its own f0/f'/f'' tables, its own Wyckoff expansion and metric) with
the textbook geometry factors; gixs then detects, indexes and predicts them.
"""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import xraydb

from gixs.bragg.index import IndexResult, PhaseModel, assign, index_map
from gixs.bragg.intensity import (agreement, fibre_intensities, lorentz_polarization,
                                  march_dollase)
from gixs.bragg.lattice import Phase, anomalous_factors
from gixs.bragg.phases import builtin_phase
from gixs.results import Map2D

xu = pytest.importorskip("xrayutilities")
from xrayutilities.materials import Crystal, SGLattice  # noqa: E402

HC = 12.398419843320026  # keV A
FWHM = 0.03


def _xu(name):
    """The same structures as the built-in library, built by xrayutilities from the
    space-group number and Wyckoff letters (B in A^2)."""
    spec = {
        "CsPbBr3": (221, (5.87,), ["Pb", "Cs", "Br"], ["1a", "1b", "3d"], [0.5, 2, 2]),
        "PbI2": (164, (4.557, 6.979), ["Pb", "I"], ["1a", ("2d", 0.265)], [1.5, 1.5]),
        "MAPbI3": (140, (8.855, 12.659), ["Pb", "I", "I", "C", "N"],
                   ["4c", "4a", ("8h", 0.21), "4b", "4b"], [1.5, 4, 4, 6, 6]),
        "CsPbBr3-tetra": (127, (8.27, 5.89), ["Pb", "Cs", "Br", "Br"],
                          ["2a", "2c", "2b", ("4g", 0.22)], [1, 3, 3, 3]),
        "SnO2": (136, (4.7382, 3.1871), ["Sn", "O"], ["2a", ("4f", 0.3056)], [0.3, 0.5]),
        "PbS": (225, (5.936,), ["Pb", "S"], ["4a", "4b"], [1.0, 0.8]),
        "ITO": (206, (10.12,), ["In", "In", "O"],
                ["8b", ("24d", 0.4668), ("48e", (0.3905, 0.1529, 0.3832))], [0.5, 0.5, 0.8]),
        "CeO2": (225, (5.411651,), ["Ce", "O"], ["4a", "8c"], [0.2, 0.4]),
        "Au": (225, (4.0782,), ["Au"], ["4a"], [0.6]),
        "Si": (227, (5.43102,), ["Si"], ["8a"], [0.46]),
    }[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Crystal(name, SGLattice(spec[0], *spec[1], atoms=spec[2], pos=spec[3],
                                       b=spec[4]))


def _xu_reflections(xc, q_max, energy_kev):
    """Every (h, k, l) != 0 with |Q| <= q_max: indices, Q vectors (1/A), |F|^2 (xu)."""
    m = [int(q_max / np.linalg.norm(xc.Q(*v))) + 1 for v in np.eye(3)]
    grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in m], indexing="ij"),
                    -1).reshape(-1, 3)
    grid = grid[np.any(grid != 0, 1)]
    b = np.array([xc.Q(*v) for v in np.eye(3)])  # rows a*, b*, c* (xu's frame)
    qv = grid @ b
    keep = np.linalg.norm(qv, axis=1) <= q_max
    grid, qv = grid[keep], qv[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f2 = np.abs(xc.StructureFactorForQ(qv, energy_kev * 1e3)) ** 2
    return grid, qv, f2


# -- scattering factors -------------------------------------------------------------
@pytest.mark.parametrize("element", ["Pb", "I", "Br", "Cs", "Sn"])
@pytest.mark.parametrize("kev", [8.048, 10.0, 18.0, 25.0])
def test_anomalous_factors_xraydb_and_xrayutilities(element, kev):
    fp, fpp = anomalous_factors(element, energy_kev=kev)
    assert (fp, fpp) == (pytest.approx(xraydb.f1_chantler(element, kev * 1e3), abs=1e-9),
                         pytest.approx(xraydb.f2_chantler(element, kev * 1e3), abs=1e-9))
    assert anomalous_factors(element, wavelength_a=HC / kev) == pytest.approx((fp, fpp))
    # xrayutilities' independent (Henke-type) tables: Chantler and they differ by
    # <= 0.3 e away from absorption edges
    el = getattr(xu.materials.elements, element)
    assert fp == pytest.approx(el.f1(kev * 1e3), abs=0.3)
    assert fpp == pytest.approx(el.f2(kev * 1e3), abs=0.3)


def test_pb_at_18_kev_moves_intensities():
    fp, fpp = anomalous_factors("Pb", energy_kev=18.0)
    assert fp == pytest.approx(-3.13, abs=0.01) and fpp == pytest.approx(9.58, abs=0.01)
    p = builtin_phase("CsPbBr3")
    hkl = [[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0]]
    far = p.structure_factor2(hkl)
    at18 = p.structure_factor2(hkl, energy_kev=18.0)
    change = np.abs(at18 / far - 1)
    assert change.max() > 0.03  # f' and f'' of Pb (and Cs, Br) are not negligible
    nodw = p.structure_factor2(hkl, energy_kev=18.0, debye_waller=False)
    assert np.all(nodw > at18)  # Debye-Waller only weakens
    with pytest.raises(ValueError, match="energy_kev or wavelength_a, not both"):
        p.structure_factor2(hkl, energy_kev=18.0, wavelength_a=0.7)


@pytest.mark.parametrize("name", ["CsPbBr3", "PbI2", "MAPbI3", "CsPbBr3-tetra", "SnO2",
                                  "ITO", "CeO2", "Au"])
@pytest.mark.parametrize("kev", [8.048, 18.0])
def test_structure_factors_and_spacings_match_xrayutilities(name, kev):
    phase, xc = builtin_phase(name), _xu(name)
    grid, qv, xf2 = _xu_reflections(xc, 4.0, kev)
    ours = phase.all_hkl(4.0)
    allowed = {tuple(h) for h in ours}
    # every reflection xrayutilities sees is allowed here; the ones dropped are extinct
    strong = xf2 > 1e-6 * xf2.max()
    assert {tuple(h) for h in grid[strong]} <= allowed
    assert len(allowed) == len(ours)
    idx = {tuple(h): i for i, h in enumerate(grid)}
    rows = np.array([idx[h] for h in map(tuple, ours)])
    # spacings: xrayutilities' metric
    assert phase.q_of(ours) == pytest.approx(np.linalg.norm(qv[rows], axis=1), rel=1e-9)
    # |F|^2 within 2.5 % (of itself or of 2 % of the strongest): the f' tables differ
    f2 = phase.structure_factor2(ours, energy_kev=kev)
    ref = xf2[rows]
    assert np.all(np.abs(f2 - ref) <= 0.025 * np.maximum(ref, 0.02 * ref.max()))
    # and the anomalous terms matter at this level: f0 alone is farther off
    f0_only = phase.structure_factor2(ours)
    assert np.abs(f0_only - ref).max() > np.abs(f2 - ref).max()


# -- new phases: d-spacings against pyFAI's calibrant files -------------------------
@pytest.mark.parametrize("name, calibrant, rel", [("Au", "Au", 1e-6),
                                                  ("CeO2", "CeO2", 1e-6),
                                                  ("Si", "Si", 2e-4)])
def test_builtin_spacings_match_pyfai_calibrants(name, calibrant, rel):
    from pyFAI.calibrant import CALIBRANT_FACTORY

    d_ref = np.array(CALIBRANT_FACTORY(calibrant).dspacing)
    d_ref = d_ref[d_ref > 1.0]
    r = builtin_phase(name).reflections(2 * math.pi / 1.0, min_rel_intensity=1e-8)
    d = np.unique(np.round(r.d, 6))[::-1]
    assert len(d) == len(np.unique(np.round(d_ref, 6)))
    assert d == pytest.approx(np.unique(np.round(d_ref, 6))[::-1], rel=rel)


def _check_calibrants(names):
    from pyFAI.calibrant import CALIBRANT_FACTORY

    from gixs.bragg.phases import calibrant_phase

    refused = []
    for name in names:
        try:
            p = calibrant_phase(name)
        except ValueError as exc:
            refused.append(name)
            assert "cannot be indexed" in str(exc)
            continue
        d_ref = np.array(CALIBRANT_FACTORY(name).dspacing)
        d_ref = d_ref[d_ref >= 2 * math.pi / 5.0]
        r = p.reflections(5.0)
        ref = np.unique(np.round(d_ref, 4))
        got = np.unique(np.round(r.d, 4))
        assert len(got) == len(ref), name
        assert got == pytest.approx(ref, rel=1e-4), name
        assert not p.sites and "pyFAI calibrant" in p.source
    return refused


def test_pyfai_calibrants_are_phases_with_their_lines():
    """One calibrant per kind of header: lamellar, cubic, rhombohedral (hexagonal
    axes, reverse-setting labels), rutile, hexagonal, monoclinic, no space group."""
    names = ["AgBh", "CeO2", "alpha_Al2O3", "TiO2", "ZnO", "PBBA", "verneite", "mock"]
    assert _check_calibrants(names) == ["mock"]


@pytest.mark.slow
def test_every_pyfai_calibrant_is_a_phase_with_its_lines():
    from gixs.bragg.phases import calibrant_names

    assert _check_calibrants(calibrant_names()) == ["CrOx", "mock"]
    # builtin phases with atoms win over calibrants of the same name; others resolve
    assert builtin_phase("LaB6").sites and builtin_phase("tio2").name == "TiO2"
    agbh = builtin_phase("AgBh")
    assert 2 * math.pi / agbh.q_of([0, 0, 1]) == pytest.approx(58.38)


# -- geometry factors -------------------------------------------------------------------
def test_lorentz_factors_and_march_dollase():
    q = np.array([1.0, 2.0, 3.0])
    lam = 1.5406
    th = np.arcsin(q * lam / (4 * math.pi))
    bb_2th = (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))
    assert lorentz_polarization(q, geometry="bragg_brentano", wavelength_a=lam,
                                axis="2theta") == pytest.approx(bb_2th)
    # areas on a q axis of counts read from 2theta: d(q)/d(2theta) ~ cos(theta)
    assert lorentz_polarization(q, geometry="bragg_brentano", wavelength_a=lam) == \
        pytest.approx(bb_2th * np.cos(th))
    assert np.isnan(lorentz_polarization(9.0, geometry="bragg_brentano", wavelength_a=lam))
    assert np.isnan(lorentz_polarization(1.0, geometry="gi_fibre", qxy=0.0))
    with pytest.raises(ValueError, match="geometry must be one of"):
        lorentz_polarization(q, geometry="laue")
    # March-Dollase: cubic {100} about (001): 2 members along the axis, 4 across it
    p = builtin_phase("CsPbBr3")
    for r in (0.6, 1.0, 1.7):
        assert march_dollase(p, [[1, 0, 0]], (0, 0, 1), r)[0] == pytest.approx(
            (2 * r ** -3 + 4 * r ** 1.5) / 6)
    # normalised over the sphere (Dollase 1986): mean over uniform directions = 1
    u = np.linspace(0, 1, 200001)
    assert np.trapezoid((0.5 ** 2 * u ** 2 + (1 - u ** 2) / 0.5) ** -1.5, u) == \
        pytest.approx(1.0, rel=1e-6)


# -- rendered films: observed vs predicted --------------------------------------------
def _fibre_map(name, orient, kev, seed, lorentz=True, q_lim=2.6):
    """q_xy/q_z map of a fibre-textured film: xrayutilities |F|^2 summed per
    (q_xy, q_z), spot area |F|^2 / q_xy (the fibre ring spread over 2 pi q_xy), Gaussian
    spots of FWHM 0.03 A^-1, the mean of 4 Poisson pixels per bin, the missing wedge
    NaN."""
    xc = _xu(name)
    k0 = 2 * math.pi * kev / HC
    grid, qv, f2 = _xu_reflections(xc, q_lim + 0.1, kev)
    n = np.asarray(xc.Q(*orient), float)
    n /= np.linalg.norm(n)
    qz = qv @ n
    qxy = np.sqrt(np.clip((qv ** 2).sum(1) - qz ** 2, 0, None))
    up = qz > -1e-6
    keys, inv = np.unique(np.round(np.stack([qxy[up], np.clip(qz[up], 0, None)], 1), 4),
                          axis=0, return_inverse=True)
    f2s = np.bincount(inv.ravel(), weights=f2[up])
    x = np.arange(-q_lim, q_lim + 1e-9, 0.01)
    y = np.arange(-0.2, q_lim + 1e-9, 0.01)
    xx, yy = np.meshgrid(x, y)
    sig = FWHM / (2 * math.sqrt(2 * math.log(2)))
    img = np.zeros_like(xx)
    for (sx, z), a in zip(keys, f2s):
        if sx < 0.05 or a <= 0:
            continue
        area = a / sx if lorentz else a
        for sgn in (1, -1):
            img += area * np.exp(-0.5 * ((xx - sgn * sx) ** 2 + (yy - z) ** 2) / sig ** 2)
    return _noisy_map(x, y, img, k0, seed), HC / kev


def _noisy_map(x, y, img, k0, seed, peak=3000.0, bg=20.0):
    img = img * peak / img.max() + bg
    rng = np.random.default_rng(seed)
    val = rng.poisson(4 * img) / 4.0 + rng.uniform(-0.125, 0.125, img.shape)
    xx, yy = np.meshgrid(x, y)
    wedge = np.abs(xx) < (xx ** 2 + yy ** 2) / (2 * k0)
    val[wedge] = np.nan
    return Map2D("qmap", "qxy", "qz", x, y, val, np.where(wedge, 0, 4))


@pytest.mark.parametrize("name, orient, kev", [("CsPbBr3", (0, 0, 1), 18.0),
                                               ("PbI2", (0, 0, 1), 10.0),
                                               ("MAPbI3", (1, 1, 0), 12.0),
                                               ("MAPbI3", (0, 0, 1), 18.0),
                                               ("SnO2", (1, 1, 0), 8.048)])
def test_fibre_spot_intensities_rank_correlation(name, orient, kev):
    qmap, lam = _fibre_map(name, orient, kev, seed=1)
    res = index_map(qmap, [(builtin_phase(name), orient)], refine=False, wavelength_a=lam)
    ag = res.phases[0]["intensity_agreement"]
    assert ag["geometry"] == "gi_fibre" and ag["energy_kev"] == pytest.approx(kev)
    assert ag["n"] >= 6 and ag["n"] == len(res.peaks)
    assert ag["spearman"] >= 0.9
    assert ag["r_factor"] < 0.05
    assert not any(p["intensity_contradiction"] for p in res.peaks)
    for p in res.peaks:
        assert p["intensity_pred"] == pytest.approx(p["intensity"], rel=0.3)


def test_fibre_without_lorentz_factor_is_detected():
    """A film rendered without the 1/q_xy fibre factor disagrees with the prediction:
    the R factor sees the missing Lorentz factor."""
    good, lam = _fibre_map("MAPbI3", (0, 0, 1), 18.0, seed=4)
    bad, _ = _fibre_map("MAPbI3", (0, 0, 1), 18.0, seed=4, lorentz=False)
    model = [(builtin_phase("MAPbI3"), (0, 0, 1))]
    r_good = index_map(good, model, refine=False, wavelength_a=lam).phases[0][
        "intensity_agreement"]["r_factor"]
    r_bad = index_map(bad, model, refine=False, wavelength_a=lam).phases[0][
        "intensity_agreement"]["r_factor"]
    assert r_good < 0.05 and r_bad > 4 * r_good


def _ring_map(name, kev, seed, q_lim=4.2):
    """Random powder: xrayutilities m |F|^2 per ring spread over 4 pi q^2 (area on the q
    axis m |F|^2 / q^2), radial FWHM 0.03 A^-1."""
    k0 = 2 * math.pi * kev / HC
    grid, qv, f2 = _xu_reflections(_xu(name), q_lim + 0.1, kev)
    uq, inv = np.unique(np.round(np.linalg.norm(qv, axis=1), 5), return_inverse=True)
    mf2 = np.bincount(inv.ravel(), weights=f2)
    x = np.arange(-q_lim, q_lim + 1e-9, 0.01)
    y = np.arange(-0.2, q_lim + 1e-9, 0.01)
    qq = np.hypot(*np.meshgrid(x, y))
    sig = FWHM / (2 * math.sqrt(2 * math.log(2)))
    img = np.zeros_like(qq)
    for g, a in zip(uq, mf2):
        if a > 1e-6 * mf2.max():
            img += a / g ** 2 * np.exp(-0.5 * ((qq - g) / sig) ** 2)
    return _noisy_map(x, y, img, k0, seed), HC / kev


@pytest.mark.parametrize("name, kev", [("PbS", 12.0), ("ITO", 18.0), ("CeO2", 8.048)])
def test_powder_ring_intensities_2d(name, kev):
    qmap, lam = _ring_map(name, kev, seed=2)
    res = index_map(qmap, [builtin_phase(name)], refine=False, wavelength_a=lam)
    ag = res.phases[0]["intensity_agreement"]
    assert ag["geometry"] == "powder_2d" and ag["n"] >= 5
    assert ag["spearman"] >= 0.9 and ag["r_factor"] < 0.05
    # the lab (Bragg-Brentano) factor is wrong for a polarization-corrected 2D map
    wrong = index_map(qmap, [builtin_phase(name)], refine=False, wavelength_a=lam,
                      powder_geometry="bragg_brentano").phases[0]["intensity_agreement"]
    assert wrong["r_factor"] > 2 * ag["r_factor"]


def _bb_pattern(names, lam=1.5406, seed=0, two_theta=False, md=None):
    """Lab pattern (2theta 10-100 deg): areas xrayutilities m |F|^2 times
    (1 + cos^2 2th) / (sin^2 th cos th), FWHM 0.1 deg; returned on a q axis with the
    counts unchanged (as gixs index reads a 2theta file)."""
    tth = np.arange(10, 100, 0.02)
    y = np.full(tth.shape, 50.0) + 300 * np.exp(-tth / 20)
    kev = HC / lam
    q_max = 4 * math.pi * math.sin(math.radians(50)) / lam
    for name, scale in names:
        xc = _xu(name)
        grid, qv, f2 = _xu_reflections(xc, q_max, kev)
        if md is not None:  # March-Dollase per reflection, angle to the preferred axis
            axis = np.asarray(xc.Q(*md[0]), float)
            cos2 = (qv @ axis / np.linalg.norm(axis) / np.linalg.norm(qv, axis=1)) ** 2
            f2 = f2 * (md[1] ** 2 * cos2 + (1 - cos2) / md[1]) ** -1.5
        uq, inv = np.unique(np.round(np.linalg.norm(qv, axis=1), 5), return_inverse=True)
        mf2 = np.bincount(inv.ravel(), weights=f2)
        th = np.arcsin(uq * lam / (4 * math.pi))
        area = mf2 * (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))
        area *= scale / area.max()
        for t, a in zip(np.degrees(2 * th), area):
            y += 20000 * a * np.exp(-0.5 * ((tth - t) / (0.1 / 2.3548)) ** 2)
    y = np.random.default_rng(seed).poisson(y).astype(float)
    return (tth if two_theta else 4 * math.pi * np.sin(np.radians(tth / 2)) / lam), y


@pytest.mark.parametrize("names", [[("Si", 1.0)], [("CeO2", 1.0)],
                                   [("PbS", 1.0), ("Si", 0.5)]])
def test_bragg_brentano_pattern_intensities(names):
    from gixs.bragg.spots import detect_peaks_1d

    q, y = _bb_pattern(names)
    peaks = detect_peaks_1d(q, y, fwhm=0.01)
    res = assign(peaks, [builtin_phase(n) for n, _ in names], refine=False,
                 wavelength_a=1.5406, powder_geometry="bragg_brentano")
    for ph in res.phases:
        ag = ph["intensity_agreement"]
        assert ag["geometry"] == "bragg_brentano" and ag["n"] >= 5, ph["name"]
        assert ag["spearman"] >= 0.9 and ag["r_factor"] < 0.05, (ph["name"], ag)


@pytest.mark.parametrize("pref, r", [((1, 1, 1), 0.7), ((1, 0, 0), 1.4)])
def test_march_dollase_texture_of_a_lab_pattern(pref, r):
    from gixs.bragg.spots import detect_peaks_1d

    q, y = _bb_pattern([("PbS", 1.0)], md=(pref, r), seed=5)
    peaks = detect_peaks_1d(q, y, fwhm=0.01)
    kw = dict(refine=False, wavelength_a=1.5406, powder_geometry="bragg_brentano")
    with_md = assign(peaks, [PhaseModel(builtin_phase("PbS"), texture=(pref, r))], **kw)
    without = assign(peaks, [builtin_phase("PbS")], **kw)
    a, b = (res.phases[0]["intensity_agreement"] for res in (with_md, without))
    assert a["r_factor"] < 0.05 and a["spearman"] >= 0.9
    assert b["r_factor"] > 3 * a["r_factor"]  # the texture is needed
    with pytest.raises(ValueError, match="for random powders"):
        PhaseModel(builtin_phase("PbS"), (0, 0, 1), texture=(pref, r))


def test_cli_pattern_reports_intensity_agreement(tmp_path, capsys):
    import json

    from gixs.cli.app import main

    tth, y = _bb_pattern([("CeO2", 1.0)], two_theta=True, seed=3)
    np.savetxt(tmp_path / "ceo2.xy", np.c_[tth, y])
    out = tmp_path / "ceo2.json"
    assert main(["index", str(tmp_path / "ceo2.xy"), "--wavelength-a", "1.5406",
                 "--phase", "CeO2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "intensities (bragg_brentano): rank correlation" in text
    ag = json.loads(out.read_text())["phases"][0]["intensity_agreement"]
    assert ag["geometry"] == "bragg_brentano" and ag["spearman"] >= 0.9
    assert ag["energy_kev"] == pytest.approx(HC / 1.5406)
    # the same pattern read as polarization-corrected 2D data fits worse
    assert main(["index", str(tmp_path / "ceo2.xy"), "--wavelength-a", "1.5406",
                 "--phase", "CeO2", "--powder-geometry", "powder_2d", "--json",
                 str(out)]) == 0
    wrong = json.loads(out.read_text())["phases"][0]["intensity_agreement"]
    assert wrong["r_factor"] > 2 * ag["r_factor"]
    # a pyFAI calibrant without atoms: positions only, intensities not predicted
    assert main(["index", str(tmp_path / "ceo2.xy"), "--wavelength-a", "1.5406",
                 "--phase", "Pt", "--json", str(out)]) == 0
    assert "intensities: phase without atoms" in capsys.readouterr().out


def test_strong_peak_on_predicted_weak_reflection_is_flagged():
    phase = builtin_phase("CsPbBr3-tetra")
    kev = 18.0
    spots = fibre_intensities(phase, (0, 0, 1), 2.6, energy_kev=kev, min_rel_intensity=1e-4)
    ok = np.isfinite(spots.intensity)
    qxy, qz, inten, hkl = (v[ok] for v in (spots.qxy, spots.qz, spots.intensity, spots.hkl))
    # isolated spots only (no neighbour within 0.06 A^-1) so none blend
    d = np.hypot(qxy[:, None] - qxy, qz[:, None] - qz) + np.eye(len(qxy)) * 9
    iso = d.min(1) > 0.06
    rel = inten / inten.max()
    weak = np.nonzero(iso & (rel < 0.04) & (rel > 2e-3))[0]
    assert weak.size
    j = weak[0]
    peaks = [{"qxy": float(x), "qz": float(z), "intensity": float(i), "fwhm_qxy": FWHM,
              "fwhm_qz": FWHM}
             for x, z, i, s in zip(qxy, qz, inten, iso) if s and i > 1e-3 * inten.max()]
    for p in peaks:
        if p["qxy"] == float(qxy[j]) and p["qz"] == float(qz[j]):
            p["intensity"] = float(0.8 * inten.max())  # a strong spot on a weak line
    res = assign(peaks, [(phase, (0, 0, 1))], refine=False, wavelength_a=HC / kev)
    flagged = [p for p in res.peaks if p["intensity_contradiction"]]
    assert [tuple(p["hkl"]) for p in flagged] == [tuple(int(v) for v in hkl[j])]
    assert any("predicted very weak" in n for n in res.notes)
    ag = res.phases[0]["intensity_agreement"]
    assert ag["spearman"] < 1.0


def test_agreement_statistics():
    a = agreement([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])
    assert a["scale"] == pytest.approx(0.5) and a["r_factor"] == pytest.approx(0.0)
    assert a["spearman"] == pytest.approx(1.0)
    b = agreement([4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert b["spearman"] == pytest.approx(-1.0) and b["r_factor"] > 0.3
    assert agreement([1.0], [np.nan])["n"] == 0


# -- immutability (issue 13) ------------------------------------------------------------
def test_models_and_results_are_frozen():
    phase = builtin_phase("PbS")
    model = PhaseModel(phase, [1, 1, 1])
    assert model.orientation == (1, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.orientation = None
    peaks = [{"q": float(q), "fwhm": 0.02} for q in phase.q_of([[1, 1, 1], [2, 0, 0],
                                                                 [2, 2, 0], [3, 1, 1]])]
    res = assign(peaks, [model], refine=True)
    assert model.orientation == (1, 1, 1)  # the caller's model untouched
    assert res.phases[0]["orientation"] == "random"
    assert any("indexed as a random powder" in n for n in res.notes)
    assert isinstance(res, IndexResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.notes = []
    assert phase == builtin_phase("PbS")


# -- detector frames rendered with xrayutilities structure factors --------------------
@dataclasses.dataclass(frozen=True)
class _XuPhase(Phase):
    """A library phase whose |F|^2 comes from xrayutilities (its f0/f'/f'' tables, Wyckoff
    expansion and Debye-Waller), so render_film draws spots of independent intensity."""

    xu: object = dataclasses.field(default=None, compare=False, repr=False)

    def structure_factor2(self, hkl, *, energy_kev=None, wavelength_a=None,
                          debye_waller=True):
        hkl = np.atleast_2d(np.asarray(hkl, float))
        b = np.array([self.xu.Q(*v) for v in np.eye(3)])
        ev = 1e3 * (HC / wavelength_a if wavelength_a is not None else energy_kev)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.abs(self.xu.StructureFactorForQ(hkl @ b, ev)) ** 2


def _xu_phase(name):
    p = builtin_phase(name)
    return _XuPhase(**{f.name: getattr(p, f.name) for f in dataclasses.fields(Phase)},
                    xu=_xu(name))


def _xu_frame(name, orient, kev, *, ratio=None, seed=1, fwhm=0.03, dist=0.15, npt=500,
              mosaic_deg=0.5):
    """A Pilatus 1M frame ``dist`` (m) from the film (render_film: fibre ring 2 pi q_xy, the
    pixels' solid angle and polarization 0.99) of spots with xrayutilities |F|^2, mosaic
    ``mosaic_deg``; with ``ratio`` the film critical angle is ratio x the incidence angle and
    both exit channels are drawn (reflected at 0.5); spots of radial FWHM ``fwhm``
    (1/A), on an npt x npt q map. Returns the corrected q map and the index arguments."""
    from gixs.bragg.spots import render_film
    from gixs.geometry.model import GIGeometry
    from gixs.reduce.frame import ReduceSettings, reduce_frame

    from ..conftest import make_geometry

    lam = HC / kev
    geo = make_geometry(dist=dist, poni1=0.008, poni2=0.085, wavelength_a=lam)
    ai_deg = 0.3 if kev < 15 else 0.2
    gi = GIGeometry.from_degrees(ai_deg)
    kw = {} if ratio is None else dict(film_critical_angle=ratio * gi.incidence,
                                       channels=("transmitted", "reflected"),
                                       reflected_weight=0.5)
    img = render_film(geo, gi, [(_xu_phase(name), orient, 1.0)], peak_counts=3000,
                      mosaic_deg=mosaic_deg, spot_fwhm=fwhm, rng=seed, **kw)
    qmap = reduce_frame(img, geo, gi, ReduceSettings(npt_map=(npt, npt))).maps["qmap"]
    args = dict(refine=False, wavelength_a=lam, spot_fwhm=fwhm,
                horizon_qz=2 * math.pi / lam * math.sin(gi.incidence))
    if ratio is not None:
        args.update(refraction=(lam, gi.incidence, ratio * gi.incidence),
                    channels=("transmitted", "reflected"))
    return qmap, args


@pytest.mark.slow
@pytest.mark.parametrize("kev", [10.0, 18.0])
@pytest.mark.parametrize("name, orient", [("PbS", (0, 0, 1)), ("CsPbBr3", (0, 0, 1)),
                                          ("MAPbI3", (1, 1, 0)), ("MAPbI3", (0, 0, 1))])
def test_rendered_frame_intensities_rank_correlation(name, orient, kev):
    """Detector frames whose spots carry xrayutilities |F|^2: gixs' predicted
    intensities (xraydb factors at the beam energy, fibre Lorentz 1/q_xy) rank the
    observed spot areas with Spearman >= 0.9. Spots cut by the sample horizon or a
    detector gap are left out, with the reason."""
    qmap, args = _xu_frame(name, orient, kev)
    res = index_map(qmap, [(builtin_phase(name), orient)], **args)
    ag = res.phases[0]["intensity_agreement"]
    assert ag["geometry"] == "gi_fibre" and ag["energy_kev"] == pytest.approx(kev)
    assert ag["n"] >= 6 and ag["n"] >= 0.6 * len(res.peaks)
    assert ag["spearman"] >= 0.9 and ag["r_factor"] < 0.12, ag
    left_out = [p for p in res.peaks if not p["intensity_in_fit"]]
    assert all(p.get("intensity_note") for p in left_out)
    assert not any(p["intensity_contradiction"] for p in res.peaks)


@pytest.mark.slow
@pytest.mark.parametrize("name, kev, ratio", [("CsPbBr3", 18.0, 0.8), ("MAPbI3", 10.0, 0.65),
                                              ("PbS", 18.0, 0.75)])
def test_refracted_two_channel_frame_intensities(name, kev, ratio):
    """A refracting film (critical angle 0.65-0.8 of the incidence angle), both exit
    channels drawn. Spots of FWHM 0.03 A^-1 blend the two channels (q_z apart by
    2 k0 sin a_i' ~ 0.03-0.05 A^-1): left out, with the reason. Sharper spots (FWHM
    0.012 A^-1, large grains) resolve them: the transmitted spots off the Yoneda carry
    the agreement (rank correlation >= 0.9); Yoneda and reflected ones are assigned
    but left out."""
    orient = (0, 0, 1)
    qmap, args = _xu_frame(name, orient, kev, ratio=ratio)
    res = index_map(qmap, [(builtin_phase(name), orient)], **args)
    blended = [p for p in res.peaks if "blended" in (p.get("intensity_note") or "")]
    assert blended and not any(p["intensity_in_fit"] for p in blended)
    qmap, args = _xu_frame(name, orient, kev, ratio=ratio, fwhm=0.015, dist=0.2, npt=600,
                           mosaic_deg=0.2)
    res = index_map(qmap, [(builtin_phase(name), orient)], **args)
    ag = res.phases[0]["intensity_agreement"]
    assert ag["n"] >= 10 and ag["spearman"] >= 0.9 and ag["r_factor"] < 0.12, ag
    fit = [p for p in res.peaks if p["intensity_in_fit"]]
    assert all(p["channel"] == "transmitted" and not p["at_yoneda"] for p in fit)
    assert any(p["channel"] == "reflected" for p in res.peaks)
    assert any(p["at_yoneda"] for p in res.peaks)


def _md_family_average(hkl, axis, r):
    """March-Dollase factor of a cubic family, written out: the mean over every
    permutation and sign change of (h, k, l) of (r^2 cos^2 a + sin^2 a / r)^-3/2."""
    import itertools

    members = {tuple(s * v for s, v in zip(signs, perm))
               for perm in itertools.permutations(hkl)
               for signs in itertools.product((1, -1), repeat=3)}
    u = np.asarray(axis, float) / np.linalg.norm(axis)
    vals = []
    for m in members:
        c2 = (np.dot(m, u) / np.linalg.norm(m)) ** 2
        vals.append((r * r * c2 + (1 - c2) / r) ** -1.5)
    return float(np.mean(vals))


def test_cli_march_dollase_option(tmp_path, capsys):
    """--march-dollase R --md-axis H K L: each predicted ring intensity is multiplied by
    the family-averaged March-Dollase factor (checked against the formula written out
    here), the fit to a plate-textured PbS pattern improves, the JSON records it."""
    import json

    from gixs.cli.app import main

    r, axis = 0.7, (1, 1, 1)
    tth, y = _bb_pattern([("PbS", 1.0)], two_theta=True, seed=5, md=(axis, r))
    np.savetxt(tmp_path / "pbs.xy", np.c_[tth, y])
    base = ["index", str(tmp_path / "pbs.xy"), "--wavelength-a", "1.5406", "--phase", "PbS"]
    out = {}
    for key, extra in (("none", []), ("md", ["--march-dollase", str(r), "--md-axis", "1",
                                             "1", "1"])):
        path = tmp_path / f"{key}.json"
        assert main(base + extra + ["-o", str(path)]) == 0
        out[key] = json.loads(path.read_text())
    text = capsys.readouterr().out
    assert "March-Dollase r = 0.7 about (1 1 1)" in text
    ph = {k: v["phases"][0] for k, v in out.items()}
    assert ph["md"]["march_dollase"] == {"axis": [1, 1, 1], "r": 0.7}
    assert ph["none"]["march_dollase"] is None
    # predicted intensities: ratio with/without = the factor (up to the fitted scale);
    # below q = 5 A^-1 every ring is one family (no (333)/(511) coincidence)
    pred = {k: {tuple(p["hkl"]): p["intensity_pred"] for p in v["peaks"]
                if p["q"] < 5.0 and p["intensity_pred"]} for k, v in out.items()}
    common = sorted(set(pred["md"]) & set(pred["none"]))
    assert len(common) >= 6
    ratio = np.array([pred["md"][h] / pred["none"][h] / _md_family_average(h, axis, r)
                      for h in common])
    assert np.ptp(ratio) / ratio.mean() < 1e-6
    factors = [_md_family_average(h, axis, r) for h in common]
    assert max(factors) / min(factors) > 1.4  # the texture moves intensities by 44 %
    ag = {k: v["intensity_agreement"] for k, v in ph.items()}
    assert ag["md"]["r_factor"] < 0.05 and ag["none"]["r_factor"] > 3 * ag["md"]["r_factor"]
    # bad input: one line each
    assert main(base + ["--md-axis", "0", "0", "1"]) == 2
    assert "--md-axis needs --march-dollase" in capsys.readouterr().err
    assert main(base + ["--march-dollase", "-1"]) == 2
    assert "r must be a number > 0" in capsys.readouterr().err
    assert main(base + ["--march-dollase", "0.7", "--texture", "0", "0", "1"]) == 2
    assert "no random-powder phase" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name, orient", [("CsPbBr3", (0, 0, 1)), ("MAPbI3", (1, 1, 0))])
def test_long_mosaic_arcs_keep_their_area(name, orient):
    """2 deg mosaic at 18 keV: arcs up to ~5 spot FWHM long at high q. Spot areas
    measured along their own radial/tangential axes on a patch that grows with the arc
    keep the agreement (an axis-aligned fit on a +-1.5 FWHM patch read R ~ 0.3)."""
    qmap, args = _xu_frame(name, orient, 18.0, mosaic_deg=2.0)
    ag = index_map(qmap, [(builtin_phase(name), orient)], **args).phases[0][
        "intensity_agreement"]
    assert ag["n"] >= 20 and ag["r_factor"] < 0.12 and ag["spearman"] >= 0.9, ag


def test_spearman_of_agreement_is_scipy_spearmanr():
    """agreement's rank correlation (average ranks for ties, Pearson of the ranks)
    against scipy.stats.spearmanr on random sets, ties included."""
    from scipy import stats

    from gixs.bragg.intensity import average_ranks

    rng = np.random.default_rng(3)
    for n in (3, 4, 7, 20, 60):
        for ties in (False, True):
            o = rng.integers(1, 6, n).astype(float) if ties else rng.uniform(1, 100, n)
            p = rng.integers(1, 4, n).astype(float) if ties else o + rng.normal(0, 30, n)
            p = np.abs(p) + 0.5
            if np.ptp(o) == 0 or np.ptp(p) == 0:
                continue
            ref = stats.spearmanr(o, p).statistic
            assert agreement(o, p)["spearman"] == pytest.approx(ref, abs=1e-12)
            np.testing.assert_array_equal(average_ranks(o), stats.rankdata(o))
