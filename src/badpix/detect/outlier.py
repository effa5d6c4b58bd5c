"""OUTLIER: the temporal median far from its neighbourhood's (the sensor team's "drifting").

Together with STUCK this is exactly the sensor team's definition of a drifting
pixel: ``|median - median_filter(median, 5, mode="reflect")|`` greater than 8
times the band's mean absolute value of that deviation.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> med = np.tile(np.arange(8.0), (8, 1)); med[3, 3] += 50
>>> s = BandStats("b", 5, np.dtype("float64"), np.full((8, 8), 5), med, med * 0, med, med,
...               median=med)
>>> mask, score = outlier(s)
>>> np.argwhere(mask).tolist()
[[3, 3]]
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import ParameterError
from ..stats import _kernels as K
from ..stats.bandstats import BandStats
from ..stats.spatial import local_median as _local_median


def local_median(img: np.ndarray, size: int) -> np.ndarray:
    """NaN-ignoring ``size x size`` median with reflected edges (scipy's ``"reflect"``)."""
    return _local_median(np.ascontiguousarray(img, dtype=np.float64), size=size, mode="reflect")


def deviation_from_local_median(img: np.ndarray, size: int) -> np.ndarray:
    """``img - local_median(img, size)`` (float64)."""
    img = np.asarray(img, dtype=np.float64)
    med = local_median(img, size)  # a new array: subtract into it (no second band-size array)
    return np.subtract(img, med, out=med)


def robust_scale(dev: np.ndarray, floor: float) -> tuple[float, float]:
    """``(centre, scale)`` of a deviation image: its median and 1.4826 x MAD, floored.

    The floor keeps flat or quantised bands (MAD = 0) from dividing by zero.
    """
    finite = dev[np.isfinite(dev)]  # the only copy: partitioned and overwritten in place
    if finite.size == 0:
        return 0.0, floor
    centre = _median_inplace(finite)
    np.subtract(finite, centre, out=finite)
    mad = _median_inplace(np.abs(finite, out=finite))
    return centre, max(1.4826 * mad, floor)


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


def _median_inplace(a: np.ndarray) -> float:
    """``float(np.median(a))`` of a non-empty NaN-free 1-D float64 array, partitioning ``a`` itself.

    The same ``kth`` as :func:`numpy.median` (middle rank(s) and the last element,
    its NaN check) and the same mean of the middle pair: bit-identical, even to the
    sign of a zero median, without numpy's copy.  From ``_FAST_MEDIAN_MIN`` values
    on, :func:`_radix_median` finds the middle values instead (``a`` is then left
    as it is): 7-10x faster for 4-10 M values on two cores, after a one-off ~50 ms
    to load its compiled kernels in a process.
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
    """Order keys (see :mod:`badpix.stats._kernels`) of ranks ``r1`` and ``r2 = r1 (+ 1)``.

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


def default_scale_floor(stats: BandStats) -> float:
    """Lower bound of robust scales (see :class:`~badpix.detect.params.RuleParams`)."""
    if np.dtype(stats.dtype).kind in "iub":
        # quantisation noise of a mean of n integer samples: the smallest honest scale
        return 1.0 / np.sqrt(12.0 * max(1, stats.n_frames))
    lo, hi = stats.value_range if stats.value_range is not None else (0.0, 1.0)
    span = abs(hi - lo)
    if not np.isfinite(span):
        # an inf pixel makes the observed range infinite, and an infinite floor would
        # divide every z to 0 (inf/inf: NaN): use the range of the finite means instead
        finite = stats.mean[np.isfinite(stats.mean)]
        span = float(finite.max() - finite.min()) if finite.size else 1.0
    return 1e-7 * max(span, 1e-30)


def outlier(stats: BandStats, outlier_k: float = 8.0,
            outlier_size: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels whose temporal median deviates from its local median.

    ``dev = median - local_median(median, outlier_size)``; flagged when
    ``|dev| > outlier_k * nanmean(|dev|)`` (mean over the band).

    Returns
    -------
    mask, score
        ``score = |dev| / nanmean(|dev|)`` (float32): flagged when above ``outlier_k``.
    """
    if stats.median is None:
        raise ParameterError(f"band {stats.name}: the OUTLIER rule needs the temporal median "
                             "(statistics were computed without it)")
    dev = deviation_from_local_median(stats.median, outlier_size)
    absdev = np.abs(dev, out=dev)
    if not np.isfinite(absdev).any():
        return np.zeros(dev.shape, bool), np.full(dev.shape, np.nan, np.float32)
    if np.isnan(absdev).any():
        scale = np.nanmean(absdev)
    else:  # what nanmean computes without NaN, minus its copy of the array
        scale = np.sum(absdev) / absdev.size
    with np.errstate(invalid="ignore"):
        mask = absdev > outlier_k * scale
    if scale > 0:  # NaN deviations stay NaN by themselves
        score = np.empty(absdev.shape, np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(absdev, scale, out=score)  # in float64, rounded into float32
    else:
        score = np.where(absdev > 0, np.float32(np.inf), np.float32(0.0))
        score[np.isnan(absdev)] = np.nan
    return mask, score
