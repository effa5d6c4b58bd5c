"""Persistence and onset accumulators against brute-force references; strided Bayer bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from badpix.errors import LayoutError, ParameterError
from badpix.layout import Band, Layout, parse_layout
from badpix.stats.median3x3 import median3x3
from badpix.stats.onset import OnsetAccumulator, capture_order, onset_from_bits
from badpix.stats.persistence import PersistenceAccumulator, PersistenceParams
from badpix.stats.standout import frame_thresholds, standout_counts


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_standout_counts_match_scipy_median(dtype):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 60, (6, 21, 34)).astype(dtype)
    thr = np.array([3, 0, 7.5, 10, 2, 40.0])
    hot = np.zeros((21, 34), np.uint32)
    dead = hot.copy()
    valid = hot.copy()
    standout_counts(frames[:, ::1, ::1], thr, hot, dead, valid)
    med = np.stack([ndimage.median_filter(f.astype(np.float64), 3, mode="nearest")
                    for f in frames])
    x = frames.astype(np.float64)
    np.testing.assert_array_equal(hot, ((x - med) > thr[:, None, None]).sum(0))
    np.testing.assert_array_equal(dead, ((med - x) > thr[:, None, None]).sum(0))


def test_strided_band_view_gives_same_counts_as_a_copy():
    rng = np.random.default_rng(4)
    block = rng.integers(0, 4000, (5, 20, 30, 1)).astype(np.uint16)
    band = Band("G2", 0, (1, 20), (0, 30), 2, 2)
    a = PersistenceAccumulator(band.shape, np.uint16)
    b = PersistenceAccumulator(band.shape, np.uint16)
    a.update(band.view(block), 0)
    b.update(np.ascontiguousarray(block[:, 1::2, 0::2, 0]), 0)
    np.testing.assert_array_equal(a.hot, b.hot)
    np.testing.assert_array_equal(a.dead, b.dead)


def test_median3x3_matches_scipy():
    a = np.random.default_rng(5).integers(0, 255, (37, 53)).astype(np.uint8)
    np.testing.assert_array_equal(median3x3(a), ndimage.median_filter(a, 3, mode="nearest"))


def test_threshold_default_follows_noise_and_floor():
    rng = np.random.default_rng(6)
    quiet = np.full((2, 64, 64), 100, np.uint8)
    assert frame_thresholds(quiet, PersistenceParams()).tolist() == [20.0, 20.0]
    noisy = rng.normal(1000, 30, (1, 128, 128))
    (t,) = frame_thresholds(noisy, PersistenceParams())
    # |x - med3x3| of white noise has a median of about 0.59 sigma: 6 x 1.4826 x 0.59 x 30
    assert 135 < t < 180
    assert frame_thresholds(noisy, PersistenceParams(persistence_dn=5.0)).tolist() == [5.0]


def test_merge_and_state_roundtrip():
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 200, (12, 9, 11)).astype(np.uint8)
    frames[:, 4, 5] = 255
    whole = OnsetAccumulator((9, 11), np.uint8, 12)
    whole.update(frames, 0)
    a = OnsetAccumulator((9, 11), np.uint8, 12)
    b = OnsetAccumulator((9, 11), np.uint8, 12)
    a.update(frames[:5], 0)
    b.update(frames[5:], 5)
    a.merge(OnsetAccumulator.from_state(b.state()))
    fa, fw = a.finalize(), whole.finalize()
    for key in fw:
        np.testing.assert_array_equal(fa[key], fw[key])
    p = PersistenceAccumulator.from_state(PersistenceAccumulator((9, 11), np.float32).state())
    assert p.valid is not None and p.dtype == np.float32


def _onset_reference(bits: np.ndarray, p: float, min_frames: int) -> int:
    n = bits.size
    best, arg = 0, n
    for t in range(n - 1, -1, -1):
        s = int(np.sum(2 * bits[t:].astype(int) - 1))
        if s > 0 and s >= best:
            best, arg = s, t
    run = n - arg
    if run >= min_frames and run > 0 and bits[arg:].mean() >= p:
        return arg
    return -1


def test_onset_kernel_matches_brute_force():
    rng = np.random.default_rng(8)
    n, npx = 37, 400
    truth = rng.integers(0, n + 1, npx)  # n means "never"
    noise_rate = rng.uniform(0, 0.15, npx)
    bits = rng.random((n, npx)) < noise_rate
    for k in range(npx):
        bits[truth[k]:, k] |= rng.random(n - truth[k]) < 0.97
    rank, _ = onset_from_bits(np.packbits(bits[:, None, :], axis=0), n, 0.9)
    min_frames = max(3, math.ceil(n / 10))
    ref = [_onset_reference(bits[:, k], 0.9, min_frames) for k in range(npx)]
    np.testing.assert_array_equal(rank[0], ref)
    # with up to 15 % stray stand-outs before the onset and 3 % misses after it,
    # almost every onset is within one frame of the truth
    found = rank[0] >= 0
    assert np.mean(np.abs(rank[0][found] - truth[found]) <= 1) >= 0.9


def test_capture_order_maps_onset_back_to_file_frames():
    rng = np.random.default_rng(9)
    times = rng.permutation(20).astype(float) * 3600
    frames = rng.integers(90, 110, (20, 8, 8)).astype(np.uint16)
    order = capture_order(times, 20)
    frames[order[8:], 3, 3] += 500  # hot from the 9th photo in time
    acc = OnsetAccumulator((8, 8), np.uint16, 20, times=times)
    for s in range(0, 20, 6):
        acc.update(frames[s:s + 6], s)
    out = acc.finalize()
    assert out["onset_frame"][3, 3] == 8  # capture order
    assert out["onset_index"][3, 3] == order[8]  # the file's position
    assert out["onset_time"][3, 3] == times[order[8]]
    assert (out["onset_frame"] >= 0).sum() == 1 and (out["onset_index"] >= 0).sum() == 1


def test_bayer_band_layout_toml_and_errors():
    lay = parse_layout({"bands": {"B": {"rows": [1, 6], "cols": [1, 8], "row_step": 2,
                                        "col_step": 2}}}, "t").bind((6, 8, 1))
    b = lay["B"]
    assert b.shape == (3, 4) and b.position(2, 3) == (5, 7)
    assert b.row_coords().tolist() == [1, 3, 5]
    frames = np.arange(48).reshape(1, 6, 8, 1)
    np.testing.assert_array_equal(b.view(frames)[0], frames[0, 1::2, 1::2, 0])
    with pytest.raises(LayoutError, match="row_step"):
        parse_layout({"bands": {"B": {"row_step": 0}}}, "t")
    with pytest.raises(LayoutError, match="step below 1"):
        Layout((Band("x", 0, (0, -1), (0, -1), 0, 1),)).bind((4, 4, 1))
    with pytest.raises(ParameterError):
        PersistenceParams(persistence=1.5)


def test_more_than_255_frames_in_one_block():
    rng = np.random.default_rng(10)
    frames = rng.integers(0, 30, (300, 5, 6)).astype(np.uint8)
    frames[:, 2, 2] = 200
    acc = PersistenceAccumulator((5, 6), np.uint8, PersistenceParams(persistence_dn=3.0))
    acc.update(frames, 0)
    med = np.stack([ndimage.median_filter(f.astype(float), 3, mode="nearest") for f in frames])
    np.testing.assert_array_equal(acc.hot, ((frames - med) > 3).sum(0))
    assert acc.finalize()["persistence_hot"][2, 2] == 1.0
