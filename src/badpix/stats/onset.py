"""Onset: from which photo on has a pixel been defective?

:class:`OnsetAccumulator` is a :class:`~badpix.stats.persistence.PersistenceAccumulator`
that also keeps, per pixel and frame, one bit "stands out from its 3×3
neighbourhood" (either side; same test and threshold as the persistence
counts), bit-packed along the frames in capture-time order (``np.packbits``
order: frame rank ``t`` is bit ``7 - t % 8`` of byte ``t // 8``).

Memory bound: ``ceil(n_frames / 8) * h * w`` bytes per band, allocated up front
and checked against the available memory (1000 frames of a 24 MP mosaic: 3 GB;
200 photos of 10 MP RGB: 750 MB).  Nothing spills to disk.

Onset definition
----------------
Frames are ordered by capture time (``times``; file order when ``None`` or
when any frame has no time).  With ``b_t`` the stand-out bit of the frame of
rank ``t`` and ``N`` frames, the onset is the change point

    ``t* = argmax_t  sum_{i >= t} (b_i - 1/2)``   (earliest ``t`` on ties)

-- the log-likelihood-ratio maximiser for "normal before ``t``, defective from
``t`` on" when a defective pixel stands out and a normal one stays quiet with
equal error rates.  It is reported (``onset_frame >= 0``) only when the run
from it satisfies the persistence rule: the pixel stands out in at least a
fraction ``persistence`` of frames ``t*..N-1`` and that run is at least
``onset_min_frames`` long (default ``max(3, ceil(N / 10))``).  A pixel
defective in every frame gets ``onset_frame`` of the earliest frame.

(The simpler "earliest ``t`` whose suffix fraction is >= ``persistence``" is
biased early: a pixel hot from frame 50 of 100 passes that test from frame 45
on with ``persistence = 0.9``; the change point is exact on the same data.)

Outputs of ``finalize()``, besides the persistence fractions:

``onset_frame``     0-based position of the onset frame in capture-time order (what a
                    user counts: 17 is the 18th photo taken), -1 if none;
``onset_index``     its stack frame index (file order: ``reader.frame_label(i)`` names
                    the file), -1 if none;
``onset_fraction``  fraction of stand-out frames from the onset to the last frame (float32);
``onset_time``      capture time of the onset frame (s, as the reader gives it), NaN if none.

Without capture times both orders are the file order and the two indices agree.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> frames = rng.integers(90, 110, (20, 6, 6)).astype(np.uint8)
>>> frames[12:, 2, 3] = 250                       # goes hot at frame 12
>>> acc = OnsetAccumulator((6, 6), np.uint8, 20)
>>> acc.update(frames, 0)
>>> out = acc.finalize()
>>> int(out["onset_frame"][2, 3]), int(out["onset_frame"][0, 0])
(12, -1)
>>> acc = OnsetAccumulator((6, 6), np.uint8, 20, times=np.arange(20.0)[::-1])  # filed backwards
>>> acc.update(frames[::-1].copy(), 0)    # hot in files 0..7: the last 8 captures
>>> out = acc.finalize()
>>> int(out["onset_frame"][2, 3]), int(out["onset_index"][2, 3])
(12, 7)
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
from numba import njit, prange

from ..memory import check_allocation
from .persistence import PersistenceAccumulator, PersistenceParams

__all__ = ["OnsetAccumulator", "capture_order", "make_onset_factory", "onset_from_bits"]


def capture_order(times: np.ndarray | None, n_frames: int) -> np.ndarray:
    """Stack frame indices in capture-time order (stable; file order without full times).

    >>> capture_order(np.array([30.0, 10.0, 20.0]), 3).tolist()
    [1, 2, 0]
    >>> capture_order(np.array([30.0, np.nan, 20.0]), 3).tolist()
    [0, 1, 2]
    """
    if times is None:
        return np.arange(n_frames)
    t = np.asarray(times, np.float64)
    if t.shape != (n_frames,) or not np.isfinite(t).all():
        return np.arange(n_frames)
    return np.argsort(t, kind="stable")


@njit(parallel=True, cache=True)
def _onset_kernel(bits, n, min_frames, persistence, order, times, rank, frac, frame,
                  otime):  # pragma: no cover - numba
    """Per pixel: the change point and the rule, straight to the outputs.

    Change point: the earliest ``t`` maximising ``sum_{i>=t} (2 b_i - 1)`` (> 0)
    and the stand-outs from it on, in int32 lanes (``n < 2**31``).  Rule: the
    run ``n - t`` must be ``>= min_frames`` and its fraction of stand-outs
    ``>= persistence``; otherwise ``rank`` is -1 and ``frac`` 0.  ``frame``
    (stack index, ``order[rank]``) and ``otime`` (``times[frame]``, NaN
    without ``times``) are filled when ``frame`` is not ``(0, 0)``.
    """
    groups, h, w = bits.shape
    want_frame = frame.shape[0] > 0
    has_times = times.shape[0] > 0
    for r in prange(h):
        s = np.zeros(w, np.int32)
        best = np.zeros(w, np.int32)
        ones = np.zeros(w, np.int32)
        arg = np.full(w, n, np.int32)
        oat = np.zeros(w, np.int32)
        for t in range(n - 1, -1, -1):
            row = bits[t >> 3, r]
            shift = 7 - (t & 7)
            tt = np.int32(t)
            for c in range(w):
                b = np.int32((row[c] >> shift) & 1)
                sc = np.int32(s[c] + 2 * b - 1)
                oc = np.int32(ones[c] + b)
                s[c] = sc
                ones[c] = oc
                take = (sc >= best[c]) & (sc > 0)
                best[c] = sc if take else best[c]
                arg[c] = tt if take else arg[c]
                oat[c] = oc if take else oat[c]
        for c in range(w):
            a = np.int64(arg[c])
            run = n - a
            f = np.float64(oat[c]) / np.float64(max(run, 1)) if run > 0 else 0.0
            ok = (run >= min_frames) & (f >= persistence) & (run > 0)
            rank[r, c] = a if ok else -1
            frac[r, c] = f if ok else 0.0
            if want_frame:
                fi = order[a] if ok else -1
                frame[r, c] = fi
                otime[r, c] = times[fi] if ok and has_times else np.nan


def _onset_outputs(bits: np.ndarray, n_frames: int, persistence: float, min_frames: int | None,
                   order: np.ndarray | None = None, times: np.ndarray | None = None):
    """``(rank, frac, frame, otime)`` per pixel; ``frame``/``otime`` only with ``order``."""
    _, h, w = bits.shape
    if n_frames >= 2 ** 31 - 1:
        raise ValueError(f"onset: {n_frames} frames is more than the int32 counters hold")
    if min_frames is None:
        min_frames = max(3, math.ceil(n_frames / 10))
    # int32 frame indices (n_frames < 2**31 above): band-size arrays are fresh memory
    rank = np.empty((h, w), np.int32)
    frac = np.empty((h, w), np.float32)  # a score: see badpix.detect.persistent
    shape = (h, w) if order is not None else (0, 0)
    frame = np.empty(shape, np.int32)
    otime = np.empty(shape, np.float64)
    order = np.zeros(0, np.int64) if order is None else np.ascontiguousarray(order, np.int64)
    times = np.zeros(0, np.float64) if times is None else np.ascontiguousarray(times, np.float64)
    # run >= min_frames  <=>  run >= ceil(min_frames) for the integer run
    _onset_kernel(np.ascontiguousarray(bits), int(n_frames), math.ceil(min_frames),
                  float(persistence),
                  order, times, rank, frac, frame, otime)
    return rank, frac, frame, otime


def onset_from_bits(bits: np.ndarray, n_frames: int, persistence: float = 0.9,
                    min_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Onset rank (``-1`` if none) and run fraction per pixel from packed stand-out bits.

    ``bits`` is ``(ceil(n/8), h, w)`` uint8 in :func:`numpy.packbits` order
    along axis 0, frames in capture order.

    >>> import numpy as np
    >>> b = np.zeros((12, 1, 2), bool); b[5:, 0, 0] = True; b[3, 0, 1] = True
    >>> rank, frac = onset_from_bits(np.packbits(b, axis=0), 12)
    >>> rank.tolist(), float(frac[0, 0])
    ([[5, -1]], 1.0)
    """
    rank, frac, _, _ = _onset_outputs(bits, n_frames, persistence, min_frames)
    return rank, frac


