"""One CLI language: every subcommand takes --setup, every option has help, the shared
geometry/correction flags mean the same everywhere, old names still work (with a warning)."""

import pytest

from gixs.cli.app import COMMANDS, build_parser, main
from gixs.errors import GixsWarning

#: subcommands that reduce frames: they take the full geometry and correction flags
REDUCING = ("reduce", "spacing", "batch", "watch", "index")
GEOMETRY_FLAGS = ("--poni", "--incidence-deg", "--tilt-deg", "--sample-orientation",
                  "--critical-angle-deg")
CORRECTION_FLAGS = ("--mask", "--dark", "--flat", "--no-solid-angle", "--polarization",
                    "--no-polarization", "--normalize-by")


def _options(name):
    p = build_parser().subcommands[name]
    return p, {o: a for a in p._actions for o in a.option_strings}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_takes_setup_and_documents_every_option(name):
    p, opts = _options(name)
    assert "--setup" in opts
    undocumented = [a.option_strings or [a.dest] for a in p._actions
                    if not a.help and a.dest != "help"]
    assert not undocumented, f"gixs {name}: options without help: {undocumented}"


@pytest.mark.parametrize("name", REDUCING)
def test_reducing_subcommands_share_geometry_and_correction_flags(name):
    _, opts = _options(name)
    missing = [f for f in GEOMETRY_FLAGS + CORRECTION_FLAGS if f not in opts]
    assert not missing, f"gixs {name} lacks {missing}"
    assert opts["--sample-orientation"].dest == "sample_orientation"


@pytest.mark.parametrize("name", ("reduce", "spacing", "index", "calibrate", "batch", "watch",
                                  "geometry", "compare", "demo"))
def test_o_is_the_output(name):
    _, opts = _options(name)
    assert opts["-o"].dest == "output" and opts["--output"] is opts["-o"]


@pytest.mark.parametrize("name", ("reduce", "spacing", "compare", "batch", "watch"))
def test_orientation_is_a_deprecated_alias_of_sample_orientation(name):
    p, opts = _options(name)
    assert opts["--orientation"].dest == "sample_orientation"
    argv = {"reduce": ["i.tif", "-o", "o", "--poni", "p"], "spacing": ["i.tif", "--poni", "p"],
            "compare": ["a.json"], "batch": ["a.tif", "-o", "o.h5", "--poni", "p"],
            "watch": ["d", "-o", "o.h5", "--poni", "p"]}[name]
    args = build_parser().parse_args([name, *argv, "--incidence-deg", "0.2",
                                      "--orientation", "4"])
    assert args.sample_orientation == 4
    assert args._deprecated == ["--orientation is deprecated, use --sample-orientation"]


def test_index_texture_and_old_orientation_name(tmp_path):
    args = build_parser().parse_args(["index", "x.xy", "--phase", "LaB6", "--texture",
                                      "1", "0", "0"])
    assert args.texture == [1, 0, 0] and args.sample_orientation == 1
    args = build_parser().parse_args(["index", "x.xy", "--phase", "LaB6", "--orientation",
                                      "1", "1", "1"])
    assert args.texture == [1, 1, 1]
    # the run says the name is deprecated (then fails on the missing file: exit 2)
    with pytest.warns(GixsWarning, match="--orientation is deprecated, use --texture"):
        assert main(["index", str(tmp_path / "none.xy"), "--phase", "LaB6",
                     "--orientation", "1", "1", "1"]) == 2


@pytest.mark.parametrize("name", ("reduce", "spacing", "index", "batch", "watch", "compare"))
def test_one_normalisation_option(name):
    _, opts = _options(name)
    assert opts["--normalize-by"].type is None  # a SPEC string, parsed in one place


@pytest.mark.parametrize("name", COMMANDS)
def test_no_second_normalisation_language(name):
    """A per-part normalisation flag is only ever a deprecated alias of --normalize-by."""
    from gixs.cli.common import NORM_ALIASES, DeprecatedAlias

    _, opts = _options(name)
    for flag in NORM_ALIASES:
        if flag in opts:
            assert isinstance(opts[flag], DeprecatedAlias), f"gixs {name} {flag}"
            assert "--normalize-by" in opts, f"gixs {name} {flag}"


def _spacing_json(path, height):
    from gixs.io.jsonout import write_json

    write_json(path, {"q_star": 0.1, "q_star_err": 1e-4, "d_spacing": 6.0,
                      "d_spacing_err": 0.01, "peak_height": height,
                      "peak_height_err": 0.03 * height, "peak_area": height / 10,
                      "peak_area_err": 0.003 * height, "peak_to_valley": height / 2,
                      "fit": {}}, schema="gixs.spacing")
    return str(path)


