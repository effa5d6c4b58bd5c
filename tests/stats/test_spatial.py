"""Local median / mean / variance against scipy.ndimage."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from badpix.errors import ParameterError
from badpix.stats import local_mean, local_median, local_std, local_variance

MODES = ["reflect", "nearest", "mirror", "constant", "wrap"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, (3, 5), 7, 9])
def test_local_median_equals_scipy(mode, size):
    rng = np.random.default_rng(11)
    img = rng.integers(0, 300, (29, 34)).astype(np.uint16)  # ties
    assert np.array_equal(local_median(img, size, mode), ndi.median_filter(img, size, mode=mode))
    f = rng.normal(size=(23, 31))
    assert np.array_equal(local_median(f, size, mode), ndi.median_filter(f, size, mode=mode))


def _nan_rank_median(values: np.ndarray) -> float:
    v = np.sort(values[~np.isnan(values)])
    return v[len(v) // 2] if len(v) else np.nan


@pytest.mark.parametrize("size", [3, (2, 4), 9])
def test_local_median_ignores_nan(size):
    rng = np.random.default_rng(12)
    img = rng.normal(size=(24, 27))
    img[rng.random(img.shape) < 0.25] = np.nan
    img[:6, :6] = np.nan
    ref = ndi.generic_filter(img, _nan_rank_median, size=size, mode="reflect")
    assert np.array_equal(local_median(img, size), ref, equal_nan=True)
    assert np.isnan(local_median(img, 3)[2, 2])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [2, 3, (3, 5), 5])
def test_local_variance_matches_generic_filter(mode, size):
    rng = np.random.default_rng(13)
    for img in (rng.normal(100.0, 3.0, (26, 30)),
                rng.normal(62000, 40, (26, 30)).astype(np.uint16)):  # large mean
        f = img.astype(np.float64)
        ref = ndi.generic_filter(f, np.var, size=size, mode=mode)
        np.testing.assert_allclose(local_variance(img, size, mode), ref, rtol=1e-9, atol=0)
        np.testing.assert_allclose(local_std(img, size, mode), np.sqrt(ref), rtol=1e-9, atol=0)
        np.testing.assert_allclose(local_mean(img, size, mode),
                                   ndi.generic_filter(f, np.mean, size=size, mode=mode),
                                   rtol=1e-12, atol=0)


def test_local_variance_nan_aware_and_flat():
    rng = np.random.default_rng(14)
    img = rng.normal(5.0, 2.0, (20, 22))
    img[rng.random(img.shape) < 0.2] = np.nan
    img[:5, :5] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        ref_v = ndi.generic_filter(img, np.nanvar, size=3, mode="nearest")
        ref_m = ndi.generic_filter(img, np.nanmean, size=3, mode="nearest")
    got_v = local_variance(img, 3, "nearest")
    assert np.array_equal(np.isnan(got_v), np.isnan(ref_v)) and np.isnan(got_v[1, 1])
    np.testing.assert_allclose(got_v, ref_v, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(local_mean(img, 3, "nearest"), ref_m, rtol=1e-12)
    flat = np.full((8, 9), 40000, np.uint16)
    assert (local_variance(flat, 3) == 0).all()


def test_bad_arguments():
    with pytest.raises(ParameterError):
        local_median(np.zeros((3, 3)), 3, mode="bogus")
    with pytest.raises(ParameterError):
        local_variance(np.zeros((3, 3, 3)))
    with pytest.raises(ParameterError):
        local_mean(np.zeros((3, 3)), 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [3, 5, (5, 2), (1, 4), (4, 1), 8])
@pytest.mark.parametrize("shape", [(1, 300), (3, 257), (130, 5), (7, 129)])
def test_local_median_chunks_and_edges_equal_scipy(mode, size, shape):
    """Edge columns by index arithmetic and row chunks of 128 columns, NaN-free fast path."""
    rng = np.random.default_rng(17)
    img = rng.integers(0, 40, shape).astype(np.float64)  # many ties
    ref = ndi.median_filter(img, size, mode=mode, cval=7.5)
    assert np.array_equal(local_median(img, size, mode, cval=7.5), ref)


@pytest.mark.parametrize("mode", MODES)
def test_local_median_with_nan_every_mode(mode):
    rng = np.random.default_rng(18)
    img = rng.normal(size=(19, 140))
    img[rng.random(img.shape) < 0.1] = np.nan
    ref = ndi.generic_filter(img, _nan_rank_median, size=(3, 5), mode=mode, cval=1.5)
    assert np.array_equal(local_median(img, (3, 5), mode, cval=1.5), ref, equal_nan=True)


@pytest.mark.parametrize("mode", MODES)
def test_local_median_at_equals_full_filter(mode):
    from badpix.stats.spatial import local_median_at

    rng = np.random.default_rng(19)
    img = rng.normal(size=(21, 33))
    img[rng.random(img.shape) < 0.1] = np.nan
    ys, xs = np.nonzero(rng.random(img.shape) < 0.2)
    full = local_median(img, 5, mode, cval=2.0)[ys, xs]
    assert np.array_equal(local_median_at(img, ys, xs, 5, mode, cval=2.0), full, equal_nan=True)


@pytest.mark.parametrize("groups", [(1,) * 5, (5, 5), (10, 10, 5), (6, 3), (14, 14, 14, 7), (2, 2, 1)])
def test_merge_network_on_sorted_groups(groups):
    from badpix.stats.spatial import merge_network

    rng = np.random.default_rng(len(groups))
    n = sum(groups)
    a = np.concatenate([np.sort(rng.integers(0, 6, (300, g)), axis=1) for g in groups], axis=1)
    for rank in (None, n // 2):
        pairs, order = merge_network(groups, rank)
        b = a.astype(np.float64)
        for i, j in pairs:
            lo = np.minimum(b[:, i], b[:, j])
            b[:, j] = np.maximum(b[:, i], b[:, j])
            b[:, i] = lo
        want = np.sort(a, axis=1)
        if rank is None:
            assert np.array_equal(b[:, order], want)
        else:
            assert np.array_equal(b[:, order[0]], want[:, rank])


@pytest.mark.parametrize("cval", [0.0, 5.0, np.nan])
@pytest.mark.parametrize("size", [3, 5, 9])
@pytest.mark.parametrize("with_nan", [False, True])
def test_local_median_constant_edges_nan_aware(cval, size, with_nan):
    """NaN is ignored wherever it comes from: the image or a NaN ``cval`` outside it."""
    img = np.random.default_rng(size).normal(size=(14, 17))
    if with_nan:
        img[3, 4] = img[0, 16] = np.nan
    pad = np.pad(img, size // 2, constant_values=cval)
    ref = np.empty(img.shape)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            w = pad[y:y + size, x:x + size].ravel()
            w = np.sort(w[~np.isnan(w)])
            ref[y, x] = w[len(w) // 2] if len(w) else np.nan
    assert np.array_equal(local_median(img, size, "constant", cval), ref, equal_nan=True)
