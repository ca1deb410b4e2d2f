"""Phases, reflections, structure factors and GI spot positions against analytic truth."""

import math
import pathlib

import gemmi
import numpy as np
import pytest
import xraydb

from gixs.errors import FormatError
from gixs.geometry.gi import refract
from gixs.bragg.lattice import Phase, Site, apparent_qz, gi_exit_qz, predict_gi_spots
from gixs.bragg.intensity import powder_intensities
from gixs.bragg.phases import BUILTIN_NAMES, builtin_phase, parse_phase

REAL = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
LAB6_CIF = REAL / "pywaxs_cms_giwaxs_perovskite" / "LaB6_NISTSRM_660b.cif"
real_data = pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real absent")


def _f(element, q, b_iso):
    """Thomson f0 (xraydb, Waasmaier-Kirfel) times the Debye-Waller factor."""
    s = q / (4 * math.pi)
    return float(xraydb.f0(element, s)[0]) * math.exp(-b_iso * s * s)


def test_library_complete_and_cited():
    for name in ("LaB6", "Si", "CsPbBr3", "CsPbBr3-ortho", "CsPbI3", "PbS", "ITO", "PbI2"):
        assert name in BUILTIN_NAMES
        phase = builtin_phase(name.upper())
        assert phase.source and phase.sites
    assert builtin_phase("si").a == pytest.approx(5.43102)
    assert builtin_phase("PbI2").c == pytest.approx(6.979)
    with pytest.raises(ValueError, match="unknown phase 'XYZ'"):
        builtin_phase("XYZ")


def test_si_absences_and_forbidden_222():
    si = builtin_phase("Si")
    hkl = {tuple(h) for h in si.all_hkl(5.0)}
    assert (1, 1, 1) in hkl and (2, 2, 0) in hkl and (3, 1, 1) in hkl
    assert (2, 0, 0) not in hkl and (1, 1, 0) not in hkl and (4, 2, 0) not in hkl  # Fd-3m
    f2 = si.structure_factor2([[2, 2, 2], [1, 1, 1], [4, 0, 0]])
    assert f2[0] < 1e-20 * f2[1]  # 222: zero by the special position, not by the group
    q111 = 2 * math.pi * math.sqrt(3) / 5.43102
    # |F(111)|^2 of diamond = 32 f^2 (8 atoms, |1 - i|^2 = 2 -> |4 (1 - i) f|^2)
    assert f2[1] == pytest.approx(32 * _f("Si", q111, si.sites[0].b_iso) ** 2, rel=1e-6)


def test_perovskite_structure_factor_and_multiplicity():
    p = builtin_phase("CsPbBr3")
    q = 2 * math.pi / 5.87
    f2 = p.structure_factor2([[1, 0, 0]])[0]
    f = _f("Pb", q, 0.5) - _f("Cs", q, 2.0) + _f("Br", q, 2.0)  # phases 1, -1, (-1+1+1)
    assert f2 == pytest.approx(f * f, rel=1e-6)
    r = p.reflections(3.0)
    mult = {tuple(int(v) for v in h): m for h, m in zip(r.hkl, r.multiplicity)}
    assert mult[(1, 0, 0)] == 6 and mult[(1, 1, 0)] == 12 and mult[(1, 1, 1)] == 8
    assert mult[(2, 1, 0)] == 24 and mult[(2, 1, 1)] == 24
    assert np.allclose(r.q, 2 * math.pi / 5.87 * np.sqrt((r.hkl ** 2).sum(1)))
    # Bragg-Brentano Lorentz-polarization with Cu K-alpha, areas on a 2theta axis:
    # ratio for (200)/(100) as the textbook formula says
    lp = powder_intensities(p, 3.0, geometry="bragg_brentano", wavelength_a=1.5406,
                            axis="2theta")
    i = {tuple(int(v) for v in h): v for h, v in zip(lp.hkl, lp.intensity)}
    def lpf(qv):
        th = math.asin(qv * 1.5406 / (4 * math.pi))
        return (1 + math.cos(2 * th) ** 2) / (math.sin(th) ** 2 * math.cos(th))
    f2s = dict(zip(map(lambda h: tuple(int(v) for v in h), lp.hkl), lp.f2))
    ratio = (6 * f2s[(2, 0, 0)] * lpf(2 * q)) / (6 * f2s[(1, 0, 0)] * lpf(q))
    assert i[(2, 0, 0)] / i[(1, 0, 0)] == pytest.approx(ratio, rel=1e-9)


