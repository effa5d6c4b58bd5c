"""64-bit integer moments (issue 19): exact min/max, mean/var right near the dtype's ends."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from badpix.stats.moments import MomentAccumulator


def _exact(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance per pixel with Python integers (exact rationals)."""
    n, h, w = x.shape
    mean = np.empty((h, w))
    var = np.empty((h, w))
    for r in range(h):
        for c in range(w):
            v = [int(t) for t in x[:, r, c]]
            m = Fraction(sum(v), n)
            mean[r, c] = float(m)
            var[r, c] = float(sum((t - m) ** 2 for t in v) / n)
    return mean, var


def _frames(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    spread = rng.integers(0, 5000, (9, 3, 4))
    if dtype == "uint64":
        return np.uint64(2**64 - 1) - spread.astype(np.uint64)
    top = np.iinfo(np.int64).max - spread
    top[:, 0] = np.iinfo(np.int64).min + spread[:, 0]  # a row at the other end
    return top.astype(np.int64)


@pytest.mark.parametrize("dtype", ["uint64", "int64"])
def test_values_near_the_ends_of_64_bits(dtype):
    x = _frames(dtype)
    a = MomentAccumulator((3, 4), dtype).update(x[:2]).update(x[2:5])
    b = MomentAccumulator((3, 4), dtype).update(x[5:])
    # merge of accumulators with different first frames, then a checkpoint round trip
    acc = MomentAccumulator.from_state(a.merge(b).state())
    r = acc.finalize()
    mean, var = _exact(x)
    assert r["min"].dtype == r["max"].dtype == np.dtype(dtype)
    assert np.array_equal(r["min"], x.min(0)) and np.array_equal(r["max"], x.max(0))
    assert np.all(var > 1e5)  # float64 of the raw values gave 0 here (steps of 4096)
    np.testing.assert_allclose(r["var"], var, rtol=1e-12)
    np.testing.assert_allclose(r["std"], np.sqrt(var), rtol=1e-12)
    np.testing.assert_allclose(r["mean"], mean, rtol=1e-15)
    assert (r["count"] == 9).all() and acc.n_frames == 9


def test_merge_into_an_empty_accumulator():
    x = _frames("uint64")
    empty = MomentAccumulator((3, 4), np.uint64)
    r = empty.merge(MomentAccumulator((3, 4), np.uint64).update(x)).finalize()
    np.testing.assert_allclose(r["var"], _exact(x)[1], rtol=1e-12)
    assert np.array_equal(r["max"], x.max(0))
    nothing = MomentAccumulator((3, 4), np.uint64).finalize()
    assert np.isnan(nothing["mean"]).all()
