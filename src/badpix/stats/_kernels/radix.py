"""Radix selection kernels: exact ranks of a large float64 array in a few streaming passes.

Exact rank selection for :mod:`badpix.detect.outlier` (through
:mod:`badpix.stats.scalar_median`): a few parallel streaming passes (histogram,
min/max, gather of one bin) over a read-only array instead of numpy's serial
in-place introselect.  Values travel as int64
"order keys": ``key(s) = s ^ ((s >> 63) & INT64_MAX)`` of the float's bits ``s``
orders like the floats (signed int64 compare), with -0.0 (key -1) just below
+0.0 (key 0); the map is its own inverse.  A bin is ``(key - lo) >> shift`` in
uint64 arithmetic, which cannot overflow for ``lo <= key``.

Each prange task calls a serial kernel on its chunk ``bits[c n // nchunks:(c + 1)
n // nchunks]``: the same loops written inline in the prange body measured 15-30x
slower (not vectorised, 8 ns per value).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _order_key(s):  # pragma: no cover - numba
    """Order key of float64 bits ``s`` (int64), see the module docstring."""
    return s ^ ((s >> 63) & 0x7FFFFFFFFFFFFFFF)


@njit(cache=True)
def _hist_chunk(bits, lo, hi, ush, h):  # pragma: no cover - numba
    ulo = np.uint64(lo)
    for i in range(bits.size):
        key = _order_key(bits[i])
        if (key >= lo) & (key <= hi):
            h[np.int64((np.uint64(key) - ulo) >> ush)] += np.uint32(1)


@njit(parallel=True, cache=True)
def radix_hist(bits, nchunks, lo, hi, shift, nbins):  # pragma: no cover - numba
    """Per-chunk histograms ``(nchunks, nbins)`` of ``(key - lo) >> shift``, keys in ``[lo, hi]``.

    ``bits`` is the float64 array viewed as int64.  uint32 counts keep a 16-bit
    histogram at 256 KiB, inside L2.
    """
    n = bits.size
    hist = np.zeros((nchunks, nbins), np.uint32)
    ush = np.uint64(shift)
    for c in prange(nchunks):
        _hist_chunk(bits[c * n // nchunks:(c + 1) * n // nchunks], lo, hi, ush, hist[c])
    return hist


@njit(cache=True)
def _minmax_chunk(bits, lo, hi):  # pragma: no cover - numba
    mn = hi
    mx = lo
    for i in range(bits.size):
        key = _order_key(bits[i])
        ok = (key >= lo) & (key <= hi)
        # selects instead of a branch: the candidates may be any fraction of the data
        mn = min(mn, key if ok else hi)
        mx = max(mx, key if ok else lo)
    return mn, mx


@njit(parallel=True, cache=True)
def radix_minmax(bits, nchunks, lo, hi):  # pragma: no cover - numba
    """Smallest and largest key in ``[lo, hi]`` (``(hi, lo)`` if there is none)."""
    n = bits.size
    mns = np.empty(nchunks, np.int64)
    mxs = np.empty(nchunks, np.int64)
    for c in prange(nchunks):
        mns[c], mxs[c] = _minmax_chunk(bits[c * n // nchunks:(c + 1) * n // nchunks], lo, hi)
    return mns.min(), mxs.max()


@njit(cache=True)
def _gather_chunk(bits, lo, hi, out):  # pragma: no cover - numba
    j = 0
    for i in range(bits.size):
        key = _order_key(bits[i])
        out[j] = key
        j += np.int64((key >= lo) & (key <= hi))
    return j


@njit(parallel=True, cache=True)
def radix_gather(bits, nchunks, lo, hi, counts):  # pragma: no cover - numba
    """The keys in ``[lo, hi]``, chunk ``c`` holding exactly ``counts[c]`` of them.

    Every key is stored and the write position advances only for candidates:
    no branch to mispredict however the candidates are spread.  The one extra
    store past a chunk's last candidate lands in a slack slot of that chunk, and
    the chunks are closed up afterwards.
    """
    n = bits.size
    offsets = np.empty(nchunks + 1, np.int64)
    offsets[0] = 0
    for c in range(nchunks):
        offsets[c + 1] = offsets[c] + counts[c] + 1
    buf = np.empty(offsets[nchunks], np.int64)
    for c in prange(nchunks):
        _gather_chunk(bits[c * n // nchunks:(c + 1) * n // nchunks], lo, hi,
                      buf[offsets[c]:offsets[c + 1]])
    m = 0
    for c in range(nchunks):
        for j in range(offsets[c], offsets[c] + counts[c]):
            buf[m] = buf[j]
            m += 1
    return buf[:m]


@njit(cache=True)
def radix_select_keys(buf, r1, r2):  # pragma: no cover - numba
    """Keys of ranks ``r1`` and ``r2 = r1`` or ``r1 + 1`` among the keys ``buf`` (reordered).

    Each round histograms the keys by the top bits of ``key - min`` (up to 16 bits,
    fewer for few keys) and keeps only the bin holding both ranks, compacted in
    place: the key range shrinks by at least that many bits per round.  When the
    two ranks fall in different bins they are the largest key of the first bin
    and the smallest of the second.
    """
    m = buf.size
    while True:
        if m <= 32:  # insertion sort
            for i in range(1, m):
                v = buf[i]
                j = i - 1
                while j >= 0 and buf[j] > v:
                    buf[j + 1] = buf[j]
                    j -= 1
                buf[j + 1] = v
            return buf[r1], buf[r2]
        mn = buf[0]
        mx = buf[0]
        for i in range(1, m):
            mn = min(mn, buf[i])
            mx = max(mx, buf[i])
        if mn == mx:
            return mn, mn
        umn = np.uint64(mn)
        span = np.uint64(mx) - umn
        nbits = 0
        while nbits < 64 and (span >> np.uint64(nbits)) != np.uint64(0):
            nbits += 1
        dbits = 1
        while dbits < 16 and (1 << dbits) < m:
            dbits += 1
        ush = np.uint64(max(nbits - dbits, 0))
        hist = np.zeros(np.int64(span >> ush) + 1, np.int64)
        for i in range(m):
            hist[np.int64((np.uint64(buf[i]) - umn) >> ush)] += 1
        b1 = 0
        base = 0
        while base + hist[b1] <= r1:
            base += hist[b1]
            b1 += 1
        b2 = b1
        if base + hist[b1] <= r2:  # r1 is the last of bin b1, r2 the first non-empty bin after
            b2 += 1
            while hist[b2] == 0:
                b2 += 1
            lower = mn
            upper = mx
            for i in range(m):
                v = buf[i]
                b = np.int64((np.uint64(v) - umn) >> ush)
                if b == b1:
                    lower = max(lower, v)
                elif b == b2:
                    upper = min(upper, v)
            return lower, upper
        j = 0
        for i in range(m):
            v = buf[i]
            buf[j] = v
            j += np.int64((np.uint64(v) - umn) >> ush) == b1
        m = j
        r1 -= base
        r2 -= base
