"""Synthetic stacks: determinism, truth, and every output format through its real library."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import rasterio
import tifffile
from PIL import Image

from badpix.errors import OutputError, ParameterError
from badpix.synth import KIND_FLAGS, Truth, make_synthetic, write_synthetic


def test_same_seed_same_stack_and_truth():
    a = make_synthetic((40, 48), 10, channels=2, dtype="uint8", seed=11)
    b = make_synthetic((40, 48), 10, channels=2, dtype="uint8", seed=11)
    c = make_synthetic((40, 48), 10, channels=2, dtype="uint8", seed=12)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.truth == b.truth and not np.array_equal(a.frames, c.frames)


def test_planted_pixels_behave_as_their_kind():
    s = make_synthetic((96, 96), 30, dtype="uint16", seed=2,
                       counts={"stuck": 20, "dead": 10, "hot": 5, "noisy": 5})
    x = s.frames[..., 0].astype(float)
    kinds = {p.kind for p in s.truth.pixels}
    assert {"stuck", "stuck_high", "dead", "dead_floor", "hot", "noisy"} <= kinds
    typical_std = np.median(x.std(0))
    for p in s.truth.pixels:
        series = x[:, p.row, p.col]
        assert p.flags == KIND_FLAGS[p.kind]
        if p.kind == "stuck_high":
            assert (series == 65535).all()
        elif p.kind == "dead_floor":
            assert (series == 0).all()
        elif p.kind == "stuck":
            assert series.std() == 0
        elif p.kind == "noisy":
            assert series.std() > 1.5 * typical_std
    # positions are distinct and at least 3 pixels apart in a row or a column
    pos = {(p.row, p.col) for p in s.truth.pixels}
    assert len(pos) == len(s.truth.pixels)


def test_truth_mask_and_json_roundtrip(tmp_path):
    t = write_synthetic(tmp_path, "npy", shape=(32, 32), n_frames=5, channels=3, dtype="uint8",
                        seed=1, counts={"hot": 3, "outlier": 2})
    loaded = Truth.load(tmp_path / "truth.json")
    assert loaded == t
    mask = np.load(tmp_path / "truth_mask.npz")["mask"]
    np.testing.assert_array_equal(mask, t.mask())
    assert mask.shape == (32, 32, 3) and np.count_nonzero(mask) == 5
    assert json.loads((tmp_path / "truth.json").read_text())["flag_bits"]["hot"] == 4
    with pytest.raises(OutputError):
        write_synthetic(tmp_path, "npy", shape=(32, 32), n_frames=5)


@pytest.mark.parametrize("kind,dtype,channels", [
    ("npy", "float32", 1), ("png", "uint16", 1), ("png", "uint8", 3), ("jpeg", "uint8", 3),
    ("tiff", "uint16", 1), ("geotiff", "uint8", 3), ("h5", "uint16", 1)])
def test_every_format_reads_back_with_its_library(tmp_path, kind, dtype, channels):
    w = write_synthetic(tmp_path, kind, shape=(24, 32), n_frames=4, channels=channels,
                        dtype=dtype, seed=5, counts={"hot": 2})
    ref = make_synthetic((24, 32), 4, channels=channels, dtype=dtype, seed=5,
                         counts={"hot": 2}).frames
    ref = ref[..., 0] if channels == 1 else ref
    if kind == "npy":
        got = np.stack([np.load(tmp_path / f"frame_{i:04d}.npy") for i in range(4)])
    elif kind in ("png", "jpeg"):
        ext = "png" if kind == "png" else "jpg"
        got = np.stack([np.asarray(Image.open(tmp_path / f"frame_{i:04d}.{ext}"))
                        for i in range(4)])
    elif kind == "tiff":
        got = np.stack([tifffile.imread(tmp_path / f"frame_{i:04d}.tif") for i in range(4)])
    elif kind == "geotiff":
        frames = []
        for i in range(4):
            with rasterio.open(tmp_path / f"frame_{i:04d}.tif") as src:
                assert src.crs.to_epsg() == 32633 and src.transform.a == 10
                frames.append(np.moveaxis(src.read(), 0, -1))
        got = np.stack(frames)
    else:
        with h5py.File(tmp_path / "stack.h5", "r") as f:
            got = f["events/image"][()]
    assert got.shape == ref.shape
    if kind == "jpeg":  # lossy: close on average, defects smeared
        assert np.abs(got.astype(float) - ref).mean() < 3
    else:
        np.testing.assert_array_equal(got, ref)
    assert len(w.pixels) == 2


def test_bad_arguments():
    with pytest.raises(ParameterError):
        make_synthetic((32, 32), 5, dtype="int64")
    with pytest.raises(ParameterError):
        make_synthetic((32, 32), 5, counts={"warm": 1})
    with pytest.raises(ParameterError):
        write_synthetic("/nonexistent/never", "jpeg", dtype="uint16")
