"""Detection rules: per-pixel statistics of a band in, flag bits and scores out.

Each rule is a pure function ``rule(stats, **params) -> (mask, score)`` in its
own module (:mod:`.stuck`, :mod:`.outlier`, :mod:`.hot_dead`, :mod:`.noisy`,
:mod:`.photon` for photon-counting data); :func:`classify` runs them all with
one :class:`~badpix.detect.params.RuleParams` and packs the masks into the
bits of :class:`~badpix.detect.flags.Flag`.

>>> import numpy as np
>>> from badpix.detect import classify, flag_names
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

import sys
import types
from typing import Any

from .._lazy import lazy_getattr

# name -> submodule.  Lazy (PEP 562): ``badpix scan --help`` reads RuleParams from
# .params and must not pay for numba (.flags -> ._kernels) or scipy.
_LAZY = {"CLASSES": ".flags", "DRIFTING": ".flags", "Flag": ".flags", "flag_names": ".flags",
         "pack": ".flags", "parse_classes": ".flags", "classify": ".classify", "dead": ".hot_dead",
         "hot": ".hot_dead", "noisy": ".noisy", "outlier": ".outlier", "RuleParams": ".params",
         "lowest_variance": ".ranking", "most_extreme": ".ranking", "stuck": ".stuck"}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """Keeps the public functions that share a submodule's name (``classify``, ``noisy``...).

    Importing ``badpix.detect.classify`` binds the submodule as an attribute of this
    package; eager imports used to overwrite it with the function, so the public name
    meant the function.  Refusing that binding keeps the meaning (the submodule stays
    in ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f".{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
