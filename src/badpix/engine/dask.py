"""The Dask executor: a plan's units (:mod:`badpix.engine.units`) on a ``dask.distributed`` cluster.

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
  photo series' persistence, ``frames_per_task``, or ``strips=False``) and median
  tiles: see :mod:`badpix.engine.units` for what is sent where.

Example
-------
>>> from distributed import Client                         # doctest: +SKIP
>>> from badpix import open_stack                           # doctest: +SKIP
>>> with Client("tcp://scheduler:8786") as client:          # doctest: +SKIP
...     result = scan_stack_dask(open_stack("/shared/frames/"), client=client,
...                              workdir="/shared/tmp")
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..errors import OutputError, ParameterError
from ..io.base import SkippedFrame
from ..layout import Band
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from .cluster import LOCAL_CLUSTER_CONFIG, collect_states, dask_client, wait_finished
from .local import classify_bands
from .plan import STRIP_OUTPUTS, ScanPlan, chunk_ranges, extra_factories, make_plan, plan_tiles
from .result import ScanResult
from .strips import band_stats_from_strips, strip_dtypes
from .units import (
    SHM_DIR,
    _identity,
    _in_shm,
    _store_path,
    default_store_dir,
    frame_unit,
    median_tile_unit,
    strip_unit,
)

__all__ = ["LOCAL_CLUSTER_CONFIG", "SHM_DIR", "chunk_ranges", "dask_client",
           "default_store_dir", "scan_stack_dask"]


def _check_visible(client: Any, folder: Path) -> None:
    blind = [addr for addr, ok in client.run(os.path.isdir, os.fspath(folder)).items() if not ok]
    if blind:
        raise OutputError(f"{folder}: not visible on worker(s) {', '.join(blind)}; pass a "
                          "workdir on storage shared by the client and all workers")


def _share_reader(client: Any, reader: Any, token: str) -> Any:
    """The reader (paths, headers) on every worker once, as one future.

    With one copy, the scheduler puts every unit on the worker that holds it (locality)
    and the other worker waits for work stealing (seen: both chunks of a 2-worker scan
    on one worker).
    """
    reader_f = client.submit(_identity, reader, key=f"badpix-reader-{token}")
    client.replicate([reader_f])
    return reader_f


def _scan_strips(stack: Stack, params: RuleParams, client: Any,
                 plans: dict[str, list[tuple[int, int]]], numba_threads: int,
                 progress: Callable[[int], None] | None, share_dir: str | None,
                 timings: dict[str, float]) -> dict[str, Any]:
    """Strip tasks (:func:`strip_unit`) for every band, then the rules on the client.

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
            _check_visible(client, tmp)
        reader_f = _share_reader(client, stack.reader, token)
        futures.append(reader_f)
        of: dict[str, tuple[Band, tuple[int, int]]] = {}
        for b in bands:
            for j, strip in enumerate(plans[b.name]):
                f = client.submit(strip_unit, reader_f, b, strip, numba_threads,
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
    plan: ScanPlan | None = None,
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
        Picklable accumulator factories (see :mod:`badpix.stats.base`); ``None``: as
        the plan decides (persistence + onset for photo series), ``[]``: none.
    numba_threads
        numba threads per Dask thread (default 1: Dask provides the parallelism).
    median
        Collect the exact temporal median (store + median tasks); ``None``: as the
        plan decides (:func:`badpix.engine.plan.make_plan`: not for photo series).
    strips
        ``None`` (default): strip tasks when
        :func:`~badpix.engine.plan.plan_strips` finds a plan, the
        median is wanted, there are no extra accumulators and ``frames_per_task``
        is not given; ``False``: always frame chunks (store + median tasks).
        ``True``: strip tasks, or :class:`~badpix.errors.ParameterError` when the
        input does not allow them.
    plan
        A :class:`~badpix.engine.plan.ScanPlan` made for the ``"dask"`` executor
        (default: :func:`~badpix.engine.plan.make_plan` of the arguments above).

    Examples
    --------
    >>> from distributed import Client, LocalCluster                 # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as c, Client(c) as client:
    ...     r = scan_stack_dask(open_stack("frames/"), client=client)  # doctest: +SKIP
    """
    from distributed import as_completed

    if client is None:
        raise ParameterError("the Dask engine needs a dask.distributed Client")
    from ..detect.photon import resolve_counting

    params = resolve_counting(stack, params)  # counting="auto": decided once, here
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = stack.n_frames
    dtype = np.dtype(stack.dtype)
    bands = tuple(stack.bands)
    nthreads = max(1, sum(client.nthreads().values()))
    if plan is None:
        plan = make_plan(stack, memory_limit=memory_limit, executor="dask", threads=nthreads,
                         median=median, extras=extra_accumulators,
                         frames_per_task=frames_per_task, strips=strips)
    extra_accumulators = extra_factories(plan, stack, extra_accumulators)
    band_pixels = sum(int(np.prod(b.shape)) for b in bands)
    ranges = list(plan.frame_ranges)
    block = plan.block_frames
    per_task = plan.unit_memory
    plans = plan.strip_plans() if plan.unit == "strips" else None
    if plans is not None:
        if workdir is not None and not os.path.isdir(workdir):
            raise OutputError(f"{workdir}: the work folder does not exist")
        if workdir is None:
            out_bytes = sum(int(np.prod(b.shape)) for b in bands) * 8 * len(STRIP_OUTPUTS)
            workdir = default_store_dir(client, out_bytes)
        results = _scan_strips(stack, params, client, plans, numba_threads, progress,
                               os.fspath(workdir) if _in_shm(workdir) else None, timings)
        timings["total"] = time.perf_counter() - t0
        return ScanResult.from_stack(stack, params, results, timings, plan)
    token = uuid.uuid4().hex[:12]
    tmp = None
    if plan.collects_median:
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
        if tmp is not None:
            _check_visible(client, tmp)

        # -- pass 1: moments + store; the client merges chunk states as they arrive
        t_stream = time.perf_counter()
        reader_f = _share_reader(client, stack.reader, token)
        futures.append(reader_f)
        frames_of: dict[str, int] = {}
        chunk_futs = []
        for i, (s, e) in enumerate(ranges):
            f = client.submit(frame_unit, reader_f, bands, s, e, block,
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
        failed = wait_finished(client, chunk_futs)  # _collect raises the error
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
                f = client.submit(median_tile_unit, paths, b.shape, dtype.str, tile, numba_threads,
                                  median_files.get(b.name),
                                  key=f"badpix-median-{token}-{b.name}-{j}")
                tile_of[f.key] = (b.name, tile)
                med_futs.append(f)
        futures.extend(med_futs)
        # fetch median tiles in the background as they finish, while the merge runs
        tiles = (as_completed(med_futs, loop=client.loop, with_results=True) if med_futs
                 else None)
        total = collect_states(client, chunk_futs)  # raises a failed chunk
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
    return ScanResult.from_stack(stack, params, results, timings, plan)
