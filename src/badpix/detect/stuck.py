"""STUCK: a pixel whose value barely changes over the frames.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> std = np.array([[0.0, 3.0], [0.5, np.nan]])
>>> s = BandStats("b", 10, np.dtype("uint8"), np.full((2, 2), 10), std * 0 + 5, std**2,
...               std * 0, std * 0 + 9)
>>> mask, score = stuck(s)
>>> mask.tolist()
[[True, False], [True, False]]
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats

#: score of a pixel whose std is exactly 0 (finite so that it sorts and serialises)
MAX_SCORE = 1e6


def stuck(stats: BandStats, stuck_std: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels whose temporal std is below ``stuck_std`` (data units).

    Returns
    -------
    mask
        ``std < stuck_std``; NaN std (no valid frame) is never flagged.
    score
        float32 ``stuck_std / std`` (> 1 when flagged, ``MAX_SCORE`` for a constant pixel).
    """
    std = stats.std
    with np.errstate(invalid="ignore"):
        mask = std < stuck_std
    score = np.full(std.shape, MAX_SCORE, np.float32)
    # divided in float64, rounded into the float32 output; NaN std fails the test -> NaN below
    np.divide(stuck_std, std, out=score, where=std > stuck_std / MAX_SCORE)
    score[np.isnan(std)] = np.nan
    return mask, score
