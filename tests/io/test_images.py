"""PNG/JPEG/BMP frames through Pillow: shapes, ordering, EXIF times, errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from badpix import open_stack
from badpix.errors import DecodeError, FrameMismatchError, InputError
from badpix.io import open_reader
from badpix.io.image_headers import exif_datetime_to_epoch
from badpix.io.images import ImageFramesReader


def _save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


def _png16_rgb(path, arr: np.ndarray, filters=(0, 1, 2, 3, 4)) -> None:
    """A 16-bit RGB PNG written by hand, using every row filter (Pillow cannot write these)."""
    h, w, _ = arr.shape
    bpp = 6
    raw = arr.astype(">u2").reshape(h, w * bpp // 2).view(np.uint8).astype(np.int32)
    rows = []
    for r in range(h):
        ft = filters[r % len(filters)]
        x = raw[r]
        b = raw[r - 1] if r else np.zeros_like(x)
        a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        c = np.concatenate([np.zeros(bpp, np.int32), b[:-bpp]])
        if ft == 0:
            f = x
        elif ft == 1:
            f = x - a
        elif ft == 2:
            f = x - b
        elif ft == 3:
            f = x - (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            f = x - pred
        rows.append(bytes([ft]) + (f & 0xFF).astype(np.uint8).tobytes())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                     + chunk(b"IEND", b""))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_grey8_folder_natural_order(tmp_path, rng):
    frames = {i: rng.integers(0, 255, (6, 7), dtype=np.uint8) for i in (1, 2, 10)}
    for i, a in frames.items():
        _save(tmp_path / f"frame_{i}.png", a)
    _save(tmp_path / "dark.png", np.zeros((6, 7), np.uint8))
    r = open_reader(tmp_path)
    assert isinstance(r, ImageFramesReader)
    assert [p.name for p in r.paths] == ["frame_1.png", "frame_2.png", "frame_10.png", "dark.png"]
    assert r.frame_shape == (6, 7, 1) and r.dtype == np.uint8 and r.channel_names == ("ch0",)
    stack = r.read_all()
    assert np.array_equal(stack[2, :, :, 0], frames[10])
    assert not stack[3].any()


def test_grey16_and_rgb8(tmp_path, rng):
    a16 = rng.integers(0, 65535, (5, 9), dtype=np.uint16)
    _save(tmp_path / "a.png", a16)
    r = open_reader(tmp_path / "a.png")
    assert r.dtype == np.uint16 and r.frame_shape == (5, 9, 1)
    assert np.array_equal(r.read_all()[0, :, :, 0], a16)

    rgb = rng.integers(0, 255, (4, 5, 3), dtype=np.uint8)
    d = tmp_path / "rgb"
    d.mkdir()
    for i in range(3):
        _save(d / f"c{i}.bmp", np.roll(rgb, i, axis=1))
    r = open_reader(d)
    assert r.channel_names == ("R", "G", "B") and r.frame_shape == (4, 5, 3)
    assert np.array_equal(r.read_all()[2], np.roll(rgb, 2, axis=1))


def test_rgba_alpha_dropped(tmp_path, rng):
    rgba = rng.integers(0, 255, (4, 5, 4), dtype=np.uint8)
    _save(tmp_path / "x.png", rgba)
    r = open_reader(tmp_path / "x.png")
    assert r.frame_shape == (4, 5, 3) and r.attrs["alpha_dropped"] is True
    assert np.array_equal(r.read_all()[0], rgba[:, :, :3])


def test_png16_rgb_keeps_16_bits(tmp_path, rng):
    arr = rng.integers(0, 65535, (9, 11, 3), dtype=np.uint16)
    _png16_rgb(tmp_path / "deep.png", arr)
    r = open_reader(tmp_path / "deep.png")
    assert r.dtype == np.uint16 and r.channel_names == ("R", "G", "B")
    assert np.array_equal(r.read_all()[0], arr)


def _png16_interlaced(path, arr: np.ndarray) -> None:
    """A 16-bit RGB/RGBA Adam7-interlaced PNG written by hand (filter 0 on every row)."""
    h, w, c = arr.shape
    passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2),
              (0, 1, 2, 2), (1, 0, 2, 1)]  # (row0, col0, row step, col step)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes()
                   for r0, c0, dr, dc in passes for row in arr[r0::dr, c0::dc]
                   if row.size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ctype = {3: 2, 4: 6}[c]
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 1))
                     + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_png16_interlaced_and_rgba(tmp_path, rng):
    rgb = rng.integers(0, 65535, (13, 10, 3), dtype=np.uint16)
    rgba = rng.integers(0, 65535, (13, 10, 4), dtype=np.uint16)
    _png16_interlaced(tmp_path / "f1.png", rgb)
    _png16_interlaced(tmp_path / "f2.png", rgba)
    r = open_reader(tmp_path)
    assert r.dtype == np.uint16 and r.frame_shape == (13, 10, 3)
    assert r.attrs["alpha_dropped"] is True
    got = r.read_all()
    assert np.array_equal(got[0], rgb) and np.array_equal(got[1], rgba[:, :, :3])


def test_png16_corrupt_data_names_the_file(tmp_path, rng):
    p = tmp_path / "bad.png"
    _png16_rgb(p, rng.integers(0, 65535, (6, 5, 3), dtype=np.uint16))
    data = p.read_bytes()
    p.write_bytes(data[:41] + bytes(len(data) - 41))  # IDAT body and the rest zeroed
    r = open_reader(p)
    with pytest.raises(DecodeError, match="bad.png"):
        r.read_all()


def test_jpeg_quality_and_exif_times(tmp_path, rng):
    base = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    dates = ["2024:05:01 12:00:00", "2024:05:01 12:00:02", "2024:05:01 12:00:05"]
    for i, date in enumerate(dates):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = date
        _save(tmp_path / f"img_{i}.jpg", base, quality=85, exif=exif)
    r = open_reader(tmp_path)
    assert r.attrs["jpeg_quality"] == 85
    assert r.frame_dates == dates
    t = r.frame_times()
    assert t is not None and np.allclose(np.diff(t), [2.0, 3.0])
    assert t[0] == exif_datetime_to_epoch(dates[0])


def test_frame_times_none_when_a_frame_lacks_exif(tmp_path, rng):
    a = rng.integers(0, 255, (8, 8), dtype=np.uint8)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:00:00"
    _save(tmp_path / "a1.jpg", a, exif=exif)
    _save(tmp_path / "a2.jpg", a)
    r = open_reader(tmp_path)
    assert r.frame_dates == ["2024:05:01 12:00:00", None]
    assert r.frame_times() is None


def test_shape_mismatch_names_file_and_shapes(tmp_path):
    _save(tmp_path / "f1.png", np.zeros((6, 7), np.uint8))
    _save(tmp_path / "f2.png", np.zeros((6, 8), np.uint8))
    with pytest.raises(FrameMismatchError) as info:
        open_reader(tmp_path)
    msg = str(info.value)
    assert "f2.png" in msg and "(6, 8, 1)" in msg and "(6, 7, 1)" in msg


def test_skip_bad_skips_and_records(tmp_path):
    _save(tmp_path / "f1.png", np.zeros((6, 7), np.uint8))
    _save(tmp_path / "f2.png", np.zeros((6, 8), np.uint8))
    (tmp_path / "f3.jpg").write_bytes(b"this is not a jpeg")
    _save(tmp_path / "f4.png", np.ones((6, 7), np.uint8))
    r = open_reader(tmp_path, skip_bad=True)
    assert [p.name for p in r.paths] == ["f1.png", "f4.png"]
    assert [s.label for s in r.skipped] == ["f2.png", "f3.jpg"]


def test_garbage_jpeg_is_decode_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage" * 10)
    with pytest.raises(DecodeError, match="bad.jpg"):
        open_reader(tmp_path / "bad.jpg")


def test_truncated_png_fails_when_decoding(tmp_path, rng):
    good = _save(tmp_path / "t.png", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut
    r = open_reader(good)
    with pytest.raises(DecodeError, match="t.png"):
        r.read_all()


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    _save(tmp_path / "big.png", np.zeros((40, 40), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 px > limit: a "bomb"
    with pytest.raises(DecodeError, match="decompression bomb") as info:
        open_reader(tmp_path / "big.png")
    assert "big.png" in str(info.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # > 2x limit: Pillow's own error
    with pytest.raises(DecodeError, match="decompression bomb"):
        open_reader(tmp_path / "big.png")


def test_empty_folder_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no frame files"):
        open_reader(tmp_path)


def test_open_stack_blocks_and_pickle(tmp_path, rng):
    import pickle

    frames = rng.integers(0, 255, (5, 6, 7, 3), dtype=np.uint8)
    for i, a in enumerate(frames):
        _save(tmp_path / f"f{i}.png", a)
    stack = open_stack(tmp_path)
    assert [b.name for b in stack.bands] == ["R", "G", "B"]
    got = np.concatenate([blk.copy() for _, blk in stack.iter_blocks(2)])
    assert np.array_equal(got, frames)
    clone = pickle.loads(pickle.dumps(stack.reader))
    out = np.empty(clone.frame_shape, clone.dtype)
    clone.read_frame(4, out)
    assert np.array_equal(out, frames[4])


# -- the imagecodecs fast path: Pillow's pixels, Pillow's errors ---------------------------

def _smooth(rng, shape):
    """A photo-like frame (smooth scene + noise) so that JPEG rounding is exercised."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    scene = 128 + 80 * np.sin(yy / 7.0) * np.cos(xx / 11.0)
    if len(shape) == 3:
        scene = scene[..., None] * np.array([1.0, 0.8, 0.6])
        scene = np.broadcast_to(scene[:, :, :shape[2]], shape)
    return np.clip(scene + rng.normal(0, 6, shape), 0, 255).astype(np.uint8)


