"""Numba kernels for exact temporal order statistics (rank ``r`` of a window of frames).

All kernels take frames flattened to ``(n_frames, n_pixels)`` and work per pixel,
so they serve grey, multi-channel and cropped frames alike.  Pixels are split
into tiles that run in parallel; inside a tile the loop is pixel-outer and
time-inner, so one pixel's state (a 256-bin histogram for uint8) stays in L1
while the frames stream past.

>>> import numpy as np
>>> w = np.array([[1, 9], [5, 3], [7, 7], [2, 8]], np.uint8)
>>> out = np.empty(2, np.uint8)
>>> window_rank_u8(w, 2, out)
>>> out.tolist()            # rank 2 of {1,5,7,2} is 5, of {9,3,7,8} is 8
[5, 8]
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: pixels per parallel tile of the histogram kernels (512 x 256 x uint16 = 256 KiB)
_TILE = 512
#: pixels per tile of the rolling kernels: 64 one-byte pixels are one cache line per frame
_ROLL_TILE = 64


@njit(cache=True, parallel=True)
def window_rank_u8(win, rank, out):  # pragma: no cover - compiled
    """Per-pixel value of rank ``rank`` (0-based, ascending) over ``win`` (k, P) uint8."""
    k, n_pix = win.shape
    n_tiles = (n_pix + _TILE - 1) // _TILE
    for t in prange(n_tiles):
        p0 = t * _TILE
        p1 = min(n_pix, p0 + _TILE)
        hist = np.zeros((p1 - p0, 256), np.int32)
        for j in range(k):
            for p in range(p0, p1):
                hist[p - p0, win[j, p]] += 1
        for p in range(p0, p1):
            c = 0
            for v in range(256):
                c += hist[p - p0, v]
                if c > rank:
                    out[p] = v
                    break


@njit(cache=True, parallel=True)
def roll_init_u8(win, rank, hist, med, below):  # pragma: no cover - compiled
    """Fill the rolling state from the first window ``win`` (k, P) uint8.

    ``hist`` (P, 256) counts values, ``med`` (P,) is the rank-``rank`` value and
    ``below`` (P,) the number of window values smaller than ``med``.
    """
    k, n_pix = win.shape
    n_tiles = (n_pix + _ROLL_TILE - 1) // _ROLL_TILE
    for t in prange(n_tiles):
        p0 = t * _ROLL_TILE
        p1 = min(n_pix, p0 + _ROLL_TILE)
        for p in range(p0, p1):
            h = hist[p]
            h[:] = 0
            for j in range(k):
                h[win[j, p]] += 1
            c = 0
            for v in range(256):
                if c + h[v] > rank:
                    med[p] = v
                    below[p] = c
                    break
                c += h[v]


@njit(cache=True, parallel=True)
def roll_advance_u8(ring, j0, new, rank, hist, med, below, out):  # pragma: no cover
    """Slide the window over ``new`` (B, P): frame ``j0 + t`` enters, ``j0 + t - k`` leaves.

    ``ring`` (k, P) holds the current window with frame ``j`` in slot ``j % k``,
    so the leaving frame sits exactly where the entering one goes.  ``out[t]``
    receives the rank-``rank`` image of the window after frame ``j0 + t`` entered.
    The median cursor moves by the few bins the update needs (O(1) on average).
    """
    k = ring.shape[0]
    n_new, n_pix = new.shape
    n_tiles = (n_pix + _ROLL_TILE - 1) // _ROLL_TILE
    for t in prange(n_tiles):
        p0 = t * _ROLL_TILE
        p1 = min(n_pix, p0 + _ROLL_TILE)
        for p in range(p0, p1):
            h = hist[p]
            m = np.int64(med[p])
            b = np.int64(below[p])
            slot = j0 % k
            for i in range(n_new):
                a = np.int64(ring[slot, p])
                v = np.int64(new[i, p])
                ring[slot, p] = new[i, p]
                slot += 1
                if slot == k:
                    slot = 0
                h[a] -= 1
                if a < m:
                    b -= 1
                h[v] += 1
                if v < m:
                    b += 1
                while b > rank:
                    m -= 1
                    b -= h[m]
                while b + h[m] <= rank:
                    b += h[m]
                    m += 1
                out[i, p] = m
            med[p] = m
            below[p] = b


@njit(cache=True)
def _lt(a, b):  # pragma: no cover - compiled
    # numpy's sort order: NaN after every number (a != a only for NaN)
    return a < b or (b != b and a == a)


@njit(cache=True, parallel=True)
def roll_init_sorted(win, srt):  # pragma: no cover - compiled
    """Generic dtypes: ``srt`` (P, k) gets each pixel's window values sorted."""
    k, n_pix = win.shape
    for p in prange(n_pix):
        for j in range(k):
            srt[p, j] = win[j, p]
        srt[p].sort()


@njit(cache=True, parallel=True)
def roll_advance_sorted(ring, j0, new, rank, srt, out):  # pragma: no cover - compiled
    """Generic dtypes: keep each pixel's window sorted; remove the leaving, insert the new."""
    k = ring.shape[0]
    n_new, n_pix = new.shape
    n_tiles = (n_pix + _ROLL_TILE - 1) // _ROLL_TILE
    for t in prange(n_tiles):
        p0 = t * _ROLL_TILE
        p1 = min(n_pix, p0 + _ROLL_TILE)
        for p in range(p0, p1):
            s = srt[p]
            slot = j0 % k
            for i in range(n_new):
                a = ring[slot, p]
                v = new[i, p]
                ring[slot, p] = v
                slot += 1
                if slot == k:
                    slot = 0
                # position of the leaving value (any equal element will do)
                lo = 0
                hi = k
                while lo < hi:
                    mid = (lo + hi) // 2
                    if _lt(s[mid], a):
                        lo = mid + 1
                    else:
                        hi = mid
                pos = lo
                # move the hole towards where v belongs, shifting neighbours
                while pos > 0 and _lt(v, s[pos - 1]):
                    s[pos] = s[pos - 1]
                    pos -= 1
                while pos < k - 1 and _lt(s[pos + 1], v):
                    s[pos] = s[pos + 1]
                    pos += 1
                s[pos] = v
                out[i, p] = s[rank]


def window_rank(win: np.ndarray, rank: int, out: np.ndarray) -> None:
    """Rank-``rank`` value per pixel of ``win`` (k, P) into ``out`` (P,), any numeric dtype.

    uint8 uses the counting kernel; other dtypes ``np.partition`` (NaN sorts last).
    """
    if win.dtype == np.uint8:
        window_rank_u8(win, rank, out)
    else:
        out[:] = np.partition(win, rank, axis=0)[rank]
