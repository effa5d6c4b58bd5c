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

import numpy as np

from ..errors import ParameterError
from ..stats.bandstats import BandStats
from ..stats.scalar_median import median_inplace
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
    centre = median_inplace(finite)
    np.subtract(finite, centre, out=finite)
    mad = median_inplace(np.abs(finite, out=finite))
    return centre, max(1.4826 * mad, floor)


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
