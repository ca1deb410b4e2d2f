"""Header metadata: real Pilatus CBF/TIFF headers and synthetic CBF, TIFF, EDF, NeXus ones."""

import datetime
import glob
import pathlib

import numpy as np
import pytest

from gixs.io.headers import h5_header, parse_header
from tests.conftest import REAL as _REAL

# the repository's ../shared/data/real, or the machine's shared copy for worktrees
REAL = _REAL if _REAL.exists() else pathlib.Path("/work/shared/data/real")
needs_real = pytest.mark.skipif(not REAL.exists(), reason="shared/data/real absent")


def _fabio_header(path):
    import fabio

    return fabio.open(str(path)).header


def _one(pattern):
    found = sorted(glob.glob(str(REAL / pattern)))
    if not found:
        pytest.skip(f"{pattern} absent")
    return found[0]


@needs_real
def test_real_pilatus_cbf():
    path = _one("p03_gisaxs_4nm_insitu/*_00005.cbf")
    m = parse_header(_fabio_header(path), source=path)
    assert m["exposure_s"] == pytest.approx(0.995)
    assert m["count_cutoff"] == 1382835
    assert m["pixel_size_m"] == pytest.approx((172e-6, 172e-6))
    assert m["detector"] == "pilatus2m"
    # "# 2024-10-26T01:38:05.208" (no zone: UTC)
    truth = datetime.datetime(2024, 10, 26, 1, 38, 5, 208000, tzinfo=datetime.timezone.utc)
    assert m["time_s"] == pytest.approx(truth.timestamp())
    assert m["fields"]["exposure_s"] == "Exposure_time"


@needs_real
def test_real_cbf_series_time_axis():
    a = _one("p03_gisaxs_4nm_insitu/*_00005.cbf")
    b = _one("p03_gisaxs_4nm_insitu/*_00033.cbf")
    ta = parse_header(_fabio_header(a), source=a)["time_s"]
    tb = parse_header(_fabio_header(b), source=b)["time_s"]
    # frames 5 and 33 of a 1.0 s exposure-period series: 28 periods apart
    assert tb - ta == pytest.approx(28.0, abs=0.5)


@needs_real
def test_real_pilatus_tiff_geometry():
    path = _one("dioptas_ceo2_pilatus1m/CeO2_Pilatus1M.tif")
    m = parse_header(_fabio_header(path), source=path)
    assert m["exposure_s"] == 3.0
    assert m["count_cutoff"] == 1097223
    assert m["distance_m"] == pytest.approx(0.21143)
    assert m["beam_center_px"] == pytest.approx((498.18, 515.77))


@needs_real
def test_real_cms_tiff_drops_camserver_defaults():
    path = _one("pywaxs_cms_giwaxs_perovskite/LaB6_*.tiff")
    m = parse_header(_fabio_header(path), source=path)
    assert m["exposure_s"] == 5.0
    assert m["count_cutoff"] == 1072093
    # header says Wavelength 1.54 A, 1 m, Beam_xy (0, 0): defaults of a 12.7 keV frame
    for key in ("wavelength_a", "distance_m", "beam_center_px"):
        assert key not in m
    assert set(m["ignored"]) == {"Wavelength", "Detector_distance", "Beam_xy"}


@needs_real
def test_real_smi_tiff_keeps_set_wavelength():
    path = _one("smi_giwaxs_tortorici_TT1/300KW_*ai0.11deg*.tif")
    m = parse_header(_fabio_header(path), source=path)
    assert m["wavelength_a"] == pytest.approx(12.398419843 / 14.0, rel=1e-3)  # 14 keV
    assert m["exposure_s"] == 1.0
    assert "distance_m" not in m


@needs_real
def test_real_frame_metadata_filled():
    from gixs.io.frames import read_frame

    path = _one("p03_gisaxs_4nm_insitu/*_00005.cbf")
    assert read_frame(path).metadata["exposure_s"] == pytest.approx(0.995)


