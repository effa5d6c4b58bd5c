"""Work units: the one contract both executors run.

A scan's plan (:mod:`.plan`) cuts the stack into units of three kinds; each is *read*
(I/O and decoding) and then *computed*, so the local executor can read the next unit
while the current one computes, and a Dask task simply does both:

* **frame units** -- frames ``[start, stop)`` of every band, read in blocks
  (:meth:`Stack.read_into <badpix.stack.Stack.read_into>`) and fed to a :class:`FrameState`: per band the moments
  (:class:`~badpix.stats.moments.MomentAccumulator`), the extra accumulators and
  a median sink that keeps the frames for the exact median (in memory, spilled, or
  a store file);
* **strip units** -- band rows over *every* frame (:func:`read_strip`), where the
  reader reads rows alone (:attr:`Reader.reads_rows`): moments and exact median
  come from one fused pass (:func:`strip_statistics`), nothing is stored or merged;
* **median tiles** -- one tile of every stored frame (:func:`tile_median`), on a
  cluster, after the frame units wrote their frames to store files.

Partial states merge with the accumulators' own ``merge`` (:meth:`FrameState.merge`):
integer sums are exact, so any cut into units, any order and any worker count give
the same bits; float moments use Chan's merge.  Rules and writers only ever see
the finalized :class:`~badpix.stats.bandstats.BandStats`.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> from badpix import open_stack
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(5):
...     np.save(d / f"f_{i}.npy", np.full((64, 8), i, np.uint16))
>>> stack = open_stack(d)
>>> band = stack.bands[0]
>>> buf = np.empty(strip_buffer_shape(stack, band, (0, 32)), stack.dtype)
>>> out = strip_statistics(read_strip(stack.reader, band, (0, 32), buf))
>>> out["n_frames"], float(out["median"][0, 0]), float(out["mean"][0, 0])
(5, 2.0, 2.0)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..io.base import Reader, SkippedFrame
from ..layout import Band
from ..stack import Stack
from ..stats.bandstats import BandStats
from ..stats.base import Accumulator, AccumulatorFactory
from ..stats.median import moments_and_median, temporal_median
from ..stats.moments import MomentAccumulator
from ..stats.store import FrameStore
from .partition import STRIP_OUTPUTS

__all__ = ["FrameState", "band_stats_from_strips", "read_strip",
           "strip_buffer_shape", "strip_dtypes", "strip_statistics", "tile_median"]


# -- frame units ---------------------------------------------------------------------------

class FrameState:
    """The partial statistics of frame units: mergeable, and what a frame unit returns.

    Per band: the moments, the extra accumulators' states and an optional median
    sink (anything with ``update(frames)``).  ``frame_moments``: the bands tile the
    frame, so the moments run once over whole frames and each band's are a view at
    the end (:meth:`band_moments`).  ``alloc(band)``: the moments' array allocator
    (files in RAM on a cluster on this machine).
    """

    def __init__(self, stack: Stack, params: RuleParams, factories: Sequence[AccumulatorFactory],
                 *, frame_moments: bool = False, sinks: dict[str, Any] | None = None,
                 alloc: Callable[[str], Any] | None = None):
        dtype, n = np.dtype(stack.dtype), stack.n_frames
        self.bands = tuple(stack.bands)
        self.frame_shape = stack.frame_shape
        self.flat = (stack.frame_shape[0], int(np.prod(stack.frame_shape[1:])))
        self.frame = MomentAccumulator(self.flat, dtype) if frame_moments else None
        self.moments: dict[str, MomentAccumulator] = {} if frame_moments else {
            b.name: MomentAccumulator(b.shape, dtype, alloc=None if alloc is None
                                      else alloc(b.name)) for b in self.bands}
        self.extras: dict[str, list[Accumulator]] = {
            b.name: [a for f in factories if (a := f(b.shape, dtype, n, params)) is not None]
            for b in self.bands}
        self.sinks = sinks or {}
        self.skipped: list[tuple[int, SkippedFrame]] = []  # (first frame of its unit, frame)

    def update(self, frames: np.ndarray, start: int) -> None:
        """Feed a block of frames whose first is stack frame ``start``."""
        if self.frame is not None:
            self.frame.update(frames.reshape(len(frames), *self.flat))
        for b in self.bands:
            view = b.view(frames)
            if self.frame is None:
                self.moments[b.name].update(view)
            for acc in self.extras[b.name]:
                acc.update(view, start)
            if b.name in self.sinks:
                self.sinks[b.name].update(view)

    def merge(self, other: FrameState) -> None:
        """Add ``other``'s frames (another unit's state) to this one, in place."""
        if self.frame is not None and other.frame is not None:
            self.frame.merge(other.frame)
        for name, moments in self.moments.items():
            moments.merge(other.moments[name])
        for name, extras in self.extras.items():
            for a, o in zip(extras, other.extras[name], strict=True):
                a.merge(o)
        self.skipped += other.skipped

    def band_moments(self) -> dict[str, MomentAccumulator]:
        """Each band's moments (views of the whole-frame state when it tiles the frame)."""
        if self.frame is not None:
            frame, shape = self.frame, self.frame_shape
            self.moments = {b.name: frame.subset(
                lambda a, b=b: b.view(a.reshape(1, *shape))[0]) for b in self.bands}
            self.frame = None
        return self.moments

    def skipped_frames(self) -> list[SkippedFrame]:
        return [s for _, s in sorted(self.skipped, key=lambda x: x[0])]


