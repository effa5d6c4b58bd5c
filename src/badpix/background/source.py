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
from .timing import RtdcMeta, read_rtdc_meta

__all__ = ["ArraySource", "FrameSource", "RtdcSource", "StackSource", "as_source", "open_source"]

HDF5_SUFFIXES = (".rtdc", ".h5", ".hdf5", ".hdf", ".nxs")


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


class RtdcSource(FrameSource):
    """Frames of an ``.rtdc``/HDF5 dataset (default ``events/image``) read with h5py.

    Reads land in the caller's buffer via ``read_direct`` (no per-block allocation).
    """

    def __init__(self, path: str | os.PathLike, dataset: str = "events/image"):
        import h5py
        import hdf5plugin  # noqa: F401 - Zstd filter of .rtdc files

        self.path = Path(path)
        self.label = os.fspath(path)
        self.meta = read_rtdc_meta(path, dataset)
        self._h5 = h5py.File(path, "r")
        self._ds = self._h5[dataset]
        if self._ds.ndim not in (3, 4):
            raise InputError(path, f"dataset {dataset!r} has shape {self._ds.shape}, "
                             "not (frames, rows, cols)")
        self.n_frames = int(self._ds.shape[0])
        self.frame_shape = tuple(int(s) for s in self._ds.shape[1:])
        self.dtype = self._ds.dtype

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        n = stop - start
        if out is None:
            out = np.empty((n, *self.frame_shape), self.dtype)
        out = out[:n]
        if n:
            self._ds.read_direct(out, np.s_[start:stop], np.s_[0:n])
        return out

    def close(self) -> None:
        self._h5.close()


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
        self.times = reader.frame_times()
        self._hwc = (h, w, c)

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        n = stop - start
        if out is None:
            out = np.empty((n, *self.frame_shape), self.dtype)
        out = out[:n]
        self.stack.reader.read_frames(start, stop, out.reshape(n, *self._hwc))
        return out

    def close(self) -> None:
        self.stack.reader.close()


def _is_hdf5(path: Path) -> bool:
    if path.suffix.lower() in HDF5_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def open_source(source: str | os.PathLike, dataset: str | None = None) -> FrameSource:
    """Open a path: ``.rtdc``/HDF5 files directly with h5py, anything else via ``open_stack``.

    ``"file.h5:group/images"`` selects a dataset; the default is ``events/image``.
    """
    from ..io.base import split_dataset_path

    text, inner = split_dataset_path(os.fspath(source))
    dataset = dataset or inner
    path = Path(text)
    if path.is_file() and _is_hdf5(path):
        return RtdcSource(path, dataset or "events/image")
    from ..stack import open_stack

    return StackSource(open_stack(source, dataset=dataset))


def as_source(frames: Any) -> FrameSource:
    """Wrap an array, a path, a :class:`badpix.Stack` or a source as a :class:`FrameSource`."""
    if isinstance(frames, FrameSource):
        return frames
    if isinstance(frames, (str, os.PathLike)):
        return open_source(frames)
    if hasattr(frames, "reader") and hasattr(frames, "iter_blocks"):
        return StackSource(frames)
    arr = np.asarray(frames)
    if arr.dtype.kind not in "biuf":
        raise InputError(None, f"frames have unsupported dtype {arr.dtype}; use integer or float")
    return ArraySource(arr)
