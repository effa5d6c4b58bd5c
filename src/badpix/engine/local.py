"""The local executor: a plan's units in this process, the next one read while one computes.

The mechanism is :func:`~badpix.stack.read_ahead`, the one the stream of blocks uses: a
reader thread reads unit ``i + 1`` into the second of two reused buffers while unit
``i`` is computed (numba kernels release the GIL; photos decode one file per thread).  Strip units fill band-size result
arrays row by row; frame units (one read block each) feed one running
:class:`~badpix.engine.units.FrameState` in frame order -- the same updates, in the
same order, as one stream, so a cut into units changes no bit -- whose median sinks
keep every frame (:class:`~badpix.stats.median.MedianCollector`: in memory, or
spilled to a tile store; a checkpoint's frame stores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .._types import ProgressCallback
from ..detect.bands import PhaseCallback, classify_bands, classify_stats
from ..detect.params import RuleParams
from ..memory import check_allocation, check_scan_memory
from ..result import ScanResult
from ..stack import Stack, read_ahead
from ..stats.base import AccumulatorFactory
from ..stats.median import MedianCollector
from .plan import ScanPlan, extra_factories, make_plan
from .state import Checkpoint
from .units import (
    FrameState,
    band_stats_from_strips,
    read_strip,
    strip_buffer_shape,
    strip_dtypes,
    strip_statistics,
)

__all__ = ["run_local", "scan_stack"]


def _strips(stack: Stack, plan: ScanPlan, progress: ProgressCallback | None,
            timings: dict[str, float]) -> dict[str, Any]:
    dtype = np.dtype(stack.dtype)
    plans = plan.strip_plans()
    work = [(b, s) for b in stack.bands for s in plans[b.name]]
    size = max(int(np.prod(strip_buffer_shape(stack, b, s))) for b, s in work)
    check_allocation(2 * size * dtype.itemsize, "two strips of frames",
                     stack.reader.paths[0] if stack.reader.paths else None)
    bufs = [np.empty(size, dtype), np.empty(size, dtype)]
    arrays = {b.name: {k: np.empty(b.shape, dt) for k, dt in strip_dtypes(dtype).items()}
              for b in stack.bands}
    n_frames: dict[str, int] = {}
    total_px = sum(int(np.prod(b.shape)) for b in stack.bands)
    done = {"px": 0, "frames": 0}

    def compute(unit: tuple[Any, tuple[int, int]], view: np.ndarray) -> None:
        b, (r0, r1) = unit
        res = strip_statistics(view, {k: a[r0:r1] for k, a in arrays[b.name].items()})
        n_frames[b.name] = int(res["n_frames"])
        done["px"] += (r1 - r0) * b.shape[1]
        now = stack.n_frames * done["px"] // total_px  # progress in frames
        if progress is not None and now > done["frames"]:
            progress(now - done["frames"])
        done["frames"] = now

    t0 = time.perf_counter()
    for unit, view in read_ahead(work, lambda u, buf: read_strip(stack.reader, *u, buf), bufs):
        compute(unit, view)
    del bufs
    timings["stream"] = time.perf_counter() - t0
    return {b.name: band_stats_from_strips(b, n_frames[b.name], dtype, arrays.pop(b.name))
            for b in stack.bands}


def _sinks(stack: Stack, plan: ScanPlan, memory_limit: int | None, workdir: Path | None
           ) -> dict[str, MedianCollector]:
    if not plan.collects_median:
        return {}
    itemsize = stack.dtype.itemsize
    band_bytes = sum(int(np.prod(b.shape)) for b in stack.bands) * itemsize
    return {b.name: MedianCollector(b.shape, stack.dtype, stack.n_frames, workdir=workdir,
                                    memory_limit=None if memory_limit is None else int(
                                        memory_limit * int(np.prod(b.shape)) * itemsize
                                        / max(1, band_bytes)))
            for b in stack.bands}


def run_local(stack: Stack, params: RuleParams, plan: ScanPlan, *,
              memory_limit: int | None = None, workdir: str | Path | None = None,
              progress: ProgressCallback | None = None,
              extra_accumulators: list[AccumulatorFactory] | None = None,
              checkpoint: Checkpoint | None = None,
              on_checkpoint: Callable[[int], None] | None = None,
              phase: PhaseCallback | None = None) -> ScanResult:
    """Run ``plan`` (made for the local executor) on ``stack``: see :func:`scan_stack`."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if plan.unit == "strips":
        stats = _strips(stack, plan, progress, timings)
        t_rules = time.perf_counter()
        bands = classify_stats(stack, stats, params, phase=phase)
        timings["rules"] = time.perf_counter() - t_rules
        timings["total"] = time.perf_counter() - t0
        return ScanResult.from_stack(stack, params, bands, timings, plan)
    factories = extra_factories(plan, stack, extra_accumulators)
    sinks: dict[str, Any] = (_sinks(stack, plan, memory_limit, None if workdir is None
                                    else Path(workdir)) if checkpoint is None
                             else checkpoint.sinks(stack.bands, stack.dtype))
    state = FrameState(stack, params, factories, sinks=sinks,
                       frame_moments=plan.moments_over_frames and checkpoint is None)
    try:
        first = 0
        if checkpoint is not None:  # resume after the units done; frames go to the state
            first = checkpoint.done
            restored = checkpoint.restore(stack.bands, state.extras)
            if restored is not None:
                for name, (moments, extras) in restored.items():
                    state.moments[name], state.extras[name] = moments, extras
            checkpoint.start(state, sinks)
            if progress is not None and first:
                progress(first)
        units = [(s, e) for s, e in plan.frame_ranges if s >= first]
        longest = max((e - s for s, e in units), default=1)
        check_allocation(2 * longest * stack.frame_nbytes, "two frame buffers",
                         stack.reader.paths[0] if stack.reader.paths else None)
        bufs = [np.empty((longest, *stack.frame_shape), stack.dtype) for _ in range(2)] \
            if units else []

        def compute(unit: tuple[int, int], frames: np.ndarray) -> None:
            state.update(frames, unit[0])
            if checkpoint is None:
                if progress is not None:
                    progress(len(frames))
                return
            if progress is not None:
                progress(unit[1] - unit[0])
            if checkpoint.unit_done(unit[1], state, sinks) and on_checkpoint is not None:
                on_checkpoint(checkpoint.done)

        t_read = time.perf_counter()
        with ThreadPoolExecutor(max(1, stack.decode_threads)) as decode:
            for unit, frames in read_ahead(
                    units, lambda u, buf: stack.read_into(*u, buf[:u[1] - u[0]], decode), bufs):
                compute(unit, frames)
        del bufs
        timings["stream"] = time.perf_counter() - t_read
        moments = state.band_moments()
        t_med = time.perf_counter()
        if phase is not None and plan.collects_median:
            phase("median", False)
        medians = {b.name: sinks[b.name].finalize() if b.name in sinks else None
                   for b in stack.bands}
        if phase is not None and plan.collects_median:
            phase("median", True)
        timings["median"] = time.perf_counter() - t_med
        t_rules = time.perf_counter()
        inputs = {b.name: (moments[b.name], medians.pop(b.name), state.extras[b.name])
                  for b in stack.bands}

        def release() -> None:
            # once finalized, the streaming state (sums, persistence counters, onset bits:
            # 26 bytes per pixel of a 64-photo series) goes before the rules allocate
            # their results, which then reuse its pages: fresh pages are slow here
            state.moments, state.extras, state.frame = {}, {}, None
            for s in sinks.values():
                s.close()
            moments.clear()

        bands = classify_bands(stack, inputs, params, release=release, phase=phase)
        timings["rules"] = time.perf_counter() - t_rules
    finally:
        for s in sinks.values():
            s.close()
    timings["total"] = time.perf_counter() - t0
    result = ScanResult.from_stack(stack, params, bands, timings, plan)
    return result if checkpoint is None else checkpoint.describe(result)


