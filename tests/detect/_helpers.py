"""Test helpers: BandStats straight from numpy (until/besides badpix.stats.compute_band_stats)."""

from __future__ import annotations

import numpy as np

from badpix.stats.bandstats import BandStats


def numpy_band_stats(frames: np.ndarray, name: str = "b", with_median: bool = True) -> BandStats:
    """BandStats of ``(n, h, w)`` frames with plain numpy (the reference definitions)."""
    import warnings

    x = np.asarray(frames, dtype=np.float64)
    dt = np.asarray(frames).dtype
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vr = (float(info.min), float(info.max))
    else:
        vr = (float(np.nanmin(x)), float(np.nanmax(x)))
    with warnings.catch_warnings():  # all-NaN pixels: NaN statistics are the point
        warnings.simplefilter("ignore", RuntimeWarning)
        return _numpy_band_stats(x, dt, vr, name, with_median)


def _numpy_band_stats(x, dt, vr, name, with_median):
    return BandStats(
        name=name, n_frames=x.shape[0], dtype=dt,
        count=np.sum(~np.isnan(x), axis=0),
        mean=np.nanmean(x, axis=0), var=np.nanvar(x, axis=0),
        min=np.nanmin(x, axis=0), max=np.nanmax(x, axis=0),
        median=np.nanmedian(x, axis=0) if with_median else None, value_range=vr,
    )


def band_stats(frames: np.ndarray, name: str = "b", with_median: bool = True) -> BandStats:
    """The library's compute_band_stats when it exists, else :func:`numpy_band_stats`."""
    try:
        from badpix.stats import compute_band_stats
    except ImportError:
        return numpy_band_stats(frames, name, with_median)
    return compute_band_stats(frames, name, with_median=with_median)