# -- strip units ---------------------------------------------------------------------------

def strip_keys(dtype: np.dtype) -> tuple[str, ...]:
    """The arrays a strip delivers: float data also has per-pixel counts."""
    return STRIP_OUTPUTS + (("count",) if np.dtype(dtype).kind == "f" else ())


def strip_dtypes(dtype: np.dtype) -> dict[str, np.dtype]:
    """dtype of each strip result (as :meth:`MomentAccumulator.finalize` returns them)."""
    exact = np.dtype(dtype) if np.dtype(dtype).kind in "iub" else np.dtype(np.float64)
    return {k: exact if k in ("min", "max") else np.dtype(np.int64) if k == "count"
            else np.dtype(np.float64) for k in strip_keys(dtype)}


def _frame_rows(band: Band, strip: tuple[int, int]) -> tuple[int, int]:
    r0, r1 = strip
    return band.rows[0] + r0 * band.row_step, band.rows[0] + (r1 - 1) * band.row_step + 1


def strip_buffer_shape(stack_or_reader: Stack | Reader, band: Band, strip: tuple[int, int]
                       ) -> tuple[int, ...]:
    """Shape of the read buffer of ``strip``: ``(frames, frame rows, cols, channels)``."""
    reader = getattr(stack_or_reader, "reader", stack_or_reader)
    f0, f1 = _frame_rows(band, strip)
    return (reader.n_frames, f1 - f0, *reader.frame_shape[1:])


def read_strip(reader: Reader, band: Band, strip: tuple[int, int], buf: np.ndarray
               ) -> np.ndarray:
    """Read band rows ``strip`` of every frame into ``buf`` (cut to size); the band's view
    ``(frames, r1 - r0, band width)``."""
    shape = strip_buffer_shape(reader, band, strip)
    buf = buf.reshape(-1)[:int(np.prod(shape))].reshape(shape)
    f0, f1 = _frame_rows(band, strip)
    reader.read_rows(0, reader.n_frames, (f0, f1), buf)
    return dataclasses.replace(band, rows=(0, f1 - f0)).view(buf)  # band rows within buf


def strip_statistics(view: np.ndarray, outs: dict[str, np.ndarray] | None = None
                     ) -> dict[str, Any]:
    """Moments and exact median of a strip ``(frames, h, w)``: ``n_frames`` + :func:`strip_keys`.

    With ``outs`` (arrays of the strip's shape, e.g. rows of band-size results) the
    results are written there and returned as those arrays.
    """
    moments = MomentAccumulator(view.shape[1:], view.dtype)
    outs = outs or {}
    median = moments_and_median(view, moments, out=outs.get("median"))
    fin = moments.finalize()  # 64-bit integers too: exact min/max, shifted moments
    fin["median"] = median
    result: dict[str, Any] = {"n_frames": moments.n_frames}
    for k in strip_keys(view.dtype):
        if k in outs and k != "median":
            outs[k][...] = fin[k]
        result[k] = outs.get(k, fin[k])
    return result


def band_stats_from_strips(band: Band, n_frames: int, dtype: np.dtype,
                           arrays: dict[str, np.ndarray]) -> BandStats:
    """A band's :class:`BandStats` from its strips' results assembled into band-size arrays."""
    moments = {k: v for k, v in arrays.items() if k != "median"}
    moments.setdefault("count", np.broadcast_to(np.int64(n_frames), band.shape))
    return BandStats.from_moments(band.name, n_frames, dtype, moments, arrays["median"])


# -- median tiles --------------------------------------------------------------------------

def tile_median(paths: Sequence[str], shape: tuple[int, int], dtype: np.dtype,
                tile: tuple[int, int, int, int], frames: Callable[[int], Any],
                out: np.ndarray | None = None) -> np.ndarray:
    """Exact temporal median of ``tile`` over the frames in the store files ``paths``.

    Each file holds exactly its stored frames (its size says how many: skipped frames
    leave no slot).  ``frames(n)``: a context manager giving a ``(n, h, w)`` buffer.
    Every frame skipped: NaN.
    """
    r0, r1, c0, c1 = tile
    frame_bytes = int(shape[0]) * int(shape[1]) * np.dtype(dtype).itemsize
    stores = [FrameStore(p, shape, dtype) for p in paths]
    try:
        counts = [os.path.getsize(st.path) // frame_bytes for st in stores]
        if sum(counts) == 0:
            value = np.full((r1 - r0, c1 - c0), np.nan)
            if out is not None:
                out[...] = value
            return value
        with frames(sum(counts)) as buf:
            at = 0
            for st, k in zip(stores, counts, strict=True):
                if k:
                    st.read_tile(np.arange(k), tile, out=buf[at:at + k])
                at += k
            return temporal_median(buf, out=out)
    finally:
        for st in stores:
            st.close()