@pytest.fixture
def spy_imagecodecs(monkeypatch):
    """Count the imagecodecs decodes, to prove which path a frame took."""
    import imagecodecs

    calls = []
    for name in ("jpeg8_decode", "png_decode"):
        real = getattr(imagecodecs, name)

        def spy(*a, _real=real, _name=name, **kw):
            calls.append(_name)
            return _real(*a, **kw)

        monkeypatch.setattr(imagecodecs, name, spy)
    return calls


@pytest.mark.parametrize("shape", [(37, 61, 3), (37, 61)], ids=["rgb", "grey"])
@pytest.mark.parametrize("kw", [{"quality": 92}, {"quality": 75, "progressive": True},
                                {"quality": 90, "subsampling": 0},
                                {"quality": 85, "restart_marker_blocks": 2}],
                         ids=["baseline", "progressive", "444", "restart"])
def test_jpeg_fast_path_gives_pillows_pixels(tmp_path, rng, spy_imagecodecs, shape, kw):
    paths = [_save(tmp_path / f"f{i}.jpg", _smooth(rng, shape), **kw) for i in range(2)]
    r = open_reader(tmp_path)
    out = np.empty((2, *r.frame_shape), r.dtype)
    r.read_frames(0, 2, out)
    assert spy_imagecodecs == ["jpeg8_decode"] * 2
    for p, got in zip(paths, out, strict=True):
        ref = np.asarray(Image.open(p))
        assert np.array_equal(got, ref.reshape(got.shape))
    # a non-contiguous destination takes the same path through a temporary
    wide = np.zeros((*r.frame_shape[:2], r.frame_shape[2] * 2), np.uint8)
    r.read_frame(1, wide[:, :, ::2])
    assert np.array_equal(wide[:, :, ::2], out[1]) and not wide[:, :, 1::2].any()


