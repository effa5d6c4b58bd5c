"""CF attributes of scan datasets, CRS/coords carried through, the accessor, spatial filters."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

import badpix
import badpix.xarray  # noqa: F401 - registers the accessor
from badpix.detect.flags import CLASSES
from badpix.stats.spatial import local_mean, local_median, local_std, local_variance

cf_xarray = pytest.importorskip("cf_xarray")
rioxarray = pytest.importorskip("rioxarray")

UTM = "EPSG:32633"

# rioxarray 0.19 (the newest for Python 3.11) multiplies Affines with `*`, which the
# current affine package deprecates: their warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    f = rng.normal(1000, 20, (12, 16, 20)).round().astype(np.uint16)
    f[:, 3, 4] = 777      # stuck
    f[:, 9, 11] = 4000    # hot
    return f


def _georeferenced(frames):
    x = 500000.0 + 10.0 * np.arange(frames.shape[2]) + 5.0   # pixel centres, 10 m
    y = 4600000.0 - 10.0 * np.arange(frames.shape[1]) - 5.0
    da = xr.DataArray(frames, dims=("time", "y", "x"), coords={"y": y, "x": x},
                      attrs={"units": "DN", "long_name": "raw counts"}, name="img")
    return da.rio.write_crs(UTM)


def test_flags_and_statistics_carry_cf_attributes(frames):
    ds = badpix.scan(frames)
    assert ds.attrs["Conventions"] == "CF-1.10"
    flags = ds["flags_ch0"]
    assert flags.cf.is_flag_variable
    np.testing.assert_array_equal(flags.attrs["flag_masks"], [int(f) for f in CLASSES.values()])
    assert flags.attrs["flag_meanings"].split() == list(CLASSES)
    decoded = flags.cf.flags  # cf-xarray decodes the bits by their meanings
    assert bool(decoded["stuck"][3, 4]) and bool(decoded["hot"][9, 11])
    assert not bool(decoded["hot"][3, 4])
    for var in ("mean", "std", "var", "min", "max", "median", "count", "score"):
        attrs = ds[f"{var}_ch0"].attrs
        assert attrs["units"] and attrs["long_name"], var
    assert "spatial_ref" not in ds.coords  # no CRS in, none out


def test_units_of_the_input_reach_the_statistics(frames):
    ds = _georeferenced(frames).badpix.scan()
    assert ds["mean_ch0"].attrs["units"] == "DN"
    assert ds["var_ch0"].attrs["units"] == "(DN)^2"
    assert ds["count_ch0"].attrs["units"] == "1"


def test_crs_and_coordinates_of_a_rioxarray_input_are_carried(frames):
    da = _georeferenced(frames)
    ds = da.badpix.scan()
    assert ds["flags_ch0"].attrs["grid_mapping"] == "spatial_ref"
    assert "crs_wkt" in ds["spatial_ref"].attrs
    assert ds.cf["grid_mapping"].attrs["grid_mapping_name"] == "transverse_mercator"
    np.testing.assert_array_equal(ds["y_ch0"].values, da.y.values)
    np.testing.assert_array_equal(ds["row_ch0"].values, np.arange(16))
    one = ds.badpix.band("ch0")
    assert one.rio.crs.to_epsg() == 32633
    assert one.rio.transform() == da.rio.transform()
    assert int(one["flags"].sel(y=da.y[9], x=da.x[11])) & int(CLASSES["hot"])


def test_geotiff_scan_gets_map_coordinates_and_spatial_ref(tmp_path, frames):
    transform = from_origin(300000.0, 5000000.0, 2.0, 2.0)
    folder = tmp_path / "tifs"
    folder.mkdir()
    for i, f in enumerate(frames):
        with rasterio.open(folder / f"f{i:02d}.tif", "w", driver="GTiff", height=16, width=20,
                           count=1, dtype="uint16", crs=UTM, transform=transform) as dst:
            dst.write(f, 1)
    one = badpix.band_dataset(badpix.scan(folder), "ch0")
    assert one.rio.crs.to_epsg() == 32633
    assert one.rio.transform() == transform
    assert one["x"].attrs["standard_name"] == "projection_x_coordinate"
    assert one["x"].attrs["units"] == "m"


def test_scan_dataset_round_trips_through_netcdf(tmp_path, frames):
    ds = _georeferenced(frames).badpix.scan()
    path = tmp_path / "scan.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["flags_ch0"].values, ds["flags_ch0"].values)
        assert back["flags_ch0"].cf.is_flag_variable
        assert back.rio.crs.to_epsg() == 32633


def test_accessor_scan_equals_scan_and_repair_round_trips(frames):
    da = _georeferenced(frames)
    via_accessor = da.badpix.scan()
    direct = badpix.scan(da)
    xr.testing.assert_identical(via_accessor, direct)
    fixed = da.badpix.repair(via_accessor)
    assert fixed.dims == da.dims and fixed.attrs == da.attrs
    xr.testing.assert_identical(fixed.coords.to_dataset(), da.coords.to_dataset())
    assert da[0, 9, 11] == 4000  # the input is not modified
    assert abs(int(fixed[0, 9, 11]) - 1000) < 100
    # only the flagged pixels change
    changed = (fixed != da).any("time").values
    flagged = via_accessor["flags_ch0"].values != 0
    assert not (changed & ~flagged).any()
    rescan = fixed.badpix.scan()
    assert int(rescan["flags_ch0"][9, 11]) & int(CLASSES["hot"]) == 0
    # the dataset accessor repairs every variable of frames and keeps the rest
    ds = xr.Dataset({"img": da, "gain": ("time", np.ones(12))})
    out = ds.badpix.repair(via_accessor, classes="hot")
    xr.testing.assert_identical(out["gain"], ds["gain"])
    assert abs(int(out["img"][0, 9, 11]) - 1000) < 100
    assert int(out["img"][0, 3, 4]) == 777  # stuck: not asked for
    xr.testing.assert_identical(ds.badpix.scan(), direct)


def test_repair_of_dask_and_dataarray_equals_numpy(frames):
    dsa = pytest.importorskip("dask.array")
    from badpix.repair import repair

    mask = np.zeros(frames.shape[1:], bool)
    mask[9, 11] = mask[3, 4] = True
    expected = repair(frames, mask)
    lazy = repair(dsa.from_array(frames, chunks=(5, 8, 20)), mask)
    assert type(lazy).__module__.startswith("dask")
    np.testing.assert_array_equal(lazy.compute(), expected)
    da = xr.DataArray(frames, dims=("frame", "y", "x")).chunk({"frame": 4})
    out = repair(da, mask)
    assert out.chunks is not None  # still lazy
    np.testing.assert_array_equal(out.values, expected)
    swapped = xr.DataArray(np.moveaxis(frames, 0, -1), dims=("y", "x", "frame"))
    np.testing.assert_array_equal(repair(swapped, mask).transpose("frame", "y", "x").values,
                                  expected)


def test_background_of_dask_equals_numpy(frames):
    dsa = pytest.importorskip("dask.array")
    from badpix.background import background

    f8 = (frames // 16).astype(np.uint8)
    expected = background(f8, method="rolling", kernel_size=4)
    got = background(dsa.from_array(f8, chunks=(3, 16, 20)), method="rolling", kernel_size=4)
    np.testing.assert_array_equal(got.images, expected.images)
    t = np.arange(12) * 0.5
    da = xr.DataArray(f8, dims=("time", "y", "x"), coords={"time": t}).chunk({"time": 5})
    sparse = background(da, kernel_size=4, split_time=2.0)
    ref = background(f8, kernel_size=4, split_time=2.0, times=t)
    np.testing.assert_array_equal(sparse.images, ref.images)


@pytest.mark.parametrize("func", [local_median, local_mean, local_variance, local_std])
def test_spatial_filters_keep_dataarray_coords_and_attrs(func, frames):
    img = _georeferenced(frames)[0].astype(np.float32)
    out = func(img, 3)
    assert isinstance(out, xr.DataArray)
    xr.testing.assert_identical(out.coords.to_dataset(), img.coords.to_dataset())
    assert out.name == img.name and out.dims == img.dims
    np.testing.assert_array_equal(out.values, func(img.values, 3))
    expected_units = "(DN)^2" if func is local_variance else "DN"
    assert out.attrs["units"] == expected_units and out.attrs["long_name"] == "raw counts"


def test_accessor_filters_run_per_frame(frames):
    da = _georeferenced(frames)
    out = da.badpix.local_variance(3)
    assert out.dims == da.dims and out.attrs["units"] == "(DN)^2"
    np.testing.assert_allclose(out[5].values, local_variance(frames[5], 3))
    lazy = da.chunk({"time": 4}).badpix.local_median(3)
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy[2].values, local_median(frames[2], 3))


def test_crs_of_a_dataarray_reaches_the_mask_geotiffs(tmp_path, frames):
    from badpix.engine import run_scan
    from badpix.io.scandir import write_scan_dir

    da = _georeferenced(frames)
    write_scan_dir(run_scan(da), tmp_path / "out")
    with rasterio.open(tmp_path / "out" / "mask_ch0.tif") as src:
        assert src.crs.to_epsg() == 32633
        assert src.transform == da.rio.transform()
