"""A stack: a reader plus a band layout.  Everything after this sees bands, not files.

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(5):
...     np.save(d / f"f{i}.npy", np.full((6, 4, 3), i, np.uint8))
>>> s = open_stack(d)
>>> s.n_frames, [b.name for b in s.bands]
(5, ['ch0', 'ch1', 'ch2'])
>>> for start, block in s.iter_blocks(2):
...     print(start, block.shape)
0 (2, 6, 4, 3)
2 (2, 6, 4, 3)
4 (1, 6, 4, 3)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .errors import DecodeError
from .io.base import GeoRef, Reader, SkippedFrame
from .io.memory import Dims
from .io.open import open_reader
from .layout import Band, Layout, channel_layout, load_layout
from .memory import check_allocation

U = TypeVar("U")
T = TypeVar("T")


def read_ahead(units: Sequence[U], read: Callable[[U, Any], T], buffers: Sequence[Any]
               ) -> Iterator[tuple[U, T]]:
    """Yield ``(unit, read(unit, buffer))`` in order, reading the next unit in a thread.

    Unit ``i`` is read into ``buffers[i % 2]`` while the caller works on unit ``i - 1``
    (reads release the GIL; photos decode one file per thread): what the stream of
    blocks (:meth:`Stack.iter_blocks`) and the local executor's units
    (:mod:`badpix.engine.local`) both run on.  A yielded value is valid until the next.

    >>> [x for _, x in read_ahead([1, 2, 3], lambda u, buf: u * 10, [None, None])]
    [10, 20, 30]
    """
    if not len(units):
        return
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="badpix-read")
    try:
        future = prefetch.submit(read, units[0], buffers[0])
        for k, unit in enumerate(units):
            data = future.result()
            if k + 1 < len(units):
                future = prefetch.submit(read, units[k + 1], buffers[(k + 1) % 2])
            yield unit, data
    finally:
        prefetch.shutdown(wait=True, cancel_futures=True)


@dataclass
class Stack:
    """Frames from one reader, split into named bands.

    Use :func:`open_stack` to make one.  ``iter_blocks`` streams frames in blocks
    through two reused buffers, decoding the next block in a background thread
    while the caller works on the current one.

    >>> import numpy as np
    >>> s = open_stack(np.zeros((3, 4, 5), np.uint8))
    >>> s.n_frames, s.frame_shape, s.describe()
    (3, (4, 5, 1), 'array: 3 frames of (4, 5, 1) uint8')
    """

    reader: Reader
    layout: Layout
    skip_bad: bool = False
    decode_threads: int = 2
    skipped: list[SkippedFrame] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return self.reader.n_frames

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return self.reader.frame_shape

    @property
    def dtype(self) -> np.dtype:
        return self.reader.dtype

    @property
    def bands(self) -> tuple[Band, ...]:
        return self.layout.bands

    @property
    def georef(self) -> GeoRef | None:
        return self.reader.georef

    def band(self, name: str) -> Band:
        return self.layout[name]

    @property
    def frame_nbytes(self) -> int:
        return int(np.prod(self.frame_shape)) * self.dtype.itemsize

    @property
    def decodes_per_file(self) -> bool:
        """One file per frame, decoded in parallel threads (photos, ``.npy`` folders)."""
        return len(self.reader.paths) == self.n_frames and self.decode_threads > 1

    def describe(self) -> str:
        return self.reader.describe()

    def iter_blocks(self, block_frames: int = 16, start: int = 0,
                    stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_frame_index, block)`` with blocks of up to ``block_frames`` frames.

        The yielded array is reused: it is valid until the next iteration.  With
        ``skip_bad`` a frame that fails to decode is left out (the block is
        shorter) and recorded in :attr:`skipped`.
        """
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        if start >= stop:
            return
        block_frames = max(1, min(block_frames, stop - start))
        check_allocation(2 * block_frames * self.frame_nbytes, "two frame buffers",
                         self.reader.paths[0] if self.reader.paths else None)
        buffers = [np.empty((block_frames, *self.frame_shape), self.dtype) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=max(1, self.decode_threads)) as pool:
            def load(s: int, buf: np.ndarray) -> np.ndarray:
                e = min(s + block_frames, stop)
                return self.read_into(s, e, buf[: e - s], pool)

            yield from read_ahead(range(start, stop, block_frames), load, buffers)

    def read_into(self, s: int, e: int, buf: np.ndarray,
                  pool: ThreadPoolExecutor | None = None) -> np.ndarray:
        """Frames ``[s, e)`` into ``buf``; returns the frames read (``skip_bad``: fewer).

        ``pool`` decodes one file per thread (photos).  Skipped frames are appended to
        :attr:`skipped`.
        """
        n = e - s
        per_file = self.decodes_per_file and n > 1
        if not per_file and not self.skip_bad:
            return self.reader.read_frames(s, e, buf)

        def one(k: int) -> str | None:
            try:
                self.reader.read_frame(s + k, buf[k])
            except DecodeError as exc:
                if not self.skip_bad:
                    raise
                return exc.problem
            return None

        if per_file:
            problems = list((map if pool is None else pool.map)(one, range(n)))
        else:
            problems = [one(k) for k in range(n)]
        good = [k for k, p in enumerate(problems) if p is None]
        for k, p in enumerate(problems):
            if p is not None:
                self.skipped.append(SkippedFrame(self.reader.frame_label(s + k), p))
        if len(good) == n:
            return buf
        for dst, src in enumerate(good):
            if dst != src:
                buf[dst] = buf[src]
        return buf[: len(good)]


