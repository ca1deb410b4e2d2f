"""Fair-comparison normalisation: xraydb critical angles, Fresnel transmission, pairs."""

import math

import pytest

from gixs.superlattice.normalize import (critical_angle_deg, normalization, optical_constants,
                                         transmission_sq)


@pytest.mark.parametrize("formula,density,kev,ac_deg", [
    ("Si", 2.33, 8.048, 0.223),     # tabulated Si critical angle at Cu K-alpha
])
def test_critical_angle_from_xraydb(formula, density, kev, ac_deg):
    d, _ = optical_constants(formula, density, kev)
    assert critical_angle_deg(d) == pytest.approx(ac_deg, rel=0.02)


def test_transmission_limits():
    d = 5e-6
    ac = critical_angle_deg(d)
    assert transmission_sq(ac, d, 1e-10) == pytest.approx(4.0, rel=0.05)  # |t| -> 2 at a_c
    assert transmission_sq(20 * ac, d, 1e-8) == pytest.approx(1.0, abs=0.01)
    assert transmission_sq(0.2 * ac, d, 1e-8) < 0.2


def _delta(ac_deg):
    return math.radians(ac_deg) ** 2 / 2


@pytest.mark.parametrize("ai,af", [(0.3, 0.2), (0.3, 0.14), (0.2, 0.18), (0.5, 0.3)])
def test_treated_control_ratio_recovered(ai, af):
    """Films with a_c 0.13 / 0.15 deg (issue's pair), true height ratio 1.7."""
    truth = 1.7
    films = {"control": _delta(0.13), "treated": _delta(0.15)}
    beta = 2e-8
    heights = {}
    for name, d in films.items():
        intrinsic = truth if name == "treated" else 1.0
        heights[name] = (intrinsic * transmission_sq(ai, d, beta) * transmission_sq(af, d, beta)
                         / math.sin(math.radians(ai)) * 2.0)
    raw = heights["treated"] / heights["control"]
    norm = {n: normalization(exposure_s=2.0, incidence_deg=ai, exit_deg=af, footprint=True,
                             fresnel=True, film={"delta": d, "beta": beta})["factor"]
            for n, d in films.items()}
    fair = (heights["treated"] / norm["treated"]) / (heights["control"] / norm["control"])
    assert fair == pytest.approx(truth, rel=0.05)
    assert abs(raw / truth - 1) > 0.02  # the raw ratio is biased by the Fresnel terms


def test_terms_recorded_and_switchable():
    n = normalization(exposure_s=1.0, thickness_nm=50.0, incidence_deg=0.2, footprint=True)
    assert set(n["terms"]) == {"exposure", "thickness", "footprint"}
    assert "fresnel" in n["off"] and "monitor" in n["off"]
    assert n["factor"] == pytest.approx(50.0 / math.sin(math.radians(0.2)))
    with pytest.raises(ValueError, match="exit_deg"):
        normalization(incidence_deg=0.2, fresnel=True, film={"delta": 1e-6})
    with pytest.raises(ValueError, match="exposure"):
        normalization(exposure_s=0.0)


def test_compare_with_fresnel_normalisation_recovers_ratio_and_flags():
    from gixs.superlattice.comparison import compare

    ai, af, beta, truth = 0.3, 0.16, 2e-8, 1.04
    rows, norms = [], []
    for ac, intrinsic in ((0.13, 1.0), (0.15, truth)):
        d = _delta(ac)
        h = 1000.0 * intrinsic * transmission_sq(ai, d, beta) * transmission_sq(af, d, beta)
        rows.append({"q_star": 0.1, "d_spacing": 6.0, "d_spacing_err": 0.01,
                     "peak_height": h, "peak_height_err": 0.03 * h, "peak_area": h / 50,
                     "peak_area_err": 0.03 * h / 50, "peak_to_valley": h / 2})
        norms.append(normalization(incidence_deg=ai, exit_deg=af, fresnel=True,
                                   film={"delta": d, "beta": beta}))
    raw = compare(rows)[1]
    fair = compare(rows, normalizations=norms)[1]
    assert fair["height_ratio"] == pytest.approx(truth, rel=0.05)
    assert abs(raw["height_ratio"] - truth) > 0.05 * truth  # raw: Fresnel bias
    assert fair["height_within_error"] is True  # 4% with 4% error: not a difference
    assert fair["normalization_terms"]["terms"]["fresnel"]["value"] > 0


def test_cli_compare_fresnel(tmp_path, capsys):
    from gixs.cli.app import main
    from gixs.io.jsonout import write_json

    base = {"q_star": 0.1, "q_star_err": 1e-4, "d_spacing": 6.0, "d_spacing_err": 0.01,
            "peak_height": 10.0, "peak_height_err": 0.3, "peak_area": 1.0,
            "peak_area_err": 0.03, "peak_to_valley": 5.0, "fit": {}}
    write_json(tmp_path / "c.json", base, schema="gixs.spacing")
    write_json(tmp_path / "t.json", dict(base, peak_height=11.0), schema="gixs.spacing")
    args = [str(tmp_path / "c.json"), str(tmp_path / "t.json"), "--fresnel", "--footprint",
            "--film", "PbS:7.6", "PbS:6.5", "--energy-kev", "12", "--incidence-deg", "0.3",
            "--exit-deg", "0.16"]
    assert main(["compare", *args]) == 0
    out = capsys.readouterr().out
    # expected factor ratio from the library, independent of the CLI's parsing
    f = [normalization(incidence_deg=0.3, exit_deg=0.16, footprint=True, fresnel=True,
                       film={"formula": "PbS", "density": rho}, energy_kev=12.0)["factor"]
         for rho in (7.6, 6.5)]
    assert f"peak height x{1.1 * f[0] / f[1]:.3f}" in out
    assert "fresnel" in out and "xraydb" in out
    assert main(["compare", *args[:2], "--fresnel", "--film", "PbS:7.6", "--energy-kev",
                 "12", "--exit-deg", "0.16"]) == 2
