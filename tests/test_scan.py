"""End-to-end scans through the Python API: outputs, xarray, georeferencing, NaN."""

import json

import numpy as np
import pytest
import rasterio

import badpix
from badpix.engine import band_dataset, run_scan
from badpix.io.base import GeoRef
from badpix.io.scandir import LEGACY_MASK_VALUE, load_scan, write_scan_dir


def sensor_frames(folder, n=12, width=48, seed=0):
    """768 x width x 3 uint16 frames with a stuck pixel in L2 and an offset pixel in L1."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        f = rng.normal(1000, 10, (768, width, 3)).astype(np.uint16)
        f[5, 7, 0] = 400            # stuck in L2 (rows 0-99, channel 0)
        f[360, 11, 1] += 900        # offset in L1 (rows 349-418, channel 1)
        np.save(folder / f"frame_{i}.npy", f)
    return folder


def test_scan_writes_contract_outputs(tmp_path):
    src = sensor_frames(tmp_path / "frames")
    result = run_scan(src, layout="l2-l1-m0")
    files = write_scan_dir(result, tmp_path / "out")
    names = sorted(p.name for p in files)
    assert names == sorted(["defects.csv", "summary.json"] + [f"{k}_{b}.tif" for k in ("mask", "stats")
                                                             for b in ("L1", "L2", "M0")])
    scan = load_scan(tmp_path / "out")
    assert [b.name for b in scan.bands] == ["L2", "L1", "M0"]
    m = scan.mask("L2")
    assert m.shape == (100, 48) and m.dtype == np.uint8
    assert m[5, 7] & 1 and m[5, 7] & 2
    assert scan.mask("L1")[360 - 349, 11] & 2
    full = scan.frame_mask()
    assert full[5, 7, 0] and full[360, 11, 1] and not full[5, 7, 1]
    stats = scan.stats("L1")
    assert stats["median"].shape == (70, 48)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"]["n_frames"] == 12
    assert summary["counts"]["L2"]["stuck"] >= 1
    assert summary["parameters"]["stuck_std"] == 1.0
    rows = (tmp_path / "out" / "defects.csv").read_text().splitlines()
    assert rows[0] == "band,row,col,flags,classes,mean,std,median,score"
    assert any(r.startswith("L2,5,7,") for r in rows)
    assert any(r.startswith("L1,360,11,") for r in rows)
    with rasterio.open(tmp_path / "out" / "mask_L2.tif") as ds:
        assert ds.crs is None
        assert ds.tags()["badpix_band"] == "L2"
        assert "badpix_version" in ds.tags()


def test_xarray_dataset_api(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=6)
    ds = badpix.scan(src, layout="l2-l1-m0")
    assert ds["flags_L2"].dims == ("y_L2", "x_L2")
    assert ds["flags_L1"].shape == (70, 48)
    assert int(ds["y_L1"][0]) == 349
    one = band_dataset(ds, "L1")
    assert set(one.dims) == {"y", "x"}
    assert int(one.flags.sel(y=360, x=11)) & 2
    frames = np.stack([np.load(tmp_path / "frames" / f"frame_{i}.npy") for i in range(6)])
    np.testing.assert_allclose(one["mean"].values, frames[:, 349:419, :, 1].mean(axis=0))


def test_georef_override_and_legacy_float_mask(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=6)
    result = run_scan(src, layout="l2-l1-m0")
    geo = GeoRef(rasterio.crs.CRS.from_epsg(32633).to_wkt(), (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0))
    write_scan_dir(result, tmp_path / "out", georef=geo, legacy_float_mask=True)
    with rasterio.open(tmp_path / "out" / "mask_L1.tif") as ds:
        assert ds.crs.to_epsg() == 32633
        # the band's window starts at row 349: its origin moves down 349 pixels
        assert ds.transform.f == pytest.approx(6000000.0 - 349 * 10.0)
    with rasterio.open(tmp_path / "out" / "drifting_pixel_mask_L1.tif") as ds:
        legacy = ds.read(1)
        # the given CRS, not EPSG:4326 under a UTM transform (gdalinfo: "Invalid angle")
        assert ds.dtypes[0] == "float32" and ds.crs.to_epsg() == 32633
    flags = load_scan(tmp_path / "out").mask("L1")
    np.testing.assert_array_equal(legacy == LEGACY_MASK_VALUE, (flags & 3) != 0)
    assert set(np.unique(legacy)) <= {0.0, LEGACY_MASK_VALUE}


@pytest.mark.parametrize("fmt", ["png", "npy", "h5"])
def test_alternative_mask_formats_read_back(tmp_path, fmt):
    src = sensor_frames(tmp_path / "frames", n=5)
    result = run_scan(src, layout="l2-l1-m0")
    write_scan_dir(result, tmp_path / "out", mask_format=fmt)
    scan = load_scan(tmp_path / "out")
    np.testing.assert_array_equal(scan.mask("L2"), result.bands["L2"].flags)


def test_rescan_into_same_folder_removes_stale_outputs(tmp_path):
    src = sensor_frames(tmp_path / "frames", n=5)
    write_scan_dir(run_scan(src, layout="l2-l1-m0"), tmp_path / "out")
    write_scan_dir(run_scan(src), tmp_path / "out")
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert "mask_L2.tif" not in names and "mask_ch0.tif" in names


def test_nan_only_pixel_is_not_flagged_and_has_zero_count(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(100, 5, (8, 20, 20)).astype(np.float32)
    data[:, 4, 4] = np.nan
    data[::2, 9, 9] = np.nan
    np.save(tmp_path / "stack.npy", data)
    result = run_scan(tmp_path / "stack.npy")
    br = result.bands["ch0"]
    assert br.stats.count[4, 4] == 0 and np.isnan(br.stats.mean[4, 4])
    assert br.flags[4, 4] == 0
    assert br.stats.count[9, 9] == 4
    assert br.stats.median[9, 9] == pytest.approx(np.nanmedian(data[:, 9, 9].astype(np.float64)))


def test_strided_bands_report_full_frame_positions(tmp_path):
    """Bayer-like planes (every 2nd row/col): outputs must use mosaic coordinates."""
    rng = np.random.default_rng(5)
    data = rng.normal(1000, 10, (10, 32, 40)).astype(np.uint16)
    data[:, 13, 22] = 4000  # plane rows 1::2, cols 0::2 -> band pixel (6, 11)
    np.save(tmp_path / "stack.npy", data)
    lay = tmp_path / "bayer.toml"
    lay.write_text("[bands.R]\nrows = [0, 32]\ncols = [0, 40]\nrow_step = 2\ncol_step = 2\n"
                   "[bands.G2]\nrows = [1, 32]\ncols = [0, 40]\nrow_step = 2\ncol_step = 2\n")
    result = run_scan(tmp_path / "stack.npy", layout=lay)
    assert result.bands["G2"].flags[6, 11] & 4
    rows = [r for r in result.defects() if r["band"] == "G2"]
    assert (rows[0]["row"], rows[0]["col"]) == (13, 22)
    geo = GeoRef(None, (0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
    write_scan_dir(result, tmp_path / "out", georef=geo)
    scan = load_scan(tmp_path / "out")
    full = scan.frame_mask()
    assert full[13, 22, 0] & 4 and np.count_nonzero(full & 4) == 1
    with rasterio.open(tmp_path / "out" / "mask_G2.tif") as ds:
        assert (ds.transform.a, ds.transform.e, ds.transform.f) == (2.0, -2.0, -1.0)
    ds = result.to_dataset()
    assert int(ds["y_G2"][6]) == 13 and int(ds["x_G2"][11]) == 22


def test_readme_python_api(tmp_path):
    """The calls the README shows work as written."""
    src = sensor_frames(tmp_path / "frames", n=5)
    ds = badpix.scan(src, layout="l2-l1-m0")
    drifting = (ds.flags_L2 & 3) != 0
    assert bool(drifting.sel(y_L2=5, x_L2=7))
    assert "median" in badpix.band_dataset(ds, "L1")
    img = np.random.default_rng(0).normal(size=(20, 30))
    assert badpix.local_variance(img, size=3).shape == (20, 30)
    result = badpix.run_scan(src, stuck_std=0.5)
    assert result.params.stuck_std == 0.5
    assert set(result.bands) == {"ch0", "ch1", "ch2"}
