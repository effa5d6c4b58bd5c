"""The fast paths of the persistence/onset kernels give the reference results exactly.

* the stand-out kernel on any strides (interleaved RGB bands, Bayer planes, reversed
  or broadcast views) counts and sets bits like scipy's median on a contiguous copy;
* the integer threshold path (int64 residuals, histogram median) gives the same
  thresholds as the float64 residuals + ``np.median`` it replaces;
* the bit store is untouched in rows without stand-outs and exact where there are.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import ndimage

from badpix.stats import standout as S
from badpix.stats.onset import OnsetAccumulator
from badpix.stats.persistence_params import DEFAULT_DN, PersistenceParams
from badpix.stats.standout import frame_thresholds, standout_counts


def _reference(frames: np.ndarray, thr: np.ndarray):
    """Hot/dead counts and per-frame stand-out masks with scipy's median (float64)."""
    x = np.asarray(frames, np.float64)
    med = np.stack([ndimage.median_filter(f, 3, mode="nearest") for f in x])
    t = np.floor(thr) if frames.dtype.kind in "iub" else thr
    hot = (x - med) > t[:, None, None]
    dead = (med - x) > t[:, None, None]
    return hot.sum(0), dead.sum(0), hot | dead


def _views(rng, dtype):
    """(name, frames view) pairs with every stride pattern the kernel specialises."""
    if np.dtype(dtype).kind == "f":
        block = rng.normal(100, 20, (7, 19, 45, 4)).astype(dtype)
    else:
        block = rng.integers(0, 120, (7, 19, 45, 4)).astype(dtype)
        block[rng.random(block.shape) < 0.02] = 250
    return [
        ("contiguous", np.ascontiguousarray(block[..., 0])),
        ("rgb band", np.ascontiguousarray(block[..., :3])[..., 1]),
        ("rgba band", block[..., 2]),
        ("bayer plane", np.ascontiguousarray(block[..., 0])[:, 1::2, ::2]),
        ("every 5th column", np.ascontiguousarray(block[..., 0])[:, :, ::5]),
        ("reversed", block[:, ::-1, ::-1, 1]),
        ("broadcast", np.broadcast_to(block[:1, :, :, 0], (7, 19, 45))),
        ("one column", block[:, :, :1, 0]),
        ("one row", block[:, :1, :, 3]),
    ]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_standout_any_strides_matches_reference(dtype):
    rng = np.random.default_rng(21)
    for name, frames in _views(rng, dtype):
        n, h, w = frames.shape
        thr = np.array([0, 1, 2.5, 7, 15, 40, 300.0])[:n]
        hot = np.zeros((h, w), np.uint32)
        dead = hot.copy()
        valid = hot.copy()
        bits = np.zeros((1, h, w), np.uint8)
        ranks = np.array([3, 0, 6, 1, 5, 2, 4])[:n]
        standout_counts(frames, thr, hot, dead, valid, bits, ranks)
        ref_hot, ref_dead, either = _reference(frames, thr)
        np.testing.assert_array_equal(hot, ref_hot, err_msg=name)
        np.testing.assert_array_equal(dead, ref_dead, err_msg=name)
        ref_bits = np.zeros((8, h, w), bool)
        ref_bits[ranks] = either
        np.testing.assert_array_equal(bits, np.packbits(ref_bits, axis=0), err_msg=name)


def test_bit_store_rows_without_standouts_are_untouched():
    rng = np.random.default_rng(22)
    frames = np.full((3, 40, 50), 100, np.uint8)
    frames[1, 17, 23] = 200  # the only stand-out, frame rank 5
    acc = OnsetAccumulator((40, 50), np.uint8, 8, PersistenceParams(persistence_dn=10))
    acc.bits[...] = rng.integers(0, 256, acc.bits.shape, dtype=np.uint8) & 0b11011011
    before = acc.bits.copy()
    acc.ranks[:] = [7, 0, 6, 1, 5, 2, 4, 3]
    acc.update(frames, 4)  # stack frames 4..6 have ranks 5, 2, 4
    changed = np.argwhere(acc.bits != before)
    assert changed.tolist() == [[0, 17, 23]]  # rank 2 is bit 7 - 2 of byte 0
    assert acc.bits[0, 17, 23] == before[0, 17, 23] | (1 << 5)


def _float_thresholds(frames: np.ndarray, params: PersistenceParams) -> np.ndarray:
    """The float64 route for integer frames: residuals as float64, then ``np.median``."""
    n, h, w = frames.shape
    step = max(1, math.isqrt(max(1, (h * w) // S.SIGMA_SAMPLES)))
    nr = (h - step // 2 + step - 1) // step
    nc = (w - step // 2 + step - 1) // step
    res = np.empty((n, nr * nc), np.float64)
    S._sample_residuals(np.asarray(frames, np.float64), step, step, 0.0, -np.inf, np.inf, res)
    sigma = np.nan_to_num(1.4826 * np.median(res, 1), nan=0.0)
    return np.maximum(DEFAULT_DN, params.persistence_z * sigma)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32,
                                   np.uint32])
@pytest.mark.parametrize("shape", [(1, 1), (2, 9), (17, 33), (130, 129), (257, 515)])
def test_integer_thresholds_equal_float_route(dtype, shape):
    rng = np.random.default_rng(zlib.crc32(repr((np.dtype(dtype).str, shape)).encode()))
    params = PersistenceParams(persistence_z=3.0)
    for scale in (2, 50, 3000):
        if dtype is np.bool_:
            frames = rng.random((4, *shape)) < 0.3
        else:
            info = np.iinfo(dtype)
            frames = np.clip(rng.normal(0 if info.min < 0 else 120, scale, (4, *shape)),
                             info.min, info.max).astype(dtype)
        for view in (frames, np.repeat(frames[..., None], 3, -1)[..., 2]):
            got = frame_thresholds(view, params)
            np.testing.assert_array_equal(got, _float_thresholds(view, params))