def test_synthetic_cbf_old_date_and_beam():
    text = ("# Detector: PILATUS3 1M, S/N 10-0100\r\n# 2011/Jan/21 10:32:22.345\r\n"
            "# Pixel_size 172e-6 m x 172e-6 m\r\n# Exposure_time 0.25 s\r\n"
            "# Count_cutoff 1048575 counts\r\n# Wavelength 1.0332 A\r\n"
            "# Detector_distance 0.3 m\r\n# Beam_xy (100.5, 900.25) pixels\r\n")
    m = parse_header({"_array_data.header_contents": text}, source="a.cbf")
    assert m["exposure_s"] == 0.25
    assert m["wavelength_a"] == 1.0332
    assert m["distance_m"] == 0.3
    assert m["beam_center_px"] == (100.5, 900.25)  # x = column first
    assert m["detector"] == "pilatus1m"
    t = datetime.datetime(2011, 1, 21, 10, 32, 22, 345000, tzinfo=datetime.timezone.utc)
    assert m["time_s"] == pytest.approx(t.timestamp())


def test_synthetic_edf_esrf_keys():
    h = {"HeaderID": "EH:000001:000000:000000", "Dim_1": "1000", "Dim_2": "500",
         "ExposureTime": "0.1 s", "SampleDistance": "2.5", "WaveLength": "1e-10",
         "Center_1": "512.5", "Center_2": "20.0", "PSize_1": "7.5e-05", "PSize_2": "5e-05",
         "counter_mne": "sec mon det", "counter_pos": "0.1 12345 99",
         "Date": "2020-03-01 12:00:00"}
    m = parse_header(h, source="x.edf")
    assert m["exposure_s"] == 0.1
    assert m["distance_m"] == 2.5
    assert m["wavelength_a"] == pytest.approx(1.0)
    assert m["beam_center_px"] == (512.5, 20.0)
    assert m["pixel_size_m"] == (5e-05, 7.5e-05)
    assert m["monitor"] == 12345
    assert m["time_s"] == pytest.approx(datetime.datetime(
        2020, 3, 1, 12, tzinfo=datetime.timezone.utc).timestamp())