def scan_stack(
    stack: Stack,
    params: RuleParams | None = None,
    *,
    memory_limit: int | None = None,
    block_frames: int | None = None,
    workdir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    extra_accumulators: list[AccumulatorFactory] | None = None,
    median: bool | None = None,
    plan: ScanPlan | None = None,
    checkpoint: Checkpoint | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    phase: PhaseCallback | None = None,
) -> ScanResult:
    """Scan ``stack`` on the local executor and classify every band.

    Parameters
    ----------
    stack
        From :func:`badpix.open_stack`.
    params
        Rule parameters (defaults documented in :class:`~badpix.detect.params.RuleParams`).
    memory_limit
        Bytes of frames the scan may hold at once (the exact median beyond it spills to
        a tile store in ``workdir``; strips hold two strips of at most half of it).
        Default: the median in memory up to a quarter of the available memory.
    block_frames
        Frames per unit (default :func:`~badpix.engine.plan.stack_block_frames`);
        given, the frames are always streamed (no strips).
    progress
        Called with the number of frames done after every unit.
    extra_accumulators
        Factories of further per-band accumulators (:mod:`badpix.stats.base`); their
        finalized arrays land in ``BandStats.extra``.  ``None``: persistence + onset
        for photo series, nothing otherwise; ``[]``: none.
    median
        Collect the exact temporal median (and run OUTLIER); ``None``: all but photos.
    plan
        A :class:`~badpix.engine.plan.ScanPlan` for the local executor (default:
        :func:`~badpix.engine.plan.make_plan` of the arguments above).
    checkpoint
        Keep resumable state (:class:`~badpix.engine.state.Checkpoint`): units it
        records as done are skipped and their merged states restored; a checkpoint is
        committed every ``checkpoint_every`` frames.  ``on_checkpoint``: called with
        the frames done.
    phase
        ``phase(name, False)`` when a step after reading starts (``"median"``,
        ``"statistics"``, ``"rules <band>"``), ``phase(name, True)`` when it ends.

    Examples
    --------
    >>> from badpix import open_stack                        # doctest: +SKIP
    >>> scan_stack(open_stack("frames/")).counts()          # doctest: +SKIP
    {'ch0': {'stuck': 3, 'outlier': 5, ...}}
    """
    from ..detect.photon import resolve_counting

    params = resolve_counting(stack, params)  # counting="auto": decided once, here
    if checkpoint is not None:  # the state's stack (layout of the scan) and recorded blocks
        stack, plan = checkpoint.stack, checkpoint.plan
    check_scan_memory(stack, params, memory_limit)  # before the first allocation
    if plan is None:
        plan = make_plan(stack, memory_limit=memory_limit, median=median,
                         extras=extra_accumulators, block_frames=block_frames)
    return run_local(stack, params, plan, memory_limit=memory_limit, workdir=workdir,
                     progress=progress, extra_accumulators=extra_accumulators,
                     checkpoint=checkpoint, on_checkpoint=on_checkpoint, phase=phase)
