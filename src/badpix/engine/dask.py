"""The Dask engine: the local engine's accumulators, run on a ``dask.distributed`` cluster.

Two kinds of tasks
------------------
* **Strip tasks** (:mod:`badpix.engine.strips`; ``.npy`` frames and stacks, unfiltered HDF5):
  when the reader can read a range of rows alone, each task reads *its band rows of
  every frame* (at least ``STRIP_MIN_ROWS`` rows, within the per-task memory) and
  computes the moments and the exact median of those pixels itself.  Nothing is
  stored and nothing is merged; each file's bytes are read once, in one read per
  strip.  The client gets the strips' statistics (through band-size files in
  ``/dev/shm`` for a cluster on this machine, else as arrays) and runs the rules.
  Measured on 1 GB of 2048x2048 uint16 frames: 1.4-1.7x the frame chunks' frames/s
  on 1 and on 2 workers (README).
* **Frame chunks** (every other input, ``skip_bad``, extra accumulators such as the
  photo series' persistence, ``frames_per_task``, or ``strips=False``): described
  below.

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
  in :func:`scan_stack_dask`).

Why it gives the local engine's answer: integer moments are exact sums, so
any chunking and merge order yields bit-identical statistics; float moments
use Chan's merge (differences ~1e-13 relative); the median is exact.  Why it
survives a lost worker: chunk tasks are pure apart from (re)writing their own
store file (idempotent, and atomic: a median task that is reading it meanwhile keeps
the complete old file, with the same bytes), so the scheduler simply re-runs whatever
the dead worker held.

Example
-------
>>> from distributed import Client                         # doctest: +SKIP
>>> from badpix import open_stack                           # doctest: +SKIP
>>> with Client("tcp://scheduler:8786") as client:          # doctest: +SKIP
...     result = scan_stack_dask(open_stack("/shared/frames/"), client=client,
...                              workdir="/shared/tmp")
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..errors import DecodeError, OutputError, ParameterError
from ..io.base import Reader, SkippedFrame
from ..layout import Band
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from ..stats.moments import MomentAccumulator
from .checkpoint import FrameStore, plan_tiles, update_bands
from .local import choose_block_frames, classify_bands, collect_median
from .result import ScanResult
from .strips import (
    STRIP_MIN_ROWS,
    STRIP_OUTPUTS,
    band_stats_from_strips,
    plan_strips,
    read_strip,
    strip_buffer_shape,
    strip_dtypes,
    strip_statistics,
)

__all__ = ["chunk_ranges", "dask_client", "scan_stack_dask"]

#: bytes of frames one median task holds when no memory limit is given
DEFAULT_TASK_MEDIAN_MEMORY = 256 * 2**20
#: at most this many bytes of frames per chunk task (bounded retry cost after a lost worker)
MAX_TASK_BYTES = 2 * 2**30


# ----------------------------------------------------------------------------- worker side

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


def _chunk_task(reader: Reader, bands: tuple[Band, ...], start: int, stop: int, block: int,
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


def _merge_into(acc: dict[str, Any], other: dict[str, Any]) -> None:
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


def _median_task(paths: list[str], shape: tuple[int, int], dtype: str,
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


def _strip_task(reader: Reader, band: Band, strip: tuple[int, int], numba_threads: int,
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


# ----------------------------------------------------------------------------- client side

#: bytes of accumulator state per band pixel (uint16: sums 8 + 16, min/max 4; float: 40)
STATE_BYTES_PER_PIXEL = 40


def default_frames_per_task(n_frames: int, frame_nbytes: int, block: int, nthreads: int,
                            band_pixels: int = 0) -> int:
    """Frames per chunk task: about four tasks per Dask thread (load balance), whole blocks,
    at most 2 GiB each -- but enough frames that a task reads at least four times the
    bytes of the accumulator state it returns (the state travels to the client; with
    2048x2048 uint16 frames a state is as big as 8 to 14 frames), while every thread still
    gets a task.

    >>> default_frames_per_task(1000, 8 * 2**20, 8, 2)
    128
    >>> default_frames_per_task(119, 8 * 2**20, 8, 2, band_pixels=2048 * 2048)
    64
    """
    fpt = -(-n_frames // (4 * max(1, nthreads)))
    if band_pixels:
        enough = -(-4 * STATE_BYTES_PER_PIXEL * band_pixels // max(1, frame_nbytes))
        fpt = max(fpt, min(enough, -(-n_frames // max(1, nthreads))))
    fpt = min(fpt, max(1, MAX_TASK_BYTES // max(1, frame_nbytes)))
    fpt = -(-fpt // block) * block
    return max(1, fpt)


def chunk_ranges(n_frames: int, frames_per_task: int, nthreads: int = 1
                 ) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` of the chunk tasks: about ``frames_per_task`` each.

    With ``nthreads > 1`` the number of chunks is rounded up to a multiple of
    ``nthreads`` and the frames are split evenly (sizes differ by at most one), so
    that no thread is left with a short last chunk while the others idle -- or with
    a long one while they wait (a straggler).

    >>> chunk_ranges(119, 64, 2)
    [(0, 59), (59, 119)]
    >>> chunk_ranges(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    """
    fpt = max(1, int(frames_per_task))
    if nthreads <= 1:
        return [(s, min(n_frames, s + fpt)) for s in range(0, n_frames, fpt)]
    k = -(-n_frames // fpt)
    k = min(n_frames, -(-k // nthreads) * nthreads)
    return [(i * n_frames // k, (i + 1) * n_frames // k) for i in range(k)]


def _wait_finished(client: Any, futures: list[Any]) -> bool:
    """Wait until every future has finished or failed, without fetching; True if one failed.

    A future that finished on a worker that was lost afterwards goes back to pending
    and is computed again, so one pass of ``as_completed`` is not enough: the
    median tasks must not start before every chunk's store file is there (a test
    kills a worker mid-scan).  ``as_completed`` runs on the futures' own loop:
    ``distributed.wait`` uses the default client's, another one when a Client was
    created later.
    """
    from distributed import as_completed

    while True:
        for _ in as_completed(futures, loop=client.loop):
            pass
        states = {f.status for f in futures}
        if states <= {"finished", "error", "cancelled"}:
            return states != {"finished"}
        time.sleep(0.05)  # some were lost after finishing: wait for their re-run


def _collect(client: Any, chunk_futs: list[Any]) -> dict[str, Any]:
    """Fetch and merge every chunk state; raises the error of a failed chunk.

    Runs while the median tasks run on the workers, so the merge is off the critical
    path.  Results arrive concurrently (``as_completed`` fetches them in the
    background); each is merged once and released at once.  The moments are
    finalized later, in :func:`~badpix.engine.local.classify_band` (measured:
    finalizing here, during the median, took CPU from the workers of a 2-worker scan
    and gained nothing).
    """
    from distributed import as_completed

    total: dict[str, Any] | None = None
    # the futures' own client loop: as_completed defaults to the *default* client's loop,
    # which hangs forever when another Client was created after this one
    for fut, res in as_completed(chunk_futs, loop=client.loop, with_results=True,
                                 raise_errors=True):
        fut.release()
        res = _attach(res)
        if total is None:
            total = res
        else:
            _merge_into(total, res)
        del res
    assert total is not None
    return total


def _scan_strips(stack: Stack, params: RuleParams, client: Any,
                 plans: dict[str, list[tuple[int, int]]], numba_threads: int,
                 progress: Callable[[int], None] | None, share_dir: str | None,
                 timings: dict[str, float]) -> dict[str, Any]:
    """Strip tasks (:func:`_strip_task`) for every band, then the rules on the client.

    With ``share_dir`` (``/dev/shm`` for a cluster on this machine) the tasks write
    into band-size files there that the client maps; else they return their rows.
    """
    from distributed import as_completed

    from .local import classify_stats

    token = uuid.uuid4().hex[:12]
    dtype = np.dtype(stack.dtype)
    bands = tuple(stack.bands)
    kinds = strip_dtypes(dtype)
    tmp = None
    files: dict[str, dict[str, str]] = {}
    futures: list[Any] = []
    t_strips = time.perf_counter()
    try:
        if share_dir is not None:
            tmp = Path(tempfile.mkdtemp(prefix=f"badpix-dask-{token}-", dir=share_dir))
            for b in bands:
                files[b.name] = {}
                for k, dt in kinds.items():
                    path = os.fspath(tmp / f"{b.name}-{k}.npy")
                    np.lib.format.open_memmap(path, mode="w+", dtype=dt, shape=b.shape)
                    files[b.name][k] = path
            blind = [addr for addr, ok in client.run(os.path.isdir, os.fspath(tmp)).items()
                     if not ok]
            if blind:
                raise OutputError(f"{tmp}: not visible on worker(s) {', '.join(blind)}; pass "
                                  "a workdir on storage shared by the client and all workers")
        reader_f = client.submit(_identity, stack.reader, key=f"badpix-reader-{token}")
        futures.append(reader_f)
        client.replicate([reader_f])  # see scan_stack_dask: one copy pins tasks to one worker
        of: dict[str, tuple[Band, tuple[int, int]]] = {}
        for b in bands:
            for j, strip in enumerate(plans[b.name]):
                f = client.submit(_strip_task, reader_f, b, strip, numba_threads,
                                  files.get(b.name), key=f"badpix-strip-{token}-{b.name}-{j}")
                of[f.key] = (b, strip)
                futures.append(f)
        arrays = {b.name: {k: np.empty(b.shape, dt) for k, dt in kinds.items()}
                  for b in bands} if tmp is None else {}
        n_frames: dict[str, int] = {}
        # progress in frames: a strip is its share of all bands' pixels of every frame
        total_px = sum(int(np.prod(b.shape)) for b in bands)
        done_px = reported = 0
        for fut, res in as_completed(futures[1:], loop=client.loop, with_results=True,
                                     raise_errors=True):
            b, (r0, r1) = of[fut.key]
            fut.release()
            n_frames[b.name] = res.pop("n_frames")
            for k, value in res.items():
                arrays[b.name][k][r0:r1] = value
            done_px += (r1 - r0) * b.shape[1]
            now = stack.n_frames * done_px // total_px
            if progress is not None and now > reported:
                progress(now - reported)
            reported = now
        timings["stream"] = time.perf_counter() - t_strips
        if tmp is not None:  # copy-on-write: the rules may write
            arrays = {name: {k: np.load(p, mmap_mode="c").view(np.ndarray)
                             for k, p in paths.items()} for name, paths in files.items()}
        t_rules = time.perf_counter()
        stats = {b.name: band_stats_from_strips(b, n_frames[b.name], dtype, arrays.pop(b.name))
                 for b in bands}
        results = classify_stats(stack, stats, params)
        timings["rules"] = time.perf_counter() - t_rules
    finally:
        for f in futures:
            f.release()
        if tmp is not None:  # mapped arrays keep their pages until dropped
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def scan_stack_dask(
    stack: Stack,
    params: RuleParams | None = None,
    client=None,
    *,
    memory_limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    frames_per_task: int | None = None,
    workdir: str | os.PathLike | None = None,
    extra_accumulators: list[AccumulatorFactory] | None = None,
    numba_threads: int = 1,
    median: bool | None = None,
    strips: bool | None = None,
) -> ScanResult:
    """Scan ``stack`` on a Dask cluster; same result as :func:`badpix.engine.scan_stack`.

    Parameters
    ----------
    stack
        From :func:`badpix.open_stack`.  Its files must be readable by every
        worker under the same paths.
    params
        Rule parameters.
    client
        A ``dask.distributed.Client``.
    memory_limit
        Bytes of frames all median tasks together may hold at once (divided by
        the cluster's thread count per task); default 256 MiB per task.
    progress
        Called with the number of frames of every finished chunk task.
    frames_per_task
        Frames read by one task (default: about four tasks per Dask thread).
    workdir
        Folder for the temporary median store, **on storage every worker sees**.
        It needs the size of the bands' pixels of all frames.  Default: ``/dev/shm``
        when every worker runs on this machine and the store fits in a quarter of
        the available memory (:func:`default_store_dir`), else the system
        temporary folder.
    extra_accumulators
        Picklable accumulator factories (see :mod:`badpix.stats.base`).
    numba_threads
        numba threads per Dask thread (default 1: Dask provides the parallelism).
    median
        Collect the exact temporal median (store + median tasks); ``None``: as the
        local engine decides (:func:`badpix.engine.local.collect_median`).
    strips
        ``None`` (default): strip tasks when
        :func:`~badpix.engine.strips.plan_strips` finds a plan, the
        median is wanted, there are no extra accumulators and ``frames_per_task``
        is not given; ``False``: always frame chunks (store + median tasks).
        ``True``: strip tasks, or :class:`~badpix.errors.ParameterError` when the
        input does not allow them.

    Examples
    --------
    >>> from distributed import Client, LocalCluster                 # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as c, Client(c) as client:
    ...     r = scan_stack_dask(open_stack("frames/"), client=client)  # doctest: +SKIP
    """
    from distributed import as_completed

    if client is None:
        raise ParameterError("the Dask engine needs a dask.distributed Client")
    params = params or RuleParams()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = stack.n_frames
    dtype = np.dtype(stack.dtype)
    bands = tuple(stack.bands)
    nthreads = max(1, sum(client.nthreads().values()))
    block = choose_block_frames(stack.frame_nbytes, n)
    band_pixels = sum(int(np.prod(b.shape)) for b in bands)
    if frames_per_task is not None and int(frames_per_task) < 1:
        raise ParameterError("frames_per_task must be at least 1")
    ranges = chunk_ranges(n, int(frames_per_task) if frames_per_task else
                          default_frames_per_task(n, stack.frame_nbytes, block, nthreads,
                                                  band_pixels),
                          nthreads=1 if frames_per_task else nthreads)
    block = min(block, max((e - s for s, e in ranges), default=1))
    per_task = (DEFAULT_TASK_MEDIAN_MEMORY if memory_limit is None
                else max(1, int(memory_limit) // nthreads))
    plans = None
    if strips or (strips is None and frames_per_task is None and not extra_accumulators
                  and collect_median(stack, median)):
        plans = plan_strips(stack, per_task, nthreads)
        if plans is None and strips:
            raise ParameterError("strip tasks need a reader that reads rows alone (.npy, "
                                 "unfiltered HDF5), no --skip-bad, and strips of at least "
                                 f"{STRIP_MIN_ROWS} rows within the memory limit")
    if plans is not None:
        if extra_accumulators:
            raise ParameterError("strip tasks run no extra accumulators")
        if workdir is not None and not os.path.isdir(workdir):
            raise OutputError(f"{workdir}: the work folder does not exist")
        if workdir is None:
            out_bytes = sum(int(np.prod(b.shape)) for b in bands) * 8 * len(STRIP_OUTPUTS)
            workdir = default_store_dir(client, out_bytes)
        results = _scan_strips(stack, params, client, plans, numba_threads, progress,
                               os.fspath(workdir) if _in_shm(workdir) else None, timings)
        timings["total"] = time.perf_counter() - t0
        return ScanResult.from_stack(stack, params, results, timings)
    token = uuid.uuid4().hex[:12]
    tmp = None
    if collect_median(stack, median):
        if workdir is None:
            workdir = default_store_dir(client, n * band_pixels * dtype.itemsize)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f"badpix-dask-{token}-",
                                        dir=None if workdir is None else os.fspath(workdir)))
        except OSError as exc:
            raise OutputError(f"{workdir}: cannot create the median store "
                              f"({exc.strerror})") from None
    # states and medians through files in RAM when the store is there (see _SharedMoments)
    share = tmp is not None and _in_shm(tmp)
    futures: list[Any] = []
    try:
        seen = {} if tmp is None else client.run(os.path.isdir, os.fspath(tmp))
        blind = [addr for addr, ok in seen.items() if not ok]
        if blind:
            raise OutputError(f"{tmp}: not visible on worker(s) {', '.join(blind)}; pass a "
                              "workdir on storage shared by the client and all workers")

        # -- pass 1: moments + store; the client merges chunk states as they arrive
        t_stream = time.perf_counter()
        # the reader (paths, headers) goes to every worker once: with one copy, the scheduler
        # puts every chunk task on the worker that holds it (locality) and the other worker
        # waits for work stealing (seen: both chunks of a 2-worker scan on one worker)
        reader_f = client.submit(_identity, stack.reader, key=f"badpix-reader-{token}")
        futures.append(reader_f)
        client.replicate([reader_f])
        frames_of: dict[str, int] = {}
        chunk_futs = []
        for i, (s, e) in enumerate(ranges):
            f = client.submit(_chunk_task, reader_f, bands, s, e, block,
                              None if tmp is None else os.fspath(tmp),
                              list(extra_accumulators or []), params, n, stack.skip_bad,
                              numba_threads, share, key=f"badpix-chunk-{token}-{i}")
            frames_of[f.key] = e - s
            chunk_futs.append(f)
        counted: set[str] = set()
        lock = threading.Lock()

        def _on_done(fut: Any) -> None:  # progress and the "stream" timing
            with lock:
                if fut.key in counted or fut.status != "finished":
                    return
                counted.add(fut.key)
                if progress is not None:
                    progress(frames_of[fut.key])
                if len(counted) == len(ranges):
                    timings["stream"] = time.perf_counter() - t_stream

        for f in chunk_futs:
            f.add_done_callback(_on_done)
        del f
        # Wait without fetching anything: a LocalCluster's scheduler runs in this process,
        # and fetching states (tens of MB into fresh memory, page faults: ~0.75 s of system
        # time per 1 GB scan on these VMs) kept it from starting the median tasks, and
        # workers from trading the markers the median tasks used to wait for: with 2
        # workers they started 0.5-0.7 s after the last chunk (task stream).
        failed = _wait_finished(client, chunk_futs)  # _collect raises the error
        timings.setdefault("stream", time.perf_counter() - t_stream)

        # -- pass 2: exact median per spatial tile, from the store, submitted the moment
        # every chunk is stored.  Fetching and merging the states overlaps it.
        tile_of: dict[str, tuple[str, tuple[int, int, int, int]]] = {}
        med_futs = []
        median_files: dict[str, str] = {}
        if share and not failed:  # median tiles go straight into a band-size file in RAM
            for b in bands:
                median_files[b.name] = os.fspath(tmp / f"median-{b.name}.npy")
                np.lib.format.open_memmap(median_files[b.name], mode="w+", dtype=np.float64,
                                          shape=b.shape)
        for b in bands if tmp is not None and not failed else ():
            paths = [os.fspath(_store_path(os.fspath(tmp), b.name, s0)) for s0, _ in ranges]
            # planned for every frame: skipped frames only make the tiles smaller
            for j, tile in enumerate(plan_tiles(n, b.shape, dtype.itemsize, per_task,
                                                min_tiles=2 * nthreads)):
                f = client.submit(_median_task, paths, b.shape, dtype.str, tile, numba_threads,
                                  median_files.get(b.name),
                                  key=f"badpix-median-{token}-{b.name}-{j}")
                tile_of[f.key] = (b.name, tile)
                med_futs.append(f)
        futures.extend(med_futs)
        # fetch median tiles in the background as they finish, while the merge runs
        tiles = (as_completed(med_futs, loop=client.loop, with_results=True) if med_futs
                 else None)
        total = _collect(client, chunk_futs)  # raises a failed chunk
        del chunk_futs
        timings.setdefault("stream", time.perf_counter() - t_stream)
        t_med = t_stream + timings["stream"]
        n_stored = sum(k for _, k in total["runs"])
        medians = {b.name: np.empty(b.shape, np.float64)
                   if tmp is not None and b.name not in median_files else None for b in bands}
        if tiles is not None and not n_stored:  # every frame skipped: no median, as locally
            for f in med_futs:
                f.cancel()
        elif tiles is not None:
            for fut, value in tiles:
                name, (r0, r1, c0, c1) = tile_of[fut.key]
                if value is not None:
                    medians[name][r0:r1, c0:c1] = value
                fut.release()
            for name, path in median_files.items():  # copy-on-write: the rules may write
                medians[name] = np.load(path, mmap_mode="c").view(np.ndarray)
        del med_futs, tiles
        timings["median"] = time.perf_counter() - t_med
        # The store is no longer needed: delete it now, in a thread, while the rules run.
        # On these VMs fresh memory is slow (first touch ~0.3-1 GB/s: guest pages left free
        # for a few seconds are handed back to the host) and the rules allocate a few
        # hundred MB of band-size arrays.  The local engine frees its in-memory median
        # buffer right before its rules, so they reuse warm pages (0.6-0.8 s); the Dask
        # client had nothing to free and its rules took 1.3-2.5 s, mostly system time in
        # page faults (same number of faults, 5-10x the system time; touching and freeing
        # 800 MB right before brought them back to 0.6-0.8 s).  Unlinking the store frees
        # its page cache (the bands of every frame) just as the rules start allocating;
        # in a thread, the ~0.2 s of unlinking overlaps the rules instead of preceding them.
        cleanup = threading.Thread(target=shutil.rmtree, args=(tmp, True),
                                   name="badpix-store-cleanup") if tmp is not None else None
        if cleanup is not None:
            cleanup.start()

        # -- rules on the client on whole bands, exactly as the local engine does
        t_rules = time.perf_counter()
        meta = {"skipped": total["skipped"]}
        results = classify_bands(stack, {b.name: (total["accs"][b.name][0],
                                                  medians[b.name] if n_stored else None,
                                                  total["accs"][b.name][1]) for b in bands},
                                 params)
        timings["rules"] = time.perf_counter() - t_rules
        if cleanup is not None:
            cleanup.join()
    finally:
        for f in futures:
            f.release()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    stack.skipped.extend(SkippedFrame(label, reason) for _, label, reason in meta["skipped"])
    timings["total"] = time.perf_counter() - t0
    return ScanResult.from_stack(stack, params, results, timings)


#: Dask settings of the local cluster :func:`dask_client` starts.  Measured here (2-core
#: VM, 2 workers sitting idle for 10 s): Dask's own polling took 1.37 CPU-seconds with
#: the defaults and 0.37 with these -- a 10 ms statistical profiler in every process
#: and a 20 ms event-loop health tick; on a 2-core machine that CPU comes out of the
#: workers' tasks.  A cluster of your own (``--scheduler``) keeps its configuration.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,  # the dashboard's profile page
    "distributed.admin.tick.interval": "1s",  # blocked-event-loop warnings, default 20 ms
    "distributed.admin.system-monitor.interval": "2s",  # dashboard CPU/net plots, 500 ms
}


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int = 1, memory_limit: str | int = "auto") -> Iterator[Any]:
    """A ``Client`` to ``scheduler`` (``tcp://host:port``) or to a new local cluster of processes.

    The local cluster listens on loopback only (dashboard on a free loopback port) and
    runs with :data:`LOCAL_CLUSTER_CONFIG` (no profiler, slower health ticks).

    >>> with dask_client(workers=2) as client:              # doctest: +SKIP
    ...     print(len(client.nthreads()))
    2
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise ParameterError("give either --workers N or --scheduler ADDRESS")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ParameterError(f"--scheduler: cannot connect to {scheduler} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ParameterError("--workers must be at least 1")
    import dask

    # the nannies hand the configuration of their creation to the worker processes
    with dask.config.set(LOCAL_CLUSTER_CONFIG), LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
            host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=memory_limit,
            silence_logs=40) as cluster, Client(cluster) as client:
        yield client
