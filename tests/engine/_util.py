"""Helpers of the engine tests: synthetic stacks on disk and result comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_stack(folder: Path, n: int, shape=(40, 36, 2), dtype=np.uint16, seed: int = 0,
                start: int = 0, nan_fraction: float = 0.0) -> np.ndarray:
    """``n`` one-frame ``.npy`` files with a few stuck/hot/noisy pixels; returns the frames."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        frames = rng.normal(100.0, 5.0, (n, *shape)).astype(dtype)
        if nan_fraction:
            frames[rng.random(frames.shape) < nan_fraction] = np.nan
    else:
        frames = rng.normal(1000.0, 20.0, (n, *shape)).round().clip(0, 4095).astype(dtype)
    frames[:, 3, 4, 0] = 777  # stuck
    frames[:, 10, 11, :] = 4000  # hot
    frames[:, 20, 5, 0] = rng.integers(500, 1500, n).astype(dtype)  # noisy
    for i in range(n):
        np.save(folder / f"frame_{start + i:05d}.npy", frames[i])
    return frames


def assert_same_results(a, b, exact: bool = True, rtol: float = 1e-12) -> None:
    """Statistics (and flags when ``exact``) of two ScanResults agree."""
    assert list(a.bands) == list(b.bands)
    for name in a.bands:
        sa, sb = a.bands[name].stats, b.bands[name].stats
        assert sa.n_frames == sb.n_frames
        np.testing.assert_array_equal(sa.count, sb.count)
        for q in ("min", "max", "median"):
            np.testing.assert_array_equal(getattr(sa, q), getattr(sb, q), err_msg=q)
        for q in ("mean", "var"):
            if exact:
                np.testing.assert_array_equal(getattr(sa, q), getattr(sb, q), err_msg=q)
            else:
                np.testing.assert_allclose(getattr(sa, q), getattr(sb, q), rtol=rtol,
                                           atol=0, err_msg=q)
        if exact:
            np.testing.assert_array_equal(a.bands[name].flags, b.bands[name].flags)
            assert sorted(a.bands[name].scores) == sorted(b.bands[name].scores)
            for key, score in a.bands[name].scores.items():
                np.testing.assert_array_equal(score, b.bands[name].scores[key], err_msg=key)
