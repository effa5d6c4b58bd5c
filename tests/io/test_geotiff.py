"""GeoTIFF series through rasterio, and read_raster."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from badpix import open_stack
from badpix.errors import FrameMismatchError
from badpix.io import open_reader
from badpix.io.base import GeoRef
from badpix.io.geotiff import GeoTiffReader, read_raster
from badpix.io.tiff import TiffReader

UTM = CRS.from_epsg(32633)
GT = (500000.0, 10.0, 0.0, 4_000_000.0, 0.0, -10.0)


def _write(path, data, crs=UTM, gt=GT, nodata=None):
    """A GeoTIFF written with rasterio directly (independent of badpix's writer)."""
    data = data if data.ndim == 3 else data[np.newaxis]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype.name, crs=crs,
                       transform=Affine.from_gdal(*gt), nodata=nodata) as ds:
        ds.write(data)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_series_georef_and_geotiff_wins_over_tiff(tmp_path, rng):
    data = rng.integers(0, 4000, (4, 2, 6, 5), dtype=np.uint16)
    for i, d in enumerate(data):
        _write(tmp_path / f"scene_{i + 1}.tif", d)
    r = open_reader(tmp_path)
    assert isinstance(r, GeoTiffReader)
    assert (r.n_frames, r.frame_shape, r.dtype) == (4, (6, 5, 2), np.uint16)
    assert CRS.from_wkt(r.georef.crs_wkt) == UTM and r.georef.transform == GT
    assert np.array_equal(r.read_all(), np.moveaxis(data, 1, -1))
    assert r.attrs["nodata"] is None


def test_single_band_and_float_nodata(tmp_path, rng):
    a = rng.random((5, 4)).astype(np.float32)
    a[1, 2] = -9999.0
    _write(tmp_path / "f.tif", a, nodata=-9999.0)
    r = open_reader(tmp_path / "f.tif")
    out = r.read_all()[0, :, :, 0]
    assert r.attrs["nodata"] == -9999.0 and np.isnan(out[1, 2])
    assert np.array_equal(np.nan_to_num(out, nan=-9999.0), a)
    # integer rasters keep the nodata value (no NaN in integers)
    b = np.full((5, 4), 3, np.int16)
    b[0, 0] = -1
    _write(tmp_path / "i.tif", b, nodata=-1)
    assert open_reader(tmp_path / "i.tif").read_all()[0, 0, 0, 0] == -1


def test_transform_or_crs_mismatch(tmp_path):
    z = np.zeros((3, 3), np.uint8)
    _write(tmp_path / "a1.tif", z)
    _write(tmp_path / "a2.tif", z, gt=(500010.0, 10.0, 0.0, 4_000_000.0, 0.0, -10.0))
    _write(tmp_path / "a3.tif", z, crs=CRS.from_epsg(4326))
    with pytest.raises(FrameMismatchError, match="a2.tif: georeferencing differs"):
        open_reader(tmp_path)
    r = open_reader(tmp_path, skip_bad=True)
    assert [p.name for p in r.paths] == ["a1.tif"]
    assert [s.label for s in r.skipped] == ["a2.tif", "a3.tif"]
    assert "EPSG:4326" in r.skipped[1].reason


def test_shape_mismatch_names_both_shapes(tmp_path):
    _write(tmp_path / "b1.tif", np.zeros((3, 3), np.uint8))
    _write(tmp_path / "b2.tif", np.zeros((3, 4), np.uint8))
    with pytest.raises(FrameMismatchError, match=r"b2.tif: shape \(3, 4, 1\).*\(3, 3, 1\)"):
        open_reader(tmp_path)


def test_plain_tiff_goes_to_tiff_reader(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((3, 3), np.uint8))
    assert isinstance(open_reader(tmp_path / "plain.tif"), TiffReader)


def test_read_raster_profile(tmp_path, rng):
    a = rng.random((3, 5, 4))
    _write(tmp_path / "m.tif", a, nodata=-1.0)
    data, prof = read_raster(tmp_path / "m.tif")
    assert data.shape == (3, 5, 4) and np.allclose(data, a)
    assert CRS.from_wkt(prof["crs"]) == UTM and prof["transform"] == GT
    assert prof["nodata"] == -1.0 and prof["georef"] == GeoRef(prof["crs"], GT)


def test_read_raster_plain_grid_without_warning(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.arange(6, dtype=np.uint8).reshape(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data, prof = read_raster(tmp_path / "plain.tif")
    assert data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert prof["crs"] is None and prof["georef"] is None


def test_open_stack_geotiff_blocks(tmp_path, rng):
    data = rng.integers(0, 255, (5, 4, 3), dtype=np.uint8)
    for i, d in enumerate(data):
        _write(tmp_path / f"g{i}.tif", d)
    stack = open_stack(tmp_path)
    assert stack.georef is not None and stack.georef.transform == GT
    got = np.concatenate([b[..., 0].copy() for _, b in stack.iter_blocks(2)])
    assert np.array_equal(got, data)
