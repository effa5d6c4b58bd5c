"""``badpix localvar`` on a real GeoTIFF: CRS/transform kept, values equal generic_filter."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from badpix.cli import main


def write_dem(path, data, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype=data.dtype, crs=CRS.from_epsg(32633),
                       transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0), nodata=nodata) as ds:
        ds.write(data, 1)


@pytest.mark.parametrize("std", [False, True])
def test_localvar_keeps_georeferencing_and_matches_generic_filter(tmp_path, capsys, std):
    rng = np.random.default_rng(1)
    dem = (1000 + rng.normal(0, 5, (40, 50)).cumsum(axis=1)).astype(np.float64)
    write_dem(tmp_path / "dem.tif", dem)
    argv = ["localvar", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "var.tif"), "--size", "3"]
    assert main(argv + (["--std"] if std else [])) == 0
    expected = ndimage.generic_filter(dem, np.var, size=3, mode="reflect")
    if std:
        expected = np.sqrt(expected)
    with rasterio.open(tmp_path / "var.tif") as ds:
        got = ds.read(1)
        assert ds.crs.to_epsg() == 32633
        assert ds.transform == Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    printed = capsys.readouterr().out
    average = float(printed.rsplit(":", 1)[1])
    assert average == pytest.approx(expected.mean(), rel=1e-9)


def test_localvar_skips_nodata(tmp_path, capsys):
    dem = np.arange(36, dtype=np.float32).reshape(6, 6)
    dem[2, 2] = -9999
    write_dem(tmp_path / "dem.tif", dem, nodata=-9999)
    assert main(["localvar", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "v.tif")]) == 0
    with rasterio.open(tmp_path / "v.tif") as ds:
        got = ds.read(1)
    # the 3x3 window around (2, 3) holds 8 valid values: the nodata pixel is left out
    window = np.delete(dem[1:4, 2:5].ravel().astype(np.float64), 3)
    assert got[2, 3] == pytest.approx(np.var(window))
    # the nodata cell stays nodata; every other cell has a value
    assert got[2, 2] == -9999 and ds.nodata == -9999
    assert np.isfinite(np.delete(got.ravel(), 2 * 6 + 2)).all()


def test_localvar_bad_input(tmp_path, capsys):
    (tmp_path / "x.tif").write_bytes(b"not a tiff")
    code = main(["localvar", str(tmp_path / "x.tif"), "-o", str(tmp_path / "v.tif")])
    err = capsys.readouterr().err
    assert code == 2 and "x.tif" in err and "Traceback" not in err
    assert not (tmp_path / "v.tif").exists()