def open_stack(
    source: str | os.PathLike | Sequence[str | os.PathLike] | Any,
    *,
    layout: str | os.PathLike | Layout | None = None,
    dataset: str | None = None,
    skip_bad: bool = False,
    format: str | None = None,
    decode_threads: int = 2,
    dims: Dims = None,
) -> Stack:
    """Open a stack of frames lazily.

    Parameters
    ----------
    source
        A folder or glob of frame files (``.npy``, PNG, JPEG, TIFF, GeoTIFF,
        HDF5/NeXus parts), one multi-frame file (multi-page TIFF, ``.npy`` stack,
        HDF5), ``"file.h5:events/image"``, or a list of files; or frames in memory: a
        numpy or dask array ``(frame, y, x[, channel])``, an ``xarray.DataArray`` or
        ``xarray.Dataset`` (read lazily, block by block; :mod:`badpix.io.memory`).
    layout
        A preset name (``"l2-l1-m0"``), a TOML file, a :class:`Layout`, or ``None``
        for one band per channel.
    dataset
        HDF5 dataset path (default ``events/image`` when present), or the variable
        of an ``xarray.Dataset`` / netCDF file.
    skip_bad
        Skip frames that differ in shape/dtype or cannot be decoded, listing them
        in ``stack.skipped``, instead of stopping with an error.
    dims
        Arrays only: the role of each axis (``("y", "x", "frame")``) or a mapping
        from role to a DataArray's dimension name (``{"frame": "band"}``).

    format
        Force a reader by its ``format_name`` (e.g. ``"npy-frames"``, ``"netcdf"``).
    decode_threads
        Threads decoding one file per frame (photos, ``.npy`` folders) at once.

    Returns
    -------
    Stack
        The reader (headers read, no pixels yet) and the bound layout.

    Examples
    --------
    >>> import numpy as np
    >>> stack = open_stack(np.zeros((10, 768, 64, 3), np.uint16), layout="l2-l1-m0")
    >>> [b.name for b in stack.bands], stack.n_frames
    (['L2', 'L1', 'M0'], 10)
    >>> stack = open_stack("frames/", layout="l2-l1-m0")   # doctest: +SKIP
    """
    reader = open_reader(source, dataset=dataset, skip_bad=skip_bad, format=format, dims=dims)
    if layout is None:
        # readers may know their own bands (camera RAW: the CFA planes)
        lay = getattr(reader, "layout", None) or channel_layout(reader.channel_names)
    elif isinstance(layout, Layout):
        lay = layout
    else:
        lay = load_layout(layout)
    lay = lay.bind(reader.frame_shape)
    return Stack(reader, lay, skip_bad=skip_bad, decode_threads=decode_threads,
                 skipped=list(reader.skipped))
