"""Per-pixel statistics: streaming temporal moments, exact temporal median, local filters.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s = compute_band_stats(rng.integers(0, 256, (9, 4, 5), dtype=np.uint8), name="L1")
>>> s.name, s.n_frames, s.shape, s.value_range
('L1', 9, (4, 5), (0.0, 255.0))
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_getattr
from ..errors import ParameterError
from .bandstats import BandStats

# name -> submodule, imported on first use (PEP 562): these load the numba kernels,
# which ``badpix scan --help`` (via BandStats users) must not pay for
_LAZY = {"MedianCollector": ".median", "temporal_median": ".median",
         "MomentAccumulator": ".moments", "local_mean": ".spatial", "local_median": ".spatial",
         "local_std": ".spatial", "local_variance": ".spatial"}

__all__ = [
    "BandStats",
    "MedianCollector",
    "MomentAccumulator",
    "compute_band_stats",
    "local_mean",
    "local_median",
    "local_std",
    "local_variance",
    "temporal_median",
]


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def compute_band_stats(frames: np.ndarray, name: str = "band",
                       with_median: bool = True) -> BandStats:
    """Temporal statistics of an in-memory band ``(n, h, w)`` as :class:`BandStats`.

    ``value_range`` is the dtype's range for integer data and the observed
    ``(nanmin, nanmax)`` for floats (``(nan, nan)`` if every value is NaN).

    Examples
    --------
    >>> import numpy as np
    >>> s = compute_band_stats(np.array([[[1.0]], [[3.0]]]), with_median=False)
    >>> float(s.mean[0, 0]), float(s.var[0, 0]), s.median, s.value_range
    (2.0, 1.0, None, (1.0, 3.0))
    """
    from .median import temporal_median
    from .moments import MomentAccumulator

    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ParameterError(f"frames must be (n, h, w), got shape {frames.shape}")
    acc = MomentAccumulator(frames.shape[1:], frames.dtype).update(frames)
    r = acc.finalize()
    if frames.dtype.kind in "iu":
        info = np.iinfo(frames.dtype)
        value_range = (float(info.min), float(info.max))
    else:
        seen = r["count"] > 0
        value_range = ((float(r["min"][seen].min()), float(r["max"][seen].max())) if seen.any()
                       else (float("nan"), float("nan")))
    return BandStats(
        name=name, n_frames=acc.n_frames, dtype=frames.dtype, count=r["count"], mean=r["mean"],
        var=r["var"], min=r["min"], max=r["max"],
        median=temporal_median(frames) if with_median else None, value_range=value_range)
