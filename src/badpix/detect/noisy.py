"""NOISY: temporal std far above the neighbourhood's (flicker, telegraph noise).

``dev = std - local_median(std, size)``; NOISY when the robust z of ``dev``
(median-centred, 1.4826 x MAD over the band, floored) exceeds ``noisy_z``.
Only the upper side counts: a too-quiet pixel is STUCK's business.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> rng = np.random.default_rng(1)
>>> std = 3 + rng.normal(0, 0.1, (16, 16)); std[7, 2] = 9
>>> s = BandStats("b", 40, np.dtype("float64"), np.full((16, 16), 40), std * 0 + 50, std**2,
...               std * 0, std * 0 + 99)
>>> np.argwhere(noisy(s)[0]).tolist()
[[7, 2]]
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats
from .outlier import default_scale_floor, deviation_from_local_median, robust_scale


def noisy(stats: BandStats, noisy_z: float = 8.0, size: int = 5,
          scale_floor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels whose temporal std stands far above their neighbours'.

    Returns ``(mask, z)`` with ``z`` the robust z-score of the std deviation (float32;
    the mask is decided in float64).
    """
    dev = deviation_from_local_median(stats.std, size)
    floor = default_scale_floor(stats) if scale_floor is None else scale_floor
    centre, scale = robust_scale(dev, floor)
    dev -= centre  # in place: dev is ours
    dev /= scale
    with np.errstate(invalid="ignore"):
        mask = dev > noisy_z
    return mask, dev.astype(np.float32)
