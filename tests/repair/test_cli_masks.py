"""Scan-folder masks, .badpixels round trip, and the repair / fill / export-badpixels CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from badpix.cli import main
from badpix.detect.flags import Flag
from badpix.io.badpixels import read_badpixels, read_badpixels_coords
from badpix.repair.masks import load_mask


def write_scan(folder, flags_full):
    """A scan folder per docs/contracts.md: two bands splitting the rows of channel 0."""
    h, w = flags_full.shape
    folder.mkdir()
    bands = [{"name": "top", "channel": 0, "rows": [0, h // 2], "cols": [0, w]},
             {"name": "bottom", "channel": 0, "rows": [h // 2, h], "cols": [0, w]}]
    summary = {"badpix_version": "0", "input": {"frame_shape": [h, w, 1], "n_frames": 3},
               "layout": {"source": "test", "bands": bands}}
    (folder / "summary.json").write_text(json.dumps(summary))
    for b in bands:
        part = flags_full[b["rows"][0]:b["rows"][1]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(folder / f"mask_{b['name']}.tif", "w", driver="GTiff",
                               width=w, height=part.shape[0], count=1, dtype="uint8") as dst:
                dst.write(part, 1)


def test_scan_folder_classes_and_badpixels_export(tmp_path):
    flags = np.zeros((10, 12), np.uint8)
    flags[1, 2] = Flag.HOT
    flags[8, 11] = Flag.STUCK | Flag.OUTLIER
    flags[6, 0] = Flag.DEAD
    write_scan(tmp_path / "scan", flags)
    m = load_mask(tmp_path / "scan", (10, 12, 1), "hot,stuck")
    assert sorted(map(tuple, np.argwhere(m[..., 0]))) == [(1, 2), (8, 11)]
    assert load_mask(tmp_path / "scan", (10, 12, 1)).sum() == 3
    assert main(["export-badpixels", str(tmp_path / "scan"), "-o",
                 str(tmp_path / "cam.badpixels"), "--classes", "hot,dead", "-q"]) == 0
    coords = read_badpixels_coords(tmp_path / "cam.badpixels")
    assert coords.tolist() == [[2, 1, 0], [0, 6, 0]]  # col row time, row-major order
    assert read_badpixels(tmp_path / "cam.badpixels", (10, 12)).sum() == 2
    assert main(["repair", str(tmp_path / "scan"), "--mask", str(tmp_path / "scan"),
                 "-o", str(tmp_path / "x"), "-q"]) == 2  # no frames there: one-line error


def test_cli_repair_with_badpixels_mask_and_shape_error(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        f = rng.integers(100, 110, (10, 12)).astype(np.uint16)
        f[1, 2] = 60000
        np.save(src / f"f{i}.npy", f)
    (tmp_path / "cam.badpixels").write_text("# test\n2 1 0\n")
    assert main(["repair", str(src), "--mask", str(tmp_path / "cam.badpixels"),
                 "-o", str(tmp_path / "out"), "--method", "median", "-q"]) == 0
    assert 100 <= np.load(tmp_path / "out" / "f2.npy")[1, 2] <= 110
    (tmp_path / "big.badpixels").write_text("50 1 0\n")
    assert main(["repair", str(src), "--mask", str(tmp_path / "big.badpixels"),
                 "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "big.badpixels" in err and "outside the frames" in err
    np.save(tmp_path / "m.npy", np.zeros((9, 12), bool))
    assert main(["repair", str(src), "--mask", str(tmp_path / "m.npy"), "-o",
                 str(tmp_path / "out3")]) == 2
    assert "does not match" in capsys.readouterr().err
    assert main(["repair", str(src), "--mask", str(tmp_path / "m.npy")]) == 2


def test_fill_keeps_georeferencing(tmp_path):
    yy, xx = np.mgrid[0:30, 0:40]
    dem = (100 + 2.0 * xx + 1.0 * yy).astype(np.float32)
    gappy = dem.copy()
    gappy[10:15, 20:26] = -9999
    gappy[0, 0] = -9999
    gappy[20:22, 5] = np.nan
    profile = dict(driver="GTiff", width=40, height=30, count=1, dtype="float32",
                   crs="EPSG:32633", transform=Affine(5.0, 0, 600000.0, 0, -5.0, 5e6),
                   nodata=-9999.0)
    with rasterio.open(tmp_path / "dem.tif", "w", **profile) as dst:
        dst.write(gappy, 1)
        dst.update_tags(source="lidar")
    assert main(["fill", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "filled.tif"),
                 "-q"]) == 0
    with rasterio.open(tmp_path / "filled.tif") as ds:
        assert ds.crs.to_epsg() == 32633 and ds.transform == profile["transform"]
        assert ds.nodata == -9999.0 and ds.tags()["source"] == "lidar"
        out = ds.read(1)
    assert np.allclose(out[10:15, 20:26], dem[10:15, 20:26], atol=1e-3)  # plane is harmonic
    assert np.isfinite(out).all() and (out != -9999).all()
    assert main(["fill", str(tmp_path / "dem.tif"), "-o", str(tmp_path / "f2.tif"),
                 "--max-size", "5", "-q"]) == 0
    with rasterio.open(tmp_path / "f2.tif") as ds:
        out2 = ds.read(1)
    assert (out2[10:15, 20:26] == -9999).all() and np.isfinite(out2[20:22, 5]).all()
