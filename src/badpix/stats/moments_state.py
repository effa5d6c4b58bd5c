"""Checkpoints and hand-over of a :class:`~badpix.stats.moments.MomentAccumulator`.

:class:`MomentState` is the accumulator's base class for

* ``arrays()`` / ``with_arrays()``: the per-pixel state arrays by attribute name,
  without copies, so that an accumulator is handed over without pickling them
  (the Dask engine keeps them in files that the client maps);
* ``state()`` / ``from_state()`` / ``save()`` / ``load()``: every array and the frame
  count in a dict of plain arrays, and that dict as an ``.npz`` file (no pickles),
  the form the scan checkpoints keep (``format`` ``_FORMAT``).

It uses the accumulator's attributes (``kind``, ``shape``, ``dtype``, ``n_frames``,
the arrays named in ``ARRAYS``) and its ``_flush`` / ``_alloc_totals``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ..errors import InputError, ParameterError
from ..io.atomic import atomic_path

__all__ = ["MomentState"]

#: version of the ``state()`` dict and of the ``.npz`` checkpoints
_FORMAT = 1


class MomentState:
    """State arrays, checkpoints and hand-over of a moment accumulator (its base class)."""

    #: the per-pixel state arrays (attribute names; set by the accumulator)
    ARRAYS: tuple[str, ...] = ()
    kind: str
    shape: tuple[int, int]
    dtype: np.dtype
    n_frames: int

    if TYPE_CHECKING:
        def __init__(self, shape: tuple[int, int], dtype: Any) -> None: ...
        def _flush(self) -> None: ...
        def _alloc_totals(self) -> None: ...

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-pixel state arrays by attribute name (no copies).

        With :meth:`with_arrays` they hand an accumulator over without pickling its
        arrays: the Dask engine keeps them in files that the client maps.
        """
        return {k: v for k in self.ARRAYS if (v := getattr(self, k, None)) is not None}

    def with_arrays(self, arrays: dict[str, np.ndarray]) -> Self:
        """A copy of this accumulator (frame count, dtype, ...) holding ``arrays`` as its state.

        >>> import numpy as np
        >>> from badpix.stats.moments import MomentAccumulator
        >>> a = MomentAccumulator((1, 2), np.uint8).update(np.array([[[1, 2]]], np.uint8))
        >>> empty = a.with_arrays({})
        >>> empty.with_arrays(a.arrays()).finalize()["mean"].tolist()
        [[1.0, 2.0]]
        """
        acc = object.__new__(type(self))
        acc.__dict__.update({k: (None if k in self.ARRAYS else v)
                             for k, v in self.__dict__.items()})
        acc._alloc = None
        acc.__dict__.update(arrays)
        return acc

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, np.ndarray]:
        """Arrays that fully describe the accumulator (for ``from_state``/``save``)."""
        self._flush()
        meta = {"format": np.int64(_FORMAT), "n_frames": np.int64(self.n_frames),
                "dtype": np.array(self.dtype.str), "shape": np.array(self.shape, np.int64)}
        if self.kind in ("float", "wide64"):
            arrays = {"count": self._count, "mean": self._mean, "m2": self._m2}
            if self.kind == "wide64":
                arrays["ref"] = self._ref
        else:
            arrays = {"s1": self._s1, "s2lo": self._s2lo, "s2hi": self._s2hi}
        arrays.update(min=self._min, max=self._max)
        return {**meta, **{k: v.copy() for k, v in arrays.items()}}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Self:
        """Rebuild an accumulator from :meth:`state` output."""
        try:
            if int(state["format"]) != _FORMAT:
                raise ParameterError(f"unknown accumulator state format {int(state['format'])}")
            acc = cls(tuple(int(s) for s in state["shape"]), np.dtype(str(state["dtype"])))
            names = {"float": ("count", "mean", "m2"), "wide64": ("count", "mean", "m2", "ref")
                     }.get(acc.kind, ("s1", "s2lo", "s2hi"))
            if acc.kind not in ("float", "wide64"):
                acc._alloc_totals()
            for name in (*names, "min", "max"):
                arr = np.asarray(state[name])
                ref = getattr(acc, "_" + name)
                if arr.shape != ref.shape or arr.dtype != ref.dtype:
                    raise ParameterError(f"state array {name!r} is {arr.dtype}{arr.shape}, "
                                         f"expected {ref.dtype}{ref.shape}")
                setattr(acc, "_" + name, arr.copy())
            acc.n_frames = int(state["n_frames"])
        except KeyError as exc:
            raise ParameterError(f"accumulator state lacks {exc}") from None
        return acc

    def save(self, path: str | os.PathLike) -> Path:
        """Write the state atomically as an ``.npz`` (no pickles); returns the path."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **self.state())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a state written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                state = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise InputError(path, f"not an accumulator checkpoint ({exc})") from None
        return cls.from_state(state)
