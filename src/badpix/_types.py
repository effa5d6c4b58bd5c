"""Types of the public API: what ``source`` may be, and the rule keywords of ``scan``.

>>> from badpix._types import RuleKeywords
>>> from badpix.detect.params import RuleParams
>>> from dataclasses import fields
>>> sorted(RuleKeywords.__annotations__) == sorted(f.name for f in fields(RuleParams) if f.compare)
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

__all__ = ["ProgressCallback", "RuleKeywords", "Source"]

#: a path (folder, glob, file, ``file.h5:dataset``), a list of files, a
#: :class:`badpix.Stack`, or frames in memory (numpy/dask array, xarray object)
Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Any

#: ``advance(n_frames)``, called as frames are done
ProgressCallback = Callable[[int], None]


class RuleKeywords(TypedDict, total=False):
    """The fields of :class:`badpix.RuleParams`, as keywords of :func:`badpix.scan`."""

    stuck_std: float
    outlier_k: float
    outlier_size: int
    size: int
    hot_z: float
    dead_z: float
    noisy_z: float
    scale_floor: float | None
    use_range: bool
    counting: bool | str | None
    counting_size: int
    counting_alpha: float
    counting_hot_ratio: float
    counting_min_rate: float
    counting_fano: float
    counting_dead_alpha: float
    persistence: float
    persistence_dn: float | None
    persistence_z: float
    onset_min_frames: int | None
