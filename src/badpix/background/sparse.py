"""Sparse median background with cleansing and offset correction (dcnum 0.31 ``sparsemed``).

Every ``split_time`` seconds one background image is the per-pixel median
(rank ``k // 2``, no averaging) of ``k`` frames starting at the frame nearest
that time.  Images that contain cells are dropped ("cleansing"), every frame
is assigned the image of its time span, and a per-frame brightness offset is
taken from the top 20 rows.  Only one window of frames is in memory at a time.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> frames = rng.integers(0, 255, (30, 40, 8), dtype=np.uint8)
>>> r = sparse_median_background(frames, times=np.arange(30) * 0.1, kernel_size=9,
...                              split_time=1.0, frac_cleansing=1)
>>> r.images.shape, r.index.tolist()[:3], r.bg_off.shape
((3, 40, 8), [0, 0, 0], (30,))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ._kernels import window_rank
from .result import BackgroundResult
from .source import FrameSource, as_source
from .timing import frame_times

__all__ = ["BackgroundWarning", "sparse_median_background", "check_sparse_params"]

#: rows at the top of each frame used for the offset correction (channel wall in RT-DC)
OFFSET_ROWS = 20


class BackgroundWarning(UserWarning):
    """A background parameter was adjusted or a fallback was used."""


def check_sparse_params(kernel_size: int, split_time: float, thresh_cleansing: float,
                        frac_cleansing: float) -> None:
    """Raise :class:`ParameterError` for values dcnum would reject (with an assert)."""
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 1:
        raise ParameterError(f"--kernel-size: must be a positive integer, not {kernel_size!r}")
    if not np.isfinite(split_time) or split_time <= 0:
        raise ParameterError(f"--split-time: must be a positive number of seconds, not {split_time!r}")
    if not np.isfinite(thresh_cleansing) or thresh_cleansing < 0:
        raise ParameterError(f"--thresh-cleansing: must be >= 0, not {thresh_cleansing!r}")
    if not (0 < frac_cleansing <= 1):
        raise ParameterError(f"--frac-cleansing: must be in (0, 1], not {frac_cleansing!r}")


def nearest_index(t: np.ndarray, target: Any) -> int:
    """Index of the time nearest ``target`` (first on ties), computed as dcnum does."""
    return int(np.argmin(np.abs(target - t)))


def step_windows(t: np.ndarray, k: int, split_time: float) -> tuple[np.ndarray, np.ndarray]:
    """Step times and the ``[start, stop)`` window of each (dcnum ``process_second``)."""
    n = t.size
    duration = t[-1] - t[0]
    step_times = np.arange(0, duration, split_time)
    windows = np.empty((step_times.size, 2), np.int64)
    for ii, ti in enumerate(step_times):
        s = nearest_index(t, ti)
        e = s + k
        if e >= n:
            e = n
            s = max(0, e - k)
        windows[ii] = (s, e)
    return step_times, windows


def cleanse(images: np.ndarray, thresh_cleansing: float, frac_cleansing: float
            ) -> tuple[np.ndarray, str | None]:
    """Boolean ``kept`` per image: drop background images that contain cells (dcnum's rule).

    Returns ``(kept, note)``; ``note`` tells when the threshold rule fell back to
    the quantile rule.
    """
    import scipy.ndimage as ndi

    m, height = images.shape[:2]
    # peak-to-peak along each row (columns and, for colour, channels)
    prof = np.ptp(images.reshape(m, height, -1), axis=2)
    prof_norm = prof - np.median(prof, axis=0).reshape(1, -1)
    spread = max(20, height // 4)
    # plain slicing on purpose: a negative start wraps around exactly like dcnum's
    cslice = slice(height // 2 - spread, height // 2 + spread)
    cent = np.mean(prof_norm[:, cslice], axis=1)
    x = cent - ndi.median_filter(cent, size=10)
    ref = np.abs(x - np.median(x))
    thresh_fact = np.var(ref) * 150
    if thresh_cleansing != 0:
        thresh = thresh_fact / thresh_cleansing
    else:
        thresh = np.quantile(ref, frac_cleansing)
    used = ref <= thresh
    frac_remove = np.sum(~used) / used.size
    note = None
    if thresh_cleansing != 0 and (1 - frac_remove) < frac_cleansing:
        note = (f"{frac_remove:.1%} of the background images would be removed with "
                f"thresh_cleansing={thresh_cleansing}; kept the frac_cleansing="
                f"{frac_cleansing} quantile instead")
        thresh = np.quantile(ref, frac_cleansing)
        used = ref <= thresh
    return used, note


def assign_frames(t: np.ndarray, kept_times: np.ndarray, split_time: float) -> np.ndarray:
    """Frame -> background image index over the kept step times (dcnum's boundaries)."""
    bg_idx = np.zeros(t.size, dtype=np.int64)
    idx0 = 0
    idx1 = None
    ii = 0
    for ii in range(len(kept_times)):
        t1 = kept_times[ii]
        # same expression as dcnum so that ties break identically
        idx1 = np.argmin(np.abs(t - t1 - split_time / 2))
        bg_idx[idx0:idx1] = ii
        idx0 = idx1
    if idx1 is not None:
        bg_idx[idx1:] = ii
    return bg_idx


def _top_mean(block: np.ndarray) -> np.ndarray:
    # float64 mean of the top rows per frame; exact sums for integer data, so it
    # does not depend on how frames are grouped into blocks
    return np.mean(block[:, 0:OFFSET_ROWS], axis=tuple(range(1, block.ndim)))


def sparse_median_background(
    frames: Any,
    times: np.ndarray | None = None,
    frame_rate: float | None = None,
    frame_numbers: np.ndarray | None = None,
    kernel_size: int = 200,
    split_time: float = 1.0,
    thresh_cleansing: float = 0,
    frac_cleansing: float = 0.8,
    offset_correction: bool = True,
    progress: Callable[[int], None] | None = None,
) -> BackgroundResult:
    """Sparse median background of a stack, identical to dcnum 0.31 ``BackgroundSparseMed``.

    Parameters
    ----------
    frames
        Array ``(N, rows, cols[, channels])``, a path (``.rtdc``/HDF5 or any stack
        badpix reads), a :class:`badpix.Stack` or a :class:`~.source.FrameSource`.
        ``.rtdc`` files supply their own ``time``/``frame``/frame-rate metadata.
    times, frame_rate, frame_numbers
        Timing of the frames (override the file's); see :func:`.timing.frame_times`.
        Without any, the duration is guessed as ``1.5 N / 3600`` s, like dcnum.
    kernel_size
        Frames per median window; clamped to ``N`` with a :class:`BackgroundWarning`.
    split_time
        Seconds between background images.
    thresh_cleansing, frac_cleansing
        Cleansing: threshold factor (0 = keep the ``frac_cleansing`` quantile) and
        the fraction of images to keep at least; ``frac_cleansing=1`` disables it.
    offset_correction
        Compute ``bg_off`` per frame from the top 20 rows.
    progress
        ``advance(n_frames)`` callback.

    Returns
    -------
    BackgroundResult
        ``images`` (kept images only), ``index``, ``bg_off``, ``step_times``,
        ``kept``, ``windows`` and ``params``.

    Notes
    -----
    Where dcnum 0.31 crashes because the series has zero duration (one frame, or
    all frames at the same time: ``arange(0, 0, s)`` gives no step time), badpix
    computes one background image from the first window and warns.

    Examples
    --------
    >>> r = sparse_median_background("cytoshot-test-data.rtdc", kernel_size=10)  # doctest: +SKIP
    """
    check_sparse_params(kernel_size, split_time, thresh_cleansing, frac_cleansing)
    kernel_size = int(kernel_size)
    src = as_source(frames)
    advance = progress or (lambda n: None)
    n = src.n_frames
    if n == 0:
        raise InputError(src.label, "has no frames")
    meta = src.meta
    if times is None and frame_rate is None and frame_numbers is None:
        if meta is not None:
            times, frame_rate, frame_numbers = meta.times, meta.frame_rate, meta.frame_numbers
        elif src.times is not None:
            times = src.times
    t, time_source = frame_times(n, times, frame_rate, frame_numbers, where=src.label)
    notes: list[str] = []
    k = kernel_size
    if k > n:
        msg = f"kernel size {k} is larger than the {n} frames; using {n}"
        warnings.warn(msg, BackgroundWarning, stacklevel=2)
        notes.append(msg)
        k = n
    step_times, windows = step_windows(t, k, split_time)
    if step_times.size == 0:
        # dcnum crashes here (no step time); one image from the first window is
        # the only background such a series can have
        msg = (f"the series has zero duration ({n} frame(s)); using one background "
               "image from the first window")
        warnings.warn(msg, BackgroundWarning, stacklevel=2)
        notes.append(msg)
        step_times = np.zeros(1, dtype=np.result_type(t.dtype, np.float64))
        windows = np.array([[0, k]], np.int64)

    rank = k // 2
    m_all = len(step_times)
    images = np.empty((m_all, *src.frame_shape), src.dtype)
    top = np.full(n, np.nan) if offset_correction else None
    have_top = np.zeros(n, bool)
    buf = None if hasattr(src, "frames") else np.empty((k, *src.frame_shape), src.dtype)
    out_flat = np.empty(int(np.prod(src.frame_shape)), src.dtype)
    cur = (0, 0)  # frames held in buf
    frontier = 0
    for j, (s, e) in enumerate(windows):
        s, e = int(s), int(e)
        if buf is None:
            win = src.read(s, e)
        else:
            cs, ce = cur
            if cs <= s < ce:
                # windows only move forward: keep the overlap, read the rest
                keep = ce - s
                buf[:keep] = buf[s - cs:ce - cs]
                src.read(ce, e, buf[keep:e - s])
            else:
                src.read(s, e, buf[:e - s])
            cur = (s, e)
            win = buf[:e - s]
        window_rank(np.ascontiguousarray(win).reshape(e - s, -1), rank, out_flat)
        images[j] = out_flat.reshape(src.frame_shape)
        if top is not None:
            need = ~have_top[s:e]
            if need.any():
                top[s:e][need] = _top_mean(win[need])
                have_top[s:e] = True
        if e > frontier:
            advance(e - frontier)
            frontier = e

    if frac_cleansing != 1:
        kept, note = cleanse(images, thresh_cleansing, frac_cleansing)
        if note:
            notes.append(note)
    else:
        kept = np.ones(m_all, bool)
    kept_times = step_times[kept]
    kept_images = images[kept]
    index = assign_frames(t, kept_times, split_time)

    bg_off = None
    if top is not None:
        _fill_top(src, top, have_top, k, buf)
        bg_mean = _top_mean(kept_images)
        bg_off = top - bg_mean[index]
    advance(n - frontier)

    params = dict(kernel_size=kernel_size, kernel_size_used=k, split_time=float(split_time),
                  thresh_cleansing=float(thresh_cleansing), frac_cleansing=float(frac_cleansing),
                  offset_correction=bool(offset_correction))
    return BackgroundResult("sparse", kept_images, index, bg_off=bg_off, times=t,
                            step_times=step_times, kept=kept, windows=windows, params=params,
                            time_source=time_source, notes=notes)


def _fill_top(src: FrameSource, top: np.ndarray, have: np.ndarray, block: int,
              buf: np.ndarray | None) -> None:
    """Top-row means of the frames no window covered, read in runs of at most ``block``."""
    missing = np.flatnonzero(~have)
    if missing.size == 0:
        return
    # split the missing frames into contiguous runs
    breaks = np.flatnonzero(np.diff(missing) != 1) + 1
    for run in np.split(missing, breaks):
        a, b = int(run[0]), int(run[-1]) + 1
        for s in range(a, b, block):
            e = min(b, s + block)
            blk = src.read(s, e, None if buf is None else buf[:e - s])
            top[s:e] = _top_mean(blk)
