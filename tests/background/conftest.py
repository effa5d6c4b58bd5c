"""Shared fixtures of the background tests: the real dcnum files and an independent reference.

The reference follows the issue's description step by step with plain numpy
(full sorts, explicit loops); it shares no code with ``badpix.background``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage

DATA = Path(os.environ.get("BADPIX_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data" / "dcnum"
FILES = ["cytoshot-test-data.rtdc", "dcnum_thresh_example.rtdc",
         "file_with_variable_length_logs.rtdc"]


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"shared test data {path} not available")
    return path


def load(name: str) -> tuple[np.ndarray, dict]:
    """Frames and timing of a real file, read with plain h5py."""
    import h5py
    import hdf5plugin  # noqa: F401

    with h5py.File(data_file(name), "r") as h5:
        frames = h5["events/image"][:]
        ev = h5["events"]
        meta = {"time": ev["time"][:] if "time" in ev else None,
                "frame": ev["frame"][:] if "frame" in ev else None,
                "fr": h5.attrs.get("imaging:frame rate")}
    return frames, meta


def ref_times(n: int, meta: dict) -> np.ndarray:
    if meta.get("time") is not None:
        t = np.array(meta["time"])
        return t - t[0]
    fr = meta.get("fr")
    if fr is not None and meta.get("frame") is not None:
        t = np.asarray(meta["frame"]) / np.float64(fr)
        return t - t[0]
    if fr is not None:
        return np.linspace(0, 1.5 * n / fr, n)
    return np.linspace(0, 1.5 * n / 3600, n)


def _nearest(t: np.ndarray, target: float, shift: float = 0.0) -> int:
    d = np.abs(t - target - shift) if shift else np.abs(t - target)
    return int(np.flatnonzero(d == d.min())[0])


def ref_sparse(frames: np.ndarray, t: np.ndarray, kernel_size=200, split_time=1.0,
               thresh_cleansing=0, frac_cleansing=0.8, offset_correction=True) -> dict:
    n = len(frames)
    k = min(kernel_size, n)
    steps = np.arange(0, t[-1] - t[0], split_time)
    if steps.size == 0:  # badpix's documented answer where dcnum crashes
        steps = np.zeros(1)
    images = []
    for ts in steps:
        s = _nearest(t, ts)
        if s + k > n:
            s = max(0, n - k)
        images.append(np.sort(frames[s:s + k], axis=0)[k // 2])
    images = np.array(images)
    m, h = images.shape[:2]
    if frac_cleansing != 1:
        prof = images.max(axis=2).astype(np.int64) - images.min(axis=2)
        norm = prof - np.median(prof, axis=0)[None, :]
        spread = max(20, h // 4)
        c = norm[:, h // 2 - spread:h // 2 + spread].mean(axis=1)
        x = c - scipy.ndimage.median_filter(c, size=10)
        ref = np.abs(x - np.median(x))
        if thresh_cleansing == 0:
            kept = ref <= np.quantile(ref, frac_cleansing)
        else:
            kept = ref <= 150 * np.var(ref) / thresh_cleansing
            if kept.mean() < frac_cleansing:
                kept = ref <= np.quantile(ref, frac_cleansing)
    else:
        kept = np.ones(m, bool)
    kept_times = steps[kept]
    index = np.zeros(n, np.int64)
    prev = 0
    b = None
    for j, ts in enumerate(kept_times):
        b = _nearest(t, ts, split_time / 2)
        index[prev:b] = j
        prev = b
    if b is not None:
        index[b:] = len(kept_times) - 1
    bg = images[kept]
    off = None
    if offset_correction:
        top = frames[:, :20].reshape(n, -1).astype(np.float64).sum(axis=1) / frames[0, :20].size
        bgtop = bg[:, :20].reshape(len(bg), -1).astype(np.float64).sum(axis=1) / bg[0, :20].size
        off = top - bgtop[index]
    return {"images": bg, "index": index, "kept": kept, "bg_off": off, "per_frame": bg[index]}


def ref_rolling(frames: np.ndarray, kernel_size: int) -> np.ndarray:
    n, k = len(frames), kernel_size
    if n == k:
        return np.repeat(np.sort(frames, axis=0)[k // 2][None], n, axis=0)
    out = np.empty_like(frames)
    for i in range(n - k):
        out[i] = np.sort(frames[i:i + k], axis=0)[k // 2]
    out[n - k:] = out[n - k - 1]
    return out


def long_series(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real frames in random order with a small per-frame brightness offset, and times."""
    frames, meta = load(name)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(frames), n)
    off = rng.integers(-3, 4, n).reshape(-1, 1, 1)
    series = np.clip(frames[pick].astype(np.int16) + off, 0, 255).astype(np.uint8)
    times = np.arange(n) / 100.0  # 100 frames/s
    return series, times