class OnsetAccumulator(PersistenceAccumulator):
    """Persistence counts plus per-frame stand-out bits, for the onset of each defect.

    Parameters
    ----------
    shape, dtype
        Of the band.
    n_frames
        Frames in the stack (the bit store is allocated for them up front).
    params
        :class:`PersistenceParams` (``persistence``, ``onset_min_frames`` are used here).
    times
        Capture time of every stack frame (``reader.frame_times()``), or ``None``.
    """

    name = "onset"

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type | str, n_frames: int,
                 params: PersistenceParams | None = None, times: np.ndarray | None = None):
        super().__init__(shape, dtype, params)
        self.total_frames = int(n_frames)
        self.times = None if times is None else np.asarray(times, np.float64)
        self.order = capture_order(self.times, self.total_frames)
        self.ranks = np.empty(self.total_frames, np.int64)
        self.ranks[self.order] = np.arange(self.total_frames)
        groups = -(-self.total_frames // 8)
        check_allocation(groups * self.shape[0] * self.shape[1], "onset bit store")
        self.bits = np.zeros((groups, *self.shape), np.uint8)

    def _bits_target(self, n: int, first_index: int):
        if first_index + n > self.total_frames:
            raise ValueError(f"{self.name}: frames {first_index}..{first_index + n - 1} beyond "
                             f"the {self.total_frames} frames the accumulator was made for")
        return self.bits, self.ranks[first_index:first_index + n]

    def merge(self, other: Self) -> Self:
        super().merge(other)
        np.bitwise_or(self.bits, other.bits, out=self.bits)
        return self

    def finalize(self) -> dict[str, np.ndarray]:
        out = super().finalize()
        n = self.total_frames
        times = self.times if self.times is not None and self.times.shape == (n,) else None
        rank, frac, frame, otime = _onset_outputs(self.bits, n, self.params.persistence,
                                                  self.params.onset_min_frames, self.order,
                                                  times)
        # onset_frame counts captures (what onset_time follows); onset_index names the file
        out.update(onset_frame=rank, onset_index=frame, onset_fraction=frac, onset_time=otime)
        return out

    def state(self) -> dict[str, np.ndarray]:
        st = super().state()
        st.update(bits=self.bits, total_frames=np.int64(self.total_frames),
                  times=np.full(self.total_frames, np.nan) if self.times is None else self.times,
                  has_times=np.bool_(self.times is not None))
        return st

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Self:
        base = PersistenceAccumulator.from_state(state)
        acc = cls(base.shape, base.dtype, int(state["total_frames"]), base.params,
                  np.array(state["times"]) if bool(state["has_times"]) else None)
        acc.hot, acc.dead, acc.valid, acc.n_frames = base.hot, base.dead, base.valid, base.n_frames
        acc.bits = np.array(state["bits"], np.uint8)
        return acc


def make_onset_factory(times: np.ndarray | None):
    """An accumulator factory for ``scan_stack(extra_accumulators=[...])`` with these times.

    Use it *instead of* :func:`~badpix.stats.persistence.persistence_factory`:
    the onset accumulator also returns the persistence fractions.

    >>> from badpix.stats.onset import make_onset_factory      # doctest: +SKIP
    >>> f = make_onset_factory(stack.reader.frame_times())      # doctest: +SKIP
    >>> result = scan_stack(stack, extra_accumulators=[f])      # doctest: +SKIP
    """

    def onset_factory(shape: tuple[int, int], dtype: np.dtype, n_frames: int,
                      params: Any) -> OnsetAccumulator:
        return OnsetAccumulator(shape, dtype, n_frames, PersistenceParams.from_params(params),
                                times)

    return onset_factory
