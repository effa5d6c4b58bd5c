"""Window-median kernels of one image: pruned sorting networks and per-pixel quickselect.

Used by :func:`badpix.stats.spatial.local_median`; the edge mode is applied as
index arithmetic (``rows``/``cols`` maps), so the image is never padded.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .median import _select


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
