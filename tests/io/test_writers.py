"""Writers: round trips through the real libraries, atomicity on failure."""

from __future__ import annotations

import csv
import json
import warnings

import h5py
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.crs import CRS

from badpix import open_stack
from badpix.errors import OutputError
from badpix.io.base import GeoRef
from badpix.io.writers import (
    write_csv,
    write_geotiff,
    write_h5,
    write_json,
    write_npy,
    write_png,
)

GT = (300000.0, 30.0, 0.0, 5_000_000.0, 0.0, -30.0)


def test_geotiff_round_trip_with_rasterio(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.random((5, 7, 9))
    g = GeoRef(CRS.from_epsg(32632).to_wkt(), GT)
    p = write_geotiff(tmp_path / "stats.tif", data, georef=g, nodata=-1.0,
                      tags={"source": "frames/", "badpix_version": "0.1.0"},
                      descriptions=["mean", "std", "min", "max", "median"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with rasterio.open(p) as ds:
            assert ds.crs == CRS.from_epsg(32632)
            assert ds.transform.to_gdal() == GT
            assert ds.nodata == -1.0 and ds.descriptions == ("mean", "std", "min", "max", "median")
            assert ds.tags()["source"] == "frames/"
            assert np.array_equal(ds.read(), data)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.uint32])
def test_geotiff_plain_grid_has_no_crs_and_no_warning(tmp_path, dtype):
    data = (np.arange(600).reshape(20, 30) % 97).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NotGeoreferencedWarning would fail here
        p = write_geotiff(tmp_path / "mask.tif", data, tags={"k": "v"})
        with rasterio.open(p) as ds:
            assert ds.crs is None
            assert ds.transform.is_identity
            assert np.array_equal(ds.read(1), data)
        stack = open_stack(p)  # a plain grid reads back without georef
        assert stack.georef is None


def test_geotiff_refuses_bad_shape_and_leaves_nothing(tmp_path):
    with pytest.raises(OutputError, match="bad.tif"):
        write_geotiff(tmp_path / "bad.tif", np.zeros((2, 2, 2, 2)))
    with pytest.raises(OutputError, match="descriptions"):
        write_geotiff(tmp_path / "bad.tif", np.zeros((2, 3, 3)), descriptions=["a"])
    assert list(tmp_path.iterdir()) == []


def test_png_round_trip_with_text(tmp_path):
    a = np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000
    p = write_png(tmp_path / "q.png", a, text={"source": "frames/", "rule": "hot"})
    with Image.open(p) as im:
        assert im.text["rule"] == "hot"
        assert np.array_equal(np.asarray(im), a)
    with pytest.raises(OutputError, match="f.png"):
        write_png(tmp_path / "f.png", np.zeros((3, 3), np.float32))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["q.png"]


def test_npy_h5_csv_json(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert np.array_equal(np.load(write_npy(tmp_path / "a.npy", a)), a)

    p = write_h5(tmp_path / "s.h5", {"stats/mean": a.astype(float), "n": np.int64(5)},
                 {"layout": {"L1": [0, 10]}, "n_frames": 50, "source": "x"}, compression="lzf")
    with h5py.File(p) as f:
        assert f["stats/mean"].compression == "lzf"
        assert np.array_equal(f["stats/mean"][()], a)
        assert json.loads(f.attrs["layout"]) == {"L1": [0, 10]}
        assert int(f.attrs["n_frames"]) == 50

    p = write_csv(tmp_path / "d.csv", ["band", "row", "col"], [("L1", np.int64(2), 3)])
    with open(p, newline="") as f:
        assert list(csv.reader(f)) == [["band", "row", "col"], ["L1", "2", "3"]]

    p = write_json(tmp_path / "s.json", {"a": np.float32(1.5), "b": np.arange(2),
                                         "c": float("inf"), "d": tmp_path})
    assert json.loads(p.read_text()) == {"a": 1.5, "b": [0, 1], "c": None, "d": str(tmp_path)}


def test_failed_writers_leave_no_file_and_keep_old(tmp_path):
    old = write_csv(tmp_path / "d.csv", ["a"], [(1,)])

    def rows():
        yield (1,)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_csv(tmp_path / "d.csv", ["a"], rows())
    assert old.read_text().splitlines() == ["a", "1"]
    with pytest.raises(OutputError, match="row 0 has 2 fields"):
        write_csv(tmp_path / "e.csv", ["a"], [(1, 2)])
    with pytest.raises(OutputError, match="x.json"):
        write_json(tmp_path / "x.json", {"o": object()})
    with pytest.raises(OutputError, match="objects"):
        write_h5(tmp_path / "o.h5", {"x": np.array([object()])})
    with pytest.raises(OutputError):
        write_npy(tmp_path / "o.npy", np.array([object()]))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d.csv"]
