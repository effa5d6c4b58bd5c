"""The accumulator protocol every per-band streaming statistic follows.

An accumulator is small state per band that sees every frame once:
``update(frames, first_index)`` with a block ``(n, h, w)`` (possibly a strided
view) and the index of its first frame in the stack, ``merge(other)`` for
chunks computed elsewhere (threads, Dask workers, an earlier scan), and
``finalize()`` returning named per-pixel arrays that end up in
``BandStats.extra``.  ``state()``/``from_state()`` give a dict of plain arrays
(saved as ``.npz`` without pickles) for checkpoints and ``--add``.

The scan engine builds one accumulator per band from an
:class:`AccumulatorFactory` — ``factory(band_shape, dtype, n_frames, params)`` —
so a new statistic is one module plus one entry in the scan's factory list.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import numpy as np


class Accumulator(Protocol):
    """Per-band streaming state: update / merge / finalize / state."""

    #: key prefix of this accumulator's arrays in ``BandStats.extra``
    name: str

    def update(self, frames: np.ndarray, first_index: int) -> None: ...

    def merge(self, other: Self) -> Self: ...

    def finalize(self) -> dict[str, np.ndarray]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Self: ...


class AccumulatorFactory(Protocol):
    def __call__(self, shape: tuple[int, int], dtype: np.dtype, n_frames: int,
                 params: Any) -> Accumulator | None:
        """Return an accumulator for one band, or ``None`` when not needed with ``params``."""
