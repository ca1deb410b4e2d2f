"""Figures drawn in a child process (gixs.plot.process): saved before wait() returns,
a failure named, the output set of gixs reduce all or nothing."""

import types

import numpy as np
import pytest

from gixs.errors import GixsError
from gixs.plot.process import FigureProcess

PNG = b"\x89PNG\r\n\x1a\n"


def test_figures_are_saved_when_wait_returns(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.svg"]
    with FigureProcess() as figures:
        for p in paths:
            figures.draw(str(p), "gixs.plot.common:_figure", (3, 2))
        figures.wait()
        assert figures._proc.returncode == 0
    assert paths[0].read_bytes()[:8] == PNG
    assert b"<svg" in paths[1].read_bytes()[:400]


def test_a_figure_that_fails_is_named_with_its_error(tmp_path):
    path = tmp_path / "bad.png"
    with FigureProcess() as figures:
        figures.draw(str(path), "gixs.plot.common:_figure", "not a size")
        with pytest.raises(GixsError, match=r"could not draw .*bad\.png: \w+Error"):
            figures.wait()
    assert not path.exists()
    with FigureProcess() as figures:
        figures.draw(str(path), "gixs.plot.nowhere:figure")
        with pytest.raises(GixsError, match="ModuleNotFoundError"):
            figures.wait()


def test_closing_without_figures_stops_the_child():
    with pytest.raises(ValueError):
        with FigureProcess() as figures:
            proc = figures._proc
            raise ValueError("the command failed before its figure")
    assert proc.poll() is not None  # no process left behind


def test_reduction_set_is_not_written_when_its_figure_fails(tmp_path):
    from gixs.cli.common import reduction_paths, write_reduction
    from gixs.results import Profile, ReducedFrame

    x = np.array([0.1, 0.2, 0.3])
    prof = {k: Profile(k, a, x, np.array([5.0, 4.0, 3.0]), np.full(3, 0.2), np.full(3, 9))
            for k, a in (("iq", "q"), ("ip", "qxy"), ("oop", "qz"))}
    red = ReducedFrame(prof, {}, {"source": "a.tif"})
    args = types.SimpleNamespace(no_plot=False, xy=None, chi=None)
    paths = reduction_paths(str(tmp_path), "a", [])
    with pytest.raises(GixsError, match="a_qmap.png"):
        write_reduction(paths, "a", red, args, 1.0,
                        ("gixs.plot.common:reduction_figure", (red, "not an image"), {}))
    assert list(tmp_path.iterdir()) == []
    write_reduction(paths, "a", red, args, 1.0,
                    ("gixs.plot.common:reduction_figure", (red,), {"title": "a"}))
    assert (tmp_path / "a_qmap.png").read_bytes()[:8] == PNG
    assert (tmp_path / "a.h5").exists() and (tmp_path / "a_iq.csv").exists()