def test_hexagonal_multiplicity_and_spacings():
    p = builtin_phase("PbI2")
    r = p.reflections(2.0)
    rows = {tuple(int(v) for v in h): (q, m) for h, q, m in zip(r.hkl, r.q, r.multiplicity)}
    assert rows[(0, 0, 1)][0] == pytest.approx(2 * math.pi / 6.979)
    assert rows[(0, 0, 1)][1] == 2 and rows[(1, 0, 0)][1] == 6
    assert rows[(1, 0, 0)][0] == pytest.approx(4 * math.pi / (math.sqrt(3) * 4.557))


def test_triclinic_metric_against_gemmi():
    p = Phase.from_constants("tri", "P -1", 5.1, 6.3, 7.2, 81.0, 97.0, 103.0)
    cell = gemmi.UnitCell(5.1, 6.3, 7.2, 81.0, 97.0, 103.0)
    rng = np.random.default_rng(1)
    hkl = rng.integers(-4, 5, size=(40, 3))
    hkl = hkl[np.any(hkl != 0, axis=1)]
    d2 = np.array([cell.calculate_1_d2(list(map(int, h))) for h in hkl])
    assert np.allclose(p.q_of(hkl), 2 * math.pi * np.sqrt(d2), rtol=1e-10)
    # GI: q_z = G.n through gemmi's reciprocal metric tensor, q_xy^2 + q_z^2 = |G|^2
    normal = (1, -1, 2)
    s = predict_gi_spots(p, normal, 2.5, min_rel_intensity=0)
    gstar = np.array(cell.reciprocal_metric_tensor().as_mat33().tolist()) * (2 * math.pi) ** 2
    for h, qxy, qz in zip(s.hkl, s.qxy, s.qz):
        expect = h @ gstar @ np.array(normal) / math.sqrt(np.array(normal) @ gstar @ normal)
        assert qz == pytest.approx(expect, abs=2e-5)
        assert math.hypot(qxy, qz) == pytest.approx(p.q_of(h), abs=2e-5)


def test_gi_spots_cubic_orientations():
    a = 5.87
    p = builtin_phase("CsPbBr3")
    g = 2 * math.pi / a
    s = predict_gi_spots(p, (0, 0, 1), 2.2)
    pos = {tuple(int(v) for v in h): (x, z) for h, x, z in zip(s.hkl, s.qxy, s.qz)}
    assert pos[(0, 0, 1)] == pytest.approx((0, g), abs=1e-5)
    assert pos[(1, 0, 0)] == pytest.approx((g, 0), abs=1e-5)
    assert pos[(1, 0, 1)] == pytest.approx((g, g), abs=1e-5)
    assert pos[(1, 1, 1)] == pytest.approx((g * math.sqrt(2), g), abs=1e-5)
    assert (s.qz >= 0).all()
    # (1 0 1) texture: (1 0 1) on the normal, (1 0 0) at 45 deg
    s = predict_gi_spots(p, (1, 0, 1), 2.2)
    at = {(round(x, 4), round(z, 4)) for x, z in zip(s.qxy, s.qz)}
    assert (0.0, round(g * math.sqrt(2), 4)) in at
    assert (round(g / math.sqrt(2), 4), round(g / math.sqrt(2), 4)) in at


def test_apparent_qz_inverts_refraction():
    lam, ai, ac = 0.9763, math.radians(0.3), math.radians(0.15)
    k0 = 2 * math.pi / lam
    af = np.radians([0.2, 0.5, 1.0, 5.0])
    internal = k0 * (np.sin(refract(af, ac)) + math.sin(float(refract(ai, ac))))
    assert np.allclose(apparent_qz(internal, lam, ai, ac), k0 * (np.sin(af) + math.sin(ai)))
    assert np.allclose(apparent_qz(internal, lam, ai, 0.0), internal)


def test_parse_phase_specs():
    p = parse_phase("CsPbBr3:a=5.95")
    assert (p.a, p.b, p.c) == (5.95, 5.95, 5.95)
    p = parse_phase("PbI2:c=7.0")
    assert (p.a, p.c, p.gamma) == (4.557, 7.0, 120.0)
    p = parse_phase("film:sg=P4/mmm,a=5.9,c=6.1")
    assert (p.a, p.b, p.c, p.crystal_system) == (5.9, 5.9, 6.1, "tetragonal")
    with pytest.raises(ValueError, match="key=value"):
        parse_phase("Si:5.4")
    with pytest.raises(ValueError, match="unknown space group"):
        parse_phase("x:sg=Q9,a=3")
    with pytest.raises(ValueError, match="lattice constant a must be a positive"):
        parse_phase("Si:a=-1")
    with pytest.raises(FormatError, match="CIF file not found"):
        parse_phase("nothing_here.cif")


