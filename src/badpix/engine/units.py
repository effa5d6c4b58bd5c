"""The work units of a scan on a cluster: frame ranges, median tiles and strips.

One contract: a unit is a pure function of the (picklable) reader, the band layout
and its range; it returns a *partial state* -- per band a
:class:`~badpix.stats.moments.MomentAccumulator` and the extra accumulators' states --
that the client merges with their ``merge`` (integer sums are exact, so any split and
order give the same bits; float moments use Chan's merge).  The median is a unit of
its own kind: a strip (:func:`strip_unit`) computes it directly from its rows of
every frame; frame units (:func:`frame_unit`) write their frames to a store that
median tile units (:func:`median_tile_unit`) read.  Rules and writers only ever see
the finalized :class:`~badpix.stats.bandstats.BandStats`.

What is sent where (frame chunks)
---------------------------------
* client -> scheduler: one small task per range of frames (:func:`chunk_ranges`:
  by default a multiple of the thread count of equal chunks, so no worker is left
  with a straggler) holding the picklable :class:`~badpix.io.base.Reader` (file paths
  and headers, no pixels, no open handles) and the band layout.  The reader is
  submitted once as its own task and replicated to every worker, so that 10 000 paths
  are not copied into every task and the scheduler does not pile every chunk onto the
  one worker holding the reader.
* workers read their frames themselves from the paths (shared storage), run a
  :class:`~badpix.stats.moments.MomentAccumulator` (and any extra accumulators)
  per band, and write each band's frames to the chunk's own raw frame-major
  store file in a temporary folder on shared storage (``workdir``; for a cluster
  on this machine ``/dev/shm`` when it fits, :func:`default_store_dir`): one file per
  writer, so workers never share a file; it is written under a private name and
  renamed into place when complete.  A chunk task returns only its accumulator
  states (a few arrays of band size).
* the median tasks (one per spatial tile: read that tile of every frame from the
  chunks' store files, exact median with :func:`badpix.stats.median.temporal_median`)
  are submitted the moment the last chunk finishes (the client waits for the chunks
  without fetching anything first).  Meanwhile the client
  fetches every chunk state once (concurrently, in the background) and
  merges it into its running total (no merge tasks: those moved each state to another
  worker, copied it and moved the result again); a fetched chunk is released at once.
  The client receives ``(tile_rows, band_width)`` float64 medians and assembles them
  -- or, with the store in ``/dev/shm``, maps one band-size file the tasks wrote their
  tiles into, and likewise the chunk states (:class:`_SharedMoments`): no copies.
* workers keep their read and tile buffers between tasks (:func:`_scratch`): on
  small VMs first-touch page faults of fresh memory cost as much as the median.
* the rules (:func:`badpix.detect.classify`) run on the client on whole bands,
  exactly as in the local engine, so spatial windows never see a tile edge; the
  store is deleted while they run (it frees warm memory for them, see the comment
  in :func:`badpix.engine.dask.scan_stack_dask`).

Why it gives the local engine's answer: integer moments are exact sums, so
any chunking and merge order yields bit-identical statistics; float moments
use Chan's merge (differences ~1e-13 relative); the median is exact.  Why it
survives a lost worker: chunk tasks are pure apart from (re)writing their own
store file (idempotent, and atomic: a median task that is reading it meanwhile keeps
the complete old file, with the same bytes), so the scheduler simply re-runs whatever
the dead worker held.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..errors import DecodeError
from ..io.base import Reader
from ..layout import Band
from ..stats.base import AccumulatorFactory
from ..stats.moments import MomentAccumulator
from .store import FrameStore, update_bands
from .strips import read_strip, strip_buffer_shape, strip_statistics

__all__ = ["SHM_DIR", "default_store_dir", "frame_unit", "median_tile_unit", "merge_states",
           "strip_unit"]


def _identity(x: Any) -> Any:
    return x


#: reusable scratch buffers of this worker process (read blocks, median tiles): the first
#: touch of fresh memory costs page faults (~0.3 GB/s on small VMs, as slow as the median
#: itself), so a worker keeps its largest buffers between tasks and scans
_POOL: list[np.ndarray] = []
_POOL_LOCK = threading.Lock()
#: at most this many bytes of idle buffers per worker process
POOL_BYTES = 1 * 2**30


@contextlib.contextmanager
def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> Iterator[np.ndarray]:
    """An uninitialised array from this process's buffer pool, returned to it afterwards."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
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


def _set_numba_threads(n: int) -> None:
    # each Dask thread runs single-threaded numba kernels by default: parallelism
    # comes from Dask, and 2 workers x 2 numba threads on 2 cores would only contend
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def _store_path(store_dir: str, band: str, start: int) -> Path:
    """The store file of one band's frames of the chunk starting at frame ``start``."""
    return Path(store_dir) / f"median_{band}_{start:09d}.raw"


