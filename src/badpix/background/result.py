"""The result of a background computation: distinct images plus a frame -> image index.

Both methods store each distinct background image once: the sparse median has
one image per kept step time, the rolling median one per window start
(``N - k`` of them; the last ``k`` frames reuse the last image, as dcnum does).

>>> import numpy as np
>>> r = BackgroundResult("rolling", np.zeros((2, 3, 4), np.uint8), np.array([0, 1, 1]))
>>> r.n_frames, r.background_of(2).shape
(3, (3, 4))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BackgroundResult"]


@dataclass
class BackgroundResult:
    """Background images of a stack.

    Attributes
    ----------
    method
        ``"sparse"`` or ``"rolling"``.
    images
        Distinct background images ``(M, rows, cols[, channels])``, input dtype
        (uint8 for cytometry data).  ``None`` when they were streamed to a sink.
    index
        ``(N,)`` int64: frame ``n`` uses ``images[index[n]]``.
    bg_off
        ``(N,)`` float64 offset ``mean(frame[0:20]) - mean(background[0:20])``
        (sparse with offset correction), else ``None``.  The corrected frame is
        ``frame - background - bg_off``.
    times
        Frame times in seconds from 0 (sparse), else ``None``.
    step_times
        Time of every background image computed before cleansing (sparse).
    kept
        Which of the step images survived cleansing (sparse).
    windows
        ``(M_all, 2)`` first and one-past-last frame of each step image's window (sparse).
    params
        The parameters as used (``kernel_size`` after clamping) for provenance.
    """

    method: str
    images: np.ndarray | None
    index: np.ndarray
    bg_off: np.ndarray | None = None
    times: np.ndarray | None = None
    step_times: np.ndarray | None = None
    kept: np.ndarray | None = None
    windows: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    time_source: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.index.size)

    def background_of(self, frame: int) -> np.ndarray:
        """Background image of frame ``frame``."""
        return self.images[self.index[frame]]

    def per_frame(self) -> np.ndarray:
        """Background image of every frame ``(N, rows, cols[, channels])`` (allocates)."""
        return self.images[self.index]

    def subtract(self, frames: np.ndarray, start: int = 0) -> np.ndarray:
        """Corrected frames ``frame - background - bg_off`` as float32, for frames from ``start``."""
        frames = np.asarray(frames)
        idx = self.index[start:start + len(frames)]
        out = frames.astype(np.float32)
        out -= self.images[idx]
        if self.bg_off is not None:
            off = self.bg_off[start:start + len(frames)]
            out -= off.reshape(-1, *([1] * (frames.ndim - 1))).astype(np.float32)
        return out

    def to_xarray(self):
        """An ``xarray.Dataset`` with ``image_bg`` (distinct images), ``index`` and ``bg_off``.

        Parameters go to ``attrs``; ``time`` is a coordinate of the frame axis when known.
        """
        import xarray as xr

        spatial = ["y", "x", "channel"][: self.images.ndim - 1]
        data: dict[str, Any] = {
            "image_bg": (("image", *spatial), self.images),
            "index": (("frame",), self.index),
        }
        if self.bg_off is not None:
            data["bg_off"] = (("frame",), self.bg_off)
        coords: dict[str, Any] = {"frame": np.arange(self.n_frames)}
        if self.times is not None:
            coords["time"] = (("frame",), self.times)
        attrs = {"method": self.method}
        attrs.update({k: (int(v) if isinstance(v, bool) else v) for k, v in self.params.items()})
        return xr.Dataset(data, coords=coords, attrs=attrs)
