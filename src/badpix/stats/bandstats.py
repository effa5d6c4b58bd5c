"""Finalized per-pixel statistics of one band: the input of every detection rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BandStats:
    """Temporal statistics of one band, each an ``(h, w)`` array.

    ``count`` is the number of non-NaN values per pixel; ``mean``, ``var``,
    ``std`` (population, as ``np.std``) and ``median`` (numpy's definition,
    NaN ignored) are float64; ``min``/``max`` are in the data's dtype for integer
    data (exact; from a scan, read-only views of the accumulator's state) and
    float64 for float data.  ``value_range`` is the dtype's range for
    integer data (e.g. ``(0, 255)``) and the observed range for floats.
    ``extra`` holds per-pixel counts from optional accumulators (e.g.
    ``"persistence"``: frames in which the pixel stood out).
    """

    name: str
    n_frames: int
    dtype: np.dtype
    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    min: np.ndarray
    max: np.ndarray
    median: np.ndarray | None = None
    value_range: tuple[float, float] | None = None
    cfa: str | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def std(self) -> np.ndarray:
        """``sqrt(var)``, computed once per ``var`` array (several rules read it).

        >>> s = BandStats("b", 1, np.dtype("uint8"), np.ones((1, 1)), np.ones((1, 1)),
        ...               np.full((1, 1), 4.0), np.ones((1, 1)), np.ones((1, 1)))
        >>> s.std is s.std, float(s.std[0, 0])
        (True, 2.0)
        """
        cached = self.__dict__.get("_std")
        if cached is None or cached[0] is not self.var:
            cached = (self.var, np.sqrt(self.var))
            self.__dict__["_std"] = cached
        return cached[1]

    def set_std(self, std: np.ndarray) -> None:
        """Provide ``sqrt(var)`` already computed (e.g. by the moment accumulator)."""
        self.__dict__["_std"] = (self.var, std)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mean.shape
