"""MomentAccumulator: exactness, chunk/order independence, merging, NaN, persistence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badpix.errors import ParameterError
from badpix.stats import MomentAccumulator, compute_band_stats

INT_DTYPES = [np.uint8, np.uint16, np.int16, np.int32, np.uint32]
SETTINGS = settings(max_examples=25, deadline=None)


def _ints(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def _stats(frames: np.ndarray, splits: list[int]) -> dict[str, np.ndarray]:
    acc = MomentAccumulator(frames.shape[1:], frames.dtype)
    edges = [0, *splits, frames.shape[0]]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        acc.update(frames[a:b])
    return acc.finalize()


def _reference(frames: np.ndarray) -> dict[str, np.ndarray]:
    f = frames.astype(np.float64)
    return {"mean": f.mean(0), "var": f.var(0), "min": f.min(0), "max": f.max(0)}


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_full_range_matches_numpy(dtype):
    rng = np.random.default_rng(1)
    # full dtype range, and a strided band view like Band.view(block)
    block = _ints(rng, dtype, (23, 6, 9, 3))
    frames = block[:, 1:5, 2:9, 1]
    r = _stats(frames, [5, 6, 17])
    ref = _reference(frames)
    assert np.array_equal(r["min"], ref["min"]) and np.array_equal(r["max"], ref["max"])
    np.testing.assert_allclose(r["mean"], ref["mean"], rtol=1e-14)
    np.testing.assert_allclose(r["var"], ref["var"], rtol=1e-12)
    np.testing.assert_allclose(r["std"], np.sqrt(ref["var"]), rtol=1e-12)
    assert r["count"].dtype == np.int64 and (r["count"] == 23).all()


def test_integer_variance_exact_for_small_values():
    # small integers: n^2 var = n S2 - S1^2 is an exact integer, var one rounding away
    x = np.array([1, 2, 3, 4, 4], np.uint16).reshape(5, 1, 1)
    r = _stats(x, [2])
    n, s1, s2 = 5, 14, 46
    assert r["var"][0, 0] == (n * s2 - s1 * s1) / n**2
    assert r["mean"][0, 0] == 14 / 5


@SETTINGS
@given(dtype=st.sampled_from([np.uint8, np.uint16, np.int32]),
       n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_integer_bit_identical_for_any_chunking_and_order(dtype, n, seed, data):
    rng = np.random.default_rng(seed)
    frames = _ints(rng, dtype, (n, 3, 5, 2))[..., 1]  # strided, as Band.view gives
    splits = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    perm = rng.permutation(n)
    one = _stats(frames, [])
    for other in (_stats(frames, splits), _stats(frames[perm], splits)):
        for key in one:
            assert np.array_equal(one[key], other[key]), key


@SETTINGS
@given(dtype=st.sampled_from([np.uint16, np.int16, np.int32]),
       n=st.integers(2, 30), k=st.integers(1, 29), seed=st.integers(0, 2**32 - 1))
def test_integer_merge_equals_one_pass(dtype, n, k, seed):
    rng = np.random.default_rng(seed)
    frames = _ints(rng, dtype, (n, 4, 3, 2))[..., 0]
    k = min(k, n - 1)
    a = MomentAccumulator((4, 3), dtype).update(frames[:k])
    b = MomentAccumulator((4, 3), dtype).update(frames[k:])
    merged = b.merge(a).finalize()  # merge order reversed too
    one = _stats(frames, [])
    for key in one:
        assert np.array_equal(merged[key], one[key]), key
    assert b.n_frames == n


@SETTINGS
@given(dtype=st.sampled_from([np.float32, np.float64]), n=st.integers(2, 50),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_float_chunking_order_merge_agree(dtype, n, seed, data):
    rng = np.random.default_rng(seed)
    frames = (rng.normal(1000.0, 5.0, (n, 3, 4)) * rng.choice([1e-3, 1.0, 1e3])).astype(dtype)
    frames[rng.random(frames.shape) < 0.2] = np.nan
    splits = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    one = _stats(frames, [])
    many = _stats(frames[rng.permutation(n)], splits)
    k = data.draw(st.integers(1, n - 1))
    merged = (MomentAccumulator((3, 4), dtype).update(frames[:k])
              .merge(MomentAccumulator((3, 4), dtype).update(frames[k:])).finalize())
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            f = frames.astype(np.float64)
            ref = {"mean": np.nanmean(f, 0), "var": np.nanvar(f, 0)}
    for other in (many, merged):
        assert np.array_equal(other["count"], one["count"])
        for key in ("min", "max"):
            assert np.array_equal(other[key], one[key], equal_nan=True)
        for key in ("mean", "var"):
            np.testing.assert_allclose(other[key], one[key], rtol=1e-12, atol=0)
            np.testing.assert_allclose(other[key], ref[key], rtol=1e-10, atol=0)
    assert np.array_equal(one["count"], (~np.isnan(frames)).sum(0))


def test_nan_only_pixel_and_empty_accumulator():
    x = np.ones((4, 2, 2), np.float32)
    x[:, 0, 1] = np.nan
    r = _stats(x, [1])
    assert r["count"][0, 1] == 0 and r["count"][0, 0] == 4
    for key in ("mean", "var", "std", "min", "max"):
        assert np.isnan(r[key][0, 1]) and r[key][0, 0] == (0.0 if key in ("var", "std") else 1.0)
    empty = MomentAccumulator((2, 2), np.uint8).finalize()
    assert (empty["count"] == 0).all() and np.isnan(empty["mean"]).all()


def test_flush_of_compact_sums_is_exact():
    # force many flushes: uint8 compact sums hold 66051 frames; use a tiny limit
    rng = np.random.default_rng(3)
    x = _ints(rng, np.uint8, (50, 3, 3))
    acc = MomentAccumulator((3, 3), np.uint8)
    acc._flush_every = 7  # noqa: SLF001 - exercising the overflow guard path
    acc.update(x[:20]).update(x[20:])
    ref = _stats(x, [])
    got = acc.finalize()
    for key in ref:
        assert np.array_equal(got[key], ref[key]), key


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_save_load_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 1000, (12, 5, 6)).astype(dtype)
    acc = MomentAccumulator((5, 6), dtype).update(x[:7])
    path = acc.save(tmp_path / "state" / "band.npz")
    with np.load(path, allow_pickle=False) as data:
        assert "n_frames" in data.files
    back = MomentAccumulator.load(path)
    assert back.n_frames == 7 and back.dtype == np.dtype(dtype)
    back.update(x[7:])
    ref = _stats(x, [7])
    got = back.finalize()
    for key in ref:
        assert np.array_equal(got[key], ref[key], equal_nan=True), key
    assert sorted(p.name for p in path.parent.iterdir()) == ["band.npz"]  # no temp left


def test_bad_inputs_raise_badpix_errors():
    acc = MomentAccumulator((2, 2), np.uint8)
    with pytest.raises(ParameterError):
        acc.update(np.zeros((1, 2, 3), np.uint8))
    with pytest.raises(ParameterError):
        acc.update(np.zeros((1, 2, 2), np.uint16))
    with pytest.raises(ParameterError):
        acc.merge(MomentAccumulator((2, 2), np.uint16))


def test_compute_band_stats():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4096, (11, 6, 7), dtype=np.uint16)
    s = compute_band_stats(x, name="L2")
    f = x.astype(np.float64)
    assert s.name == "L2" and s.n_frames == 11 and s.shape == (6, 7)
    assert s.value_range == (0.0, 65535.0)
    np.testing.assert_allclose(s.std, f.std(0), rtol=1e-12)
    assert np.array_equal(s.median, np.median(f, 0))
    xf = x.astype(np.float32)
    xf[0, 0, 0] = np.nan
    sf = compute_band_stats(xf, with_median=False)
    assert sf.median is None
    assert sf.value_range == (float(np.nanmin(xf)), float(np.nanmax(xf)))


def test_big_endian_input():
    x = np.arange(24, dtype=">u2").reshape(4, 2, 3)
    got = MomentAccumulator((2, 3), ">u2").update(x).finalize()
    ref = _stats(x.astype(np.uint16), [])
    for key in ref:
        assert np.array_equal(got[key], ref[key]), key


def test_alloc_hook_and_array_hand_over():
    from badpix.stats.moments import MomentAccumulator

    made = []

    def alloc(shape, dtype, fill):
        made.append((np.dtype(dtype).name, fill))
        return np.full(shape, fill, dtype)

    rng = np.random.default_rng(4)
    for dtype in (np.uint8, np.int16, np.uint32, np.float32):
        made.clear()
        x = (rng.normal(100, 9, (7, 5, 6))).astype(dtype)
        acc = MomentAccumulator((5, 6), dtype, alloc=alloc).update(x[:3]).update(x[3:])
        assert {id(a) for a in acc.arrays().values()} and len(made) == len(acc.arrays())
        ref = MomentAccumulator((5, 6), dtype).update(x[:3]).update(x[3:]).finalize()
        handed = acc.with_arrays({}).with_arrays({k: v.copy() for k, v in acc.arrays().items()})
        for key, value in handed.finalize().items():
            np.testing.assert_array_equal(value, ref[key], err_msg=f"{dtype} {key}")