def test_synthetic_nexus_eiger(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "master.h5"
    with h5py.File(path, "w") as f:
        det = f.create_group("entry/instrument/detector")
        for name, value, unit in (("count_time", 2.0, "ms"), ("detector_distance", 175.0, "mm"),
                                  ("beam_center_x", 1020.5, "pixel"),
                                  ("beam_center_y", 30.25, "pixel"),
                                  ("x_pixel_size", 75e-6, "m"), ("y_pixel_size", 75e-6, "m")):
            d = det.create_dataset(name, data=value)
            d.attrs["units"] = unit
        det.create_dataset("description", data=b"Dectris EIGER2 Si 4M")
        b = f.create_dataset("entry/instrument/beam/incident_wavelength", data=np.float32(0.9))
        b.attrs["units"] = "angstrom"
        f.create_dataset("entry/instrument/detector/detectorSpecific/data_collection_date",
                         data=b"2023-05-02T08:00:00.000+02:00")
        m = parse_header(h5_header(f), source=str(path))
    assert m["exposure_s"] == pytest.approx(2e-3)
    assert m["distance_m"] == pytest.approx(0.175)
    assert m["beam_center_px"] == (1020.5, 30.25)
    assert m["pixel_size_m"] == pytest.approx((75e-6, 75e-6))
    assert m["wavelength_a"] == pytest.approx(0.9, rel=1e-6)
    assert m["detector"] == "eiger2_4m"
    assert m["time_s"] == pytest.approx(datetime.datetime(
        2023, 5, 2, 6, tzinfo=datetime.timezone.utc).timestamp())


def test_empty_and_unparseable_give_only_bookkeeping():
    m = parse_header({"Exposure_time": "n/a"}, source="a.tif")
    assert "exposure_s" not in m and m["fields"] == {}


@needs_real
def test_real_cbf_batch_row_columns():
    from gixs.batch.chunk import _frame_metadata
    from gixs.io.frames import read_frame

    rows = [_frame_metadata(read_frame(_one(f"p03_gisaxs_4nm_insitu/*_{n}.cbf")).metadata)
            for n in ("00005", "00033")]
    assert [r["exposure_s"] for r in rows] == [pytest.approx(0.995)] * 2
    assert rows[1]["time_s"] - rows[0]["time_s"] == pytest.approx(28.0, abs=0.5)
    assert _frame_metadata({})["exposure_s"] is None  # column present, value unknown


@needs_real
def test_real_pilatus_tiff_datetime():
    """Pilatus camserver TIFFs carry DateTime (tag 306); fabio's header leaves it out."""
    path = _one("dioptas_ceo2_pilatus1m/CeO2_Pilatus1M.tif")
    m = parse_header(_fabio_header(path), source=path)
    assert m["time_s"] == datetime.datetime(2014, 10, 24, 16, 33, 9,
                                            tzinfo=datetime.timezone.utc).timestamp()
    assert m["timestamp"] == "2014:10:24 16:33:09"
    assert "306" in m["fields"]["time_s"]


@needs_real
def test_real_smi_tiff_series_time_axis_in_batch_rows():
    """SMI WAXS arc: the frames were taken from the highest detector angle down, ~44 min
    apart (DateTime tags 15:25:14, 16:08:55, 16:52:44, 17:36:48, 18:22:41)."""
    from gixs.batch.chunk import _frame_metadata
    from gixs.io.frames import read_frame

    names = ("300kw_wa26.0.tif", "300kw_wa19.5.tif", "300kw_wa13.0.tif", "300kw_wa6.5.tif",
             "300kw_wa0.0.tif")
    rows = [_frame_metadata(read_frame(_one(f"smi_waxs_tutorial/{n}")).metadata)
            for n in names]
    t = [r["time_s"] for r in rows]
    assert np.diff(t).tolist() == [2621.0, 2629.0, 2644.0, 2753.0]
    assert all(r["exposure_s"] == 1.0 for r in rows)


@needs_real
def test_real_cms_tiff_epics_time_stamp():
    """CMS (areaDetector) TIFFs: no DateTime; the EPICS time stamp of the array (tags
    65002/65003) ends the exposure started at NDTimeStamp (tag 65000)."""
    from gixs.io.headers import EPICS_EPOCH_S, tiff_tags

    path = _one("pywaxs_cms_giwaxs_perovskite/AgBH_*.tiff")
    m = parse_header(_fabio_header(path), source=path)
    tags = tiff_tags(path)
    assert m["time_s"] == pytest.approx(EPICS_EPOCH_S + tags[65002] + tags[65003] * 1e-9)
    # start stamp + exposure (10 s) = end stamp, to within a second of readout
    assert m["time_s"] - (EPICS_EPOCH_S + tags[65000]) == pytest.approx(m["exposure_s"],
                                                                         abs=1.0)
    assert datetime.datetime.fromtimestamp(m["time_s"], datetime.timezone.utc).year == 2023


def _tiff_with_tags(path, ascii_tags, order="<"):
    """A 2x2 uint8 TIFF with the given ASCII tags, written byte by byte (TIFF 6.0)."""
    import struct

    entries = [(256, 3, 1, 2), (257, 3, 1, 2), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, None), (277, 3, 1, 1), (278, 3, 1, 2),
               (279, 4, 1, 4)] + [(t, 2, len(v) + 1, v) for t, v in ascii_tags.items()]
    entries.sort()
    ifd = 8
    extra = ifd + 2 + 12 * len(entries) + 4
    blobs, body = [], []
    for tag, typ, count, val in entries:
        if typ == 2:
            data = val.encode() + b"\0"
            body.append(struct.pack(order + "HHII", tag, typ, count, extra))
            blobs.append(data)
            extra += len(data)
        else:
            body.append(struct.pack(order + "HHI", tag, typ, count) + (
                struct.pack(order + "HH", val, 0) if typ == 3 else b"OFFS"))
    pixels_at = extra
    body = [b.replace(b"OFFS", struct.pack(order + "I", pixels_at)) for b in body]
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd)
    path.write_bytes(head + struct.pack(order + "H", len(entries)) + b"".join(body) +
                     b"\0\0\0\0" + b"".join(blobs) + bytes([1, 2, 3, 4]))


@pytest.mark.parametrize("order", ["<", ">"])
def test_synthetic_tiff_datetime_tag(tmp_path, order):
    import fabio

    path = tmp_path / "y.tif"
    _tiff_with_tags(path, {306: "2020:01:02 03:04:05", 270: "# Exposure_time 0.5 s"}, order)
    assert fabio.open(str(path)).data.tolist() == [[1, 2], [3, 4]]  # a valid TIFF
    m = parse_header(_fabio_header(path), source=str(path))
    assert m["time_s"] == datetime.datetime(2020, 1, 2, 3, 4, 5,
                                            tzinfo=datetime.timezone.utc).timestamp()
    _tiff_with_tags(path, {}, order)
    assert "time_s" not in parse_header({}, source=str(path))