def test_png8_fast_path_gives_pillows_pixels(tmp_path, rng, spy_imagecodecs):
    rgb = _save(tmp_path / "a.png", _smooth(rng, (20, 30, 3)))
    grey = _save(tmp_path / "b.png", _smooth(rng, (20, 30)))
    for p, n_fast in ((rgb, 1), (grey, 2)):
        r = open_reader(p)
        out = np.empty(r.frame_shape, r.dtype)
        r.read_frame(0, out)
        assert np.array_equal(out, np.asarray(Image.open(p)).reshape(out.shape))
        assert spy_imagecodecs == ["png_decode"] * n_fast
    # palette, alpha and CMYK stay with Pillow (conversions)
    Image.fromarray(_smooth(rng, (20, 30, 3))).convert("P").save(tmp_path / "p.png")
    Image.fromarray(_smooth(rng, (20, 30, 3))).convert("CMYK").save(tmp_path / "c.jpg")
    for name in ("p.png", "c.jpg"):
        r = open_reader(tmp_path / name)
        out = np.empty(r.frame_shape, r.dtype)
        r.read_frame(0, out)
        assert np.array_equal(out, np.asarray(Image.open(tmp_path / name).convert("RGB")))
    assert spy_imagecodecs == ["png_decode"] * 2


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("cut", ["eoi", "half", "header"])
def test_truncated_or_corrupt_jpeg_is_decode_error(tmp_path, rng, progressive, cut):
    p = _save(tmp_path / "t.jpg", _smooth(rng, (64, 64, 3)), progressive=progressive)
    r = open_reader(p)
    data = p.read_bytes()
    if cut == "eoi":  # only the end-of-image marker is missing
        p.write_bytes(data[:-2])
    elif cut == "half":  # libjpeg alone would pad this with grey rows
        p.write_bytes(data[: len(data) // 2])
    else:  # the frame header overwritten
        sof = data.index(b"\xff\xc2" if progressive else b"\xff\xc0")
        p.write_bytes(data[:sof] + b"\x00" * 64 + data[sof + 64:])
    out = np.zeros(r.frame_shape, r.dtype)
    with pytest.raises(DecodeError, match="t.jpg"):
        r.read_frame(0, out)


def test_jpeg_replaced_by_other_size_is_decode_error(tmp_path, rng):
    p = _save(tmp_path / "x.jpg", _smooth(rng, (32, 48, 3)))
    r = open_reader(p)
    out = np.zeros(r.frame_shape, r.dtype)
    r.read_frame(0, out)
    for shape in ((32, 40, 3), (40, 48, 3), (48, 32, 3), (32, 48)):
        _save(p, _smooth(rng, shape))
        if len(shape) == 2:  # same size, now grey: converted, as Pillow would
            r.read_frame(0, out)
            assert np.array_equal(out, np.asarray(Image.open(p).convert("RGB")))
            continue
        with pytest.raises(DecodeError, match="x.jpg") as info:
            r.read_frame(0, out)
        assert f"{shape[0]}x{shape[1]}" in str(info.value)


def test_jpeg_with_trailing_data_and_mpo(tmp_path, rng):
    a, b = _smooth(rng, (24, 40, 3)), _smooth(rng, (24, 40, 3))
    p = _save(tmp_path / "tail.jpg", a)
    p.write_bytes(p.read_bytes() + b"camera trailer \xff\xd9 bytes")
    Image.fromarray(a).save(tmp_path / "multi.jpg", "MPO", save_all=True,
                            append_images=[Image.fromarray(b)])
    for name in ("tail.jpg", "multi.jpg"):
        r = open_reader(tmp_path / name)
        out = np.empty(r.frame_shape, r.dtype)
        r.read_frame(0, out)
        with Image.open(tmp_path / name) as im:
            assert np.array_equal(out, np.asarray(im))


def test_png8_fast_path_ignores_gamma_and_sbit_like_pillow(tmp_path, rng, spy_imagecodecs):
    import struct

    from PIL import PngImagePlugin

    a = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 100000))
    info.add(b"sBIT", bytes([5, 5, 5]))
    Image.fromarray(a).save(tmp_path / "g.png", pnginfo=info)
    r = open_reader(tmp_path / "g.png")
    out = np.empty(r.frame_shape, r.dtype)
    r.read_frame(0, out)
    assert spy_imagecodecs == ["png_decode"]
    assert np.array_equal(out, a) and np.array_equal(out, np.asarray(Image.open(tmp_path / "g.png")))
