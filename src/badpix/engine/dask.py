"""The Dask executor: a plan's units (:mod:`.units`) as ``client.map`` tasks on a cluster.

What is sent where
------------------
* The stack (picklable reader: paths and headers, no pixels or handles; the layout)
  goes once, as one future replicated to every worker: 10 000 paths are not copied
  into every task, and the scheduler does not pile every unit onto one worker.
* **Strip units**: a task reads its band rows of every frame and computes their
  moments and exact median; it returns them, or writes them into band-size ``.npy``
  files in ``/dev/shm`` that the client maps (a cluster on this machine).
* **Frame units**: a task reads its frames in blocks into a
  :class:`~badpix.engine.units.FrameState` and writes each band's frames to the
  unit's own store file (under a private name, renamed when complete: a re-run
  after a lost worker leaves readers the complete old file, with the same bytes).
  It returns the state; with the store in ``/dev/shm`` the moments live in files
  there and only their names travel (:class:`SharedMoments`).
* **Median tiles** are submitted the moment every frame unit has finished (waited
  for without fetching anything: fetching kept a local scheduler from starting
  them), while the client fetches and merges the states as they arrive.
* The rules run on the client on whole bands (:mod:`badpix.detect.bands`).

Integer moments are exact sums, so any cut and merge order give the local
executor's bits; float moments use Chan's merge (~1e-13 relative); the median is
exact.  Units are pure apart from (re)writing their own files, so the scheduler
re-runs whatever a lost worker held.
"""

from __future__ import annotations

import contextlib
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

from ..detect.bands import classify_bands, classify_stats
from ..detect.params import RuleParams
from ..errors import OutputError, ParameterError
from ..result import ScanResult
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from ..stats.store import plan_tiles
from .partition import STRIP_OUTPUTS
from .plan import ScanPlan, extra_factories, make_plan
from .shm import SHM_DIR, SharedMoments, default_store_dir, in_shm, npy_files
from .tasks import frame_task, store_path, strip_task, tile_task
from .units import FrameState, band_stats_from_strips, strip_dtypes

__all__ = ["LOCAL_CLUSTER_CONFIG", "SHM_DIR", "dask_client", "default_store_dir",
           "scan_stack_dask"]

#: Dask settings of the local cluster :func:`dask_client` starts.  Measured here (2-core
#: VM, 2 workers idle for 10 s): Dask's own polling took 1.37 CPU-seconds with the
#: defaults and 0.37 with these -- CPU that comes out of the workers' tasks.
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
    runs with :data:`LOCAL_CLUSTER_CONFIG`.

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
        with client:
            yield client
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


# -- on the client -------------------------------------------------------------------------

def _workdir(client: Any, where: Any, token: str) -> Path:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"badpix-dask-{token}-",
                                    dir=None if where is None else os.fspath(where)))
    except OSError as exc:
        raise OutputError(f"{where}: cannot create the median store ({exc.strerror})") from None
    blind = [a for a, ok in client.run(os.path.isdir, os.fspath(tmp)).items() if not ok]
    if blind:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{tmp}: not visible on worker(s) {', '.join(blind)}; pass a "
                          "workdir on storage shared by the client and all workers")
    return tmp


def _mapped(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="c").view(np.ndarray)  # copy-on-write: the rules may write


def wait_finished(client: Any, futures: list[Any]) -> bool:
    """Wait until every future has finished or failed, without fetching; True if one failed.

    A future that finished on a worker lost afterwards goes back to pending and is
    computed again, so one pass of ``as_completed`` is not enough: the median tiles
    must not start before every unit's store file is there.  ``as_completed`` runs on
    the futures' own loop (the default client's may be another one).
    """
    from distributed import as_completed

    while True:
        for _ in as_completed(futures, loop=client.loop):
            pass
        states = {f.status for f in futures}
        if states <= {"finished", "error", "cancelled"}:
            return states != {"finished"}
        time.sleep(0.05)  # some were lost after finishing: wait for their re-run


