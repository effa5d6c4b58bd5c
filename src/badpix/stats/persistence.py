"""Persistence: in how many frames does a pixel stand out from its 3×3 neighbourhood?

A hot photosite stands out from its neighbours in (nearly) every photo; a star,
a specular highlight or a sharp edge stands out only in the photos where the
scene puts it on that pixel.  :class:`PersistenceAccumulator` counts, per pixel,
the frames in which

* ``x - median3x3 > T_t`` (hot side, ``persistence_hot``), or
* ``median3x3 - x > T_t`` (dead side, ``persistence_dead``),

where ``median3x3`` is the median of the pixel's 3×3 neighbourhood *in its
band* (pixel included; borders replicate the edge like
``scipy.ndimage.median_filter(mode="nearest")``).  On a Bayer band (see
:func:`badpix.io.raw.bayer_layout`) that neighbourhood is the same-colour
photosites at distance 2 in the mosaic.

Threshold (documented default)
------------------------------
``T_t = max(dn, z * sigma_t)`` for frame ``t``, where ``sigma_t = 1.4826 *
median |x - median3x3|`` over a sample grid of the band in that frame (a
robust noise scale that follows each photo's ISO and exposure; for white
noise of std ``s`` it is about ``0.87 s``, so ``T`` is about ``5.2 s``), ``z = 6``
and ``dn = 20`` data units for integer data (the LibRaw users' 20 DN floor;
JPEG noise is smoothed by compression, so the floor decides there) and ``0``
for float data.  An explicit ``persistence_dn`` replaces the rule: ``T_t =
persistence_dn`` in every frame.

The test itself, the thresholds and the numba counting kernel (and how it is
fast), is :mod:`badpix.stats.standout`.

Memory: two ``uint32`` counters per pixel (8 bytes), plus one per pixel for
float data (frames where the pixel is finite).

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> frames = rng.integers(90, 110, (10, 8, 8)).astype(np.uint16)
>>> frames[:, 4, 4] += 200          # hot in every frame
>>> frames[3, 2, 2] += 200          # a "star" in one frame
>>> acc = PersistenceAccumulator((8, 8), np.uint16)
>>> acc.update(frames, 0)
>>> out = acc.finalize()
>>> round(float(out["persistence_hot"][4, 4]), 6), round(float(out["persistence_hot"][2, 2]), 6)
(1.0, 0.1)
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numba import njit, prange

# the parameters live in a numba-free module: RuleParams validates them at CLI start-up
from .persistence_params import PersistenceParams
from .standout import frame_thresholds, standout_counts

__all__ = ["PersistenceAccumulator", "PersistenceParams", "persistence_factory"]


@njit(parallel=True, cache=True)
def _fractions(hot, dead, frames, hot_out, dead_out):  # pragma: no cover - numba
    """``count / frames`` (divided in float64, stored in the outputs' type) where
    ``frames > 0``, else 0: one pass, no temporaries."""
    h, w = hot.shape
    for r in prange(h):
        for c in range(w):
            f = frames[r, c]
            d = np.float64(max(f, 1))
            hot_out[r, c] = np.float64(hot[r, c]) / d if f > 0 else 0.0
            dead_out[r, c] = np.float64(dead[r, c]) / d if f > 0 else 0.0


# ----------------------------------------------------------------------------- accumulator

class PersistenceAccumulator:
    """Per-pixel count of frames in which the pixel stands out (see the module docstring).

    ``finalize()`` returns ``persistence_hot`` / ``persistence_dead`` (fraction
    of the pixel's valid frames, float32) and ``persistence_frames`` (valid
    frames per pixel; a broadcast read-only view for integer data).
    """

    name = "persistence"

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type | str,
                 params: PersistenceParams | None = None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.params = params or PersistenceParams()
        self.hot = np.zeros(self.shape, np.uint32)
        self.dead = np.zeros(self.shape, np.uint32)
        self.is_float = self.dtype.kind == "f"
        self.valid = np.zeros(self.shape, np.uint32) if self.is_float else None
        self.n_frames = 0

    def _check(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.shape[1:] != self.shape:
            raise ValueError(f"{self.name}: frames of shape {frames.shape[1:]}, "
                             f"accumulator has {self.shape}")
        return frames

    def _bits_target(self, n: int, first_index: int):
        return None, None

    def update(self, frames: np.ndarray, first_index: int = 0) -> None:
        """Count the stand-out frames of a block ``(n, h, w)`` (any strides)."""
        frames = self._check(frames)
        n = frames.shape[0]
        if n == 0:
            return
        thr = frame_thresholds(frames, self.params)
        bits, ranks = self._bits_target(n, first_index)
        standout_counts(frames, thr, self.hot, self.dead, self.valid, bits, ranks)
        self.n_frames += n

    def merge(self, other: Self) -> Self:
        """Add the counts of ``other`` (disjoint frames of the same band)."""
        if other.shape != self.shape:
            raise ValueError(f"cannot merge {other.shape} into {self.shape}")
        self.hot += other.hot
        self.dead += other.dead
        if self.valid is not None and other.valid is not None:
            self.valid += other.valid
        self.n_frames += other.n_frames
        return self

    def frames_per_pixel(self) -> np.ndarray:
        if self.valid is not None:
            return self.valid
        return np.broadcast_to(np.uint32(self.n_frames), self.shape)

    def finalize(self) -> dict[str, np.ndarray]:
        frames = self.frames_per_pixel()
        # float32: they are scores (see badpix.detect.persistent); band-size arrays are
        # fresh memory, slow on small VMs
        hot = np.empty(self.shape, np.float32)
        dead = np.empty(self.shape, np.float32)
        _fractions(self.hot, self.dead, np.broadcast_to(frames, self.shape), hot, dead)
        return {"persistence_hot": hot, "persistence_dead": dead, "persistence_frames": frames}

    def state(self) -> dict[str, np.ndarray]:
        st = {"hot": self.hot, "dead": self.dead, "n_frames": np.int64(self.n_frames),
              "dtype": np.array(self.dtype.str), "params": _params_array(self.params)}
        if self.valid is not None:
            st["valid"] = self.valid
        return st

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Self:
        acc = cls(state["hot"].shape, np.dtype(str(state["dtype"])),
                  _params_from_array(state["params"]))
        acc.hot = np.array(state["hot"], np.uint32)
        acc.dead = np.array(state["dead"], np.uint32)
        if "valid" in state:
            acc.valid = np.array(state["valid"], np.uint32)
        acc.n_frames = int(state["n_frames"])
        return acc


def _params_array(p: PersistenceParams) -> np.ndarray:
    """Parameters as float64 (NaN for None): ``.npz`` state without pickles."""
    return np.array([p.persistence, np.nan if p.persistence_dn is None else p.persistence_dn,
                     p.persistence_z, np.nan if p.onset_min_frames is None
                     else p.onset_min_frames], np.float64)


def _params_from_array(a: np.ndarray) -> PersistenceParams:
    a = np.asarray(a, np.float64)
    return PersistenceParams(float(a[0]), None if np.isnan(a[1]) else float(a[1]), float(a[2]),
                             None if np.isnan(a[3]) else int(a[3]))


def persistence_factory(shape: tuple[int, int], dtype: np.dtype, n_frames: int,
                        params: Any) -> PersistenceAccumulator:
    """:class:`~badpix.stats.base.AccumulatorFactory` for ``scan_stack(extra_accumulators=...)``.

    Reads ``persistence``, ``persistence_dn``, ``persistence_z`` from ``params``
    when it has them (defaults otherwise).

    >>> import numpy as np
    >>> persistence_factory((4, 4), np.dtype("uint8"), 10, None).name
    'persistence'
    """
    return PersistenceAccumulator(shape, dtype, PersistenceParams.from_params(params))
