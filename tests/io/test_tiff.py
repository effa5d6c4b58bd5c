"""TIFF frames through tifffile: multi-page stacks, folders, RGB, float, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tifffile

from badpix import open_stack
from badpix.errors import DecodeError, FrameMismatchError
from badpix.io import open_reader
from badpix.io.tiff import TiffReader


@pytest.fixture
def rng():
    return np.random.default_rng(99)


def test_multipage_is_a_stack(tmp_path, rng):
    data = rng.integers(0, 65535, (7, 12, 10), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", data, compression="zlib")
    with open_reader(tmp_path / "stack.tif") as r:
        assert isinstance(r, TiffReader)
        assert (r.n_frames, r.frame_shape, r.dtype) == (7, (12, 10, 1), np.uint16)
        assert r.frame_label(3) == "stack.tif[3]"
        assert np.array_equal(r.read_all()[..., 0], data)


def test_folder_of_single_pages_natural_order(tmp_path, rng):
    data = rng.random((3, 5, 6)).astype(np.float32)
    for i, n in enumerate((2, 10, 1)):
        tifffile.imwrite(tmp_path / f"frame_{n}.tiff", data[i])
    r = open_reader(tmp_path)
    assert [p.name for p in r.paths] == ["frame_1.tiff", "frame_2.tiff", "frame_10.tiff"]
    assert r.dtype == np.float32 and r.frame_label(0) == "frame_1.tiff"
    assert np.array_equal(r.read_all()[..., 0], data[[2, 0, 1]])


def test_rgb_contig_planar_and_alpha(tmp_path, rng):
    rgb = rng.integers(0, 255, (4, 6, 8, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    with open_reader(tmp_path / "c.tif") as r:
        assert r.channel_names == ("R", "G", "B") and r.frame_shape == (6, 8, 3)
        assert np.array_equal(r.read_all(), rgb)

    planar = np.moveaxis(rgb[0], -1, 0).copy()
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    r = open_reader(tmp_path / "p.tif")
    assert r.frame_shape == (6, 8, 3)
    assert np.array_equal(r.read_all()[0], rgb[0])

    rgba = rng.integers(0, 255, (6, 8, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    r = open_reader(tmp_path / "a.tif")
    assert r.frame_shape == (6, 8, 3)
    assert np.array_equal(r.read_all()[0], rgba[:, :, :3])


def test_mismatch_and_skip_bad(tmp_path):
    tifffile.imwrite(tmp_path / "f1.tif", np.zeros((5, 6), np.uint16))
    tifffile.imwrite(tmp_path / "f2.tif", np.zeros((5, 6), np.uint8))
    tifffile.imwrite(tmp_path / "f3.tif", np.zeros((5, 6), np.uint16))
    with pytest.raises(FrameMismatchError) as info:
        open_reader(tmp_path)
    msg = str(info.value)
    assert "f2.tif" in msg and "uint8" in msg and "uint16" in msg and "(5, 6, 1)" in msg
    r = open_reader(tmp_path, skip_bad=True)
    assert [p.name for p in r.paths] == ["f1.tif", "f3.tif"]
    assert r.skipped[0].label == "f2.tif"


def test_mismatched_page_inside_a_stack(tmp_path):
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tw:
        tw.write(np.zeros((4, 4), np.uint8))
        tw.write(np.zeros((4, 5), np.uint8))
        tw.write(np.ones((4, 4), np.uint8))
    with pytest.raises(FrameMismatchError, match=r"mixed.tif: page 1: shape \(4, 5, 1\)"):
        open_reader(tmp_path / "mixed.tif")
    with open_reader(tmp_path / "mixed.tif", skip_bad=True) as r:
        assert r.n_frames == 2 and r.skipped[0].label == "mixed.tif[1]"
        assert r.read_all()[1].all()


def test_garbage_and_truncated(tmp_path, rng):
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(DecodeError, match="junk.tif"):
        open_reader(tmp_path / "junk.tif")
    p = tmp_path / "cut.tif"
    tifffile.imwrite(p, rng.integers(0, 255, (64, 64), dtype=np.uint8), compression="zlib")
    with tifffile.TiffFile(p) as tif:
        offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data = bytearray(p.read_bytes())
    data[offset:offset + count] = b"\x07" * count  # tags intact, deflate stream destroyed
    p.write_bytes(bytes(data))
    r = open_reader(p)
    with pytest.raises(DecodeError, match="cut.tif"):
        r.read_all()


def test_open_stack_blocks_and_pickle(tmp_path, rng):
    data = rng.integers(0, 4095, (9, 8, 6), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", data)
    stack = open_stack(tmp_path / "s.tif")
    got = np.concatenate([b[..., 0].copy() for _, b in stack.iter_blocks(4)])
    assert np.array_equal(got, data)
    clone = pickle.loads(pickle.dumps(stack.reader))
    assert np.array_equal(clone.read_frames(5, 9)[..., 0], data[5:9])
    stack.reader.close()
    clone.close()


def test_lzw_compressed_tiff_through_open_stack(tmp_path, rng):
    data = rng.integers(0, 65535, (5, 16, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "lzw.tif", data, compression="lzw")
    with tifffile.TiffFile(tmp_path / "lzw.tif") as tif:
        assert tif.pages[0].compression.name == "LZW"
    stack = open_stack(tmp_path / "lzw.tif")
    assert (stack.n_frames, stack.frame_shape, stack.dtype) == (5, (16, 12, 1), np.uint16)
    got = np.concatenate([b[..., 0].copy() for _, b in stack.iter_blocks(2)])
    assert np.array_equal(got, data)
    stack.reader.close()


def test_jpeg_compressed_rgb_tiff_reads_as_rgb(tmp_path):
    # a smooth image, so that JPEG's loss is a few grey levels
    yy, xx = np.mgrid[0:32, 0:48]
    rgb = np.stack([xx * 5, yy * 7, (xx + yy) * 3], axis=-1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "j.tif", rgb, photometric="rgb", compression="jpeg",
                     compressionargs={"level": 95})
    with tifffile.TiffFile(tmp_path / "j.tif") as tif:  # tifffile stores JPEG as YCbCr
        assert tif.pages[0].photometric.name == "YCBCR"
    with open_reader(tmp_path / "j.tif") as r:
        assert r.channel_names == ("R", "G", "B") and r.frame_shape == (32, 48, 3)
        assert np.abs(r.read_all()[0].astype(int) - rgb).max() <= 8


def test_unknown_compression_names_the_file(tmp_path, rng):
    p = tmp_path / "odd.tif"
    tifffile.imwrite(p, rng.integers(0, 255, (8, 8), dtype=np.uint8))
    raw = bytearray(p.read_bytes())
    with tifffile.TiffFile(p) as tif:  # patch the Compression tag to a code nobody knows
        tag = tif.pages[0].tags["Compression"]
        raw[tag.valueoffset:tag.valueoffset + 2] = (12345).to_bytes(2, "little")
    p.write_bytes(bytes(raw))
    with pytest.raises(DecodeError, match="odd.tif.*no decoder for TIFF compression"):
        open_reader(p)


def test_frames_per_file_counts_full_resolution_pages(tmp_path, rng):
    tifffile.imwrite(tmp_path / "a_1.tif", rng.integers(0, 255, (3, 8, 8), dtype=np.uint8),
                     photometric="minisblack")
    with tifffile.TiffWriter(tmp_path / "a_2.tif") as tw:
        tw.write(rng.integers(0, 255, (8, 8), dtype=np.uint8))
        tw.write(rng.integers(0, 255, (4, 4), dtype=np.uint8), subfiletype=1)  # overview
    tifffile.imwrite(tmp_path / "a_3.tif", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8),
                     photometric="minisblack")
    with open_reader(tmp_path) as r:
        assert r.n_frames == 6 and r.frames_per_file() == [3, 1, 2]
