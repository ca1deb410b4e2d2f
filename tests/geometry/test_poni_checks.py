"""PONI values checked for physical sense; no silent pixel-size guess."""

import pytest

from gixs.errors import GeometryError
from gixs.geometry.model import load_poni, write_poni

from ..conftest import make_geometry


def _poni(tmp_path, **fields):
    base = {"Detector": "Pilatus1M", "Detector_config": "{}", "Distance": "0.3", "Poni1": "0.02", "Poni2": "0.085",
            "Rot1": "0", "Rot2": "0", "Rot3": "0", "Wavelength": "1e-10"}
    base.update(fields)
    path = tmp_path / "g.poni"
    path.write_text("poni_version: 2\n" + "".join(f"{k}: {v}\n" for k, v in base.items()))
    return path


@pytest.mark.parametrize("field,value,message", [
    ("Wavelength", "-1e-10", r"Wavelength -1e-10 m is outside the plausible range 0.01-20 A"),
    ("Wavelength", "1.0332", r"1.0332 looks like angstrom, write 1.0332e-10 \(m\)"),
    ("Wavelength", "nan", r"Wavelength is nan, expected a finite number of m"),
    ("Distance", "1000", r"Distance 1000 m is outside .* looks like mm, write 1 \(m\)"),
    ("Rot1", "45", r"Rot1 45 rad is outside the plausible range \+-pi rad; 45 looks like "
                   r"degrees, write 0.785398 \(rad\)"),
    ("Poni2", "nan", r"Poni2 is nan"),
])
def test_implausible_poni_refused(tmp_path, field, value, message):
    path = _poni(tmp_path, **{field: value})
    with pytest.raises(GeometryError, match=message) as err:
        load_poni(path)
    assert str(path) in str(err.value)


def test_plausible_poni_loads(tmp_path):
    g = load_poni(_poni(tmp_path, Wavelength="0.7e-10", Distance="5", Rot2="-0.3"))
    assert g.wavelength_a == pytest.approx(0.7) and g.dist_m == 5


def test_generic_detector_pixel_size_not_replaced(tmp_path):
    import pyFAI.detectors
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from gixs.geometry.model import DetectorGeometry

    det = pyFAI.detectors.Detector(100e-6, 100e-6, max_shape=(400, 300))
    ai = AzimuthalIntegrator(dist=0.2, poni1=0.02, poni2=0.015, detector=det,
                             wavelength=1e-10)
    path = tmp_path / "generic.poni"
    write_poni(DetectorGeometry.from_integrator(ai), path)
    geo = load_poni(path)
    assert geo.for_image_shape((400, 300)).shape() == (400, 300)
    # a 200x150 image is not silently taken as 2x2 binning with 200 um pixels
    with pytest.raises(GeometryError, match=r"frame.tif: image shape 200x150 does not match "
                                            r"the PONI's detector \(400x300 pixels of 100x100"):
        geo.for_image_shape((200, 150), source="frame.tif")


def test_named_detector_binning_is_said(tmp_path):
    from gixs.errors import GixsWarning

    g = make_geometry("RayonixSx165", dist=0.175)
    with pytest.warns(GixsWarning, match="taken as 2x2 binning: pixel size 79x79 um"):
        g.for_image_shape((2048, 2048))