def test_refinement_constraints():
    p = builtin_phase("CsPbBr3-ortho")
    assert p.free_parameters == ("a", "b", "c")
    assert builtin_phase("PbI2").free_parameters == ("a", "c")
    assert builtin_phase("Si").with_parameters(a=5.5).c == 5.5
    assert Phase.from_constants("m", "P 1 21/c 1", 5, 6, 7, beta=100).free_parameters == \
        ("a", "b", "c", "beta")


@real_data
def test_lab6_cif_matches_builtin():
    cif = Phase.from_cif(LAB6_CIF)
    assert cif.a == pytest.approx(4.15689) and cif.crystal_system == "cubic"
    assert {s.element for s in cif.sites} == {"La", "B"}
    assert len(cif.unit_cell_sites()) == 7
    r_cif = cif.reflections(4.0)
    r_lib = builtin_phase("LaB6").reflections(4.0)
    assert [tuple(h) for h in r_cif.hkl] == [tuple(h) for h in r_lib.hkl]
    assert np.allclose(r_cif.q, r_lib.q, rtol=3e-5)
    rel = np.corrcoef(r_cif.intensity, r_lib.intensity)[0, 1]
    assert rel > 0.99  # same atoms, B from the CIF's U_iso


def test_user_phase_without_atoms_has_unit_f2():
    p = Phase.from_constants("fcc", "F m -3 m", 4.0)
    r = p.reflections(5.0)
    assert (r.f2 == 1).all()
    assert [tuple(int(v) for v in h) for h in r.hkl[:3]] == [(1, 1, 1), (2, 0, 0), (2, 2, 0)]
    assert Site("Pb", 0, 0, 0).b_iso > 0


def test_cell_must_fit_its_crystal_system():
    from gixs.bragg.lattice import Phase

    with pytest.raises(ValueError, match=r"cubic cell .* needs a = b = c"):
        Phase("bad", 5.0, 5.3, 5.0, spacegroup="F m -3 m")
    with pytest.raises(ValueError, match=r"tetragonal cell .* needs a = b"):
        Phase("bad", 8.8, 8.9, 12.6, spacegroup="I 4/m c m")
    with pytest.raises(ValueError, match=r"hexagonal cell .* gamma = 120"):
        Phase("bad", 4.56, 4.56, 6.98, gamma=90.0, spacegroup="P -3 m 1")
    ok = Phase("ok", 4.56, 4.56, 6.98, gamma=120.0, spacegroup="P -3 m 1")
    assert ok.crystal_system in ("trigonal", "hexagonal")


def test_giant_cell_refused_not_minutes_of_cpu(tmp_path):
    """A 4000 A axis (a CIF in the wrong units) is refused with its reason at once."""
    from gixs.bragg.lattice import Phase
    from gixs.cli import main

    with pytest.raises(ValueError, match=r"cell length 4000 A is above 1000 A"):
        Phase("huge", 4000.0, 6.0, 6.0, spacegroup="P m m m")
    wide = Phase("wide", 900.0, 900.0, 30.0, spacegroup="P m m m")  # allowed, but its grid
    with pytest.raises(ValueError, match=r"spans .* \(h, k, l\)"):  # to 4 A^-1 is not
        wide.reflections(4.0)
    cif = tmp_path / "huge.cif"
    cif.write_text("data_huge\n_cell_length_a 4000\n_cell_length_b 6\n_cell_length_c 6\n"
                   "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                   "_symmetry_space_group_name_H-M 'P m m m'\nloop_\n_atom_site_label\n"
                   "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
                   "_atom_site_fract_z\nPb1 Pb 0 0 0\n")
    q = np.linspace(0.5, 4.0, 400)
    xy = tmp_path / "p.xy"
    np.savetxt(xy, np.c_[q, 10 + 1000 * np.exp(-0.5 * ((q - 2.0) / 0.01) ** 2)])
    assert main(["index", str(xy), "--pattern-axis", "q_A^-1", "--phase", str(cif)]) == 2
