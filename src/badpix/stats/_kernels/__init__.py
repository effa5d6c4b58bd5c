"""Numba kernels behind :mod:`badpix.stats` (internal; the public API validates inputs).

All kernels take ``(n, h, w)`` frame blocks with any strides (a band is a strided
view of a ``(n, rows, cols, channels)`` block) and work on pixel chunks of about
8K pixels in ``prange`` so that a chunk's accumulators stay in L2 while every
frame of the block streams through it once.  Accumulators are sliced once per
chunk row and min/max are unconditional: PERFORMANCE.md measured indexing the
full arrays with ``if v < mn`` 4-10x slower.

One module per topic, every kernel re-exported here (callers use
``from . import _kernels as K``):

* :mod:`~badpix.stats._kernels.moments` -- exact integer and two-pass float moments;
* :mod:`~badpix.stats._kernels.median` -- per-pixel temporal median (quickselect,
  bitwise rank search, and the bitwise search fused with the 8/16-bit moments);
* :mod:`~badpix.stats._kernels.spatial` -- window medians of one image;
* :mod:`~badpix.stats._kernels.radix` -- exact ranks of a large float64 array.

numba's on-disk cache (``cache=True``) checks only the source file of the kernel it
loads: ``median`` inlines ``_add_narrow`` from ``moments`` and ``spatial`` inlines
``_select`` from ``median``, so after editing one of those two helpers touch the
modules that call it (or clear their ``__pycache__``) to recompile.

Example
-------
>>> import numpy as np
>>> chunks = pixel_chunks(4, 5)
>>> chunks.shape[1]
4
"""

from __future__ import annotations

import numpy as np

from .median import moments_median_narrow, temporal_median, temporal_median_bitwise
from .moments import (
    FLOAT_BATCH,
    float_update,
    int_finalize,
    int_update_narrow,
    int_update_wide,
    narrow_finalize,
)
from .radix import radix_gather, radix_hist, radix_minmax, radix_select_keys
from .spatial import network_median, window_median_mapped

__all__ = ["CHUNK_PIXELS", "FLOAT_BATCH", "float_update", "int_finalize", "int_update_narrow",
           "int_update_wide", "moments_median_narrow", "narrow_finalize", "network_median",
           "pixel_chunks", "radix_gather", "radix_hist", "radix_minmax", "radix_select_keys",
           "temporal_median", "temporal_median_bitwise", "window_median_mapped"]

CHUNK_PIXELS = 8192


def pixel_chunks(h: int, w: int, pixels: int = CHUNK_PIXELS) -> np.ndarray:
    """Rectangles ``(r0, r1, c0, c1)`` of about ``pixels`` pixels tiling an ``h x w`` band."""
    if w >= pixels:
        cols = [(c, min(w, c + pixels)) for c in range(0, w, pixels)]
        out = [(r, r + 1, c0, c1) for r in range(h) for c0, c1 in cols]
    else:
        rows = max(1, pixels // max(w, 1))
        out = [(r, min(h, r + rows), 0, w) for r in range(0, h, rows)]
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)
