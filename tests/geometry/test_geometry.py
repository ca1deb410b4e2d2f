import math

import numpy as np
import pyFAI
import pytest

from gixs.errors import GeometryError
from gixs.geometry.model import DetectorGeometry, GIGeometry, load_poni, write_poni

from ..conftest import REAL, make_geometry, needs_real


def test_poni_round_trip_loads_in_pyfai(tmp_path, pilatus_geometry):
    path = tmp_path / "g.poni"
    write_poni(pilatus_geometry, path, comment="test geometry")
    ai = pyFAI.load(str(path))
    assert ai.dist == pytest.approx(0.3)
    assert ai.rot2 == pytest.approx(-0.02)
    assert ai.wavelength == pytest.approx(1e-10)
    assert ai.detector.shape == (1043, 981)
    assert load_poni(path) == pilatus_geometry


def test_binning_inferred_from_image_shape():
    g = make_geometry("RayonixSx165", dist=0.175)
    assert g.shape() == (4096, 4096)
    g2 = g.for_image_shape((2048, 2048))
    assert g2.shape() == (2048, 2048)
    assert json_pixel(g2) == pytest.approx(79e-6)


def json_pixel(g):
    import json
    return json.loads(g.detector_config)["pixel1"]


def test_wrong_shape_names_source(pilatus_geometry):
    with pytest.raises(GeometryError, match=r"frame.tif: image shape 1000x1000 does not fit"):
        pilatus_geometry.for_image_shape((1000, 1000), source="frame.tif")


def test_poni_missing_field(tmp_path):
    p = tmp_path / "bad.poni"
    p.write_text("Detector: Pilatus1M\nDistance: 0.2\nPoni1: 0.1\nPoni2: 0.1\n"
                 "Rot1: 0\nRot2: 0\nRot3: 0\n")
    with pytest.raises(GeometryError, match=r"bad.poni: PONI file lacks field\(s\) wavelength"):
        load_poni(p)
    with pytest.raises(GeometryError, match="not found"):
        load_poni(tmp_path / "none.poni")


def test_incidence_range_checked():
    with pytest.raises(ValueError, match="incidence_deg must lie within 0-10 deg"):
        GIGeometry.from_degrees(12.0)
    with pytest.raises(ValueError, match="orientation must be an EXIF code"):
        GIGeometry.from_degrees(0.2, orientation=9)
    gi = GIGeometry.from_degrees(0.25, 1.0, 4, 0.1)
    assert gi.incidence == pytest.approx(math.radians(0.25))
    assert gi.as_dict()["tilt_deg"] == pytest.approx(1.0)


@needs_real
def test_real_poni_files_load():
    g = load_poni(REAL / "dioptas_ceo2_pilatus1m" / "CeO2_Pilatus1M.poni")
    assert g.wavelength_a == pytest.approx(0.4066)
    assert g.for_image_shape((1043, 981)).shape() == (1043, 981)
    for p in (REAL / "pywaxs_cms_giwaxs_perovskite").glob("*.poni"):
        geo = load_poni(p)
        assert geo.energy_kev == pytest.approx(12.7, abs=0.01)
        assert isinstance(geo, DetectorGeometry)
        assert np.isfinite(geo.fit2d()["centerX"])