class _SharedMoments:
    """A chunk's :class:`MomentAccumulator` whose state arrays are ``.npy`` files in RAM.

    With the store in ``/dev/shm`` (a cluster on this machine), a chunk task builds its
    accumulators on memory-mapped files there and returns only this reference; the
    client maps the same pages instead of receiving a copy.  Fresh memory is slow on
    these VMs: receiving two 64 MB states took the client 0.62-0.94 s of system time
    per 1 GB scan, CPU taken from the workers of a 2-worker cluster (with the files:
    0.02 s).
    Each task run writes files of its own, so a re-run after a lost worker never
    truncates files the client may have mapped.
    """

    def __init__(self, acc: MomentAccumulator, paths: dict[int, str]):
        # the accumulator without its arrays (a few bytes) + the file of each array
        self.template = acc.with_arrays({})
        self.files = {name: paths[id(arr)] for name, arr in acc.arrays().items()}

    def attach(self) -> MomentAccumulator:
        return self.template.with_arrays(
            {k: np.load(p, mmap_mode="r+").view(np.ndarray) for k, p in self.files.items()})


def _file_allocator(folder: str, prefix: str, paths: dict[int, str]):
    """``alloc`` for :class:`MomentAccumulator`: arrays on new ``.npy`` files in ``folder``."""
    def alloc(shape: tuple[int, int], dtype: np.dtype, fill: float) -> np.ndarray:
        path = os.path.join(folder, f"{prefix}-{len(paths)}.npy")
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        if fill != 0:  # a new file reads as zeros
            arr[...] = fill
        view = arr.view(np.ndarray)
        paths[id(view)] = path
        return view
    return alloc


def frame_unit(reader: Reader, bands: tuple[Band, ...], start: int, stop: int, block: int,
                store_dir: str | None, factories: list[AccumulatorFactory], params: RuleParams,
                n_total: int, skip_bad: bool, numba_threads: int,
                share: bool = False) -> dict[str, Any]:
    """Read frames ``[start, stop)`` on the worker; return accumulator states and metadata.

    Each band's frames go to the chunk's own store file (frame ``i`` at slot ``i - start``):
    one file per writer, so workers never contend for one file's lock, and a re-run
    task simply rewrites its file.  ``store_dir=None``: no median, nothing stored.
    ``share``: the moments live in files in ``store_dir`` (see :class:`_SharedMoments`).
    """
    _set_numba_threads(numba_threads)
    reader = copy.copy(reader)  # own handles: the same object may serve concurrent tasks
    dtype = np.dtype(reader.dtype)
    paths: dict[int, str] = {}
    run = uuid.uuid4().hex[:8]
    accs = {b.name: (MomentAccumulator(b.shape, dtype, alloc=_file_allocator(
                         store_dir, f"state-{b.name}-{start}-{run}", paths)
                         if share and store_dir is not None else None),
                     [a for f in factories if (a := f(b.shape, dtype, n_total, params)) is not None])
            for b in bands}
    stores = {}
    # each store file is written under a private name and renamed into place when complete:
    # median tasks may already be reading the file when a lost worker's chunk is re-run
    # (its state was lost before the client fetched it); they keep reading the complete
    # old inode, and the re-run's file has the same bytes
    tmp_suffix = f".part-{os.getpid()}-{threading.get_ident()}"
    done = False
    try:
        for b in bands if store_dir is not None else ():
            path = _store_path(store_dir, b.name, start)
            stores[b.name] = FrameStore(path.with_name(path.name + tmp_suffix), b.shape, dtype,
                                        create=True)
            stores[b.name].truncate(0)
        block = max(1, min(block, stop - start))
        runs: list[tuple[int, int]] = []  # (first frame, frames) actually stored
        skipped: list[tuple[int, str, str]] = []
        with _scratch((block, *reader.frame_shape), dtype) as buf:
            for s in range(start, stop, block):
                e = min(stop, s + block)
                if skip_bad:
                    good = 0
                    for i in range(s, e):
                        try:
                            reader.read_frame(i, buf[good])
                            good += 1
                        except DecodeError as exc:
                            skipped.append((i, reader.frame_label(i), exc.problem))
                    frames = buf[:good]
                else:
                    frames = reader.read_frames(s, e, buf[: e - s])
                if not len(frames):
                    continue
                slot = sum(k for _, k in runs)  # stored frames are packed in the chunk's file
                update_bands(bands, frames, s, accs, stores, slot)
                runs.append((s, len(frames)))
        done = True
    finally:
        for name, st in stores.items():
            st.close()
            if done:
                os.replace(st.path, _store_path(store_dir, name, start))
            else:
                with contextlib.suppress(OSError):
                    st.path.unlink()
        reader.close()
    if paths:
        accs = {name: (_SharedMoments(m, paths), x) for name, (m, x) in accs.items()}
    return {"accs": accs, "runs": runs, "skipped": skipped}


def _attach(result: dict[str, Any]) -> dict[str, Any]:
    """A chunk result with shared moments (:class:`_SharedMoments`) mapped in."""
    result["accs"] = {name: (m.attach() if isinstance(m, _SharedMoments) else m, x)
                      for name, (m, x) in result["accs"].items()}
    return result


