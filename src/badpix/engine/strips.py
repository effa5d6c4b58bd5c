"""Strips: a range of band rows over *every* frame, the unit of work when a reader reads rows.

The streaming engines read frame after frame, so the exact median must keep every
frame's pixels (a buffer, a spill file, the Dask engine's store) until the last one
is in.  When the reader can read a range of rows alone (:attr:`Reader.reads_rows`:
``.npy`` frames and stacks, HDF5 without compression filters), a strip holds all of
its pixels' values at once: moments and exact median come from one fused pass
(:func:`~badpix.stats.median.moments_and_median`), nothing is stored or merged, and
a strip's memory is bounded whatever the number of frames.  Each file's bytes are
still read once, in one read per strip.

Both the local engine (strips one after another, the next read while the current
one is computed) and the Dask engine (one task per strip) use this module.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> from badpix import open_stack
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(5):
...     np.save(d / f"f_{i}.npy", np.full((64, 8), i, np.uint16))
>>> stack = open_stack(d)
>>> from badpix.engine.plan import plan_strips
>>> plan = plan_strips(stack, 2**20, 1)
>>> plan
{'ch0': [(0, 32), (32, 64)]}
>>> band = stack.bands[0]
>>> buf = np.empty(strip_buffer_shape(stack, band, plan["ch0"][0]), stack.dtype)
>>> out = strip_statistics(read_strip(stack.reader, band, plan["ch0"][0], buf))
>>> out["n_frames"], float(out["median"][0, 0]), float(out["mean"][0, 0])
(5, 2.0, 2.0)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..io.base import Reader
from ..layout import Band
from ..stack import Stack
from ..stats.bandstats import BandStats
from ..stats.median import moments_and_median
from ..stats.moments import MomentAccumulator
from .plan import STRIP_MIN_ROWS, STRIP_OUTPUTS, plan_strips

__all__ = ["STRIP_MIN_ROWS", "band_stats_from_strips", "plan_strips", "read_strip",
           "strip_statistics"]

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
    """Read the frame rows of band rows ``strip`` of every frame into ``buf``; the band's view.

    ``buf`` has at least :func:`strip_buffer_shape` elements (a larger scratch buffer is
    cut to size); returns ``(frames, r1 - r0, band width)``.
    """
    shape = strip_buffer_shape(reader, band, strip)
    buf = buf.reshape(-1)[:int(np.prod(shape))].reshape(shape)
    f0, f1 = _frame_rows(band, strip)
    reader.read_rows(0, reader.n_frames, (f0, f1), buf)
    return dataclasses.replace(band, rows=(0, f1 - f0)).view(buf)  # band rows within buf


def strip_statistics(view: np.ndarray, outs: dict[str, np.ndarray] | None = None
                     ) -> dict[str, object]:
    """Moments and exact median of a strip ``(frames, h, w)``: ``n_frames`` + :func:`strip_keys`.

    With ``outs`` (arrays of the strip's shape, e.g. rows of band-size results) the
    results are written there and returned as those arrays.
    """
    moments = MomentAccumulator(view.shape[1:], view.dtype)
    outs = outs or {}
    median = moments_and_median(view, moments, out=outs.get("median"))
    fin = moments.finalize()  # 64-bit integers too: exact min/max, shifted moments
    fin["median"] = median
    result: dict[str, object] = {"n_frames": moments.n_frames}
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
