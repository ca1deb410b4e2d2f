"""Flats, darks, masks and normalisation checked for physical sense (gixs.io.validate)."""

import math
import warnings

import fabio
import numpy as np
import pytest

from gixs.errors import FormatError, GixsWarning
from gixs.geometry.model import GIGeometry
from gixs.io.frames import Frame, read_array
from gixs.io.validate import check_corrections, check_normalization, normalization_for
from gixs.reduce.frame import ReduceSettings, reduce_frame

from ..conftest import make_geometry

SHAPE = (64, 48)


def _geometry():
    return make_geometry("Pilatus100k", dist=0.5, poni1=0.001, poni2=0.004,
                         wavelength_a=1.2).for_image_shape((195, 487))


def _frame(value=100.0, shape=(195, 487)):
    data = np.full(shape, value, np.float32)
    return Frame(data=data, invalid=np.zeros(shape, bool), source="uniform")


def _reduce(frame, **kw):
    gi = GIGeometry.from_degrees(0.2)
    s = ReduceSettings(solid_angle=False, polarization_factor=None, maps=False, npt_q=50)
    return reduce_frame(frame, _geometry(), gi, s, **kw).profiles["iq"].valid()


def test_flat_zero_and_nan_pixels_are_masked_not_counted():
    frame = _frame(100.0)
    flat = np.ones(frame.data.shape, np.float32)
    flat[::7, ::5] = 0.0
    flat[3::11, 2::9] = np.nan
    with pytest.warns(GixsWarning, match="flat-field pixel"):
        iq = _reduce(frame, flat=flat)
    # a uniform 100 frame stays 100 (it came out as up to 200 when the 0-flat pixels
    # stayed in the signal but not in the normalisation)
    assert np.allclose(iq.intensity, 100.0, rtol=1e-5)


def test_flat_without_positive_pixel_refused():
    with pytest.raises(FormatError, match="flat.edf: flat field has no positive finite"):
        check_corrections(flat=np.zeros(SHAPE), names={"flat": "flat.edf"})


def test_dark_all_nan_refused_and_nan_pixels_masked():
    with pytest.raises(FormatError, match="d.edf: dark has no finite pixel"):
        check_corrections(dark=np.full(SHAPE, np.nan), names={"dark": "d.edf"})
    dark = np.full(SHAPE, 10.0, np.float32)
    dark[0, :5] = np.nan
    with pytest.warns(GixsWarning, match="5 NaN/inf dark pixel"):
        mask, dark2, _ = check_corrections(dark=dark)
    assert mask.sum() == 5 and np.isfinite(dark2).all()
    with warnings.catch_warnings():  # checked twice (CLI, then library): no second warning
        warnings.simplefilter("error")
        check_corrections(mask, dark2)


def test_negative_dark_values_kept(tmp_path):
    dark = np.full(SHAPE, -3.0, np.float32)
    path = tmp_path / "d.edf"
    fabio.edfimage.EdfImage(data=dark).write(str(path))
    assert (read_array(path, SHAPE, "dark") == -3.0).all()  # was zeroed as "invalid"
    frame = _frame(100.0)
    iq = _reduce(frame, dark=np.full(frame.data.shape, -3.0, np.float32))
    assert np.allclose(iq.intensity, 103.0, rtol=1e-5)


def test_mask_with_nan_refused_and_shape_named():
    with pytest.raises(FormatError, match="m.tif: mask has NaN"):
        check_corrections(mask=np.full(SHAPE, np.nan), names={"mask": "m.tif"})
    with pytest.raises(FormatError, match="d.edf: dark has shape 64x48, expected 10x10"):
        check_corrections(dark=np.zeros(SHAPE), shape=(10, 10), names={"dark": "d.edf"})


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "x", True])
def test_normalization_must_be_positive_finite(value):
    with pytest.raises(ValueError, match="--normalize-by must be a positive finite number"):
        check_normalization(value)
    with pytest.raises(ValueError, match="--normalize-by must be a positive finite number"):
        normalization_for({"exposure_s": 2.0}, value)


def test_one_normalisation_rule():
    assert normalization_for({"exposure_s": 0.5}) == 0.5
    assert normalization_for({"exposure_s": 0.0}) == 1.0
    assert normalization_for({"exposure_s": float("nan")}) == 1.0
    assert normalization_for({}, 3) == 3.0
    frame = _frame(100.0)
    with pytest.raises(ValueError, match="normalization must be a positive finite number"):
        _reduce(frame, normalization=0.0)
