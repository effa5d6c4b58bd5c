"""badpix against the independent reference on the three real files and longer series."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from badpix.background import (
    BackgroundWarning,
    background,
    rolling_median_background,
    sparse_median_background,
)

from .conftest import FILES, data_file, load, long_series, ref_rolling, ref_sparse, ref_times

SPARSE_SETS = [
    {},                                                          # dcnum defaults
    {"kernel_size": 7, "split_time": 0.2},                       # small kernel, several images
    {"kernel_size": 5, "split_time": 0.05, "frac_cleansing": 1},  # cleansing off
    {"kernel_size": 6, "split_time": 0.1, "thresh_cleansing": 1.0},
    {"kernel_size": 4, "split_time": 0.03, "thresh_cleansing": 0.1, "frac_cleansing": 0.5},
    {"kernel_size": 8, "split_time": 0.02, "offset_correction": False},
]


def _run_sparse(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BackgroundWarning)  # kernel clamped on short files
        return sparse_median_background(path, **kw)


@pytest.mark.parametrize("params", SPARSE_SETS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
@pytest.mark.parametrize("name", FILES)
def test_sparse_matches_reference(name, params):
    frames, meta = load(name)
    r = _run_sparse(data_file(name), **params)
    ref = ref_sparse(frames, ref_times(len(frames), meta), **params)
    np.testing.assert_array_equal(r.kept, ref["kept"])
    np.testing.assert_array_equal(r.index, ref["index"])
    np.testing.assert_array_equal(r.images, ref["images"])
    np.testing.assert_array_equal(r.per_frame(), ref["per_frame"])
    assert r.images.dtype == np.uint8
    if params.get("offset_correction", True):
        np.testing.assert_allclose(r.bg_off, ref["bg_off"], rtol=0, atol=1e-12)
    else:
        assert r.bg_off is None


def test_time_sources_of_real_files():
    r1 = _run_sparse(data_file(FILES[0]), kernel_size=5)
    r3 = _run_sparse(data_file(FILES[2]), kernel_size=5)
    assert r1.time_source == "time" and r3.time_source == "frame / frame rate"
    _, meta = load(FILES[2])
    np.testing.assert_array_equal(r3.times, meta["frame"] / np.float64(2000) - meta["frame"][0] / np.float64(2000))


def test_kernel_clamp_warns():
    with pytest.warns(BackgroundWarning, match="larger than the 13 frames"):
        r = sparse_median_background(data_file(FILES[1]))
    assert r.params["kernel_size_used"] == 13


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("k", [2, 6, 12])
def test_rolling_matches_reference(name, k):
    frames, _ = load(name)
    r = rolling_median_background(data_file(name), kernel_size=k)
    np.testing.assert_array_equal(r.per_frame(), ref_rolling(frames, k))
    assert r.images.shape[0] == len(frames) - k


def test_long_series_sparse_and_rolling():
    series, times = long_series(FILES[0], 500, seed=3)
    for params in ({"kernel_size": 50, "split_time": 0.4},
                   {"kernel_size": 31, "split_time": 0.3, "thresh_cleansing": 2.0}):
        r = sparse_median_background(series, times=times, **params)
        ref = ref_sparse(series, times, **params)
        assert len(r.kept) > 10
        np.testing.assert_array_equal(r.kept, ref["kept"])
        np.testing.assert_array_equal(r.per_frame(), ref["per_frame"])
        np.testing.assert_allclose(r.bg_off, ref["bg_off"], rtol=0, atol=1e-12)
    # small blocks exercise the streaming state across block boundaries
    part = np.ascontiguousarray(series[:300, :, :120])
    r = rolling_median_background(part, kernel_size=40, block_frames=7)
    np.testing.assert_array_equal(r.per_frame(), ref_rolling(part, 40))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_rolling_other_dtypes(dtype):
    rng = np.random.default_rng(7)
    frames = rng.normal(500, 50, (60, 9, 11)).astype(dtype)
    if dtype == np.float32:
        frames[5, 2, 3] = np.nan  # numpy order: NaN sorts last
    r = rolling_median_background(frames, kernel_size=10, block_frames=9)
    assert r.images.dtype == dtype
    np.testing.assert_array_equal(r.per_frame(), ref_rolling(frames, 10))


def test_sparse_other_dtype_and_channels():
    rng = np.random.default_rng(8)
    frames = rng.integers(0, 4000, (40, 30, 6, 3)).astype(np.uint16)
    times = np.arange(40) * 0.1
    r = background(frames, kernel_size=9, split_time=0.5, times=times)
    assert r.images.shape[1:] == (30, 6, 3) and r.images.dtype == np.uint16
    # each kept image is the median of its window
    for img, (s, e) in zip(r.images, r.windows[r.kept], strict=True):
        np.testing.assert_array_equal(img, np.sort(frames[s:e], axis=0)[4])


def test_zero_duration_gives_one_image():
    frames, _ = load(FILES[0])
    with pytest.warns(BackgroundWarning, match="zero duration"):
        r = sparse_median_background(frames[:1], kernel_size=1)
    np.testing.assert_array_equal(r.images[0], frames[0])
    np.testing.assert_allclose(r.bg_off, [0.0])
    with pytest.warns(BackgroundWarning, match="zero duration"):
        r = sparse_median_background(frames[:9], times=np.ones(9), kernel_size=5)
    np.testing.assert_array_equal(r.images[0], np.sort(frames[:5], axis=0)[2])
    assert r.index.tolist() == [0] * 9


def test_rolling_kernel_equal_to_n():
    frames, _ = load(FILES[1])
    r = rolling_median_background(frames[:12], kernel_size=12)
    np.testing.assert_array_equal(r.per_frame(), ref_rolling(frames[:12], 12))
