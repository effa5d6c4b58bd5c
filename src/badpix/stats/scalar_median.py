"""The exact median of one large float array, bit-identical to :func:`numpy.median`.

The robust scales of the rules (:func:`badpix.detect.outlier.robust_scale`) take the
median of a band's deviations and then of their absolute values: 4-10 M values, twice
per rule.  :func:`median_inplace` partitions the array itself (no copy) or, from
:data:`_FAST_MEDIAN_MIN` values on, finds the middle values by radix selection
(:mod:`badpix.stats._kernels.radix`).
"""

from __future__ import annotations

import numba
import numpy as np

from . import _kernels as K

__all__ = ["median_inplace"]

#: below this many values the radix path saves too little (measured 0.2-2 ms from 64 K
#: to 256 K values) to pay for loading its compiled kernels (~50 ms once per process)
_FAST_MEDIAN_MIN = 1 << 20
#: gather the candidates into a buffer once at most ``max(n // _GATHER_DIV, _GATHER_MIN)``
#: remain; until then a further pass over the array narrows them, so the extra memory
#: stays a fraction of ``a`` (one value, say 0, filling half of ``a`` is common)
_GATHER_DIV = 8
_GATHER_MIN = 1 << 16
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def median_inplace(a: np.ndarray) -> float:
    """``float(np.median(a))`` of a non-empty NaN-free 1-D float64 array, partitioning ``a`` itself.

    The same ``kth`` as :func:`numpy.median` (middle rank(s) and the last element,
    its NaN check) and the same mean of the middle pair: bit-identical, even to the
    sign of a zero median, without numpy's copy.  From ``_FAST_MEDIAN_MIN`` values
    on, :func:`_radix_median` finds the middle values instead (``a`` is then left
    as it is): 7-10x faster for 4-10 M values on two cores, after a one-off ~50 ms
    to load its compiled kernels in a process.

    >>> a = np.array([3.0, -1.0, 2.0, 8.0])
    >>> median_inplace(a.copy()) == float(np.median(a))
    True
    """
    if a.size >= _FAST_MEDIAN_MIN and a.dtype == np.float64 and a.flags.c_contiguous:
        med = _radix_median(a)
        if med is not None:
            return med
    k = a.size // 2
    kth = [k, -1] if a.size % 2 else [k - 1, k, -1]
    a.partition(kth)
    return float(np.mean(a[kth[0]:k + 1]))


def _radix_median(a: np.ndarray) -> float | None:
    """:func:`numpy.median` of ``a`` by radix selection, or None when numpy's could differ.

    The middle value(s) by rank are exact, and numpy's median is ``np.mean`` of
    them as they lie after its partition, so the mean is taken the same way.  The
    one freedom left is the sign of a zero: partition does not order -0.0 and
    +0.0.  When every middle value is zero and the signs would change the mean
    (not with numpy 2, whose sums of zeros are +0.0), or when ``a`` holds
    infinities or NaN, None sends the caller to numpy's own partition.
    """
    n = a.size
    keys = _radix_middle_keys(a.view(np.int64), n // 2 if n % 2 else n // 2 - 1, n // 2)
    if keys is None:
        return None
    k = np.asarray(keys[1:] if n % 2 else keys, dtype=np.int64)
    mid = (k ^ ((k >> 63) & _INT64_MAX)).view(np.float64)  # order keys back to float bits
    med = np.float64(np.mean(mid))
    if not mid.any():  # all zeros: every sign numpy's partition could leave must agree
        signs = np.array(np.meshgrid(*[[0.0, -0.0]] * mid.size)).reshape(mid.size, -1).T
        if len({np.float64(np.mean(v)).tobytes() for v in signs}) > 1:
            return None
    return float(med)


def _radix_middle_keys(bits: np.ndarray, r1: int, r2: int) -> tuple[int, int] | None:
    """Order keys (see :mod:`badpix.stats._kernels.radix`) of ranks ``r1`` and ``r2 = r1 (+ 1)``.

    The first pass histograms the top 16 key bits (sign, exponent, 4 mantissa bits)
    and keeps the bin holding the ranks.  While that leaves too many candidates
    to copy, each further pass takes their min/max (done if equal) and
    histograms the top 16 bits of their range.  The few left are then gathered
    and finished serially.  None if there are infinities or NaN (the histogram's
    outermost bins).
    """
    n = bits.size
    nchunks = max(numba.get_num_threads(), (n >> 31) + 1)  # uint32 counts per chunk
    cap = max(n // _GATHER_DIV, _GATHER_MIN)
    lo, hi = _INT64_MIN, _INT64_MAX  # candidate keys; r1 and r2 are ranks among them
    shift = 48
    while True:  # at least once: the first histogram also detects inf and NaN
        if shift is None:
            mn, mx = (int(v) for v in K.radix_minmax(bits, nchunks, lo, hi))
            if mn == mx:
                return mn, mn
            lo, hi = mn, mx
            shift = max((hi - lo).bit_length() - 16, 0)
        hist = K.radix_hist(bits, nchunks, lo, hi, shift, ((hi - lo) >> shift) + 1)
        tot = hist.sum(axis=0, dtype=np.int64)
        if lo == _INT64_MIN and (tot[:16].any() or tot[-16:].any()):
            return None  # exponent all ones: inf or NaN
        cum = np.cumsum(tot)
        b1, b2 = (int(b) for b in np.searchsorted(cum, [r1, r2], side="right"))
        base = int(cum[b1] - tot[b1])
        r1, r2 = r1 - base, r2 - base
        counts = hist[:, b1].astype(np.int64) + (hist[:, b2] if b2 != b1 else 0)
        lo, hi = lo + (b1 << shift), min(hi, lo + ((b2 + 1) << shift) - 1)  # empty between
        if counts.sum() <= cap:
            break
        if b2 != b1:
            # the lower middle is the largest key of bin b1, the upper the smallest of b2
            lower = K.radix_minmax(bits, nchunks, lo, lo + (1 << shift) - 1)[1]
            upper = K.radix_minmax(bits, nchunks, lo + ((b2 - b1) << shift), hi)[0]
            return int(lower), int(upper)
        shift = None
    buf = K.radix_gather(bits, nchunks, lo, hi, counts)
    return tuple(int(v) for v in K.radix_select_keys(buf, r1, r2))