def merge_states(acc: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge chunk result ``other`` into ``acc`` in place (on the client, which owns both)."""
    for name, (moments, extras) in acc["accs"].items():
        other_m, other_x = other["accs"][name]
        moments.merge(other_m)
        for a, o in zip(extras, other_x, strict=True):
            a.merge(o)
    acc["runs"] = sorted(acc["runs"] + other["runs"])
    acc["skipped"] = sorted(acc["skipped"] + other["skipped"])


#: a RAM-backed folder for the median store of a cluster on this machine
SHM_DIR = "/dev/shm"


def _in_shm(path: str | os.PathLike | None) -> bool:
    """True for :data:`SHM_DIR` and the folders in it."""
    if path is None:
        return False
    real, shm = os.path.realpath(path), os.path.realpath(SHM_DIR)
    return real == shm or real.startswith(shm + os.sep)


def default_store_dir(client, nbytes: int) -> str | None:
    """``/dev/shm`` when every worker runs on this machine and the store fits easily, else None.

    The store is written once and read once within seconds, then deleted: on a
    disk-backed folder a store beyond the kernel's dirty limit (10 % of RAM by
    default) is also written to disk, and the writers wait for it.  That cost a
    4 GB scan's 2 workers most of their speed-up here.  A RAM folder is used only
    when the store takes at most a quarter of the available memory and half of the
    folder's free space; workers on other hosts need shared storage (``workdir``).
    """
    import socket
    from urllib.parse import urlparse

    if not os.path.isdir(SHM_DIR):
        return None
    local = {"127.0.0.1", "localhost", "::1"}
    with contextlib.suppress(OSError):
        local |= {socket.gethostname(), socket.gethostbyname(socket.gethostname())}
    hosts = {urlparse(addr).hostname for addr in client.nthreads()}
    if not hosts or not hosts <= local:
        return None
    try:
        free = shutil.disk_usage(SHM_DIR).free
    except OSError:
        return None
    from ..memory import available_memory

    if nbytes > free // 2 or nbytes > available_memory() // 4:
        return None
    return SHM_DIR


def median_tile_unit(paths: list[str], shape: tuple[int, int], dtype: str,
                 tile: tuple[int, int, int, int], numba_threads: int,
                 out_path: str | None = None) -> np.ndarray | None:
    """Exact temporal median of one tile of one band, read from the chunks' store files.

    ``paths``: the chunks' store files in frame order.  The task starts as soon as every
    chunk task has finished, before the client has fetched the chunk states, so it
    takes each file's frame count from its size (a chunk file holds exactly its stored
    frames: skipped frames leave no slot).  With ``out_path`` (a band-size float64
    ``.npy`` in RAM, see :class:`_SharedMoments`) the tile is written there and None
    returned.
    """
    from ..stats.median import temporal_median

    _set_numba_threads(numba_threads)
    r0, r1, c0, c1 = tile
    dtype_ = np.dtype(dtype)
    frame_bytes = int(shape[0]) * int(shape[1]) * dtype_.itemsize
    stores = [FrameStore(p, shape, dtype_) for p in paths]
    try:
        counts = [os.path.getsize(st.path) // frame_bytes for st in stores]
        n = sum(counts)
        out = None
        if out_path is not None:
            out = np.load(out_path, mmap_mode="r+")[r0:r1, c0:c1].view(np.ndarray)
        if n == 0:  # every frame skipped: the client reports no median
            if out is None:
                return np.full((r1 - r0, c1 - c0), np.nan)
            out[...] = np.nan
            return None
        with _scratch((n, r1 - r0, c1 - c0), dtype_) as frames:
            at = 0
            for st, k in zip(stores, counts, strict=True):
                if k:
                    st.read_tile(np.arange(k), tile, out=frames[at:at + k])
                at += k
            value = temporal_median(frames, out=out)
        return None if out is not None else value
    finally:
        for st in stores:
            st.close()


def strip_unit(reader: Reader, band: Band, strip: tuple[int, int], numba_threads: int,
                out_files: dict[str, str] | None) -> dict[str, Any]:
    """Moments and exact median of band rows ``strip`` over every frame, read on the worker.

    With ``out_files`` (band-size ``.npy`` files in RAM, see :class:`_SharedMoments`)
    the results are written into their rows there and only the frame count returned;
    else the strip's arrays are returned.  Pure: a re-run after a lost worker writes
    the same bytes.
    """
    _set_numba_threads(numba_threads)
    reader = copy.copy(reader)  # own handles
    r0, r1 = strip
    outs = None
    if out_files is not None:
        outs = {k: np.load(p, mmap_mode="r+")[r0:r1].view(np.ndarray)
                for k, p in out_files.items()}
    try:
        shape = strip_buffer_shape(reader, band, strip)
        with _scratch(shape, np.dtype(reader.dtype)) as buf:
            res = strip_statistics(read_strip(reader, band, strip, buf), outs)
    finally:
        reader.close()
    if outs is not None:
        return {"n_frames": res["n_frames"]}
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in res.items()}
