"""Numba kernels behind :mod:`badpix.stats` (internal; the public API validates inputs).

All kernels take ``(n, h, w)`` frame blocks with any strides (a band is a strided
view of a ``(n, rows, cols, channels)`` block) and work on pixel chunks of about
8K pixels in ``prange`` so that a chunk's accumulators stay in L2 while every
frame of the block streams through it once.  Accumulators are sliced once per
chunk row and min/max are unconditional: PERFORMANCE.md measured indexing the
full arrays with ``if v < mn`` 4-10x slower.

Example
-------
>>> import numpy as np
>>> chunks = pixel_chunks(4, 5)
>>> chunks.shape[1]
4
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CHUNK_PIXELS = 8192
#: frames per batch of the float two-pass kernel: 16 frames x 8K pixels x 8 B = 1 MiB (L2)
FLOAT_BATCH = 16

_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


def pixel_chunks(h: int, w: int, pixels: int = CHUNK_PIXELS) -> np.ndarray:
    """Rectangles ``(r0, r1, c0, c1)`` of about ``pixels`` pixels tiling an ``h x w`` band."""
    if w >= pixels:
        cols = [(c, min(w, c + pixels)) for c in range(0, w, pixels)]
        out = [(r, r + 1, c0, c1) for r in range(h) for c0, c1 in cols]
    else:
        rows = max(1, pixels // max(w, 1))
        out = [(r, min(h, r + rows), 0, w) for r in range(0, h, rows)]
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


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


# ----------------------------------------------------------------------------- selection

@njit(inline="always")
def _select(a, lo, hi, k):  # pragma: no cover - numba
    """Partially order ``a[lo:hi]`` so that ``a[k]`` is its k-th smallest (Hoare quickselect).

    Afterwards everything in ``a[lo:k]`` is <= ``a[k]``.
    """
    hi = hi - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        # median of three as pivot, moved to a[lo]
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        a[mid], a[lo] = a[lo], a[mid]
        pivot = a[lo]
        i = lo
        j = hi + 1
        while True:
            i += 1
            while a[i] < pivot:
                i += 1
            j -= 1
            while pivot < a[j]:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
        a[lo], a[j] = a[j], a[lo]
        if j == k:
            return
        if j < k:
            lo = j + 1
        else:
            hi = j - 1


@njit(inline="always")
def _median_of(buf, cnt):  # pragma: no cover - numba
    """numpy's median of ``buf[:cnt]`` (reorders it); NaN for ``cnt == 0``."""
    if cnt == 0:
        return np.nan
    k = cnt // 2
    _select(buf, 0, cnt, k)
    upper = np.float64(buf[k])
    if cnt % 2 == 1:
        return upper
    lower = buf[0]
    for i in range(1, k):
        lower = max(lower, buf[i])
    return (np.float64(lower) + upper) / 2.0


@njit(parallel=True, cache=True)
def temporal_median(frames, out):  # pragma: no cover - numba
    """Per-pixel median over axis 0 by quickselect, NaN ignored; one row per task.

    A pixel's values are gathered frame by frame into a small buffer: the 64-byte
    lines read for one pixel serve the next 31 (uint16) from L1, so no explicit
    transpose is needed (an explicit (pixels, n) transpose measured 4x slower).
    """
    n, h, w = frames.shape
    for r in prange(h):
        buf = np.empty(n, frames.dtype)
        for c in range(w):
            cnt = 0
            for f in range(n):
                v = frames[f, r, c]
                if v == v:  # NaN skipped (always true for integers)
                    buf[cnt] = v
                    cnt += 1
            out[r, c] = _median_of(buf, cnt)


