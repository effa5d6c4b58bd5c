"""Frame times for the sparse median, exactly as dcnum 0.31 derives them.

Order of preference: a ``time`` feature; else ``frame / frame_rate``; else an
approximate duration of ``1.5 * N / frame_rate``; else ``1.5 * N / 3600``.
The result always starts at 0.

>>> frame_times(4, frame_numbers=[10, 12, 13, 20], frame_rate=2.0)[0].tolist()
[0.0, 1.0, 1.5, 5.0]
>>> frame_times(3)[1]
'guessed (1.5 N / 3600 s)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError

__all__ = ["RtdcMeta", "frame_times"]


def frame_times(
    n: int,
    times: np.ndarray | None = None,
    frame_rate: float | None = None,
    frame_numbers: np.ndarray | None = None,
    where: str = "times",
) -> tuple[np.ndarray, str]:
    """Return ``(t, source)``: per-frame times in seconds starting at 0, and how they were got.

    ``times`` keeps its floating dtype (dcnum subtracts ``time[0]`` in place, so a
    float32 ``time`` feature stays float32; matching that keeps the nearest-frame
    ties identical).
    """
    if times is not None:
        t = np.array(times, copy=True)
        if t.dtype.kind not in "f":
            t = t.astype(np.float64)
        _check_len(t, n, where)
        if t.size:
            t -= t[0]
        return t, "time"
    if frame_rate is not None:
        fr = float(frame_rate)
        if not np.isfinite(fr) or fr <= 0:
            raise ParameterError(f"{where}: frame rate must be a positive number, not {frame_rate!r}")
        if frame_numbers is not None:
            # np.float64 on purpose: dcnum divides by the attribute (a float64
            # scalar), which promotes float32 frame numbers to float64
            t = np.asarray(frame_numbers) / np.float64(fr)
            _check_len(t, n, where)
            if t.size:
                t = t - t[0]
            return t, "frame / frame rate"
        dur = n / fr * 1.5
        return np.linspace(0, dur, n, endpoint=True), "approximate (1.5 N / frame rate)"
    if frame_numbers is not None:
        raise ParameterError(f"{where}: frame numbers need a frame rate to give times")
    dur = n / 3600 * 1.5
    return np.linspace(0, dur, n, endpoint=True), "guessed (1.5 N / 3600 s)"


def _check_len(t: np.ndarray, n: int, where: str) -> None:
    if t.ndim != 1 or t.size != n:
        raise InputError(where, f"time information has {t.size} entries for {n} frames")
    if not np.all(np.isfinite(t)):
        raise InputError(where, "time information holds NaN or infinite values")


@dataclass
class RtdcMeta:
    """What an ``.rtdc``/HDF5 file says about its frames' timing."""

    path: str
    dataset: str
    n_frames: int
    times: np.ndarray | None = None
    frame_numbers: np.ndarray | None = None
    frame_rate: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


