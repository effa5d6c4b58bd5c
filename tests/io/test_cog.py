"""Every GeoTIFF badpix writes is a valid COG with the right dtype, tags and georeferencing."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

from badpix.cli import main
from badpix.engine import run_scan
from badpix.io.base import GeoRef
from badpix.io.scandir import write_scan_dir
from badpix.io.writers import write_geotiff
from tests.io.cog_check import assert_cog
from tests.test_scan import sensor_frames

UTM = (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0)


@pytest.mark.parametrize("shape,dtype,overviews", [((40, 50), np.uint8, False),
                                                    ((600, 300), np.uint8, True),
                                                    ((3, 520, 700), np.float32, True),
                                                    ((300, 260), np.int16, True)])
@pytest.mark.parametrize("georef", [None, GeoRef(CRS.from_epsg(32633).to_wkt(), UTM)])
def test_write_geotiff_is_a_cog(tmp_path, shape, dtype, overviews, georef):
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * 100).astype(dtype)
    p = write_geotiff(tmp_path / "a.tif", data, georef=georef, tags={"k": "v"})
    assert_cog(p, overviews=overviews)
    with rasterio.open(p) as ds:
        np.testing.assert_array_equal(ds.read().reshape(data.shape), data)
        assert ds.dtypes[0] == np.dtype(dtype).name
        assert ds.tags()["k"] == "v"
        if georef is None:  # the plain grid survives the COG copy: identity, no CRS
            assert ds.crs is None and ds.transform == Affine.identity()
        else:
            assert ds.crs.to_epsg() == 32633 and ds.transform == Affine.from_gdal(*UTM)


def _corners_lonlat(ds):
    xs = [ds.bounds.left, ds.bounds.right, ds.bounds.left, ds.bounds.right]
    ys = [ds.bounds.top, ds.bounds.top, ds.bounds.bottom, ds.bounds.bottom]
    return warp_transform(ds.crs, "EPSG:4326", xs, ys)


def test_scan_folder_geotiffs(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=6, width=300)
    result = run_scan(src, layout="l2-l1-m0")
    geo = GeoRef(CRS.from_epsg(32633).to_wkt(), UTM)
    files = write_scan_dir(result, tmp_path / "out", georef=geo, legacy_float_mask=True)
    tifs = [f for f in files if f.suffix == ".tif"]
    assert len(tifs) == 9  # mask, stats and legacy mask of three bands
    for f in tifs:
        assert_cog(f)
        with rasterio.open(f) as ds:
            tags = ds.tags()
            assert ds.crs.to_epsg() == 32633, f.name  # the legacy mask too: --crs wins
            lon, lat = _corners_lonlat(ds)
            assert all(np.isfinite(lon)) and all(-180 <= v <= 180 for v in lon)
            assert all(-90 <= v <= 90 for v in lat)
            if f.name.startswith("stats_"):
                assert ds.dtypes == ("float32",) * 5
                assert "badpix_flag_bits" not in tags and tags["badpix_stats_dtype"] == "float32"
            else:
                assert "badpix_flag_bits" in tags
            assert tags["badpix_band"] in f.name
    with rasterio.open(tmp_path / "out" / "stats_L2.tif") as ds:
        assert ds.overviews(1)  # 630 x 300 > one tile
        mean = ds.read(1)
    np.testing.assert_array_equal(mean, result.bands["L2"].stats.mean.astype(np.float32))


def test_stats_float64_on_request(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=5)
    out = tmp_path / "out"
    assert main(["scan", str(src), "-o", str(out), "--stats-dtype", "float64", "-q"]) == 0
    with rasterio.open(out / "stats_ch0.tif") as ds:
        assert ds.dtypes[0] == "float64"
    assert_cog(out / "stats_ch0.tif")
    assert main(["scan", str(src), "-o", str(out), "--stats-dtype", "float16", "-q"]) == 2


def test_legacy_mask_is_epsg4326_only_without_a_crs(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=5)
    result = run_scan(src)
    write_scan_dir(result, tmp_path / "plain", legacy_float_mask=True)
    with rasterio.open(tmp_path / "plain" / "drifting_pixel_mask_ch0.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "float32"
    # a projected transform without a CRS: no CRS rather than EPSG:4326 off the globe
    write_scan_dir(result, tmp_path / "utm", legacy_float_mask=True, georef=GeoRef(None, UTM))
    with rasterio.open(tmp_path / "utm" / "drifting_pixel_mask_ch0.tif") as ds:
        assert ds.crs is None and ds.transform == Affine.from_gdal(*UTM)
    summary = json.loads((tmp_path / "utm" / "summary.json").read_text())
    assert "drifting_pixel_mask_ch0.tif" in summary["outputs"]


def _dem(path, data, nodata):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype=data.dtype, crs="EPSG:32633", nodata=nodata,
                       transform=Affine.from_gdal(*UTM)) as ds:
        ds.write(data, 1)


@pytest.mark.parametrize("dtype,nodata", [(np.float32, -9999.0), (np.float32, None),
                                          (np.float64, -9999.0), (np.int16, -32768)])
def test_localvar_dtype_nodata_provenance(tmp_path, dtype, nodata):
    rng = np.random.default_rng(2)
    dem = (1000 + rng.normal(0, 5, (300, 280))).astype(dtype)
    holes = np.zeros(dem.shape, bool)
    holes[rng.integers(0, 300, 612), rng.integers(0, 280, 612)] = True
    holes[100:110, 100:110] = True  # a gap wider than the window
    dem[holes] = nodata if nodata is not None else np.nan
    if nodata is None and np.dtype(dtype).kind != "f":
        pytest.skip("integers need a nodata value")
    _dem(tmp_path / "dem.tif", dem, nodata)
    assert main(["localvar", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "v.tif"), "-q"]) == 0
    assert_cog(tmp_path / "v.tif", overviews=True)
    with rasterio.open(tmp_path / "v.tif") as ds:
        got = ds.read(1)
        assert ds.dtypes[0] == ("float64" if dtype == np.float64 else "float32")
        assert ds.tags()["badpix_command"].startswith("localvar size=3")
        assert ds.tags()["badpix_source"].endswith("dem.tif") and ds.tags()["badpix_version"]
        keep = np.isnan(ds.nodata) if ds.nodata is not None else True
        gaps_out = np.isnan(got) if keep else got == ds.nodata
    np.testing.assert_array_equal(gaps_out, holes)  # every nodata cell, and only those


def test_fill_writes_cog_with_provenance(tmp_path):
    rng = np.random.default_rng(3)
    dem = (1000 + rng.normal(0, 5, (300, 280))).astype(np.float32)
    dem[50:53, 60:64] = -9999.0
    _dem(tmp_path / "dem.tif", dem, -9999.0)
    assert main(["fill", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "f.tif"), "-q"]) == 0
    assert_cog(tmp_path / "f.tif", overviews=True)
    with rasterio.open(tmp_path / "f.tif") as ds:
        assert ds.dtypes[0] == "float32" and ds.nodata == -9999.0 and ds.crs.to_epsg() == 32633
        assert ds.tags()["badpix_command"] == "fill max_size=None"
        filled = ds.read(1)
    assert (filled != -9999.0).all()
    np.testing.assert_array_equal(filled[0:40], dem[0:40])


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdalinfo (gdal-bin) not installed")
def test_gdalinfo_shows_valid_corners_of_the_legacy_mask(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=5)
    geo = GeoRef(CRS.from_epsg(32633).to_wkt(), UTM)
    write_scan_dir(run_scan(src, layout="l2-l1-m0"), tmp_path / "out", georef=geo,
                   legacy_float_mask=True)
    run = subprocess.run(["gdalinfo", str(tmp_path / "out" / "drifting_pixel_mask_L1.tif")],
                         capture_output=True, text=True, check=True)
    assert "Invalid angle" not in run.stdout + run.stderr
    corners = [ln for ln in run.stdout.splitlines() if ln.startswith(("Upper Left", "Lower Right"))]
    assert len(corners) == 2 and all("15d" in ln and "54d" in ln for ln in corners), corners
    assert "LAYOUT=COG" in run.stdout