@njit(inline="always")
def _bitwise_block(ufr, r, c0, c1, flip, prefix, nbits, cnt_proto, out):  # pragma: no cover
    """The bitwise median search of pixels ``[c0, c1)`` of row ``r`` (see below)."""
    n = ufr.shape[0]
    k = n // 2 if n % 2 == 1 else n // 2 - 1  # the lower middle for an even count
    offset = np.float64(flip)
    m = c1 - c0
    ans = np.empty(m, ufr.dtype)
    t = np.empty(m, ufr.dtype)
    cnt = np.empty(m, cnt_proto.dtype)
    # typed scalars (numba promotes Python ints to int64, which would widen the lanes)
    consts = np.empty(4, ufr.dtype)
    consts[0] = flip
    consts[1] = -1  # all ones
    consts[3] = prefix
    fl = consts[0]
    top = consts[1]
    ans[:] = consts[3]
    for b in range(nbits - 1, -1, -1):
        consts[2] = 1 << b
        bit = consts[2]
        for c in range(m):
            t[c] = ans[c] | bit
            cnt[c] = 0
        for f in range(n):
            row = ufr[f, r, c0:c1]
            for c in range(m):
                cnt[c] += (row[c] ^ fl) < t[c]
        for c in range(m):
            ans[c] = t[c] if cnt[c] <= k else ans[c]
    orow = out[r, c0:c1]
    if n % 2 == 1:
        for c in range(m):
            orow[c] = np.float64(ans[c]) - offset
    else:
        # upper middle: lower itself if it fills rank k + 1, else the next larger value
        nxt = np.empty(m, ufr.dtype)
        for c in range(m):
            cnt[c] = 0
            nxt[c] = top
        for f in range(n):
            row = ufr[f, r, c0:c1]
            for c in range(m):
                x = row[c] ^ fl
                le = x <= ans[c]
                cnt[c] += le
                nxt[c] = min(nxt[c], top if le else x)
        for c in range(m):
            up = ans[c] if cnt[c] > k + 1 else nxt[c]
            orow[c] = (np.float64(ans[c]) + np.float64(up)) / 2.0 - offset


@njit(parallel=True, cache=True)
def temporal_median_bitwise(frames, flip, prefix, nbits, cols, cnt_proto, out):  # pragma: no cover
    """Per-pixel median of 8/16-bit integers by a bitwise rank search, vectorised across pixels.

    The rank-``k`` value of a pixel is the largest ``t`` with
    ``#{x < t} <= k``; it is built from the top bit down, one counting pass
    over the pixel's frames per bit.  Each pass is a compare-and-add over
    whole rows of pixels in the data's own lane width (64 uint8 or 32 uint16
    lanes with AVX-512, no branches), where gathering a pixel's values for a
    per-pixel selection defeats SIMD: measured 2.8-7.5x faster than the radix
    counting per pixel it replaced (16 uint8 frames of 10 MP: 4.5x; 200 uint16
    frames of 1024²: 7.5x), before skipping the bits the data's range does not use.  For an even count the upper middle value
    comes from one more pass (``#{x <= lower}`` and the smallest ``x > lower``).

    ``flip`` (``0`` or the sign bit) maps signed data to unsigned order;
    ``frames`` is then the unsigned view.  Only the low ``nbits`` bits are
    searched: the bits above are ``prefix``, shared by every value (the caller
    derives both from the data's range, so 12-bit data in uint16 take 12
    passes, not 16).  ``cols`` columns are processed per
    task so that their ``n x cols`` values stay in L2 over all ``nbits``
    passes; ``cnt_proto`` fixes the counter dtype (uint8 if ``n < 256``).
    """
    h, w = frames.shape[1:]
    ncb = (w + cols - 1) // cols
    for task in prange(h * ncb):
        r = task // ncb
        c0 = (task % ncb) * cols
        _bitwise_block(frames, r, c0, min(w, c0 + cols), flip, prefix, nbits, cnt_proto, out)


