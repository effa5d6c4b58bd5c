"""Per-pixel moment kernels: exact integer sums (128-bit squares) and two-pass float moments.

Used by :class:`badpix.stats.moments.MomentAccumulator`, which owns the state
arrays and decides when the compact 8/16-bit sums are flushed into the exact
totals.  See :mod:`badpix.stats._kernels` for the chunking shared by all kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: frames per batch of the float two-pass kernel: 16 frames x 8K pixels x 8 B = 1 MiB (L2)
FLOAT_BATCH = 16

_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


# ----------------------------------------------------------------------------- integer moments

@njit(inline="always")
def _add_narrow(row, a1, a2, amn, amx):  # pragma: no cover - numba
    """Add one contiguous row of 8/16-bit values to compact sums, min and max."""
    for c in range(row.shape[0]):
        v = row[c]
        iv = np.int64(v)
        a1[c] += iv
        a2[c] += np.uint64(iv * iv)
        amn[c] = min(amn[c], v)
        amx[c] = max(amx[c], v)


@njit(parallel=True, cache=True)
def int_update_narrow(frames, chunks, s1, s2, mn, mx):  # pragma: no cover - numba
    """Sums for 8/16-bit data into compact 32/64-bit accumulators.

    The caller flushes ``s1``/``s2`` into the exact int64/128-bit totals before
    they can overflow; keeping them small cuts the state traffic per call
    (16 B per uint16 pixel instead of 28 B), which dominates with 16-frame blocks.
    """
    n = frames.shape[0]
    for k in prange(chunks.shape[0]):
        r0, r1, c0, c1 = chunks[k, 0], chunks[k, 1], chunks[k, 2], chunks[k, 3]
        row = np.empty(c1 - c0, frames.dtype)
        for f in range(n):
            for r in range(r0, r1):
                # a contiguous copy first: a band of RGB data has a 3-element stride,
                # which keeps the fused loop below from vectorising (2-3x slower)
                src = frames[f, r, c0:c1]
                for c in range(c1 - c0):
                    row[c] = src[c]
                _add_narrow(row, s1[r, c0:c1], s2[r, c0:c1], mn[r, c0:c1], mx[r, c0:c1])


@njit(parallel=True, cache=True)
def int_update_wide(frames, chunks, s1, s2lo, s2hi, mn, mx):  # pragma: no cover - numba
    """Exact sums for 32-bit data: x**2 < 2**64, so carry into ``s2hi`` per element."""
    n = frames.shape[0]
    for k in prange(chunks.shape[0]):
        r0, r1, c0, c1 = chunks[k, 0], chunks[k, 1], chunks[k, 2], chunks[k, 3]
        row = np.empty(c1 - c0, frames.dtype)
        for f in range(n):
            for r in range(r0, r1):
                # a contiguous copy first: a band of RGB data has a 3-element stride,
                # which keeps the fused loop below from vectorising (2-3x slower)
                src = frames[f, r, c0:c1]
                for c in range(c1 - c0):
                    row[c] = src[c]
                a1 = s1[r, c0:c1]
                alo = s2lo[r, c0:c1]
                ahi = s2hi[r, c0:c1]
                amn = mn[r, c0:c1]
                amx = mx[r, c0:c1]
                for c in range(c1 - c0):
                    v = row[c]
                    iv = np.int64(v)
                    a1[c] += iv
                    u = np.uint64(abs(iv))
                    sq = u * u
                    lo = alo[c] + sq
                    alo[c] = lo
                    ahi[c] += np.uint64(lo < sq)
                    amn[c] = min(amn[c], v)
                    amx[c] = max(amx[c], v)


@njit(inline="always")
def _mul_u64(a, b):  # pragma: no cover - numba
    """Full 128-bit product of two uint64 as ``(hi, lo)``."""
    a0 = a & _MASK32
    a1 = a >> _U32
    b0 = b & _MASK32
    b1 = b >> _U32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _U32) + (p01 & _MASK32) + (p10 & _MASK32)
    lo = (p00 & _MASK32) | (mid << _U32)
    hi = p11 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32)
    return hi, lo


@njit(inline="always")
def _finish(n, s, s2lo, s2hi):  # pragma: no cover - numba
    """Mean and population variance from exact sums, deterministic in ``(n, S1, S2)``.

    With ``m = floor(S1 / n)`` and ``r = S1 - n m`` (``0 <= r < n``) the sum of
    squared deviations from ``m`` is ``Q = S2 - m (S1 + r)``, computed exactly
    modulo 2**128 (the true ``Q`` is non-negative and far below 2**128).  Then
    ``n**2 var = n Q - r**2``: exact in int64 whenever ``n Q < 2**63`` (then one
    rounding in the final division), otherwise ``(Q - r**2 / n) / n`` in float64.
    """
    fn = np.float64(n)
    m = s // n
    r = s - m * n
    t = s + r
    neg = (m < 0) != (t < 0)
    ph, pl = _mul_u64(np.uint64(abs(m)), np.uint64(abs(t)))
    if neg:  # two's complement of the 128-bit product
        pl = ~pl + _ONE
        ph = ~ph + np.uint64(pl == _ZERO)
    lo = s2lo - pl
    borrow = np.uint64(s2lo < pl)
    hi = s2hi - ph - borrow
    mean = np.float64(s) / fn
    if hi == _ZERO and lo <= np.uint64(np.int64(9223372036854775807) // np.int64(n)):
        d = np.int64(n) * np.int64(lo) - r * r
        var = np.float64(d) / (fn * fn)
    else:
        q = np.float64(hi) * 18446744073709551616.0 + np.float64(lo)
        var = max((q - np.float64(r) * np.float64(r) / fn) / fn, 0.0)
    return mean, var


@njit(parallel=True, cache=True)
def int_finalize(n, s1, s2lo, s2hi, mean, var):  # pragma: no cover - numba
    """Mean and variance from the exact int64 / 128-bit totals (see ``_finish``)."""
    h, w = s1.shape
    for i in prange(h):
        for j in range(w):
            mean[i, j], var[i, j] = _finish(n, s1[i, j], s2lo[i, j], s2hi[i, j])


@njit(parallel=True, cache=True)
def narrow_finalize(n, c1, c2, mean, var):  # pragma: no cover - numba
    """Mean and variance straight from the compact 8/16-bit sums (nothing flushed yet)."""
    h, w = c1.shape
    for i in prange(h):
        for j in range(w):
            mean[i, j], var[i, j] = _finish(n, np.int64(c1[i, j]), np.uint64(c2[i, j]), _ZERO)


# ----------------------------------------------------------------------------- float moments

@njit(parallel=True, cache=True)
def float_update(frames, chunks, count, mean, m2, mn, mx):  # pragma: no cover - numba
    """Two-pass moments per batch of FLOAT_BATCH frames, Chan-merged into the state.

    Per pixel, NaN skipped: pass 1 counts and sums a batch (plus min/max), pass 2
    sums squared deviations from the batch mean while the batch is still in
    cache, then the batch is merged with Chan et al.'s formula.  This is a
    Welford-style update with a batch instead of one value as the increment:
    one division per pixel per batch instead of per value.
    """
    n = frames.shape[0]
    for k in prange(chunks.shape[0]):
        r0, r1, c0, c1 = chunks[k, 0], chunks[k, 1], chunks[k, 2], chunks[k, 3]
        nr = r1 - r0
        nc = c1 - c0
        bc = np.empty((nr, nc), np.float64)
        bs = np.empty((nr, nc), np.float64)
        bq = np.empty((nr, nc), np.float64)
        for b0 in range(0, n, FLOAT_BATCH):
            b1 = min(n, b0 + FLOAT_BATCH)
            bc[:] = 0.0
            bs[:] = 0.0
            bq[:] = 0.0
            for f in range(b0, b1):
                for r in range(nr):
                    src = frames[f, r0 + r, c0:c1]
                    ac = bc[r]
                    as_ = bs[r]
                    amn = mn[r0 + r, c0:c1]
                    amx = mx[r0 + r, c0:c1]
                    for c in range(nc):
                        v = np.float64(src[c])
                        ok = v == v
                        ac[c] += 1.0 if ok else 0.0
                        as_[c] += v if ok else 0.0
                        amn[c] = min(amn[c], v if ok else np.inf)
                        amx[c] = max(amx[c], v if ok else -np.inf)
            for r in range(nr):
                ac = bc[r]
                as_ = bs[r]
                for c in range(nc):
                    as_[c] = as_[c] / ac[c] if ac[c] > 0.0 else 0.0  # batch mean
            for f in range(b0, b1):
                for r in range(nr):
                    src = frames[f, r0 + r, c0:c1]
                    as_ = bs[r]
                    aq = bq[r]
                    for c in range(nc):
                        v = np.float64(src[c])
                        d = v - as_[c]
                        aq[c] += d * d if v == v else 0.0
            for r in range(nr):
                cnt = count[r0 + r, c0:c1]
                mu = mean[r0 + r, c0:c1]
                q = m2[r0 + r, c0:c1]
                for c in range(nc):
                    nb = bc[r, c]
                    if nb > 0.0:
                        na = np.float64(cnt[c])
                        nt = na + nb
                        delta = bs[r, c] - mu[c]
                        mu[c] += delta * (nb / nt)
                        q[c] += bq[r, c] + delta * delta * (na * nb / nt)
                        cnt[c] += np.int64(nb)
