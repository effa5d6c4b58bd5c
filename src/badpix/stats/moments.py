"""Streaming per-pixel temporal moments of one band: count, mean, var, std, min, max.

Integer data (8, 16 and 32-bit, signed or not) is accumulated exactly:
``S1 = sum(x)`` in int64 and ``S2 = sum(x**2)`` as a 128-bit integer (two
uint64 words), plus min/max in the input dtype.  The finalized mean and
variance are a deterministic function of ``(n, S1, S2)``, so results are
**bit-identical** whatever the block sizes, frame order or merge tree.

Limits (all far beyond real stacks; ``update`` refuses to pass them):

========  =====================================  ==========================
dtype     S1 (int64) exact up to                 S2 (128-bit) exact up to
========  =====================================  ==========================
uint8     3.6e16 frames                          > 1e33 frames
uint16    1.4e14 frames                          > 1e28 frames
int16     2.8e14 frames                          > 1e29 frames
uint32    2.1e9 frames                           > 1e19 frames
int32     4.3e9 frames                           > 1e19 frames
========  =====================================  ==========================

8/16-bit data first goes into compact sums (uint8: S1 and S2 in uint32, exact
for 66051 frames; uint16: S1 uint32 / S2 uint64, 65537 frames; int16: int32 /
uint64, 65535 frames) that are flushed into the exact totals before they can
overflow: less state memory traffic per block.  64-bit integers keep exact
min/max in their dtype; mean and variance are accumulated as float64 over each
pixel's difference from its first frame (an exact int64 while a pixel's spread
stays below 2**63), so values near 2**64 keep their variance instead of rounding
to steps of 4096.

Float data: per pixel, NaN skipped, each batch of 16 frames is reduced with a
two-pass mean/sum of squared deviations and merged into the running
``(count, mean, M2)`` with Chan et al.'s pairwise formula (a Welford update
whose increment is a batch); ``merge`` uses the same formula.  Relative error
is about 1e-13 and results depend on chunking only at that level.

The state as plain arrays (checkpoints, ``.npz`` files, hand-over to the Dask
engine) is :class:`~badpix.stats.moments_state.MomentState`, the accumulator's base.

Example
-------
>>> import numpy as np
>>> acc = MomentAccumulator((2, 3), np.uint16)
>>> rng = np.random.default_rng(0)
>>> x = rng.integers(0, 4096, (10, 2, 3), dtype=np.uint16)
>>> _ = acc.update(x[:4]).update(x[4:])
>>> r = acc.finalize()
>>> bool(np.array_equal(r["max"], x.max(0))), acc.n_frames
(True, 10)
>>> bool(np.allclose(r["var"], x.astype(float).var(0), rtol=1e-12))
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ParameterError
from . import _kernels as K
from .moments_state import MomentState


def _kind(dtype: np.dtype) -> str:
    """'narrow' (8/16-bit int), 'wide' (32-bit), 'wide64' (64-bit) or 'float' (the rest)."""
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        return "narrow"
    if dtype.kind in "iu" and dtype.itemsize == 4:
        return "wide"
    if dtype.kind in "iu" and dtype.itemsize == 8:
        return "wide64"
    if dtype.kind in "iuf" or dtype == np.bool_:
        return "float"
    raise ParameterError(f"cannot compute statistics of dtype {dtype}")


def _compact_types(dtype: np.dtype) -> tuple[type, type, int]:
    """Compact sum types for 8/16-bit data and how many frames they hold exactly.

    uint8: uint32/uint32 (66051 frames); int8: int32/uint32 (262143);
    uint16: uint32/uint64 (65537); int16: int32/uint64 (65535).
    """
    info = np.iinfo(dtype)
    big = max(abs(int(info.min)), int(info.max))
    t1 = np.int32 if dtype.kind == "i" else np.uint32
    t2 = np.uint32 if dtype.itemsize == 1 else np.uint64
    lim1 = int(np.iinfo(t1).max) // big
    lim2 = int(np.iinfo(t2).max) // (big * big)
    return t1, t2, min(lim1, lim2)


def _s1_frame_limit(dtype: np.dtype) -> int:
    info = np.iinfo(dtype)
    return (2**63 - 1) // max(abs(int(info.min)), int(info.max))


class MomentAccumulator(MomentState):
    """Per-pixel count, mean, variance, min and max of one ``(h, w)`` band over time.

    Parameters
    ----------
    shape
        ``(h, w)`` of the band.
    dtype
        dtype of the frames (decides exact integer or float accumulation).

    Examples
    --------
    >>> import numpy as np
    >>> a = MomentAccumulator((1, 2), np.float32)
    >>> _ = a.update(np.array([[[1, np.nan]], [[3, np.nan]]], np.float32))
    >>> r = a.finalize()
    >>> r["count"].tolist(), r["mean"].tolist(), r["var"].tolist()
    ([[2, 0]], [[2.0, nan]], [[1.0, nan]])
    """

    #: the per-pixel state arrays (attribute names; which exist depends on the dtype)
    ARRAYS = ("_count", "_mean", "_m2", "_min", "_max", "_c1", "_c2", "_s1", "_s2lo", "_s2hi",
              "_ref")

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type | str,
                 alloc: Callable[[tuple[int, int], np.dtype, float], np.ndarray] | None = None):
        h, w = (int(s) for s in shape)
        if h <= 0 or w <= 0:
            raise ParameterError(f"band shape must be positive, got {tuple(shape)}")
        self.shape = (h, w)
        self.dtype = np.dtype(dtype).newbyteorder("=")  # numba needs native byte order
        self.kind = _kind(self.dtype)
        self.n_frames = 0
        self._alloc = alloc
        self._chunks = K.pixel_chunks(h, w)
        if self.kind in ("float", "wide64"):
            self._count = self._new(np.int64, 0)
            self._mean = self._new(np.float64, 0)
            self._m2 = self._new(np.float64, 0)
        if self.kind == "float":
            self._min = self._new(np.float64, np.inf)
            self._max = self._new(np.float64, -np.inf)
        elif self.kind == "wide64":
            info = np.iinfo(self.dtype)
            self._ref = self._new(self.dtype, 0)  # each pixel's first value (set on update)
            self._min = self._new(self.dtype, info.max)
            self._max = self._new(self.dtype, info.min)
        else:
            info = np.iinfo(self.dtype)
            self._s1 = self._s2lo = self._s2hi = None
            if self.kind == "wide":
                self._alloc_totals()
            self._min = self._new(self.dtype, info.max)
            self._max = self._new(self.dtype, info.min)
            if self.kind == "narrow":
                # compact sums, flushed into the exact totals before they can overflow
                t1, t2, self._flush_every = _compact_types(self.dtype)
                self._c1 = self._new(t1, 0)
                self._c2 = self._new(t2, 0)
                self._pending = 0

    def _new(self, dtype: type | np.dtype, fill: float) -> np.ndarray:
        """A state array filled with ``fill``, from ``alloc`` when one was given."""
        if self._alloc is not None:
            return self._alloc(self.shape, np.dtype(dtype), fill)
        if fill == 0:
            return np.zeros(self.shape, dtype)
        return np.full(self.shape, fill, dtype)

    # ------------------------------------------------------------------ accumulate
    def update(self, frames: np.ndarray) -> MomentAccumulator:
        """Add frames ``(n, h, w)`` (any strides, e.g. ``Band.view(block)``); returns self."""
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {frames.shape} do not match band shape "
                                 f"{self.shape}")
        if frames.dtype.newbyteorder("=") != self.dtype:
            raise ParameterError(f"frames have dtype {frames.dtype}, accumulator {self.dtype}")
        if frames.dtype != self.dtype:  # big-endian file data
            frames = frames.astype(self.dtype)
        n = frames.shape[0]
        if n == 0:
            return self
        if self.kind == "float":
            if frames.dtype not in (np.float32, np.float64):
                frames = frames.astype(np.float64)
            K.float_update(frames, self._chunks, self._count, self._mean, self._m2,
                           self._min, self._max)
        elif self.kind == "wide64":
            self._update_wide64(frames)
        else:
            if self.n_frames + n > _s1_frame_limit(self.dtype):
                raise ParameterError(f"more than {_s1_frame_limit(self.dtype)} frames of "
                                     f"{self.dtype} would overflow the exact sums")
            if self.kind == "wide":
                K.int_update_wide(frames, self._chunks, self._s1, self._s2lo, self._s2hi,
                                  self._min, self._max)
            else:
                for s in range(0, n, self._flush_every):
                    part = frames[s:s + self._flush_every]
                    if self._pending + part.shape[0] > self._flush_every:
                        self._flush()
                    K.int_update_narrow(part, self._chunks, self._c1, self._c2,
                                        self._min, self._max)
                    self._pending += part.shape[0]
        self.n_frames += n
        return self

    def _shift(self, values: np.ndarray) -> np.ndarray:
        """``values - ref`` as float64 (the wrapped difference read as int64: exact)."""
        with np.errstate(over="ignore"):
            return (values - self._ref).view(np.int64).astype(np.float64)

    def _update_wide64(self, frames: np.ndarray) -> None:
        """64-bit integers: exact min/max, float moments of the difference from ``ref``."""
        if self.n_frames == 0:
            self._ref[...] = frames[0]
        scratch = np.full(self.shape, np.inf), np.full(self.shape, -np.inf)
        K.float_update(self._shift(frames), self._chunks, self._count, self._mean, self._m2,
                       *scratch)
        np.minimum(self._min, frames.min(axis=0), out=self._min)
        np.maximum(self._max, frames.max(axis=0), out=self._max)

    def _chan_merge(self, other: MomentAccumulator, other_mean: np.ndarray) -> None:
        """Chan et al.'s merge of ``other``'s (count, mean, M2) into this one's."""
        na = self._count.astype(np.float64)
        nb = other._count.astype(np.float64)
        nt = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = other_mean - self._mean
            wb = np.where(nt > 0, nb / nt, 0.0)
            self._mean += delta * wb
            self._m2 += other._m2 + np.where(nt > 0, delta * delta * na * wb, 0.0)
        self._count += other._count

    def compact_sums_for(self, n: int) -> tuple[np.ndarray, ...] | None:
        """``(c1, c2, min, max)`` for a kernel that adds ``n`` frames itself, or None.

        Only an 8/16-bit accumulator that has seen no frame, and ``n`` within what the
        compact sums hold exactly; the frames are counted here.  Used by
        :func:`badpix.stats.median.moments_and_median` (moments and median in one pass).
        """
        if self.kind != "narrow" or self.n_frames or self._s1 is not None \
                or not 0 < n <= self._flush_every:
            return None
        self.n_frames = self._pending = int(n)
        return self._c1, self._c2, self._min, self._max

    def _alloc_totals(self) -> None:
        """The exact totals; for 8/16-bit data only once needed (saves fresh memory)."""
        if self._s1 is None:
            self._s1 = self._new(np.int64, 0)
            self._s2lo = self._new(np.uint64, 0)
            self._s2hi = self._new(np.uint64, 0)

    def _flush(self) -> None:
        """Move the compact 8/16-bit sums into the exact int64 / 128-bit totals."""
        if self.kind != "narrow":
            return
        self._alloc_totals()
        if self._pending == 0:
            return
        self._s1 += self._c1
        lo = self._s2lo + self._c2.astype(np.uint64)  # uint64 arrays wrap silently: carry
        self._s2hi += (lo < self._s2lo).astype(np.uint64)
        self._s2lo = lo
        self._c1[...] = 0
        self._c2[...] = 0
        self._pending = 0

    def merge(self, other: MomentAccumulator) -> MomentAccumulator:
        """Add another accumulator's frames to this one (exact for integers); returns self."""
        if other.shape != self.shape or other.dtype != self.dtype:
            raise ParameterError(f"cannot merge {other.dtype}{other.shape} into "
                                 f"{self.dtype}{self.shape}")
        if self.kind == "float":
            self._chan_merge(other, other._mean)
        elif self.kind == "wide64":
            if self.n_frames == 0:
                self._ref[...] = other._ref
            if other.n_frames:  # other's mean is relative to its own ref: move it to ours
                self._chan_merge(other, other._mean + (-other._shift(self._ref)))
        elif (self.kind == "narrow" and self._s1 is None and other._s1 is None
              and self._pending + other._pending <= self._flush_every):
            # both still in the compact 8/16-bit sums and their total cannot overflow:
            # add those (the same exact integers) instead of allocating the wide totals
            # on both sides -- fresh band-size arrays cost more than the additions
            self._c1 += other._c1
            self._c2 += other._c2
            self._pending += other._pending
        else:
            if self.n_frames + other.n_frames > _s1_frame_limit(self.dtype):
                raise ParameterError("merged frame count would overflow the exact sums")
            self._flush()
            other._flush()
            self._s1 += other._s1
            lo = self._s2lo + other._s2lo  # uint64 arrays wrap silently: carry below
            self._s2hi += other._s2hi + (lo < other._s2lo).astype(np.uint64)
            self._s2lo = lo
        np.minimum(self._min, other._min, out=self._min)
        np.maximum(self._max, other._max, out=self._max)
        self.n_frames += other.n_frames
        return self

    def subset(self, index: Callable[[np.ndarray], np.ndarray]) -> MomentAccumulator:
        """The accumulator of some of this one's pixels: ``index`` maps a state array to a view.

        Per-pixel moments are elementwise, so one accumulator can run over whole
        contiguous frames and each band be a view of its state afterwards (the
        local engine does this when the bands tile the frame: an RGB band is a
        stride-3 view, a Bayer plane a stride-2 one, and the kernels run 2x
        faster on contiguous data).  The subset shares this one's arrays: take
        subsets after the last ``update`` and use only them from then on.

        >>> import numpy as np
        >>> x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
        >>> whole = MomentAccumulator((3, 4), np.uint8).update(x)
        >>> odd = whole.subset(lambda a: a[:, 1::2])
        >>> odd.shape, odd.finalize()["mean"].tolist()
        ((3, 2), [[7.0, 9.0], [11.0, 13.0], [15.0, 17.0]])
        """
        if getattr(self, "_s1", None) is not None:
            self._flush()  # nothing pending: a subset's own flush never touches shared sums
        sub = self.with_arrays({k: index(v) for k, v in self.arrays().items()})
        sub.shape = tuple(int(s) for s in sub._min.shape)
        sub._chunks = K.pixel_chunks(*sub.shape)
        return sub

    # ------------------------------------------------------------------ results
    def finalize(self) -> dict[str, np.ndarray]:
        """``count`` (int64), ``mean``, ``var`` (population), ``std`` (float64), ``min``, ``max``.

        For integer data ``count`` is a read-only broadcast of the frame count and
        ``min``/``max`` are read-only views of the state in the data's dtype (float64
        for float data and for an accumulator that has seen no frame).

        Pixels without a value (all NaN, or no frames) get NaN statistics and count 0.
        """
        if self.kind == "float":
            count = self._count.copy()
            empty = count == 0
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(empty, np.nan, self._mean)
                var = np.where(empty, np.nan, self._m2 / count)
            var = np.maximum(var, 0.0, where=~empty, out=var)
            mn = np.where(empty, np.nan, self._min)
            mx = np.where(empty, np.nan, self._max)
        elif self.kind == "wide64" and self.n_frames:
            count = np.broadcast_to(np.int64(self.n_frames), self.shape)
            mean = self._ref.astype(np.float64) + self._mean
            var = np.maximum(self._m2 / self.n_frames, 0.0)
            mn, mx = self._min.view(), self._max.view()
            mn.flags.writeable = mx.flags.writeable = False
        else:
            # every pixel has every frame: a read-only broadcast, not a 8-byte-per-pixel array
            count = np.broadcast_to(np.int64(self.n_frames), self.shape)
            if self.n_frames == 0:
                nan = np.full(self.shape, np.nan)
                mean, var, mn, mx = nan, nan.copy(), nan.copy(), nan.copy()
            else:
                mean = np.empty(self.shape)
                var = np.empty(self.shape)
                if self.kind == "narrow" and self._s1 is None:  # never flushed
                    K.narrow_finalize(self.n_frames, self._c1, self._c2, mean, var)
                else:
                    self._flush()
                    K.int_finalize(self.n_frames, self._s1, self._s2lo, self._s2hi, mean, var)
                # the state's own arrays, read-only (exact in the data's dtype): a float64
                # copy was 16 bytes per pixel of fresh memory, slow on small VMs
                mn, mx = self._min.view(), self._max.view()
                mn.flags.writeable = mx.flags.writeable = False
        return {"count": count, "mean": mean, "var": var, "std": np.sqrt(var),
                "min": mn, "max": mx}
