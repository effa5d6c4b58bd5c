"""The reader contract and the registry that picks a reader for a path.

A reader knows one file format.  It opens lazily (headers only), reports the
frame count, the frame shape ``(rows, cols, channels)`` and dtype, and reads
frames into caller-provided buffers so hot loops never allocate.  Everything
after the reader (layouts, statistics, rules, writers) sees frames of shape
``(rows, cols, channels)``: grey images have one channel.

New formats are one module: subclass :class:`Reader`, implement
:meth:`Reader.can_open`, ``__init__``, :meth:`Reader.read_frame`, and add an
entry to the table in :mod:`badpix.io.registry` (or decorate the class with
:func:`badpix.io.registry.register_reader`).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..memory import check_allocation

__all__ = [
    "GeoRef",
    "Reader",
    "natural_key",
    "split_dataset_path",
]


@dataclass(frozen=True)
class GeoRef:
    """Georeferencing of a frame: CRS as WKT (or ``None``) and a GDAL geotransform.

    ``transform`` is the 6-tuple ``(x0, dx, rx, y0, ry, dy)`` that GDAL uses;
    ``rasterio.Affine.from_gdal(*transform)`` converts it.
    """

    crs_wkt: str | None
    transform: tuple[float, float, float, float, float, float] | None

    def window(self, row0: int, col0: int, row_step: int = 1, col_step: int = 1) -> GeoRef:
        """Georeferencing of a sub-window whose top-left pixel is (row0, col0).

        With steps (every n-th row/column) the pixels grow by the step.

        >>> GeoRef(None, (100.0, 10.0, 0.0, 500.0, 0.0, -10.0)).window(2, 3).transform
        (130.0, 10.0, 0.0, 480.0, 0.0, -10.0)
        """
        if self.transform is None:
            return self
        x0, dx, rx, y0, ry, dy = self.transform
        return GeoRef(
            self.crs_wkt,
            (x0 + col0 * dx + row0 * rx, dx * col_step, rx * row_step,
             y0 + col0 * ry + row0 * dy, ry * col_step, dy * row_step),
        )


@dataclass
class SkippedFrame:
    """A file or frame left out with ``skip_bad=True``, and why."""

    label: str
    reason: str


class Reader(ABC):
    """One stack of frames in one format.

    Attributes set by every subclass in ``__init__``:

    ``paths``        the files, in frame order;
    ``n_frames``     number of frames;
    ``frame_shape``  ``(rows, cols, channels)``;
    ``dtype``        numpy dtype of a frame;
    ``channel_names`` one name per channel (``("R", "G", "B")`` for colour images);
    ``georef``       :class:`GeoRef` or ``None``;
    ``skipped``      frames left out with ``skip_bad=True``.
    """

    format_name: ClassVar[str] = "?"
    #: file-name suffixes (lower case, with dot) this reader claims in folders and globs
    suffixes: ClassVar[tuple[str, ...]] = ()

    paths: list[Path]
    n_frames: int
    frame_shape: tuple[int, int, int]
    dtype: np.dtype
    channel_names: tuple[str, ...]
    georef: GeoRef | None = None

    def __init__(self) -> None:
        self.skipped: list[SkippedFrame] = []
        self.attrs: dict[str, Any] = {}

    # -- contract -----------------------------------------------------------------
    @classmethod
    @abstractmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        """True when this reader handles all of ``paths``."""

    @abstractmethod
    def read_frame(self, index: int, out: np.ndarray) -> None:
        """Decode frame ``index`` into ``out`` (shape ``frame_shape``, dtype ``dtype``).

        Raises :class:`~badpix.errors.DecodeError` naming the file when it cannot.
        """

    def frame_label(self, index: int) -> str:
        """Human-readable origin of a frame, e.g. ``frame_7.npy`` or ``a.h5[12]``."""
        if len(self.paths) == self.n_frames:
            return self.paths[index].name
        return f"{self.paths[0].name}[{index}]"

    def frames_per_file(self) -> list[int]:
        """How many of the stack's frames each file of :attr:`paths` holds, in order.

        Frames come file by file, so file ``i`` holds frames
        ``sum(counts[:i]) .. sum(counts[:i + 1]) - 1``; the counts add up to
        :attr:`n_frames`.  Writers use this to put repaired frames back into
        files shaped like the input.

        The default covers one frame per file and a single file holding them all;
        a reader whose files hold several frames each overrides it.
        """
        if len(self.paths) == self.n_frames:
            return [1] * self.n_frames
        if len(self.paths) == 1:
            return [self.n_frames]
        raise NotImplementedError(
            f"{type(self).__name__} holds {self.n_frames} frames in {len(self.paths)} files "
            "and does not say which frames are in which file (override frames_per_file)")

    def frame_times(self) -> np.ndarray | None:
        """Capture time of each frame in seconds (any origin), or ``None`` if unknown."""
        return None

    def frame_feature(self, name: str) -> np.ndarray | None:
        """A per-frame value stored with the frames (e.g. HDF5 ``events/time``), or ``None``."""
        return None

    def describe(self) -> str:
        first = self.paths[0] if self.paths else "?"
        more = f" (+{len(self.paths) - 1} files)" if len(self.paths) > 1 else ""
        return (
            f"{self.format_name}: {first}{more}, {self.n_frames} frames of "
            f"{self.frame_shape} {np.dtype(self.dtype).name}"
        )

    def block_buffer(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """``out``, or a new ``(n, *frame_shape)`` buffer once the memory check passes."""
        if out is not None:
            return out
        check_allocation(n * int(np.prod(self.frame_shape)) * self.dtype.itemsize,
                         "frame block", self.paths[0] if self.paths else None)
        return np.empty((n, *self.frame_shape), self.dtype)

    def read_frames(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Read frames ``[start, stop)`` into ``out`` (allocated when ``None``)."""
        n = stop - start
        out = self.block_buffer(n, out)
        for k in range(n):
            self.read_frame(start + k, out[k])
        return out

    #: True for a series of photos (different scenes, one file each: JPEG/PNG, camera RAW):
    #: the scan plan (:func:`badpix.engine.plan.make_plan`) then runs the persistence and
    #: onset accumulators by default and leaves the temporal median out
    is_photo_series: ClassVar[bool] = False

    #: True when :meth:`read_rows` reads only the rows asked for (not whole frames): the
    #: engines then work on strips of rows over all frames (:mod:`badpix.engine.units`)
    reads_rows: ClassVar[bool] = False

    def read_rows(self, start: int, stop: int, rows: tuple[int, int], out: np.ndarray
                  ) -> np.ndarray:
        """Rows ``rows = (r0, r1)`` of frames ``[start, stop)`` into ``out``.

        ``out`` has shape ``(stop - start, r1 - r0, cols, channels)``.  This default
        decodes whole frames one at a time and keeps the rows (right for every format,
        no faster than :meth:`read_frames`); readers of formats that can seek to rows
        override it and set :attr:`reads_rows`.
        """
        r0, r1 = rows
        frame = np.empty(self.frame_shape, self.dtype)
        for k in range(stop - start):
            self.read_frame(start + k, frame)
            out[k] = frame[r0:r1]
        return out

    def read_all(self) -> np.ndarray:
        """The whole stack as one array ``(n, rows, cols, channels)``; checks memory first."""
        return self.read_frames(0, self.n_frames)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open files."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        # readers travel to Dask workers as paths; open handles are reopened lazily
        state = self.__dict__.copy()
        for key in getattr(self, "_unpicklable", ()):
            state[key] = None
        return state


