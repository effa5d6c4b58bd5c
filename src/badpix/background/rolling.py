"""Rolling median background (dcnum 0.31 ``rollmed``), streamed with a sliding-window kernel.

``image_bg[i]`` is the per-pixel rank-``k // 2`` value of frames ``[i, i + k)``
for ``i < N - k``; the last ``k`` frames reuse ``image_bg[N - k - 1]``.  Instead
of re-sorting every window (dcnum runs ``scipy.ndimage.median_filter``), each
pixel keeps a 256-bin histogram of its window and a cursor on the median bin;
one frame in and one out moves the cursor by a few bins.  Other dtypes keep a
sorted window per pixel.  Memory: ``k`` frames + the per-pixel state + one block.

>>> import numpy as np
>>> frames = np.arange(6, dtype=np.uint8).reshape(6, 1, 1) * 10
>>> r = rolling_median_background(frames, kernel_size=2)
>>> r.images.ravel().tolist(), r.index.tolist()   # rank 1 of [i, i+2)
([10, 20, 30, 40], [0, 1, 2, 3, 3, 3])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ..memory import check_allocation
from ._kernels import roll_advance_sorted, roll_advance_u8, roll_init_sorted, roll_init_u8
from .result import BackgroundResult
from .source import as_source

__all__ = ["rolling_median_background", "check_rolling_params", "rolling_image_count"]

#: target bytes of one block of incoming frames
_BLOCK_BYTES = 8 * 2**20

Sink = Callable[[int, np.ndarray], None]


def check_rolling_params(kernel_size: int, n_frames: int | None = None, where: str = "") -> None:
    """Raise :class:`ParameterError` unless ``kernel_size`` is even, positive and <= N."""
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 2:
        raise ParameterError(f"--kernel-size: must be a positive even integer, not {kernel_size!r}")
    if kernel_size % 2:
        raise ParameterError(f"--kernel-size: the rolling median needs an even kernel, not {kernel_size}")
    if n_frames is not None and kernel_size > n_frames:
        raise ParameterError(f"--kernel-size: {kernel_size} is larger than the {n_frames} frames"
                             + (f" of {where}" if where else ""))


def rolling_image_count(n_frames: int, kernel_size: int) -> int:
    """Number of distinct rolling background images: ``N - k``, or 1 when ``k == N``."""
    return max(1, n_frames - kernel_size)


def rolling_median_background(
    frames: Any,
    kernel_size: int = 100,
    sink: Sink | None = None,
    progress: Callable[[int], None] | None = None,
    block_frames: int | None = None,
) -> BackgroundResult:
    """Rolling median background, identical to dcnum 0.31 ``BackgroundRollMed``.

    Parameters
    ----------
    frames
        Array ``(N, rows, cols[, channels])``, a path, a :class:`badpix.Stack` or a
        :class:`~.source.FrameSource`.
    kernel_size
        Frames per window; even and at most ``N``.  With ``kernel_size == N``
        (dcnum crashes there) every frame gets the median of all frames.
    sink
        ``sink(first_image, images)`` receives the distinct images block by block
        (then ``result.images`` is ``None``); by default they are collected.
    progress
        ``advance(n_frames)`` callback.
    block_frames
        Frames per block (default: about 8 MiB).

    Returns
    -------
    BackgroundResult
        ``images`` ``(N - k, ...)`` and ``index[i] = min(i, N - k - 1)``.

    Examples
    --------
    >>> r = rolling_median_background("cytoshot-test-data.rtdc", kernel_size=10)  # doctest: +SKIP
    """
    src = as_source(frames)
    n = src.n_frames
    if n == 0:
        raise InputError(src.label, "has no frames")
    check_rolling_params(kernel_size, n, src.label)
    k = int(kernel_size)
    rank = k // 2
    advance = progress or (lambda m: None)
    shape = src.frame_shape
    n_pix = int(np.prod(shape))
    itemsize = src.dtype.itemsize
    n_img = rolling_image_count(n, k)
    images = None
    if sink is None:
        check_allocation(n_img * n_pix * itemsize, "rolling background images", src.label)
        images = np.empty((n_img, *shape), src.dtype)

        def sink(first: int, block: np.ndarray) -> None:
            images[first:first + len(block)] = block

    u8 = src.dtype == np.uint8
    hist_dtype = np.uint16 if k < 2**16 else np.int32
    state_bytes = n_pix * (256 * np.dtype(hist_dtype).itemsize if u8 else k * itemsize)
    check_allocation(k * n_pix * itemsize + state_bytes, "rolling median window state", src.label)
    ring = np.empty((k, n_pix), src.dtype)
    if hasattr(src, "frames"):
        ring[:] = src.read(0, k).reshape(k, n_pix)
    else:
        src.read(0, k, ring.reshape(k, *shape))
    if u8:
        hist = np.empty((n_pix, 256), hist_dtype)
        med = np.empty(n_pix, np.int64)
        below = np.empty(n_pix, np.int64)
        roll_init_u8(ring, rank, hist, med, below)
        first = med.astype(np.uint8)
    else:
        srt = np.empty((n_pix, k), src.dtype)
        roll_init_sorted(ring, srt)
        first = np.ascontiguousarray(srt[:, rank])
    sink(0, first.reshape(1, *shape))
    advance(k)

    # frames k .. N-2 enter; frame N-1 never does (dcnum stops at window N-k-1)
    stop = n - 1
    if block_frames is None:
        block_frames = max(1, min(1024, _BLOCK_BYTES // max(1, n_pix * itemsize)))
    bsz = max(1, min(block_frames, max(0, stop - k)))
    inbuf = np.empty((bsz, n_pix), src.dtype)
    outbuf = np.empty((bsz, n_pix), src.dtype)
    for j0 in range(k, stop, bsz):
        j1 = min(stop, j0 + bsz)
        m = j1 - j0
        if hasattr(src, "frames"):
            new = np.ascontiguousarray(src.read(j0, j1)).reshape(m, n_pix)
        else:
            new = src.read(j0, j1, inbuf[:m].reshape(m, *shape)).reshape(m, n_pix)
        if u8:
            roll_advance_u8(ring, j0, new, rank, hist, med, below, outbuf[:m])
        else:
            roll_advance_sorted(ring, j0, new, rank, srt, outbuf[:m])
        sink(j0 - k + 1, outbuf[:m].reshape(m, *shape))
        advance(m)
    advance(n - max(k, stop))
    index = np.minimum(np.arange(n, dtype=np.int64), n_img - 1)
    params = dict(kernel_size=k)
    notes = []
    if k == n:
        notes.append(f"kernel size equals the {n} frames: one background image (median of all)")
    return BackgroundResult("rolling", images, index, params=params, notes=notes)
