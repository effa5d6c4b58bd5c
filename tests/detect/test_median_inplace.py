"""``median_inplace`` is ``float(np.median(a))`` bit for bit, on numpy's path and the radix one.

Small arrays are forced through the radix selection by lowering its size
threshold; the gather limits pick which half of it runs: gathering at once
(the serial buffer selection) or never (only whole-array passes).
"""

from __future__ import annotations

import importlib
from unittest import mock

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# the module of the scalar median (moved from badpix.detect.outlier, issue 21)
outlier = importlib.import_module("badpix.stats.scalar_median")

PATHS = {
    "numpy": {"_FAST_MEDIAN_MIN": 1 << 62},
    "buffer": {"_FAST_MEDIAN_MIN": 0},  # everything fits the gather limit
    "passes": {"_FAST_MEDIAN_MIN": 0, "_GATHER_MIN": 0, "_GATHER_DIV": 1 << 62},
}
SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308,
           1e-300, 1.0, -1.0, 1.5, 1e308, -1e308, 1.7976931348623157e308,
           -1.7976931348623157e308, np.inf, -np.inf]
values = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-3, 3).map(float),  # ties
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e-3, 1e-3),  # neighbours of zero, denormals included
)


def bits(x: float) -> bytes:
    return np.float64(x).tobytes()


def check(x: np.ndarray, path: str) -> None:
    with np.errstate(all="ignore"):  # sums of huge pairs overflow in np.median too
        want = float(np.median(x))
        with mock.patch.multiple(outlier, **PATHS[path]):
            got = outlier.median_inplace(x.copy())
    assert isinstance(got, float)
    assert bits(got) == bits(want), (got, want)


@pytest.mark.parametrize("path", list(PATHS))
@settings(max_examples=300, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 200), elements=values))
def test_matches_numpy_median(path, x):
    check(x, path)


@pytest.mark.parametrize("path", ["buffer", "passes"])
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20_000),
       kind=st.sampled_from(["normal", "zeros", "signed_zeros", "ties", "equal", "tiny", "huge",
                             "two_values", "abs"]))
def test_matches_numpy_median_large(path, seed, n, kind):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, n)
    if kind == "zeros":
        x[rng.random(n) < rng.random()] = 0.0
    elif kind == "signed_zeros":
        x[rng.random(n) < 0.6] = 0.0
        x[rng.random(n) < 0.3] = -0.0
    elif kind == "ties":
        x = np.round(x * 2) / 4
    elif kind == "equal":
        x[:] = x[0]
    elif kind == "tiny":
        x *= 5e-324 * 1000  # denormals (many round to +-0.0 or the smallest ones)
    elif kind == "huge":
        x = np.sign(x) * 1.7976931348623157e308 / rng.integers(1, 4, n)
    elif kind == "two_values":
        x = np.where(x < 0, -1.0, 2.0)
    elif kind == "abs":
        x[rng.random(n) < 0.2] = 0.0
        x = np.abs(x - np.median(x))
    check(x, path)


@pytest.mark.parametrize("n", [4_000_000, 4_000_001])
def test_realistic_size_takes_the_radix_path(n):
    """A band's deviations: normal with many exact zeros, its centre and then its MAD."""
    rng = np.random.default_rng(n)
    x = rng.normal(0, 3, n)
    x[rng.random(n) < 0.25] = 0.0
    for a in (x, np.abs(x - 0.3)):
        want = float(np.median(a))
        c = a.copy()
        got = outlier.median_inplace(c)
        assert bits(got) == bits(want), (got, want)
        assert np.array_equal(c, a)  # left alone: the radix path ran, not numpy's partition


def test_infinities_fall_back_to_numpy():
    x = np.r_[np.arange(2_000.0), np.inf, -np.inf]
    with mock.patch.multiple(outlier, **PATHS["passes"]):
        assert outlier._radix_median(x) is None
        assert outlier.median_inplace(x.copy()) == float(np.median(x))
