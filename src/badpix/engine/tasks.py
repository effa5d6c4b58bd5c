"""The Dask executor on the workers: each task reads and computes one unit of :mod:`.units`.

A task works on a private copy of the reader (its own handles: one stack object serves
concurrent tasks of a worker) and returns a partial state (see :mod:`.dask`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from ..stats.store import FrameStore, StoreMedian, tile_median
from .shm import SharedMoments, file_allocator, mapped
from .units import FrameState, read_strip, strip_buffer_shape, strip_statistics

__all__ = ["frame_task", "store_path", "strip_task", "tile_task"]

#: at most this many bytes of idle scratch buffers per worker process
POOL_BYTES = 1 * 2**30
_POOL: list[np.ndarray] = []
_POOL_LOCK = threading.Lock()


@contextlib.contextmanager
def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> Iterator[np.ndarray]:
    """An uninitialised array from this worker's buffer pool, returned to it afterwards.

    The first touch of fresh memory costs page faults (~0.3 GB/s on small VMs, as slow
    as the median itself), so a worker keeps its largest buffers between tasks.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with _POOL_LOCK:
        fits = [i for i, b in enumerate(_POOL) if b.nbytes >= nbytes]
        raw = _POOL.pop(min(fits, key=lambda i: _POOL[i].nbytes)) if fits else None
    if raw is None:
        raw = np.empty(max(1, nbytes), np.uint8)
    try:
        yield raw[:nbytes].view(dtype).reshape(shape)
    finally:
        with _POOL_LOCK:
            _POOL.append(raw)
            _POOL.sort(key=lambda b: -b.nbytes)
            while _POOL and sum(b.nbytes for b in _POOL) > POOL_BYTES:
                _POOL.pop()  # drop the smallest


def _task(numba_threads: int) -> None:
    # one numba thread per Dask thread by default: 2 workers x 2 numba threads on 2
    # cores would only contend
    import numba

    numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))


def store_path(store_dir: str, band: str, start: int) -> Path:
    return Path(store_dir) / f"median_{band}_{start:09d}.raw"


def frame_task(unit: tuple[int, int], *, stack: Stack, block: int, store_dir: str | None,
               factories: list[AccumulatorFactory], params: RuleParams, numba_threads: int,
               share: bool) -> FrameState:
    """A frame unit on a worker: its state; each band's frames to the unit's store file."""
    _task(numba_threads)
    start, stop = unit
    # own handles and skip list: the same stack object serves concurrent tasks
    stack = dataclasses.replace(stack, reader=copy.copy(stack.reader), skipped=[])
    paths: dict[int, str] = {}
    run = uuid.uuid4().hex[:8]
    alloc = None
    if share and store_dir is not None:
        def alloc(band: str) -> Callable[..., Any]:
            return file_allocator(store_dir, f"state-{band}-{start}-{run}", paths)
    suffix = f".part-{os.getpid()}-{threading.get_ident()}"
    sinks = {}
    for b in stack.bands if store_dir is not None else ():
        path = store_path(store_dir, b.name, start)
        sinks[b.name] = StoreMedian(FrameStore(path.with_name(path.name + suffix), b.shape,
                                               stack.dtype, create=True), 0, 0)
        sinks[b.name].store.truncate(0)
    state = FrameState(stack, params, factories, sinks=sinks, alloc=alloc)
    done = False
    try:
        with _scratch((max(1, min(block, stop - start)), *stack.frame_shape), stack.dtype) as buf:
            for s in range(start, stop, len(buf)):
                e = min(stop, s + len(buf))
                frames = stack.read_into(s, e, buf[: e - s])
                if len(frames):
                    state.update(frames, s)
        done = True
    finally:
        for name, sink in sinks.items():
            sink.close()
            if done:
                os.replace(sink.store.path, store_path(store_dir, name, start))
            else:
                with contextlib.suppress(OSError):
                    sink.store.path.unlink()
        stack.reader.close()
    state.sinks = {}
    state.skipped = [(start, s) for s in stack.skipped]
    if paths:
        state.moments = {k: SharedMoments(m, paths) for k, m in state.moments.items()}
    return state


def strip_task(unit: tuple[Any, tuple[int, int]], *, stack: Stack, numba_threads: int,
               out_files: dict[str, dict[str, str]] | None) -> dict[str, Any]:
    """A strip unit on a worker: its statistics, or only ``n_frames`` when they went to
    ``out_files`` (band-size ``.npy`` files in RAM).  A re-run writes the same bytes."""
    _task(numba_threads)
    band, (r0, r1) = unit
    reader = copy.copy(stack.reader)  # own handles
    outs = None
    if out_files is not None:
        outs = {k: mapped(p)[r0:r1] for k, p in out_files[band.name].items()}
    try:
        with _scratch(strip_buffer_shape(reader, band, (r0, r1)), reader.dtype) as buf:
            res = strip_statistics(read_strip(reader, band, (r0, r1), buf), outs)
    finally:
        reader.close()
    if outs is not None:
        return {"n_frames": res["n_frames"]}
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in res.items()}


def tile_task(unit: tuple[str, tuple[int, int, int, int]], *, paths: dict[str, list[str]],
              shapes: dict[str, tuple[int, int]], dtype: str, numba_threads: int,
              out_files: dict[str, str] | None) -> np.ndarray | None:
    """A median tile on a worker (:func:`~badpix.stats.store.tile_median`); written into
    ``out_files`` (band-size float64 ``.npy`` in RAM) and None returned, when given."""
    _task(numba_threads)
    band, (r0, r1, c0, c1) = unit
    out = None
    if out_files is not None:
        out = mapped(out_files[band])[r0:r1, c0:c1]

    def frames(n: int) -> Any:
        return _scratch((n, r1 - r0, c1 - c0), np.dtype(dtype))

    value = tile_median(paths[band], shapes[band], np.dtype(dtype), (r0, r1, c0, c1), frames,
                        out)
    return None if out is not None else value