def run_dask(stack: Stack, params: RuleParams, plan: ScanPlan, client: Any, *,
             workdir: str | os.PathLike | None = None,
             progress: Callable[[int], None] | None = None,
             extra_accumulators: list[AccumulatorFactory] | None = None,
             numba_threads: int = 1) -> ScanResult:
    """Run ``plan`` (made for the ``"dask"`` executor) on ``client``: see :func:`scan_stack_dask`."""
    from distributed import as_completed

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    token = uuid.uuid4().hex[:12]
    bands, dtype, n = tuple(stack.bands), np.dtype(stack.dtype), stack.n_frames
    shapes = {b.name: b.shape for b in bands}
    band_pixels = sum(int(np.prod(b.shape)) for b in bands)
    strips = plan.unit == "strips"
    nbytes = band_pixels * 8 * len(STRIP_OUTPUTS) if strips else n * band_pixels * dtype.itemsize
    if workdir is not None and not os.path.isdir(workdir):
        raise OutputError(f"{workdir}: the work folder does not exist")
    if workdir is None:
        workdir = default_store_dir(client, nbytes)
    # strips need a folder only to share their results through RAM (see SharedMoments)
    tmp = _workdir(client, workdir, token) if plan.collects_median and not strips \
        or strips and in_shm(workdir) else None
    share = in_shm(tmp)
    futures: list[Any] = []

    def track(futs: list[Any], weight: dict[str, int]) -> Callable[[Any], None]:
        # progress in frames (a unit's share of the work), and the "stream" timing; as
        # units finish (callbacks) and, at the latest, when the client collects them
        counted: set[str] = set()
        lock = threading.Lock()
        total, seen = sum(weight.values()), {"w": 0, "frames": 0}

        def done(fut: Any) -> None:
            with lock:
                if fut.key in counted or fut.status != "finished":
                    return
                counted.add(fut.key)
                seen["w"] += weight[fut.key]
                now = n * seen["w"] // max(1, total)
                if progress is not None and now > seen["frames"]:
                    progress(now - seen["frames"])
                seen["frames"] = now
                if len(counted) == len(futs):
                    timings["stream"] = time.perf_counter() - t0
        for f in futs:
            f.add_done_callback(done)
        return done

    try:
        stack_f = client.submit(lambda x: x, stack, key=f"badpix-reader-{token}")  # reader + layout
        client.replicate([stack_f])
        futures.append(stack_f)
        if strips:
            files = npy_files(tmp, shapes, strip_dtypes(dtype)) if share else None
            work = [(b, s) for b in bands for s in plan.strip_plans()[b.name]]
            futs = client.map(strip_task, work, stack=stack_f, numba_threads=numba_threads,
                              out_files=files, key=[f"badpix-strip-{token}-{i}"
                                                    for i in range(len(work))])
            futures += futs
            unit_of = {f.key: u for f, u in zip(futs, work, strict=True)}
            count = track(futs, {k: (r1 - r0) * b.shape[1] for k, (b, (r0, r1)) in unit_of.items()})
            arrays = {b.name: {k: np.empty(b.shape, dt) for k, dt in strip_dtypes(dtype).items()}
                      for b in bands} if files is None else {}
            n_frames: dict[str, int] = {}
            for fut, res in as_completed(futs, loop=client.loop, with_results=True):
                b, (r0, r1) = unit_of[fut.key]
                count(fut)
                fut.release()
                n_frames[b.name] = res.pop("n_frames")
                for k, value in res.items():
                    arrays[b.name][k][r0:r1] = value
            timings.setdefault("stream", time.perf_counter() - t0)
            if files is not None:
                arrays = {name: {k: _mapped(p) for k, p in fs.items()} for name, fs in files.items()}
            t_rules = time.perf_counter()
            stats = {b.name: band_stats_from_strips(b, n_frames[b.name], dtype, arrays.pop(b.name))
                     for b in bands}
            results = classify_stats(stack, stats, params)
            timings["rules"] = time.perf_counter() - t_rules
            timings["total"] = time.perf_counter() - t0
            return ScanResult.from_stack(stack, params, results, timings, plan)

        # -- frame units: states + store; the client merges states as they arrive
        ranges = list(plan.frame_ranges)
        futs = client.map(frame_task, ranges, stack=stack_f, block=plan.block_frames,
                          store_dir=None if tmp is None else os.fspath(tmp),
                          factories=extra_factories(plan, stack, extra_accumulators),
                          params=params, numba_threads=numba_threads, share=share,
                          key=[f"badpix-chunk-{token}-{i}" for i in range(len(ranges))])
        futures += futs
        count = track(futs, {f.key: e - s for f, (s, e) in zip(futs, ranges, strict=True)})
        failed = wait_finished(client, futs)  # the merge below raises the error
        timings.setdefault("stream", time.perf_counter() - t0)
        # -- median tiles from the stores, submitted the moment every unit is stored
        med: list[Any] = []
        tile_of: dict[str, tuple[str, tuple[int, int, int, int]]] = {}
        median_files: dict[str, str] = {}
        if tmp is not None and not failed:
            if share:  # tiles go straight into band-size files in RAM
                median_files = {name: f["median"] for name, f in npy_files(
                    tmp, shapes, {"median": np.dtype(np.float64)}).items()}
            tiles = [(b.name, t) for b in bands for t in plan_tiles(
                n, b.shape, dtype.itemsize, plan.unit_memory, min_tiles=2 * plan.threads)]
            paths = {b.name: [os.fspath(store_path(os.fspath(tmp), b.name, s)) for s, _ in ranges]
                     for b in bands}
            med = client.map(tile_task, tiles, paths=paths, shapes=shapes, dtype=dtype.str,
                             numba_threads=numba_threads, out_files=median_files or None,
                             key=[f"badpix-median-{token}-{i}" for i in range(len(tiles))])
            futures += med
            tile_of.update({f.key: t for f, t in zip(med, tiles, strict=True)})
        tiles_done = as_completed(med, loop=client.loop, with_results=True) if med else None
        total: FrameState | None = None
        for fut, state in as_completed(futs, loop=client.loop, with_results=True,
                                       raise_errors=True):
            count(fut)
            fut.release()
            state.moments = {k: m.attach() if isinstance(m, SharedMoments) else m
                             for k, m in state.moments.items()}
            if total is None:
                total = state
            else:
                total.merge(state)
            del state
        assert total is not None
        t_med = time.perf_counter()
        stack.skipped.extend(total.skipped_frames())
        n_stored = n - len(total.skipped)
        medians: dict[str, np.ndarray | None] = {b.name: None for b in bands}
        if tiles_done is not None and n_stored:
            medians = {b.name: np.empty(b.shape, np.float64) for b in bands}
            for fut, value in tiles_done:
                name, (r0, r1, c0, c1) = tile_of[fut.key]
                if value is not None:
                    medians[name][r0:r1, c0:c1] = value
                fut.release()
            medians.update({name: _mapped(p) for name, p in median_files.items()})
        timings["median"] = time.perf_counter() - t_med
        # Delete the store now, in a thread, while the rules run: its page cache goes just
        # as the rules allocate a few hundred MB of band-size arrays (fresh pages cost
        # 5-10x the system time here; the local executor frees its median buffer before
        # its rules for the same reason), and the ~0.2 s of unlinking overlaps them.
        cleanup = threading.Thread(target=shutil.rmtree, args=(tmp, True),
                                   name="badpix-store-cleanup") if tmp is not None else None
        if cleanup is not None:
            cleanup.start()
        t_rules = time.perf_counter()
        results = classify_bands(stack, {b.name: (total.moments[b.name], medians[b.name],
                                                  total.extras[b.name]) for b in bands}, params)
        timings["rules"] = time.perf_counter() - t_rules
        if cleanup is not None:
            cleanup.join()
    finally:
        for f in futures:
            f.release()
        if tmp is not None:  # mapped arrays keep their pages until dropped
            shutil.rmtree(tmp, ignore_errors=True)
    timings["total"] = time.perf_counter() - t0
    return ScanResult.from_stack(stack, params, results, timings, plan)


