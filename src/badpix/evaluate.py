"""Precision and recall of a scan against a synthetic ground truth.

Definitions (per class C, counted over (row, col, channel) pixels that lie in
a scanned band; planted pixels outside every band are left out):

- ``recall_C`` = planted pixels whose expected bits include C **and** that are
  flagged C / planted pixels whose expected bits include C.
- ``precision_C`` = pixels flagged C whose expected bits include C / pixels
  flagged C.
- The ``any`` row: a pixel counts when it has any bit (expected / flagged).

Expected bits come from :data:`badpix.synth.KIND_FLAGS`: a hot pixel is by
definition also a neighbourhood outlier, so it is expected to carry HOT and
OUTLIER, and flagging it OUTLIER counts towards OUTLIER's precision and
recall; a pixel stuck at zero is expected STUCK, DEAD and OUTLIER.  A value is
NaN when its denominator is 0.

>>> import numpy as np
>>> from badpix.synth import PlantedPixel, Truth
>>> t = Truth((4, 4, 1), 5, "uint8", 0, [PlantedPixel(1, 1, 0, "hot", 6)])
>>> flags = np.zeros((4, 4, 1), np.uint8); flags[1, 1, 0] = 4; flags[2, 2, 0] = 2
>>> r = evaluate(flags, t)
>>> r["hot"].precision, r["hot"].recall, r["outlier"].precision, r["outlier"].recall
(1.0, 1.0, 0.0, 0.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .detect.flags import Flag
from .errors import InputError
from .layout import Band
from .synth import Truth

#: classes evaluated (PERSISTENT is never planted by the generator)
EVAL_CLASSES: dict[str, int] = {f.name.lower(): int(f) for f in Flag if f != Flag.PERSISTENT}


@dataclass(frozen=True)
class ClassScore:
    """Counts and rates of one class."""

    name: str
    planted: int  #: pixels whose expected bits include the class
    flagged: int  #: pixels flagged with the class
    true_positive: int  #: both

    @property
    def precision(self) -> float:
        return self.true_positive / self.flagged if self.flagged else float("nan")

    @property
    def recall(self) -> float:
        return self.true_positive / self.planted if self.planted else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"planted": self.planted, "flagged": self.flagged,
                "true_positive": self.true_positive, "precision": self.precision,
                "recall": self.recall}


class Evaluation(dict):
    """``{class name: ClassScore}`` (plus ``"any"``) with a JSON-ready view."""

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {k: v.to_dict() for k, v in self.items()}


FlagsInput = str | os.PathLike | np.ndarray | Mapping[str, tuple[Band, np.ndarray]]


def _full_frame(flags: FlagsInput, shape: tuple[int, int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
    """(full-frame flags, coverage) from any accepted input."""
    if isinstance(flags, (str, os.PathLike)):
        from .io.scandir import load_scan

        scan = load_scan(flags)
        if tuple(scan.frame_shape) != tuple(shape):
            raise InputError(Path(flags), f"scan frames are {tuple(scan.frame_shape)} but the "
                             f"truth is for {tuple(shape)}")
        bands = {b.name: (b, scan.mask(b.name)) for b in scan.bands}
        return _full_frame(bands, shape)
    if isinstance(flags, np.ndarray):
        arr = flags[..., None] if flags.ndim == 2 else flags
        if arr.shape != tuple(shape):
            raise InputError(None, f"flags are {arr.shape} but the truth is for {tuple(shape)}")
        return arr.astype(np.uint8), np.ones(shape, bool)
    full = np.zeros(shape, np.uint8)
    cover = np.zeros(shape, bool)
    for name, (band, m) in flags.items():
        if tuple(m.shape) != band.shape:
            raise InputError(None, f"band {name}: mask is {m.shape}, band is {band.shape}")
        if band.rows[1] > shape[0] or band.cols[1] > shape[1] or band.channel >= shape[2]:
            raise InputError(None, f"band {name} lies outside the truth's frame {tuple(shape)}")
        win = (*band.slices(), band.channel)
        full[win] |= m.astype(np.uint8)
        cover[win] = True
    return full, cover


def evaluate(flags: FlagsInput, truth: Truth | str | os.PathLike) -> Evaluation:
    """Per-class precision/recall of ``flags`` against ``truth``.

    Parameters
    ----------
    flags
        A scan output folder (``summary.json`` + ``mask_<band>.*``), a full-frame
        uint8 array ``(rows, cols[, channels])``, or ``{band: (Band, mask)}``.
    truth
        A :class:`~badpix.synth.Truth` or the path of ``truth.json`` (or its folder).
    """
    if not isinstance(truth, Truth):
        truth = Truth.load(truth)
    full, cover = _full_frame(flags, truth.shape)
    expected = truth.mask()
    out = Evaluation()
    for name, bit in [*EVAL_CLASSES.items(), ("any", 0xFF)]:
        exp = ((expected & bit) != 0) & cover
        got = ((full & bit) != 0) & cover
        out[name] = ClassScore(name, int(exp.sum()), int(got.sum()), int((exp & got).sum()))
    return out
