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

    @classmethod
    def from_moments(cls, name: str, n_frames: int, dtype: np.dtype | str, moments: dict,
                     median: np.ndarray | None = None) -> BandStats:
        """From finalized moments (a dict as :meth:`MomentAccumulator.finalize` returns) and a median.

        >>> from badpix.stats.moments import MomentAccumulator
        >>> m = MomentAccumulator((1, 2), np.uint8).update(np.array([[[1, 2]], [[3, 2]]], np.uint8))
        >>> s = BandStats.from_moments("b", 2, np.uint8, m.finalize())
        >>> s.mean.tolist(), s.value_range
        ([[2.0, 2.0]], (0.0, 255.0))
        """
        lo = hi = 0.0
        if np.dtype(dtype).kind not in "iub":  # integers: the dtype's range, no pass over data
            with np.errstate(invalid="ignore"):
                lo = float(np.nanmin(moments["min"])) if np.isfinite(moments["min"]).any() \
                    else 0.0
                hi = float(np.nanmax(moments["max"])) if np.isfinite(moments["max"]).any() \
                    else 0.0
        stats = cls(name=name, n_frames=n_frames, dtype=np.dtype(dtype), count=moments["count"],
                    mean=moments["mean"], var=moments["var"], min=moments["min"],
                    max=moments["max"], median=median, value_range=value_range(dtype, lo, hi))
        if "std" in moments:
            stats.set_std(moments["std"])
        return stats


def value_range(dtype: np.dtype | str, lo: float, hi: float) -> tuple[float, float]:
    """The data range: the dtype's for integers, the observed one (``lo, hi``) for floats.

    >>> value_range(np.uint8, 3, 9), value_range(np.float32, 3, 9)
    ((0.0, 255.0), (3.0, 9.0))
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        return (0.0, 1.0) if info is None else (float(info.min), float(info.max))
    return (float(lo), float(hi))
