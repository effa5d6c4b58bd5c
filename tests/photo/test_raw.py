"""Real DNG files (pidng) read back through rawpy: planes, positions, levels, dates, detection."""

from __future__ import annotations

import numpy as np
import pytest

from badpix import open_stack
from badpix.detect.flags import Flag
from badpix.detect.persistent import persistent
from badpix.engine import scan_stack
from badpix.io.badpixels import read_badpixels, write_badpixels
from badpix.io.open import open_reader
from badpix.io.raw import RawReader, bayer_layout, exif_capture_time
from badpix.stats.persistence import persistence_factory

from ._photo_synth import write_dng

T0 = 1_700_000_000.0  # 2023-11-14


def _series(tmp_path, pattern: str, n: int = 10, shape=(64, 96), seed: int = 0):
    """Bayer frames with a hot, a stuck and a dead photosite on every colour plane."""
    rng = np.random.default_rng(seed)
    h, w = shape
    level = {"R": 500.0, "G1": 900.0, "G2": 900.0, "B": 400.0}
    lay = bayer_layout(pattern, (h, w, 1))
    mean = np.zeros(shape)
    for b in lay:
        mean[b.rows[0]::2, b.cols[0]::2] = level[b.name]
    frames = rng.normal(mean, 8.0, (n, h, w))
    planted = {}
    for k, b in enumerate(lay):
        # band pixel (i, j) -> mosaic (r0 + 2i, c0 + 2j); keep them apart and off the edges
        for kind, (i, j) in zip(("hot", "stuck", "dead"),
                                ((4 + 5 * k, 6), (6 + 5 * k, 20), (3 + 5 * k, 35)), strict=True):
            r, c = b.position(i, j)
            planted[(r, c)] = (b.name, kind)
            if kind == "hot":
                frames[:, r, c] += 1500
            elif kind == "stuck":
                frames[:, r, c] = 1234
            else:
                frames[:, r, c] = 0
    mosaics = np.clip(np.rint(frames), 0, 4095).astype(np.uint16)
    paths = [write_dng(tmp_path / f"IMG_{i:04d}.dng", mosaics[i], pattern, black=64,
                       white=4095, when=T0 + 60 * i) for i in range(n)]
    return paths, mosaics, planted


@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
def test_dng_roundtrip_planes_and_detection(tmp_path, pattern):
    paths, mosaics, planted = _series(tmp_path, pattern)
    reader = open_reader(tmp_path)
    assert isinstance(reader, RawReader)
    assert reader.cfa == pattern
    assert reader.frame_shape == (64, 96, 1) and reader.dtype == np.uint16
    assert reader.attrs["black_level"] == [64] * 4 and reader.attrs["white_level"] == 4095
    out = np.empty(reader.frame_shape, np.uint16)
    reader.read_frame(3, out)
    np.testing.assert_array_equal(out[..., 0], mosaics[3])  # the mosaic, not demosaiced
    np.testing.assert_allclose(reader.frame_times(), T0 + 60 * np.arange(10))
    assert [b.name for b in reader.layout] == ["R", "G1", "G2", "B"]

    stack = open_stack(paths, layout=reader.layout)
    result = scan_stack(stack, extra_accumulators=[persistence_factory])
    found = {}
    for name, br in result.bands.items():
        pmask, _ = persistent(br.stats)
        flags = br.flags | np.where(pmask, np.uint8(Flag.PERSISTENT), np.uint8(0))
        for i, j in np.argwhere(flags):
            found[tuple(int(v) for v in br.band.position(i, j))] = (name, int(flags[i, j]))
    for (r, c), (band, kind) in planted.items():
        assert (r, c) in found, f"{kind} pixel on {band} at mosaic ({r}, {c}) not found"
        got_band, bits = found[(r, c)]
        assert got_band == band  # detected on its own colour plane, at its mosaic position
        want = {"hot": Flag.HOT, "stuck": Flag.STUCK, "dead": Flag.DEAD}[kind]
        assert bits & want, (kind, band, r, c, bits)
        if kind == "hot":
            assert bits & Flag.PERSISTENT
    # nothing else: same-colour neighbourhoods see no false defects at colour boundaries
    assert set(found) == set(planted)


def test_badpixels_export_import_roundtrip(tmp_path):
    paths, _, planted = _series(tmp_path, "RGGB", n=8, seed=3)
    reader = RawReader(paths)
    result = scan_stack(open_stack(paths, layout=reader.layout))
    mosaic_mask = np.zeros(reader.frame_shape[:2], bool)
    for br in result.bands.values():
        i, j = np.nonzero(br.flags)
        r, c = br.band.position(i, j)
        mosaic_mask[r, c] = True
    target = tmp_path / "camera.badpixels"
    assert write_badpixels(target, mosaic_mask) == len(planted)
    # full-mosaic, 0-based, "col row unixtime" lines
    r0, c0 = sorted(planted)[0]
    assert f"{c0} {r0} 0" in target.read_text().splitlines()
    back = read_badpixels(target, reader.frame_shape[:2])
    np.testing.assert_array_equal(back, mosaic_mask)


def test_exif_time_from_dng_header(tmp_path):
    p = write_dng(tmp_path / "a.dng", np.zeros((32, 32), np.uint16), when=T0 + 0.0)
    assert exif_capture_time(p) == T0
    q = write_dng(tmp_path / "b.dng", np.zeros((32, 32), np.uint16), when=None)
    assert exif_capture_time(q) is None
    assert RawReader([q]).frame_times() is None


def test_mismatched_cfa_is_reported_or_skipped(tmp_path):
    a = write_dng(tmp_path / "a.dng", np.zeros((32, 32), np.uint16), "RGGB")
    b = write_dng(tmp_path / "b.dng", np.zeros((32, 32), np.uint16), "BGGR")
    from badpix.errors import FrameMismatchError

    with pytest.raises(FrameMismatchError, match="b.dng: cfa BGGR differs"):
        RawReader([a, b])
    r = RawReader([a, b], skip_bad=True)
    assert r.n_frames == 1 and r.skipped[0].label == "b.dng"


def test_not_a_raw_file(tmp_path):
    bad = tmp_path / "x.nef"
    bad.write_bytes(b"not a raw file at all" * 10)
    from badpix.errors import DecodeError

    with pytest.raises(DecodeError, match="x.nef"):
        RawReader([bad])
