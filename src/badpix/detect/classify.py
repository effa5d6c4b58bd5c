"""All rules of one band: :func:`classify` (the rule modules' masks packed into flag bits).

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> z = np.zeros((6, 6))
>>> s = BandStats("b", 4, np.dtype("uint16"), z + 4, z + 100, z + 4, z + 98, z + 102)
>>> flags, scores = classify(s)
>>> sorted(scores)
['dead', 'hot', 'noisy', 'score', 'stuck']
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats
from .flags import Flag, pack
from .hot_dead import dead, hot, mean_z
from .noisy import noisy
from .outlier import outlier
from .params import RuleParams
from .persistent import persistent
from .stuck import stuck

__all__ = ["classify"]


def classify(stats: BandStats,
             params: RuleParams = RuleParams()) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # noqa: B008 - frozen
    """Run every rule on one band.

    Returns
    -------
    flags
        uint8 ``(h, w)``, bits of :class:`Flag`.
    scores
        One float32 image per rule (``"stuck"``, ``"outlier"``, ``"hot"``,
        ``"dead"``, ``"noisy"``; each rule's own statistic; no ``"outlier"``
        when ``stats.median`` is ``None``) and ``"score"``:
        the largest *severity* over the rules, severity = rule statistic /
        rule threshold, so ``score > 1`` iff some rule flags the pixel (ties at
        exactly the threshold aside).  Use it to rank defects.

    Examples
    --------
    >>> import numpy as np
    >>> from badpix import MomentAccumulator
    >>> frames = np.full((6, 9, 9), 100, np.uint16); frames[::2] += 4; frames[:, 4, 4] = 50
    >>> acc = MomentAccumulator((9, 9), frames.dtype)
    >>> _ = acc.update(frames)
    >>> m = acc.finalize()
    >>> stats = BandStats("b", 6, frames.dtype, m["count"], m["mean"], m["var"], m["min"], m["max"])
    >>> flags, scores = classify(stats)
    >>> [Flag(int(f)).name for f in flags[4:5, 4]]
    ['STUCK|DEAD']
    """
    if params.counting is True:  # "auto" is resolved by the scan entry points
        from .photon import classify_counting

        return classify_counting(stats, params)
    p = params
    z = mean_z(stats, p.size, p.scale_floor)
    results = {"stuck": (Flag.STUCK, stuck(stats, p.stuck_std), 1.0)}
    if stats.median is not None:  # photo scans leave the median out by default
        results["outlier"] = (Flag.OUTLIER, outlier(stats, p.outlier_k, p.outlier_size),
                              p.outlier_k)
    results |= {
        "hot": (Flag.HOT, hot(stats, p.hot_z, p.size, p.scale_floor, p.use_range, z), p.hot_z),
        "dead": (Flag.DEAD, dead(stats, p.dead_z, p.size, p.scale_floor, p.use_range, z), p.dead_z),
        "noisy": (Flag.NOISY, noisy(stats, p.noisy_z, p.size, p.scale_floor), p.noisy_z),
    }
    if "persistence_hot" in stats.extra:  # the scan ran the persistence accumulator
        results["persistent"] = (Flag.PERSISTENT, persistent(stats, p.persistence), p.persistence)
    return pack(stats.shape, results)
