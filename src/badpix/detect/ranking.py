"""Rankings of pixels: the quietest, and the most extreme by score.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> var = np.array([[4.0, 0.0], [np.nan, 1.0]])
>>> s = BandStats("b", 9, np.dtype("uint8"), np.full((2, 2), 9), var, var, var, var)
>>> lowest_variance(s, 2)
[(0, 1, 0.0), (1, 1, 1.0)]
>>> most_extreme({"score": np.array([[3.0, 9.0], [1.0, np.nan]])}, 1)
[(0, 1, 9.0)]
"""

from __future__ import annotations

import numpy as np

from ..stats.bandstats import BandStats


def _top(values: np.ndarray, n: int, largest: bool) -> list[tuple[int, int, float]]:
    flat = values.ravel()
    idx = np.flatnonzero(~np.isnan(flat))
    if n <= 0 or idx.size == 0:
        return []
    key = -flat[idx] if largest else flat[idx]
    n = min(n, idx.size)
    part = np.argpartition(key, n - 1)[:n]
    order = part[np.lexsort((idx[part], key[part]))]  # ties broken by position: stable output
    rows, cols = np.unravel_index(idx[order], values.shape)
    return [(int(r), int(c), float(flat[i])) for r, c, i in zip(rows, cols, idx[order], strict=True)]


def lowest_variance(stats: BandStats, n: int) -> list[tuple[int, int, float]]:
    """The ``n`` pixels with the lowest temporal variance: ``(row, col, var)``, band coordinates."""
    return _top(np.asarray(stats.var, dtype=np.float64), n, largest=False)


def most_extreme(scores: dict[str, np.ndarray] | np.ndarray, n: int,
                 key: str = "score") -> list[tuple[int, int, float]]:
    """The ``n`` pixels with the highest score: ``(row, col, score)``, band coordinates.

    ``scores`` is the dict returned by :func:`badpix.detect.classify` (its
    ``key`` entry is used) or a score image.
    """
    arr = np.asarray(scores[key] if isinstance(scores, dict) else scores)
    # float32 scores as they are: a float64 copy of a band is fresh memory for a table of n
    return _top(arr if arr.dtype.kind == "f" else arr.astype(np.float64), n, largest=True)