@njit(parallel=True, cache=True, nogil=True)  # nogil: the local engine reads the next strip meanwhile
def moments_median_narrow(frames, ufr, flip, cols, cnt_proto, s1, s2, mn, mx, out):  # pragma: no cover
    """:func:`int_update_narrow` and :func:`temporal_median_bitwise` fused, block by block.

    For each ``n x cols`` block of one row: one pass adds the frames to the compact
    sums ``s1``/``s2`` and ``mn``/``mx`` (those of an accumulator that has seen no
    frame: the caller checks that the sums cannot overflow), then the median's
    bitwise search runs on the same block while it is in L2, over only the bits the
    block's own range uses.  Separately, the moments are one more pass over memory
    and the median needs the whole stack's range first (two more).  ``frames`` is
    the data in its dtype, ``ufr`` the same memory viewed unsigned (see
    :func:`temporal_median_bitwise` for ``flip`` and ``cnt_proto``).
    """
    n, h, w = frames.shape
    ncb = (w + cols - 1) // cols
    for task in prange(h * ncb):
        r = task // ncb
        c0 = (task % ncb) * cols
        c1 = min(w, c0 + cols)
        m = c1 - c0
        row = np.empty(m, frames.dtype)
        a1 = s1[r, c0:c1]
        a2 = s2[r, c0:c1]
        amn = mn[r, c0:c1]
        amx = mx[r, c0:c1]
        for f in range(n):
            src = frames[f, r, c0:c1]
            for c in range(m):
                row[c] = src[c]  # contiguous first: see int_update_narrow
            _add_narrow(row, a1, a2, amn, amx)
        lo = np.int64(amn[0])
        hi = np.int64(amx[0])
        for c in range(1, m):
            lo = min(lo, np.int64(amn[c]))
            hi = max(hi, np.int64(amx[c]))
        lo += flip  # unsigned order
        hi += flip
        nbits = 0
        x = lo ^ hi
        while x:
            nbits += 1
            x >>= 1
        _bitwise_block(ufr, r, c0, c1, flip, (lo >> nbits) << nbits, nbits, cnt_proto, out)


# ----------------------------------------------------------------------------- spatial median

@njit(inline="always")
def _compare_rows(buf, pairs, n):  # pragma: no cover - numba
    """Apply comparators ``(i, j)`` (min to row i, max to row j) to the first ``n`` columns."""
    for p in range(pairs.shape[0]):
        a = buf[pairs[p, 0]]
        b = buf[pairs[p, 1]]
        for x in range(n):
            u = a[x]
            v = b[x]
            a[x] = min(u, v)
            b[x] = max(u, v)


