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

from .classify import classify
from .flags import CLASSES, DRIFTING, Flag, flag_names, pack, parse_classes
from .hot_dead import dead, hot
from .noisy import noisy
from .outlier import outlier
from .params import RuleParams
from .ranking import lowest_variance, most_extreme
from .stuck import stuck

__all__ = ["CLASSES", "DRIFTING", "Flag", "RuleParams", "classify", "dead", "flag_names", "hot",
           "lowest_variance", "most_extreme", "noisy", "outlier", "pack", "parse_classes", "stuck"]
