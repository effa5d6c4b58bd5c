"""How a stack is cut into work units: read blocks, frame ranges, row strips, median tiles.

The arithmetic behind :func:`badpix.engine.plan.make_plan` (pure functions of sizes).
"""

from __future__ import annotations

import numpy as np

from ..stack import Stack

__all__ = ["chunk_ranges", "choose_block_frames", "default_frames_per_task", "plan_strips",
           "stack_block_frames", "tiles_frame"]

#: aim for blocks of about this many bytes: enough to amortise kernel launches, few
#: enough to stay in cache-friendly territory
TARGET_BLOCK_BYTES = 64 * 2**20
#: bytes of frames one unit (strip, median tile) holds when no limit is given; the local
#: executor holds two strips (one read while the other is computed)
UNIT_BYTES = 256 * 2**20
#: bytes of frames a checkpointed scan's final median holds at once when no limit is given
CHECKPOINT_MEDIAN_BYTES = 512 * 2**20
#: at most this many bytes of frames per Dask frame unit (bounded retry cost after a lost
#: worker)
MAX_TASK_BYTES = 2 * 2**30
#: bytes of accumulator state per band pixel (uint16: sums 8 + 16, min/max 4; float: 40)
STATE_BYTES_PER_PIXEL = 40
#: a strip covers at least this many band rows (or the whole band): thinner strips
#: would open every file many times for small reads, and the frame-streaming paths
#: read each file once, whole
STRIP_MIN_ROWS = 32
#: band-size results of a strip (float data also has ``count``)
STRIP_OUTPUTS = ("mean", "var", "std", "min", "max", "median")


def choose_block_frames(frame_nbytes: int, n_frames: int, min_frames: int = 1) -> int:
    """Frames per block: about 64 MiB, between ``min_frames`` and 32 frames (and at most all).

    >>> choose_block_frames(8 * 2**20, 100), choose_block_frames(30 * 2**20, 100, 4)
    (8, 4)
    """
    frames = min(32, TARGET_BLOCK_BYTES // max(1, frame_nbytes))
    return int(max(1, min(n_frames, max(frames, min_frames))))


def stack_block_frames(stack: Stack) -> int:
    """:func:`choose_block_frames` for ``stack``: two frames per decode thread at least.

    Photos decode one file per thread while the statistics run on the previous block:
    64 10-MP JPEGs streamed in 2.41 s with blocks of 2 frames, 1.71 s with 4 (median of 4).
    """
    return choose_block_frames(stack.frame_nbytes, stack.n_frames,
                               2 * stack.decode_threads if stack.decodes_per_file else 1)


def tiles_frame(stack: Stack) -> bool:
    """True when the bands tile every frame (RGB channels, Bayer planes, band rows covering it).

    Then the moments run once over whole contiguous frames and each band's are a view
    of that state (:meth:`MomentAccumulator.subset`): the same integers, half the time
    of stride-3 RGB views.  Only the pixel count is checked: correctness does not
    depend on it, efficiency does.
    """
    total = int(np.prod(stack.frame_shape))
    return len(stack.bands) > 1 and sum(int(np.prod(b.shape)) for b in stack.bands) == total


def plan_strips(stack: Stack, budget: int, nthreads: int) -> dict[str, list[tuple[int, int]]] | None:
    """Row strips ``(r0, r1)`` of every band, or None when strips do not fit this input.

    Strips need a reader that reads rows alone (:attr:`~badpix.io.base.Reader.reads_rows`),
    at least :data:`STRIP_MIN_ROWS` rows (or the whole band) of every frame within
    ``budget`` bytes, and no skipped frames (``skip_bad`` could drop a frame in one
    strip only).  A band gets at least ``4 * nthreads`` strips when it is tall enough
    (load balance), all of about the same height.
    """
    if stack.skip_bad or not stack.reader.reads_rows:
        return None
    n = stack.n_frames
    _, width, channels = stack.reader.frame_shape
    itemsize = np.dtype(stack.dtype).itemsize
    plans = {}
    for b in stack.bands:
        h, w = b.shape
        # a band row spans row_step frame rows of every channel in the read buffer;
        # a strip's results (6 arrays of at most 8 bytes) are held beside it
        per_row = n * b.row_step * width * channels * itemsize + 8 * len(STRIP_OUTPUTS) * w
        max_rows = budget // per_row
        if max_rows < min(h, STRIP_MIN_ROWS):
            return None
        k = max(-(-h // max_rows), min(4 * max(1, nthreads), max(1, h // STRIP_MIN_ROWS)))
        plans[b.name] = [(i * h // k, (i + 1) * h // k) for i in range(k)]
    return plans


def default_frames_per_task(n_frames: int, frame_nbytes: int, block: int, nthreads: int,
                            band_pixels: int = 0) -> int:
    """Frames per Dask frame unit: about four per thread (load balance), whole blocks, at
    most 2 GiB, and at least four times the bytes of the state it returns to the client
    (2048x2048 uint16: a state is as big as 8 to 14 frames) while every thread gets one.

    >>> default_frames_per_task(1000, 8 * 2**20, 8, 2)
    128
    >>> default_frames_per_task(119, 8 * 2**20, 8, 2, band_pixels=2048 * 2048)
    64
    """
    fpt = -(-n_frames // (4 * max(1, nthreads)))
    if band_pixels:
        enough = -(-4 * STATE_BYTES_PER_PIXEL * band_pixels // max(1, frame_nbytes))
        fpt = max(fpt, min(enough, -(-n_frames // max(1, nthreads))))
    fpt = min(fpt, max(1, MAX_TASK_BYTES // max(1, frame_nbytes)))
    fpt = -(-fpt // block) * block
    return max(1, fpt)


def chunk_ranges(n_frames: int, frames_per_task: int, nthreads: int = 1
                 ) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` of about ``frames_per_task`` frames each.

    With ``nthreads > 1`` the number of ranges is a multiple of ``nthreads`` and sizes
    differ by at most one: no thread idles behind a short or long last unit.

    >>> chunk_ranges(119, 64, 2)
    [(0, 59), (59, 119)]
    >>> chunk_ranges(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    """
    fpt = max(1, int(frames_per_task))
    if nthreads <= 1:
        return [(s, min(n_frames, s + fpt)) for s in range(0, n_frames, fpt)]
    k = -(-n_frames // fpt)
    k = min(n_frames, -(-k // nthreads) * nthreads)
    return [(i * n_frames // k, (i + 1) * n_frames // k) for i in range(k)]
