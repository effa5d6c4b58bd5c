"""Frame sources for the background methods: arrays, ``.rtdc``/HDF5 files, any badpix stack.

A source gives ``n_frames``, ``frame_shape`` (rows, cols[, channels]), ``dtype``
and ``read(start, stop, out)`` returning frames ``[start, stop)`` as an array
``(n, rows, cols[, channels])`` - a view for in-memory arrays, ``out`` filled
otherwise - so the methods never hold more than the block they asked for.

>>> import numpy as np
>>> src = as_source(np.zeros((5, 4, 3), np.uint8))
>>> src.n_frames, src.frame_shape, src.read(1, 3).shape
(5, (4, 3), (2, 4, 3))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .timing import RtdcMeta

__all__ = ["ArraySource", "FrameSource", "StackSource", "as_source", "open_source"]


class FrameSource:
    """Base class; subclasses set the attributes and implement :meth:`read`."""

    n_frames: int
    frame_shape: tuple[int, ...]
    dtype: np.dtype
    label: str = "<array>"
    #: time/frame metadata when the source carries it
    meta: RtdcMeta | None = None
    times: np.ndarray | None = None

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ArraySource(FrameSource):
    """Frames from an in-memory (or memory-mapped) array ``(n, rows, cols[, channels])``."""

    def __init__(self, frames: np.ndarray, label: str = "<array>"):
        if frames.ndim not in (3, 4):
            raise InputError(label, f"frames must be 3-D (n, rows, cols) or 4-D, not {frames.ndim}-D")
        if frames.ndim == 4 and frames.shape[3] == 1:
            frames = frames[..., 0]
        self.frames = frames
        self.n_frames = int(frames.shape[0])
        self.frame_shape = tuple(int(s) for s in frames.shape[1:])
        self.dtype = frames.dtype
        self.label = label

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.frames[start:stop]


class StackSource(FrameSource):
    """Frames of any :class:`badpix.Stack` (folders, TIFF, ``.npy``, ...)."""

    def __init__(self, stack: Any):
        self.stack = stack
        reader = stack.reader
        h, w, c = reader.frame_shape
        self.n_frames = int(reader.n_frames)
        self.frame_shape = (h, w) if c == 1 else (h, w, c)
        self.dtype = np.dtype(reader.dtype)
        self.label = reader.describe()
        self._hwc = (h, w, c)
        #: the HDF5 file whose per-frame features the output may link back to
        self.path: Path | None = None
        if reader.format_name == "hdf5" and len(reader.paths) == 1:
            # RT-DC timing: the time/frame features and the frame rate, exactly as stored
            # (dcnum computes with their own dtypes), read through the safe HDF5 reader
            self.path = Path(reader.paths[0])
            self.meta = RtdcMeta(os.fspath(self.path), reader.dataset, self.n_frames,
                                 times=reader.frame_feature("time"),
                                 frame_numbers=reader.frame_feature("frame"),
                                 attrs=dict(reader.attrs))
            fr = reader.attrs.get("imaging:frame rate")
            self.meta.frame_rate = None if fr is None else float(fr)
        else:
            self.times = reader.frame_times()

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        n = stop - start
        if out is None:
            out = np.empty((n, *self.frame_shape), self.dtype)
        out = out[:n]
        self.stack.reader.read_frames(start, stop, out.reshape(n, *self._hwc))
        return out

    def close(self) -> None:
        self.stack.reader.close()


def open_source(source: str | os.PathLike, dataset: str | None = None) -> FrameSource:
    """Open any stack badpix reads (``.rtdc``/HDF5 with its time/frame metadata included).

    ``"file.h5:group/images"`` selects a dataset; the default is ``events/image``.
    """
    from ..stack import open_stack

    return StackSource(open_stack(source, dataset=dataset))


def as_source(frames: Any) -> FrameSource:
    """Wrap an array, a path, a :class:`badpix.Stack` or a source as a :class:`FrameSource`.

    A dask array or a dask-backed ``xarray.DataArray`` becomes a stack read block by
    block (:mod:`badpix.io.memory`).
    """
    if isinstance(frames, FrameSource):
        return frames
    if isinstance(frames, (str, os.PathLike)):
        return open_source(frames)
    if hasattr(frames, "reader") and hasattr(frames, "iter_blocks"):
        return StackSource(frames)
    if type(frames).__module__.startswith("dask") or (
            type(frames).__name__ == "DataArray" and getattr(frames, "chunks", None) is not None):
        # lazy frames are read a block at a time, never computed whole
        from ..stack import open_stack

        return StackSource(open_stack(frames))
    arr = np.asarray(frames)
    if arr.dtype.kind not in "biuf":
        raise InputError(None, f"frames have unsupported dtype {arr.dtype}; use integer or float")
    return ArraySource(arr)
