"""Exact temporal median, in memory and through the on-disk tile store."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badpix.errors import ParameterError
from badpix.stats import MedianCollector, temporal_median


def _nanmedian(frames: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        return np.nanmedian(frames.astype(np.float64), axis=0)


def _frames(dtype, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        x = rng.normal(0.0, 1e3, (n, 7, 9, 2)).astype(dtype)
        x[rng.random(x.shape) < 0.3] = np.nan
        x[:, 0, 0] = np.nan  # a pixel without any value
        x[:, 1, 1] = -np.inf
        x[: n // 2, 1, 2] = np.inf
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (n, 7, 9, 2), dtype=dtype, endpoint=True)
        x[:, 0, :, :] = x[:, 0, :, :] % 3  # many ties
    return x[..., 1]  # strided band view


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 5, 6, 41])
def test_temporal_median_equals_nanmedian(dtype, n):
    x = _frames(dtype, n, seed=n)
    assert np.array_equal(temporal_median(x), _nanmedian(x), equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.uint16, np.int8, np.int16]),
       n=st.integers(1, 300), data=st.data())
def test_small_int_median_any_range(dtype, n, data):
    """The bitwise search uses only the bits of the data's range: narrow, full and
    extreme ranges, signed data, any count (uint8 counters up to 255 frames, wider above)."""
    info = np.iinfo(dtype)
    lo = data.draw(st.integers(int(info.min), int(info.max)), label="lo")
    hi = data.draw(st.integers(lo, min(int(info.max), lo + data.draw(
        st.sampled_from([0, 1, 3, 255, 70000])))), label="hi")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    x = np.random.default_rng(seed).integers(lo, hi, (n, 3, 5), dtype=dtype, endpoint=True)
    assert np.array_equal(temporal_median(x), np.median(x, axis=0))
    assert np.array_equal(temporal_median(x[:, ::-1, ::2]), np.median(x[:, ::-1, ::2], axis=0))


@settings(deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32]),
       n=st.integers(1, 300), width=st.integers(1, 140), data=st.data())
def test_moments_and_median_equal_update_then_median(dtype, n, width, data):
    """The fused pass (8/16-bit) and the fallback give update + temporal_median bit for bit,
    on blocks whose ranges differ (each block searches only its own bits) and strided views."""
    from badpix.stats.median import moments_and_median
    from badpix.stats.moments import MomentAccumulator

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    if np.dtype(dtype).kind == "f":
        x = rng.normal(0, 100, (n, 3, width)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo = data.draw(st.integers(int(info.min), int(info.max)), label="lo")
        span = data.draw(st.sampled_from([0, 1, 200, 70000]), label="span")
        x = rng.integers(lo, min(int(info.max), lo + span), (n, 3, width), dtype=dtype,
                         endpoint=True)
        x[:, 1, : width // 2] = info.min  # a block pinned at one end of the range
    # strided views (as Band.view gives) for every dtype, contiguous for uint16 only: each
    # (dtype, layout) is one more compilation of the fused kernel on a fresh machine
    for frames in (x[:, ::-1, ::2], x) if dtype == np.uint16 else (x[:, ::-1, ::2],):
        fused = MomentAccumulator(frames.shape[1:], frames.dtype)
        got = moments_and_median(frames, fused)
        ref = MomentAccumulator(frames.shape[1:], frames.dtype).update(frames)
        np.testing.assert_array_equal(got, temporal_median(frames))
        np.testing.assert_array_equal(got, np.median(frames.astype(np.float64), axis=0))
        a, b = fused.finalize(), ref.finalize()
        assert fused.n_frames == ref.n_frames == n
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        fused.update(frames)  # and it goes on as an ordinary accumulator
        ref.update(frames)
        np.testing.assert_array_equal(fused.finalize()["var"], ref.finalize()["var"])


def test_temporal_median_even_count_after_nan_and_empty():
    x = np.array([1.0, np.nan, 4.0, 2.0, np.nan, 3.0]).reshape(6, 1, 1)
    assert temporal_median(x)[0, 0] == 2.5
    assert np.isnan(temporal_median(np.zeros((0, 2, 2)))).all()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("block", [1, 4, 16])
def test_collector_spill_matches_in_memory(tmp_path, dtype, block):
    x = _frames(dtype, 23, seed=7)
    n, h, w = x.shape
    ref = _nanmedian(x)
    # a limit of ~2 rows of all frames: several tiles, the last one shorter
    limit = 2 * n * w * x.dtype.itemsize + 1
    mc = MedianCollector((h, w), dtype, n, memory_limit=limit, workdir=tmp_path)
    assert mc.spilled and mc.tile_rows == 2 and mc.path.parent.parent == tmp_path
    for s in range(0, n, block):
        mc.update(x[s:s + block])
    assert mc.path.stat().st_size == x.nbytes  # each frame written once
    assert np.array_equal(mc.finalize(), ref, equal_nan=True)
    assert list(tmp_path.iterdir()) == []

    mem = MedianCollector((h, w), dtype, n, workdir=tmp_path)
    assert not mem.spilled and mem.path is None
    for s in range(0, n, block):
        mem.update(x[s:s + block])
    assert np.array_equal(mem.finalize(), ref, equal_nan=True)


def test_collector_fewer_frames_and_cleanup_on_error(tmp_path):
    x = _frames(np.uint16, 10, seed=3)
    mc = MedianCollector(x.shape[1:], np.uint16, 12, memory_limit=1, workdir=tmp_path)
    mc.update(x[:6]).update(x[6:])
    assert np.array_equal(mc.finalize(), np.median(x.astype(np.float64), axis=0))
    with MedianCollector(x.shape[1:], np.uint16, 10, memory_limit=1, workdir=tmp_path) as bad:
        bad.update(x[:4])
        with pytest.raises(ParameterError):
            bad.update(x[:, :3])
        with pytest.raises(ParameterError):
            bad.update(np.concatenate([x, x])[:7])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ZeroDivisionError), \
            MedianCollector(x.shape[1:], np.uint16, 10, memory_limit=1, workdir=tmp_path) as mc2:
        mc2.update(x[:2])
        _ = 1 / 0
    assert list(tmp_path.iterdir()) == []


def test_big_endian_and_dtype_mismatch():
    x = np.arange(24, dtype=">u2").reshape(4, 2, 3)
    assert np.array_equal(temporal_median(x), np.median(x.astype(np.float64), axis=0))
    with pytest.raises(ParameterError):
        MedianCollector((2, 3), np.uint16, 4).update(x.astype(np.float32))


def test_temporal_median_into_a_strided_out():
    from badpix.errors import ParameterError
    from badpix.stats.median import temporal_median

    x = np.random.default_rng(1).integers(0, 300, (9, 6, 10)).astype(np.uint16)
    big = np.full((6, 20), -1.0)
    got = temporal_median(x, out=big[:, ::2])
    assert np.shares_memory(got, big)
    np.testing.assert_array_equal(big[:, ::2], np.median(x, axis=0))
    assert (big[:, 1::2] == -1).all()
    with pytest.raises(ParameterError, match="out"):
        temporal_median(x, out=np.empty((6, 10), np.float32))