@njit(parallel=True, cache=True)
def network_median(img, rows, cols, cval, ky, kx, colnet, colord, pairnet, pairord, selnet,
                   rank_row, chunk, out):  # pragma: no cover - numba
    """Window rank via pruned sorting networks, vectorised across a row chunk.

    Parameters
    ----------
    img
        ``(h, w)`` float64 image (not padded).
    rows, cols
        Source row / column of every padded row / column (``h + ky - 1`` and
        ``w + kx - 1`` entries; -1 for ``cval``): the edge mode as index arithmetic,
        so the image is never padded.
    colnet, colord
        Network sorting the ``ky`` values of one column; ``colord[i]`` is the row
        holding the i-th smallest afterwards.
    pairnet, pairord
        Network merging two sorted columns (``2 ky`` values) and the resulting order.
    selnet, rank_row
        Network selecting the window rank from ``kx // 2`` merged column pairs and,
        for odd ``kx``, one sorted column; the result ends in row ``rank_row``.
    chunk
        Output columns per step: the work buffers (``ky kx x chunk`` values)
        stay in L1/L2.

    Each column's sort is shared by the ``kx`` windows containing it and each
    merged pair by ``kx - 1``, so a 5x5 window costs 78 comparators per pixel
    instead of 113.  ``buf[p, :]`` holds window element ``p`` of every pixel of
    the chunk: each comparator is a min/max over two contiguous rows, which LLVM
    turns into SIMD min/max without branches.
    """
    h, w = out.shape
    npairs = kx // 2
    left = kx // 2
    iw = img.shape[1]
    nblocks = min(h, 64)
    for blk in prange(nblocks):
        y0 = blk * h // nblocks
        y1 = (blk + 1) * h // nblocks
        col = np.empty((ky, chunk + kx - 1), np.float64)
        pr = np.empty((2 * ky, chunk + kx - 1), np.float64)
        buf = np.empty((ky * kx, chunk), np.float64)
        for y in range(y0, y1):
            for x0 in range(0, w, chunk):
                cw = min(chunk, w - x0)
                nc = cw + kx - 1
                inner = x0 >= left and x0 + nc <= left + iw  # no edge column: plain copy
                for dy in range(ky):
                    r = rows[y + dy]
                    dst = col[dy]
                    if r < 0:
                        for j in range(nc):
                            dst[j] = cval
                    elif inner:
                        src = img[r, x0 - left:x0 - left + nc]
                        for j in range(nc):
                            dst[j] = src[j]
                    else:
                        src = img[r]
                        for j in range(nc):
                            c = cols[x0 + j]
                            dst[j] = src[c] if c >= 0 else cval
                _compare_rows(col, colnet, nc)
                if npairs > 0:  # merge every column with its right neighbour
                    for i in range(ky):
                        a = col[colord[i]]
                        d0 = pr[i]
                        d1 = pr[ky + i]
                        for j in range(nc - 1):
                            d0[j] = a[j]
                            d1[j] = a[j + 1]
                    _compare_rows(pr, pairnet, nc - 1)
                for g in range(npairs):  # window x: pairs at x, x + 2, ... (+ last column)
                    for i in range(2 * ky):
                        src = pr[pairord[i], 2 * g:2 * g + cw]
                        dst = buf[g * 2 * ky + i]
                        for x in range(cw):
                            dst[x] = src[x]
                if kx % 2 == 1:
                    for i in range(ky):
                        src = col[colord[i], kx - 1:kx - 1 + cw]
                        dst = buf[npairs * 2 * ky + i]
                        for x in range(cw):
                            dst[x] = src[x]
                _compare_rows(buf, selnet, cw)
                res = buf[rank_row]
                orow = out[y, x0:x0 + cw]
                for x in range(cw):
                    orow[x] = res[x]


@njit(parallel=True, cache=True)
def window_median_mapped(img, rows, cols, cval, ky, kx, ys, xs, out):  # pragma: no cover - numba
    """``out[i]``: rank ``cnt // 2`` of the non-NaN values of the window at ``(ys[i], xs[i])``.

    ``rows``/``cols`` map padded positions to source rows/columns (-1: ``cval``),
    as in :func:`network_median`; for a few pixels this beats padding the image.
    """
    for i in prange(ys.shape[0]):
        buf = np.empty(ky * kx, np.float64)
        y = ys[i]
        x = xs[i]
        cnt = 0
        for dy in range(ky):
            r = rows[y + dy]
            for dx in range(kx):
                c = cols[x + dx]
                v = img[r, c] if r >= 0 and c >= 0 else cval
                if v == v:
                    buf[cnt] = v
                    cnt += 1
        if cnt == 0:
            out[i] = np.nan
        else:
            k = cnt // 2
            _select(buf, 0, cnt, k)
            out[i] = buf[k]



# ----------------------------------------------------------------------------- radix selection
#
# Exact rank selection in a large float64 array for badpix.detect.outlier: a few
# parallel streaming passes (histogram, min/max, gather of one bin) over a read-only
# array instead of numpy's serial in-place introselect.  Values travel as int64
# "order keys": ``key(s) = s ^ ((s >> 63) & INT64_MAX)`` of the float's bits ``s``
# orders like the floats (signed int64 compare), with -0.0 (key -1) just below
# +0.0 (key 0); the map is its own inverse.  A bin is ``(key - lo) >> shift`` in
# uint64 arithmetic, which cannot overflow for ``lo <= key``.
#
# Each prange task calls a serial kernel on its chunk ``bits[c n // nchunks:(c + 1)
# n // nchunks]``: the same loops written inline in the prange body measured 15-30x
# slower (not vectorised, 8 ns per value).

@njit(inline="always")
def _order_key(s):  # pragma: no cover - numba
    """Order key of float64 bits ``s`` (int64), see the section comment."""
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
