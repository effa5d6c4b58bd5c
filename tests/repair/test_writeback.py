"""Repaired stacks written back in the input's format, read back with the real libraries."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
import tifffile
from affine import Affine
from PIL import Image

from badpix.errors import BadpixError
from badpix.repair import estimate_jpeg_quality, repair_stack

H, W = 24, 32


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def frames(rng, n, c, dtype, hi):
    yy, xx = np.mgrid[0:H, 0:W]
    base = (hi * (0.3 + 0.4 * (xx + yy) / (H + W)))[None, :, :, None]
    out = np.repeat(np.repeat(base, n, 0), c, 3) + rng.integers(0, 3, (n, H, W, c))
    return out.astype(dtype)


def mask_with_hot(stack, hi):
    mask = np.zeros((H, W), bool)
    mask[[0, 5, H - 1, 10], [0, 7, W - 1, 31]] = True
    stack[:, mask] = hi
    return mask


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def check_repaired(got, clean, mask, atol):
    """Repaired pixels near the truth: corners see one side of a ramp rising about
    1.5 % of full scale per pixel, so allow two steps plus ``atol``."""
    assert got.shape == clean.shape and got.dtype == clean.dtype
    slack = 0.03 * float(clean.max()) + atol
    assert np.abs(got[:, mask].astype(float) - clean[:, mask]).max() <= slack


def test_npy_folder_and_stack_and_in_place(tmp_path, rng):
    clean = frames(rng, 3, 1, np.uint16, 4000)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, 65535)
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(dirty):
        np.save(src / f"frame_{i}.npy", f[:, :, 0])
    np.save(tmp_path / "mask.npy", mask)
    before = digest(src)
    res = repair_stack(src, tmp_path / "mask.npy", tmp_path / "out")
    assert digest(src) == before
    got = np.stack([np.load(tmp_path / "out" / f"frame_{i}.npy") for i in range(3)])[..., None]
    check_repaired(got, clean, mask, 3)
    assert res.n_frames == 3 and res.n_pixels == 4
    np.save(tmp_path / "stack.npy", dirty.astype(">u2"))
    repair_stack(tmp_path / "stack.npy", mask, tmp_path / "fixed.npy", method="median")
    fixed = np.load(tmp_path / "fixed.npy")
    assert fixed.dtype == np.dtype(">u2") and fixed.shape == dirty.shape
    check_repaired(fixed.astype(np.uint16), clean, mask, 3)
    with pytest.raises(BadpixError, match="in-place"):
        repair_stack(src, mask, src)
    repair_stack(src, mask, in_place=True)
    assert digest(src) != before
    check_repaired(np.load(src / "frame_1.npy")[None, :, :, None], clean[1:2], mask, 3)


@pytest.mark.parametrize("kind", ["L8", "I16", "RGB16", "RGBA8"])
def test_png_keeps_bit_depth_and_alpha(tmp_path, rng, kind):
    c, dtype, hi = {"L8": (1, np.uint8, 200), "I16": (1, np.uint16, 40000),
                    "RGB16": (3, np.uint16, 40000), "RGBA8": (3, np.uint8, 200)}[kind]
    clean = frames(rng, 2, c, dtype, hi)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, np.iinfo(dtype).max)
    src = tmp_path / "in"
    src.mkdir()
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    for i, f in enumerate(dirty):
        if kind == "RGB16":
            from badpix.repair.sinks import _png16

            _png16(src / f"f{i}.png", f)
        elif kind == "RGBA8":
            Image.fromarray(np.dstack([f, alpha]), "RGBA").save(src / f"f{i}.png")
        elif kind == "I16":
            Image.fromarray(f[:, :, 0]).save(src / f"f{i}.png")
        else:
            Image.fromarray(f[:, :, 0], "L").save(src / f"f{i}.png")
    before = digest(src)
    repair_stack(src, mask, tmp_path / "out")
    assert digest(src) == before
    for i in range(2):
        with Image.open(tmp_path / "out" / f"f{i}.png") as im:
            if kind == "RGBA8":
                assert im.mode == "RGBA"
                assert np.array_equal(np.asarray(im)[:, :, 3], alpha)
    from badpix.io.open import open_reader

    got = open_reader(tmp_path / "out").read_all()
    check_repaired(got, clean, mask, 3)
    unmasked = ~mask
    assert np.array_equal(got[:, unmasked], dirty[:, unmasked])  # lossless elsewhere


def test_jpeg_keeps_quality_and_exif(tmp_path, rng):
    clean = frames(rng, 2, 3, np.uint8, 200)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, 255)
    src = tmp_path / "in"
    src.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "BadpixCam"  # Make
    for i, f in enumerate(dirty):
        Image.fromarray(f).save(src / f"p{i}.jpg", quality=87, exif=exif.tobytes())
    before = digest(src)
    res = repair_stack(src, mask, tmp_path / "out")
    assert digest(src) == before and res.jpeg_quality == 87
    for i in range(2):
        with Image.open(tmp_path / "out" / f"p{i}.jpg") as im:
            assert estimate_jpeg_quality(im.quantization) == 87
            assert im.getexif()[0x010F] == "BadpixCam"
            got = np.asarray(im)
        assert np.abs(got[mask].astype(int) - clean[i][mask]).max() < 40  # JPEG is lossy
    repair_stack(src, mask, tmp_path / "q50", jpeg_quality=50)
    with Image.open(tmp_path / "q50" / "p0.jpg") as im:
        assert estimate_jpeg_quality(im.quantization) == 50


def test_folder_of_multipage_lzw_and_jpeg_tiffs(tmp_path, rng):
    clean = frames(rng, 5, 3, np.uint8, 200)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, 255)
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a_1.tif", dirty[:2], photometric="rgb", compression="lzw")
    # lossy JPEG pages (stored as YCbCr) come back as lossless zlib RGB
    tifffile.imwrite(src / "a_2.tif", clean[2:], photometric="rgb", compression="jpeg",
                     compressionargs={"level": 95})
    repair_stack(src, mask, tmp_path / "out")
    with tifffile.TiffFile(tmp_path / "out" / "a_1.tif") as tif:
        assert len(tif.pages) == 2 and tif.pages[0].compression.name == "LZW"
        got1 = tif.asarray()
    with tifffile.TiffFile(tmp_path / "out" / "a_2.tif") as tif:
        page = tif.pages[0]
        assert len(tif.pages) == 3 and page.compression.name == "ADOBE_DEFLATE"
        assert page.photometric.name == "RGB"
        got2 = tif.asarray()
    check_repaired(got1, clean[:2], mask, 3)
    check_repaired(got2, clean[2:], mask, 12)


def test_multipage_tiff_and_geotiff(tmp_path, rng):
    clean = frames(rng, 3, 1, np.uint16, 4000)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, 65535)
    tifffile.imwrite(tmp_path / "stack.tif", dirty[..., 0], compression="zlib",
                     photometric="minisblack")
    before = digest(tmp_path)
    repair_stack(tmp_path / "stack.tif", mask, tmp_path / "out" / "stack.tif")
    with tifffile.TiffFile(tmp_path / "out" / "stack.tif") as tif:
        assert len(tif.pages) == 3 and tif.pages[0].compression.name == "ADOBE_DEFLATE"
        got = tif.asarray()
    check_repaired(got[..., None], clean, mask, 3)

    geo = tmp_path / "geo"
    geo.mkdir()
    profile = dict(driver="GTiff", width=W, height=H, count=2, dtype="float32",
                   crs="EPSG:32633", transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4e6), nodata=-9999.0)
    clean_g = frames(rng, 2, 2, np.float32, 300)
    dirty_g = clean_g.copy()
    mask_with_hot(dirty_g, 1e9)
    for i, f in enumerate(dirty_g):
        with rasterio.open(geo / f"t{i}.tif", "w", **profile) as dst:
            dst.write(np.moveaxis(f, -1, 0))
            dst.update_tags(mission="test", frame=str(i))
            dst.set_band_description(1, "red")
    before_g = digest(geo)
    repair_stack(geo, mask, tmp_path / "geo_out", method="inpaint")
    assert digest(geo) == before_g and digest(tmp_path) == before
    with rasterio.open(tmp_path / "geo_out" / "t1.tif") as ds:
        assert ds.crs.to_epsg() == 32633 and ds.transform == profile["transform"]
        assert ds.nodata == -9999.0 and ds.tags()["mission"] == "test"
        assert ds.descriptions[0] == "red"
        got = np.moveaxis(ds.read(), 0, -1)
    assert np.abs(got[mask] - clean_g[1][mask]).max() < 0.03 * 300 + 5


def test_hdf5_copy_keeps_attributes(tmp_path, rng):
    clean = frames(rng, 4, 1, np.uint16, 4000)
    dirty = clean.copy()
    mask = mask_with_hot(dirty, 65535)
    src = tmp_path / "run.h5"
    with h5py.File(src, "w") as f:
        d = f.create_dataset("events/image", data=dirty[..., 0], chunks=(1, H, W),
                             compression="gzip")
        d.attrs["exposure_ms"] = 12.5
        f.attrs["instrument"] = "cam"
        f.create_dataset("events/time", data=np.arange(4.0))
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    repair_stack(src, mask, tmp_path / "run_fixed.h5")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    with h5py.File(tmp_path / "run_fixed.h5", "r") as f:
        assert f.attrs["instrument"] == "cam"
        assert f["events/image"].attrs["exposure_ms"] == 12.5
        assert f["events/image"].compression == "gzip"
        assert np.array_equal(f["events/time"][:], np.arange(4.0))
        got = f["events/image"][:]
    check_repaired(got[..., None], clean, mask, 3)


def test_mask_shape_mismatch_is_a_clear_error(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / "f0.npy", np.zeros((H, W), np.uint16))
    np.save(tmp_path / "m.npy", np.zeros((H, W + 1), bool))
    with pytest.raises(BadpixError, match=r"m.npy: mask shape \(24, 33\) does not match"):
        repair_stack(src, tmp_path / "m.npy", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_jpeg_quality_estimate_roundtrip():
    for q in (10, 50, 75, 95, 100):
        buf = io.BytesIO()
        Image.new("RGB", (16, 16)).save(buf, "JPEG", quality=q)
        assert estimate_jpeg_quality(Image.open(buf).quantization) == q