def scan_stack_dask(stack: Stack, params: RuleParams | None = None, client: Any = None, *,
                    memory_limit: int | None = None,
                    progress: Callable[[int], None] | None = None,
                    frames_per_task: int | None = None,
                    workdir: str | os.PathLike | None = None,
                    extra_accumulators: list[AccumulatorFactory] | None = None,
                    numba_threads: int = 1, median: bool | None = None,
                    strips: bool | None = None, plan: ScanPlan | None = None) -> ScanResult:
    """Scan ``stack`` on a Dask cluster; the result of :func:`badpix.engine.scan_stack`.

    Parameters
    ----------
    stack
        From :func:`badpix.open_stack`; its files readable by every worker under the
        same paths.
    client
        A ``dask.distributed.Client``.
    memory_limit
        Bytes of frames all units in flight may hold (divided by the cluster's thread
        count per unit); default 256 MiB per unit.
    progress
        Called with the frames of every finished unit.
    frames_per_task
        Frames per frame unit (default: about four units per Dask thread).
    workdir
        Folder for the temporary median store, **on storage every worker sees**
        (the bands' pixels of every frame).  Default: ``/dev/shm`` when every worker
        runs on this machine and the store fits in a quarter of the available memory
        (:func:`default_store_dir`), else the system temporary folder.
    extra_accumulators, median
        As for :func:`~badpix.engine.scan_stack` (factories must be picklable).
    numba_threads
        numba threads per Dask thread (default 1: Dask provides the parallelism).
    strips
        ``None``: strip units where the plan finds them; ``False``: frame units;
        ``True``: strips or :class:`~badpix.errors.ParameterError`.
    plan
        A :class:`~badpix.engine.plan.ScanPlan` made for the ``"dask"`` executor.

    Examples
    --------
    >>> with dask_client(workers=2) as client:                      # doctest: +SKIP
    ...     r = scan_stack_dask(open_stack("frames/"), client=client)
    """
    from ..detect.photon import resolve_counting

    if client is None:
        raise ParameterError("the Dask engine needs a dask.distributed Client")
    params = resolve_counting(stack, params)  # counting="auto": decided once, here
    if plan is None:
        plan = make_plan(stack, memory_limit=memory_limit, executor="dask",
                         threads=max(1, sum(client.nthreads().values())), median=median,
                         extras=extra_accumulators, frames_per_task=frames_per_task,
                         strips=strips)
    return run_dask(stack, params, plan, client, workdir=workdir, progress=progress,
                    extra_accumulators=extra_accumulators, numba_threads=numba_threads)
