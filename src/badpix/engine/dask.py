"""The Dask executor on the client: a plan's units as ``client.map`` tasks (:mod:`.tasks`).

The stack (a picklable reader: paths and headers, no pixels) is replicated to every
worker once.  Strip tasks return their statistics; frame tasks return their
:class:`~badpix.engine.units.FrameState` and write their frames to store files that
median tile tasks read, submitted the moment every frame unit has finished.  With
every worker on this machine, results travel as files in ``/dev/shm`` (:mod:`.shm`).
The rules run here, on whole bands.  Units are pure apart from (re)writing their own
files, so the scheduler re-runs whatever a lost worker held; docs/guide/dask.md has
the whole story.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.bands import classify_bands, classify_stats
from ..detect.params import RuleParams
from ..errors import OutputError
from ..result import ScanResult
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from ..stats.store import plan_tiles
from .partition import STRIP_OUTPUTS
from .plan import ScanPlan, extra_factories
from .shm import SHM_DIR, SharedMoments, default_store_dir, in_shm, mapped, npy_files
from .tasks import frame_task, store_path, strip_task, tile_task
from .units import FrameProgress, FrameState, StripResults, strip_dtypes

__all__ = ["SHM_DIR", "default_store_dir", "run_dask", "wait_finished"]

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
    """Run ``plan`` (made for the ``"dask"`` executor) on ``client``: see
    :func:`badpix.engine.scan_stack`."""
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
        # progress as units finish (callbacks) and, at the latest, as the client collects them
        frames = FrameProgress(progress, n, sum(weight.values()))

        def done(fut: Any) -> None:
            if fut.status == "finished":
                frames.advance(weight[fut.key], fut.key)
        for f in futs:
            f.add_done_callback(done)
        return done

    try:
        stack_f = client.submit(lambda x: x, stack, key=f"badpix-reader-{token}")  # reader + layout
        client.replicate([stack_f])
        futures.append(stack_f)
        if strips:
            files = npy_files(tmp, shapes, strip_dtypes(dtype)) if share else None
            work = [(b, s) for b in bands for s in dict(plan.strips)[b.name]]
            futs = client.map(strip_task, work, stack=stack_f, numba_threads=numba_threads,
                              out_files=files, key=[f"badpix-strip-{token}-{i}"
                                                    for i in range(len(work))])
            futures += futs
            unit_of = {f.key: u for f, u in zip(futs, work, strict=True)}
            count = track(futs, {k: (r1 - r0) * b.shape[1] for k, (b, (r0, r1)) in unit_of.items()})
            # results in RAM files: the tasks wrote the arrays, only n_frames comes back
            results = StripResults(stack, None if files is None else {b.name: {} for b in bands})
            for fut, res in as_completed(futs, loop=client.loop, with_results=True):
                count(fut)
                fut.release()
                results.add(*unit_of[fut.key], res)
            timings["stream"] = time.perf_counter() - t0
            if files is not None:  # mapped once every task has written; copy-on-write ("c"):
                # the rules may write into their inputs
                results.arrays = {name: {k: mapped(p, "c") for k, p in fs.items()}
                                  for name, fs in files.items()}
            t_rules = time.perf_counter()
            bands_ = classify_stats(stack, results.band_stats(), params)
            timings["rules"] = time.perf_counter() - t_rules
            timings["total"] = time.perf_counter() - t0
            return ScanResult.from_stack(stack, params, bands_, timings, plan)

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
        timings["stream"] = time.perf_counter() - t0
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
        medians: dict[str, np.ndarray | None] = {b.name: None for b in bands}
        if tiles_done is not None and n > len(total.skipped):  # some frame stored
            medians = {b.name: np.empty(b.shape, np.float64) for b in bands}
            for fut, value in tiles_done:
                name, (r0, r1, c0, c1) = tile_of[fut.key]
                if value is not None:
                    medians[name][r0:r1, c0:c1] = value
                fut.release()
            medians.update({name: mapped(p, "c") for name, p in median_files.items()})
        timings["median"] = time.perf_counter() - t_med
        # Delete the store now, in a thread, while the rules run: its page cache goes just
        # as the rules allocate a few hundred MB of band-size arrays (fresh pages cost
        # 5-10x the system time here; the local executor frees its median buffer before
        # its rules for the same reason), and the ~0.2 s of unlinking overlaps them.
        with ThreadPoolExecutor(1, thread_name_prefix="badpix-store-cleanup") as cleanup:
            if tmp is not None:
                cleanup.submit(shutil.rmtree, tmp, True)
            t_rules = time.perf_counter()
            results = classify_bands(stack, {b.name: (total.moments[b.name], medians[b.name],
                                                      total.extras[b.name]) for b in bands}, params)
            timings["rules"] = time.perf_counter() - t_rules
    finally:
        for f in futures:
            f.release()
        if tmp is not None:  # mapped arrays keep their pages until dropped
            shutil.rmtree(tmp, ignore_errors=True)
    timings["total"] = time.perf_counter() - t0
    return ScanResult.from_stack(stack, params, results, timings, plan)