_NUMBER = re.compile(r"\d+")


def natural_key(path: str | os.PathLike) -> tuple:
    """Sort key: by the last number in the file name, files without a number last.

    >>> sorted(["frame_10.npy", "frame_2.npy", "dark.npy"], key=natural_key)
    ['frame_2.npy', 'frame_10.npy', 'dark.npy']
    """
    name = Path(path).name
    stem = name.split(".")[0]
    numbers = _NUMBER.findall(stem)
    if numbers:
        return (0, int(numbers[-1]), name)
    return (1, 0, name)


def split_dataset_path(spec: str) -> tuple[str, str | None]:
    """Split ``"file.h5:events/image"`` into the file and the dataset path.

    A colon that is part of a Windows drive or of an existing file name is kept.

    >>> split_dataset_path("data.h5:events/image")
    ('data.h5', 'events/image')
    >>> split_dataset_path("frames/")
    ('frames/', None)
    """
    if os.path.exists(spec):
        return spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and not re.fullmatch(r"[A-Za-z]", head):
        return head, tail
    return spec, None




@dataclass
class FrameHeader:
    """What a file declares about its frames before any pixel is decoded."""

    shape: tuple[int, ...]
    dtype: np.dtype
    extra: dict[str, Any] = field(default_factory=dict)


def consistent_headers(
    paths: Sequence[Path],
    header_of: Callable[[Path], dict[str, Any]],
    *,
    skip_bad: bool,
    skipped: list[SkippedFrame],
    what: str,
    same: Sequence[str] = ("shape", "dtype"),
    check: Callable[[Path, dict[str, Any], Path, dict[str, Any]], None] | None = None,
) -> list[tuple[Path, dict[str, Any]]]:
    """Read every file's header; keep the files that agree with the first one.

    ``header_of(path)`` returns a dict (raising :class:`InputError` subclasses
    for unreadable files) holding at least the keys in ``same``; a file whose
    values differ raises :class:`FrameMismatchError` naming it and both values
    (``check(path, header, first_path, first_header)`` may add further tests).
    With ``skip_bad`` such files are left out and appended to ``skipped``.

    >>> hs = {"a.npy": {"shape": (2, 3)}, "b.npy": {"shape": (2, 4)}}
    >>> skipped = []
    >>> good = consistent_headers([Path("a.npy"), Path("b.npy")], lambda p: hs[p.name],
    ...                           skip_bad=True, skipped=skipped, what=".npy frames",
    ...                           same=("shape",))
    >>> [p.name for p, _ in good], skipped[0].reason
    (['a.npy'], "shape (2, 4) differs from the first frame's (2, 3) (a.npy)")
    """
    from ..errors import FrameMismatchError

    good: list[tuple[Path, dict[str, Any]]] = []
    for p in paths:
        try:
            header = header_of(p)
            if good:
                first_path, first = good[0]
                for k in same:
                    if header[k] != first[k]:
                        raise FrameMismatchError(
                            p, f"{k} {header[k]} differs from the first frame's {first[k]} "
                            f"({first_path.name})")
                if check is not None:
                    check(p, header, first_path, first)
        except InputError as exc:
            if not skip_bad:
                raise
            skipped.append(SkippedFrame(p.name, exc.problem))
            continue
        good.append((p, header))
    if not good:
        raise InputError(paths[0].parent if paths else None, f"no readable {what}")
    return good


def as_hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Frame shape as ``(rows, cols, channels)``: 2-D frames get one channel."""
    if len(shape) == 2:
        return (int(shape[0]), int(shape[1]), 1)
    if len(shape) == 3:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    raise ValueError(f"frames must be 2-D or 3-D, not {len(shape)}-D")


def default_channel_names(n: int) -> tuple[str, ...]:
    """``("ch0", "ch1", ...)``: band names when no layout is given."""
    return tuple(f"ch{i}" for i in range(n))
