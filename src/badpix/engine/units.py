"""Work units: the one contract both executors run (docs/design.md draws them).

Each unit is *read* (I/O, decoding) and then *computed*, so the local executor reads
the next unit while one computes and a Dask task does both.  **Frame units** feed
frames ``[start, stop)`` to a :class:`FrameState`, mergeable with the accumulators' own
``merge`` (integer sums: any cut, order and worker count give the same bits).
**Strip units** read band rows over every frame (:func:`read_strip`, where the reader
reads rows alone) and get moments and exact median from one fused pass
(:func:`strip_statistics`) into :class:`StripResults`.  (Median tiles over the frame
units' stores are :func:`badpix.stats.store.tile_median`.)

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
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..io.base import Reader, SkippedFrame
from ..layout import Band
from ..stack import Stack
from ..stats.bandstats import BandStats
from ..stats.base import Accumulator, AccumulatorFactory
from ..stats.median import moments_and_median
from ..stats.moments import MomentAccumulator
from .partition import STRIP_OUTPUTS

__all__ = ["FrameProgress", "FrameState", "StripResults", "read_strip", "strip_buffer_shape",
           "strip_dtypes", "strip_statistics"]


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


class StripResults:
    """Band-size arrays of every band's statistics that strip units fill, rows by rows."""

    def __init__(self, stack: Stack, arrays: dict[str, dict[str, np.ndarray]] | None = None):
        self.bands, self.dtype = tuple(stack.bands), np.dtype(stack.dtype)
        self.arrays = arrays or {b.name: {k: np.empty(b.shape, dt) for k, dt in
                                          strip_dtypes(self.dtype).items()} for b in self.bands}
        self.n_frames: dict[str, int] = {}

    def rows(self, band: Band, strip: tuple[int, int]) -> dict[str, np.ndarray]:
        """The rows of ``strip`` of each array: where :func:`strip_statistics` may write."""
        return {k: a[strip[0]:strip[1]] for k, a in self.arrays[band.name].items()}

    def add(self, band: Band, strip: tuple[int, int], result: dict[str, Any]) -> None:
        """A strip's result: ``n_frames`` and the arrays not written in place already."""
        self.n_frames[band.name] = int(result["n_frames"])
        for k, rows in self.rows(band, strip).items():
            if k in result:
                rows[...] = result[k]

    def band_stats(self) -> dict[str, BandStats]:
        """Each band's :class:`BandStats` (the arrays are handed over, not copied)."""
        stats = {}
        for b in self.bands:
            arrays = self.arrays.pop(b.name)
            moments = {k: v for k, v in arrays.items() if k != "median"}
            moments.setdefault("count", np.broadcast_to(np.int64(self.n_frames[b.name]), b.shape))
            stats[b.name] = BandStats.from_moments(b.name, self.n_frames[b.name], self.dtype,
                                                   moments, arrays["median"])
        return stats


class FrameProgress:
    """``progress(frames)`` from units' shares of ``total`` (strip pixels, frames); thread-safe.

    A unit given by ``key`` counts once (a cluster may run a unit again after a lost worker).
    """

    def __init__(self, progress: Callable[[int], None] | None, n_frames: int, total: int):
        self.progress, self.n_frames, self.total = progress, n_frames, max(1, total)
        self.done = self.frames = 0
        self.lock = threading.Lock()
        self.keys: set[Any] = set()

    def advance(self, weight: int, key: Any = None) -> None:
        with self.lock:
            if key is not None:
                if key in self.keys:
                    return
                self.keys.add(key)
            self.done += weight
            now = self.n_frames * self.done // self.total
            if self.progress is not None and now > self.frames:
                self.progress(now - self.frames)
            self.frames = now
