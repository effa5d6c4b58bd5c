"""HOT and DEAD: temporal mean far above / below the neighbourhood, or pinned to the range.

Two criteria, OR-ed:

1. **Robust z.**  ``dev = mean - local_median(mean, size)``;
   ``z = (dev - median(dev)) / (1.4826 x MAD(dev))`` over the band, the scale
   floored (``scale_floor``).  HOT when ``z > hot_z``, DEAD when ``z < -dead_z``.
2. **Range** (integer dtypes, ``use_range``).  HOT when the pixel is at the top
   of the dtype's range in every frame (``min >= range top``: saturated
   throughout) while the median of its neighbours' minima is below the top
   (the neighbourhood is not simply a saturated part of the scene).  DEAD when
   it is at the bottom in every frame (``max <= range bottom``) while the median
   of its neighbours' maxima is above the bottom.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> rng = np.random.default_rng(0)
>>> mean = 100 + rng.normal(0, 1, (16, 16)); mean[4, 4] = 200; mean[9, 9] = 0
>>> s = BandStats("b", 30, np.dtype("float64"), np.full((16, 16), 30), mean, mean * 0 + 4,
...               mean - 5, mean + 5)
>>> np.argwhere(hot(s)[0]).tolist(), np.argwhere(dead(s)[0]).tolist()
([[4, 4]], [[9, 9]])
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats
from ..stats.spatial import local_median_at
from .outlier import default_scale_floor, deviation_from_local_median, local_median, robust_scale


def mean_z(stats: BandStats, size: int = 5, scale_floor: float | None = None) -> np.ndarray:
    """Robust z-score of ``mean - local_median(mean, size)`` over the band."""
    dev = deviation_from_local_median(stats.mean, size)
    floor = default_scale_floor(stats) if scale_floor is None else scale_floor
    centre, scale = robust_scale(dev, floor)
    dev -= centre  # in place: dev is ours
    dev /= scale
    return dev


def _range_pinned(stats: BandStats, size: int, top: bool) -> np.ndarray:
    if stats.value_range is None or np.dtype(stats.dtype).kind not in "iub":
        return np.zeros(stats.shape, bool)
    lo, hi = stats.value_range
    with np.errstate(invalid="ignore"):
        pinned = stats.min >= hi if top else stats.max <= lo
        ys, xs = np.nonzero(pinned)
        if ys.size == 0:  # the usual case: skip the local median
            return pinned
        ref = stats.min if top else stats.max
        if ys.size * 8 < pinned.size:  # a few pixels: their windows only (same values)
            med = local_median_at(ref, ys, xs, size)
            keep = med < hi if top else med > lo
            pinned[ys[~keep], xs[~keep]] = False
            return pinned
        if top:
            return pinned & (local_median(ref, size) < hi)
        return pinned & (local_median(ref, size) > lo)


def hot(stats: BandStats, hot_z: float = 25.0, size: int = 5, scale_floor: float | None = None,
        use_range: bool = True, z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels far brighter than their neighbourhood, or saturated in every frame.

    Returns ``(mask, z)`` (``z`` as float32); a range-pinned pixel's score is at
    least ``hot_z``.  ``z`` is :func:`mean_z` when the caller already has it (it
    is shared with DEAD).
    """
    z = mean_z(stats, size, scale_floor) if z is None else z
    return _beyond(stats, z, hot_z, size, use_range, top=True)


def dead(stats: BandStats, dead_z: float = 25.0, size: int = 5, scale_floor: float | None = None,
         use_range: bool = True, z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels far darker than their neighbourhood, or at the floor in every frame.

    Returns ``(mask, -z)`` (float32) so that a larger score means "more dead".
    ``z`` is :func:`mean_z` when the caller already has it (it is shared with HOT).
    """
    z = mean_z(stats, size, scale_floor) if z is None else z
    return _beyond(stats, z, dead_z, size, use_range, top=False)


def _beyond(stats: BandStats, z: np.ndarray, threshold: float, size: int, use_range: bool,
            top: bool) -> tuple[np.ndarray, np.ndarray]:
    """HOT (``top``): ``z > threshold``; DEAD: ``-z > threshold``; or pinned to the range.

    The mask is decided on the float64 ``z``; the score (``z`` or ``-z``) is float32,
    at least ``threshold`` where pinned.
    """
    with np.errstate(invalid="ignore"):
        mask = z > threshold if top else z < -threshold  # -z > t  <=>  z < -t, exactly
    score = z.astype(np.float32) if top else np.negative(z, dtype=np.float32)
    if use_range:
        pinned = _range_pinned(stats, size, top=top)
        if pinned.any():
            mask |= pinned
            np.fmax(score, threshold, out=score, where=pinned)
    return mask, score
