"""Detection rules: per-pixel statistics of a band in, flag bits and scores out.

Each rule is a pure function ``rule(stats, **params) -> (mask, score)`` in its
own module (:mod:`.stuck`, :mod:`.outlier`, :mod:`.hot_dead`, :mod:`.noisy`,
:mod:`.photon` for photon-counting data); :func:`classify` runs them all with
one :class:`~badpix.detect.params.RuleParams` and packs the masks into the
bits of :class:`~badpix.detect.flags.Flag`.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> rng = np.random.default_rng(0)
>>> frames = rng.normal(100, 5, (30, 12, 12)); frames[:, 3, 4] = 40.0
>>> s = BandStats("b", 30, np.dtype("float64"), np.full((12, 12), 30), frames.mean(0),
...               frames.var(0), frames.min(0), frames.max(0), median=np.median(frames, 0),
...               value_range=(float(frames.min()), float(frames.max())))
>>> flags, scores = classify(s)
>>> [(int(r), int(c), flag_names(int(flags[r, c]))) for r, c in np.argwhere(flags)]
[(3, 4, ['stuck', 'outlier', 'dead'])]
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats
from . import _kernels
from .flags import CLASSES, DRIFTING, Flag, flag_names, parse_classes
from .hot_dead import dead, hot, mean_z
from .noisy import noisy
from .outlier import outlier
from .params import RuleParams
from .persistent import persistent
from .ranking import lowest_variance, most_extreme
from .stuck import stuck

__all__ = ["CLASSES", "DRIFTING", "Flag", "RuleParams", "classify", "dead", "flag_names", "hot",
           "lowest_variance", "most_extreme", "noisy", "outlier", "parse_classes", "stuck"]


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


def pack(shape: tuple[int, int],
         results: dict[str, tuple[Flag, tuple[np.ndarray, np.ndarray], float]]
         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Combine ``{name: (bit, (mask, score), threshold)}`` into flags and float32 scores.

    Scores are float32 (severities and rule statistics: 7 significant digits rank
    defects; each rule decides its mask in float64 before rounding).  Band-size
    results are fresh memory, which is slow on small VMs: float64 scores made a
    10 MP band's results 56 bytes per pixel, float32 makes them 28.
    """
    flags = np.zeros(shape, np.uint8)
    scores: dict[str, np.ndarray] = {}
    severity = np.full(shape, -np.inf, np.float32)
    for name, (bit, (mask, score), threshold) in results.items():
        score = np.asarray(score).astype(np.float32, copy=False)
        scores[name] = score
        _kernels.pack_rule(flags, np.uint8(bit), np.asarray(mask, bool), score,
                           float(threshold), severity)
    _kernels.neginf_to_nan(severity)
    scores["score"] = severity
    return flags, scores
