"""Defect classes as bits of a uint8 flag image; a set bit means bad."""

from __future__ import annotations

import enum

import numpy as np


class Flag(enum.IntFlag):
    """Defect classes.

    >>> Flag.STUCK | Flag.OUTLIER
    <Flag.STUCK|OUTLIER: 3>
    >>> flag_names(5)
    ['stuck', 'hot']
    """

    STUCK = 1  #: temporal std below ``stuck_std``
    OUTLIER = 2  #: temporal median far from its local median (the sensor team's "drifting")
    HOT = 4  #: temporal mean far above the neighbourhood, or saturated in nearly every frame
    DEAD = 8  #: temporal mean far below the neighbourhood, or at the floor in nearly every frame
    NOISY = 16  #: temporal std far above the neighbourhood's (flicker, telegraph noise)
    PERSISTENT = 32  #: stands out from its neighbours in nearly every frame (photo series)


#: flag bits in order, with their lower-case names as used in CSV files and options
CLASSES: dict[str, Flag] = {f.name.lower(): f for f in Flag}

#: the sensor team's "drifting pixel" definition: STUCK or OUTLIER
DRIFTING = Flag.STUCK | Flag.OUTLIER


def flag_names(value: int) -> list[str]:
    """Names of the classes set in ``value``, in bit order."""
    return [name for name, f in CLASSES.items() if value & f]


def parse_classes(text: str | None) -> int:
    """``"hot,stuck"`` -> bit mask; ``None`` or ``"all"`` -> every class."""
    if text is None or text.strip().lower() == "all":
        return int(np.bitwise_or.reduce([int(f) for f in Flag]))
    bits = 0
    for name in (t.strip().lower() for t in text.split(",") if t.strip()):
        if name not in CLASSES:
            from ..errors import ParameterError

            raise ParameterError(f"unknown defect class {name!r}; known: {', '.join(CLASSES)}")
        bits |= CLASSES[name]
    return bits


def pack(shape: tuple[int, int],
         results: dict[str, tuple[Flag, tuple[np.ndarray, np.ndarray], float]]
         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Combine ``{name: (bit, (mask, score), threshold)}`` into flags and float32 scores.

    Scores are float32 (severities and rule statistics: 7 significant digits rank
    defects; each rule decides its mask in float64 before rounding).  Band-size
    results are fresh memory, which is slow on small VMs: float64 scores made a
    10 MP band's results 56 bytes per pixel, float32 makes them 28.
    """
    from . import _kernels  # numba: not at import, scandir and the CLI read Flag without it

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
