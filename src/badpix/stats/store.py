"""Frame stores: one band's frames in a raw frame-major file, and the tiled exact median.

The frame units of a cluster write their frames to stores that the median tile units
read (:mod:`badpix.engine.dask`); a checkpointed scan appends every frame to one in
``OUT/state/`` so its median needs no second pass over the inputs
(:mod:`badpix.engine.state`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError

__all__ = ["FrameStore", "StoreMedian", "plan_tiles", "tile_median", "tiled_median"]


class FrameStore:
    """One band's frames in a raw file, frame-major: frame ``k`` at byte ``k * h * w * itemsize``.

    Writing a block of frames is one contiguous ``pwrite`` (fast, and safe from
    several processes writing disjoint frame ranges: the Dask engine does
    that); reading a spatial tile over all frames is one ``pread`` per frame
    (per row when the tile is narrower than the band).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.raw"
    >>> st = FrameStore(p, (2, 3), np.uint16, create=True)
    >>> st.write(0, np.arange(12, dtype=np.uint16).reshape(2, 2, 3))
    >>> st.read_tile(np.arange(2), (0, 2, 1, 3))[:, 1]
    array([[ 4,  5],
           [10, 11]], dtype=uint16)
    >>> st.close()
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int], dtype: np.dtype | str,
                 create: bool = False):
        self.path = Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.frame_bytes = self.shape[0] * self.shape[1] * self.dtype.itemsize
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot open frame store ({exc.strerror})") from None
        self._buf: np.ndarray | None = None

    def write(self, index: int, frames: np.ndarray) -> None:
        """Write frames ``(k, h, w)`` (any strides) as frames ``index .. index + k - 1``."""
        k = frames.shape[0]
        if k == 0:
            return
        if frames.flags.c_contiguous and frames.dtype == self.dtype:
            data = frames
        else:
            # reuse one contiguous buffer: fresh memory per block is slow on these VMs
            if self._buf is None or self._buf.shape[0] < k:
                self._buf = np.empty((k, *self.shape), self.dtype)
            data = self._buf[:k]
            np.copyto(data, frames, casting="no")
        view = memoryview(data.reshape(-1)).cast("B")
        offset = index * self.frame_bytes
        while len(view):
            done = os.pwrite(self._fd, view, offset)
            view = view[done:]
            offset += done

    def read_tile(self, slots: np.ndarray, tile: tuple[int, int, int, int],
                  out: np.ndarray | None = None) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` of the frames at ``slots`` as ``(len(slots), r1-r0, c1-c0)``."""
        r0, r1, c0, c1 = tile
        h, w = self.shape
        isz = self.dtype.itemsize
        shape = (len(slots), r1 - r0, c1 - c0)
        if out is None:
            out = np.empty(shape, self.dtype)
        else:
            out = out.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        full_rows = c0 == 0 and c1 == w
        for j, slot in enumerate(np.asarray(slots, np.int64)):
            base = int(slot) * self.frame_bytes
            if full_rows:  # the tile is one contiguous run of this frame
                self._pread_into(out[j], base + r0 * w * isz)
            else:
                for r in range(r0, r1):
                    self._pread_into(out[j, r - r0], base + (r * w + c0) * isz)
        return out

    def _pread_into(self, arr: np.ndarray, offset: int) -> None:
        view = memoryview(arr.reshape(-1)).cast("B")
        while len(view):
            got = os.preadv(self._fd, [view], offset)
            if got <= 0:
                raise InputError(self.path, "frame store is shorter than its manifest says")
            view = view[got:]
            offset += got

    def truncate(self, n_frames: int) -> None:
        """Drop frames from ``n_frames`` on (frames written after the last checkpoint)."""
        os.ftruncate(self._fd, n_frames * self.frame_bytes)

    def reserve(self, n_frames: int) -> None:
        """Make the file ``n_frames`` long (sparse) so that writers can fill it in any order."""
        if os.fstat(self._fd).st_size < n_frames * self.frame_bytes:
            os.ftruncate(self._fd, n_frames * self.frame_bytes)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def plan_tiles(n_frames: int, shape: tuple[int, int], itemsize: int, budget: int,
               min_tiles: int = 1) -> list[tuple[int, int, int, int]]:
    """Median tiles ``(r0, r1, c0, c1)`` whose frames (``n_frames`` deep) fit in ``budget`` bytes.

    Tiles are row strips spanning the full width (one read per frame) unless
    even one row over all frames exceeds the budget; then rows are split into
    column pieces.  At least ``min_tiles`` tiles are made (parallelism).

    >>> plan_tiles(100, (8, 40), 2, (100 * 2 + 8) * 40 * 3)  # three rows fit the budget
    [(0, 3, 0, 40), (3, 6, 0, 40), (6, 8, 0, 40)]
    """
    h, w = shape
    per_pixel = max(1, n_frames) * itemsize + 8  # frames plus the float64 result
    pixels = max(64, budget // per_pixel)  # below 64 pixels the reads get absurdly small
    rows = pixels // w
    if rows >= 1:
        rows = min(rows, h, max(1, -(-h // max(1, min_tiles))))
        return [(r, min(h, r + rows), 0, w) for r in range(0, h, rows)]
    cols = min(w, pixels)
    return [(r, r + 1, c, min(w, c + cols)) for r in range(h) for c in range(0, w, cols)]


def tiled_median(store: FrameStore, slots: np.ndarray, budget: int,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Exact temporal median (numpy's definition, NaN ignored) of the frames at ``slots``.

    Holds at most ``budget`` bytes of frames (one tile) in memory.

    >>> import numpy as np, tempfile, pathlib
    >>> st = FrameStore(pathlib.Path(tempfile.mkdtemp()) / "m.raw", (4, 4), np.uint8, create=True)
    >>> x = np.random.default_rng(0).integers(0, 255, (5, 4, 4), dtype=np.uint8)
    >>> st.write(0, x)
    >>> bool(np.array_equal(tiled_median(st, np.arange(5), 200), np.median(x, axis=0)))
    True
    """
    from ..stats.median import temporal_median

    h, w = store.shape
    if out is None:
        out = np.empty((h, w), np.float64)
    tiles = plan_tiles(len(slots), store.shape, store.dtype.itemsize, budget)
    largest = max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in tiles)
    buf = np.empty(len(slots) * largest, store.dtype)  # one buffer for every tile
    for tile in tiles:
        r0, r1, c0, c1 = tile
        frames = store.read_tile(slots, tile, buf)
        out[r0:r1, c0:c1] = temporal_median(frames)
    return out


class StoreMedian:
    """A median sink on a :class:`FrameStore`: frames are appended from ``slot`` on and
    the median is computed tile by tile at the end (``budget`` bytes of frames at once).

    ``median=False``: the frames are stored (a later resume may ask for the median) but
    :meth:`finalize` returns None.
    """

    def __init__(self, store: FrameStore, slot: int, budget: int, median: bool = True):
        self.store, self.slot, self.budget, self.median = store, int(slot), int(budget), median

    def update(self, frames: np.ndarray) -> None:
        self.store.write(self.slot, frames)
        self.slot += len(frames)

    def finalize(self) -> np.ndarray | None:
        if not self.median or not self.slot:
            return None
        return tiled_median(self.store, np.arange(self.slot, dtype=np.int64), self.budget)

    def close(self) -> None:
        self.store.close()


def tile_median(paths: Sequence[str], shape: tuple[int, int], dtype: np.dtype,
                tile: tuple[int, int, int, int], frames: Callable[[int], Any],
                out: np.ndarray | None = None) -> np.ndarray:
    """Exact temporal median of ``tile`` over the frames in the store files ``paths``.

    Each file holds exactly its stored frames (its size says how many: skipped frames
    leave no slot).  ``frames(n)``: a context manager giving a ``(n, h, w)`` buffer.
    Every frame skipped: NaN.
    """
    from .median import temporal_median

    r0, r1, c0, c1 = tile
    frame_bytes = int(shape[0]) * int(shape[1]) * np.dtype(dtype).itemsize
    stores = [FrameStore(p, shape, dtype) for p in paths]
    try:
        counts = [os.path.getsize(st.path) // frame_bytes for st in stores]
        if sum(counts) == 0:
            value = np.full((r1 - r0, c1 - c0), np.nan)
            if out is not None:
                out[...] = value
            return value
        with frames(sum(counts)) as buf:
            at = 0
            for st, k in zip(stores, counts, strict=True):
                if k:
                    st.read_tile(np.arange(k), tile, out=buf[at:at + k])
                at += k
            return temporal_median(buf, out=out)
    finally:
        for st in stores:
            st.close()