def test_compare_normalize_by(tmp_path, capsys):
    """compare divides each film by its SPEC (one for all or one per input); the old
    --monitor/--thickness-nm are the same SPEC parts, with a warning."""
    import csv

    c = _spacing_json(tmp_path / "c.json", 10.0)
    t = _spacing_json(tmp_path / "t.json", 30.0)
    out = tmp_path / "cmp.csv"

    def ratio(*extra):
        assert main(["compare", c, t, "--csv", str(out), *extra]) == 0
        return float(list(csv.DictReader(open(out)))[1]["height_ratio"])

    assert ratio() == pytest.approx(3.0)
    # per input: (30 / (2e4 * 40)) / (10 / (1e4 * 50)) = 1.875
    assert ratio("--normalize-by", "monitor=1e4,thickness_nm=50",
                 "monitor=2e4,thickness_nm=40") == pytest.approx(1.875)
    assert "divided by 5e+05 = monitor 1e+04 counts, thickness 50 nm" in capsys.readouterr().out
    # one SPEC for all inputs cancels in the ratio; a bare number is a factor
    assert ratio("--normalize-by", "monitor=5e3,2") == pytest.approx(3.0)
    with pytest.warns(GixsWarning, match="--monitor is deprecated, use --normalize-by"):
        assert ratio("--monitor", "1e4", "2e4", "--thickness-nm", "50", "40") == \
            pytest.approx(1.875)
    capsys.readouterr()
    assert main(["compare", c, t, "--normalize-by", "exposure"]) == 2
    assert "compare takes values" in capsys.readouterr().err
    assert main(["compare", c, t, "--normalize-by", "monitor=1", "monitor=2",
                 "monitor=3"]) == 2
    assert "--normalize-by gives 3 values for 2 inputs" in capsys.readouterr().err
    assert main(["compare", c, t, "--normalize-by", "monitor=1", "--monitor", "2"]) == 2
    assert "not both" in capsys.readouterr().err


def test_normalization_spec():
    from gixs.cli.common import batch_normalization, normalization_from_spec as spec

    meta = {"exposure_s": 0.5, "monitor": 2e4}
    assert spec(None, meta) == (0.5, "exposure 0.5 s (from file)")
    assert spec("none", meta) == (1.0, "none")
    assert spec("exposure,monitor", meta)[0] == pytest.approx(1e4)
    assert spec("exposure_s=2,thickness_nm=30", meta) == (
        60.0, "exposure 2 s, thickness 30 nm")
    assert spec("3.5", {}) == (3.5, "factor 3.5")
    with pytest.raises(ValueError, match="f.cbf has no monitor"):
        spec("monitor", {}, "f.cbf")
    with pytest.raises(ValueError, match="unknown part 'flux'"):
        spec("flux=3", meta)
    with pytest.raises(ValueError, match="must be > 0"):
        spec("thickness_nm=-1", meta)
    assert batch_normalization(None) is None and batch_normalization("exposure") is None
    assert batch_normalization("exposure_s=2,monitor=10") == 20.0
    with pytest.raises(ValueError, match="per-frame monitor"):
        batch_normalization("exposure,monitor")


def test_spacing_old_normalisation_flags_still_work():
    from gixs.cli.common import normalization_from_args

    args = build_parser().parse_args(["spacing", "f.tif", "--poni", "p", "--incidence-deg",
                                      "0.3", "--thickness-nm", "30"])
    assert args._deprecated == ["--thickness-nm is deprecated, use --normalize-by "
                                "thickness_nm=X"]
    assert normalization_from_args(args, {"exposure_s": 2.0}) == (
        60.0, "exposure 2 s (from file), thickness 30 nm")
    args = build_parser().parse_args(["spacing", "f.tif", "--poni", "p", "--incidence-deg",
                                      "0.3", "--normalize-by", "exposure_s=1,thickness_nm=30"])
    assert normalization_from_args(args, {"exposure_s": 2.0})[0] == 30.0


def test_metric_columns_have_one_name_everywhere():
    """batch table, compare CSV and compare text table name metrics alike."""
    from gixs.cli.compare import _csv_keys
    from gixs.superlattice.comparison import COMPARE_COLUMNS
    from gixs.superlattice.ordering import UNITS
    from gixs.units import metric_column

    csv_names = dict(_csv_keys())
    text_names = {k: h for k, h, _ in COMPARE_COLUMNS}
    for key in ("q_star", "d_spacing", "nn_distance", "fwhm", "coherence_length",
                "paracrystal_g", "peak_height", "peak_area", "peak_to_valley",
                "peak_to_valley_ratio"):
        want = metric_column(key, UNITS[key])
        assert csv_names[key] == want and text_names[key] == want, key
    assert csv_names["d_spacing"] == "d_spacing_nm"
    assert csv_names["peak_to_valley_ratio"] == "peak_to_valley_ratio"
