"""write_scan_dir's GDAL options (temporary file, compression threads) change how fast the
GeoTIFFs are made, not one byte of them."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from badpix.io.base import GeoRef
from badpix.io.scandir import (
    SCAN_GDAL_OPTIONS,
    _gdal_for_scan_files,
    _scan_gdal_options,
    write_scan_dir,
)
from badpix.io.writers import write_geotiff
from tests.io.cog_check import assert_cog


def _same_bytes(a, b) -> bool:
    return a.read_bytes() == b.read_bytes()


UTM = GeoRef(CRS.from_epsg(32633).to_wkt(), (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0))


@pytest.mark.parametrize("shape,dtype", [((5, 100, 1024), np.float32),  # a band's statistics
                                         ((5, 300, 600), np.float64),
                                         ((2, 1100, 1300), np.float32),  # 5 x 6 tiles a band
                                         ((100, 1024), np.uint8),  # its mask
                                         ((40, 50), np.uint8),  # no overviews at all
                                         pytest.param((1100, 1300), np.uint8, marks=pytest.mark.xfail(
                                             strict=True, reason="COG_TMP_COMPRESSION=NONE: the "
                                             "137 x 162 overview of this mask differs (nearest)"))])
@pytest.mark.parametrize("georef", [None, UTM])
def test_scan_options_leave_the_geotiff_bytes_unchanged(tmp_path, shape, dtype, georef):
    rng = np.random.default_rng(3)
    data = (rng.normal(1000, 3, shape)).astype(dtype)
    tags = {"badpix_band": "L2"}
    plain = write_geotiff(tmp_path / "plain.tif", data, georef=georef, tags=tags)
    with _gdal_for_scan_files():
        fast = write_geotiff(tmp_path / "fast.tif", data, georef=georef, tags=tags)
    # a bool, not the bytes: pytest's diff of two 1.4 MB bytes objects runs for minutes
    assert _same_bytes(fast, plain)
    assert_cog(fast, overviews=max(shape[-2:]) > 256)


def test_compression_threads_leave_the_bytes_unchanged(tmp_path):
    # GDAL_NUM_THREADS alone (COG_TMP_COMPRESSION has its own test above); ALL_CPUS is
    # one thread on a one-core machine: force the worker threads here
    rng = np.random.default_rng(4)
    data = rng.normal(1000, 3, (3, 1100, 1300)).astype(np.float32)
    mask = (rng.random((1100, 1300)) < 0.01).astype(np.uint8)
    for name, arr in (("stats", data), ("mask", mask)):
        plain = write_geotiff(tmp_path / f"{name}_plain.tif", arr, georef=UTM)
        with rasterio.Env(GDAL_NUM_THREADS="4"):
            threaded = write_geotiff(tmp_path / f"{name}_threads.tif", arr, georef=UTM)
        assert _same_bytes(threaded, plain)
        assert_cog(threaded)


def test_the_options_are_scoped_to_the_scan_write(monkeypatch):
    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    assert _scan_gdal_options() == SCAN_GDAL_OPTIONS
    with _gdal_for_scan_files():
        with rasterio.Env():  # as inside write_geotiff: a nested Env keeps the options
            assert rasterio.env.getenv()["COG_TMP_COMPRESSION"] == "NONE"
            assert rasterio.env.getenv()["GDAL_NUM_THREADS"] == "ALL_CPUS"
        assert rasterio.env.getenv().items() >= SCAN_GDAL_OPTIONS.items()
    assert not rasterio.env.hasenv() or not (
        {"COG_TMP_COMPRESSION", "GDAL_NUM_THREADS"} & set(rasterio.env.getenv()))


def test_a_users_gdal_num_threads_is_kept(monkeypatch):
    monkeypatch.setenv("GDAL_NUM_THREADS", "1")
    assert "GDAL_NUM_THREADS" not in _scan_gdal_options()
    with _gdal_for_scan_files():
        assert "GDAL_NUM_THREADS" not in rasterio.env.getenv()
        assert rasterio.env.getenv()["COG_TMP_COMPRESSION"] == "NONE"


def test_scan_folder_files_are_cogs(tmp_path):
    from badpix.engine import run_scan
    from tests.test_scan import sensor_frames

    result = run_scan(sensor_frames(tmp_path / "frames", n=6, width=300), layout="l2-l1-m0")
    files = write_scan_dir(result, tmp_path / "out")
    for f in files:
        if f.suffix == ".tif":
            assert_cog(f)
    assert not list((tmp_path / "out").glob("*.tmp*"))  # GDAL's temporary overview file
