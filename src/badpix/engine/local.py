"""The local executor: a plan's units in this process, the next one read while one computes.

:func:`~badpix.stack.read_ahead` (the mechanism ``Stack.iter_blocks`` uses) reads unit
``i + 1`` into the second of two reused buffers while unit ``i`` is computed (numba
kernels release the GIL; photos decode one file per thread).  Frame units feed one
running :class:`~badpix.engine.units.FrameState` in frame order -- the updates of one
stream, so a cut into units changes no bit.
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
from ..memory import check_allocation
from ..result import ScanResult
from ..stack import Stack, read_ahead
from ..stats.base import AccumulatorFactory
from ..stats.median import MedianCollector
from .plan import ScanPlan, extra_factories
from .state import Checkpoint
from .units import (
    FrameProgress,
    FrameState,
    StripResults,
    read_strip,
    strip_buffer_shape,
    strip_statistics,
)

__all__ = ["run_local"]


def _strips(stack: Stack, plan: ScanPlan, progress: ProgressCallback | None
            ) -> StripResults:
    work = [(b, s) for b in stack.bands for s in dict(plan.strips)[b.name]]
    size = max(int(np.prod(strip_buffer_shape(stack, b, s))) for b, s in work)
    check_allocation(2 * size * stack.dtype.itemsize, "two strips of frames",
                     stack.reader.paths[0] if stack.reader.paths else None)
    bufs = [np.empty(size, stack.dtype), np.empty(size, stack.dtype)]
    results = StripResults(stack)
    done = FrameProgress(progress, stack.n_frames, sum(b.shape[0] * b.shape[1] for b in stack.bands))
    for (band, strip), view in read_ahead(
            work, lambda u, buf: read_strip(stack.reader, *u, buf), bufs):
        res = strip_statistics(view, results.rows(band, strip))  # computed in place
        results.add(band, strip, {"n_frames": res["n_frames"]})
        done.advance((strip[1] - strip[0]) * band.shape[1])
    return results


def _sinks(stack: Stack, plan: ScanPlan, memory_limit: int | None, workdir: Path | None
           ) -> dict[str, MedianCollector]:
    if not plan.collects_median:
        return {}
    total = sum(int(np.prod(b.shape)) for b in stack.bands)  # the limit shared by band size
    return {b.name: MedianCollector(b.shape, stack.dtype, stack.n_frames, workdir=workdir,
                                    memory_limit=None if memory_limit is None else
                                    memory_limit * int(np.prod(b.shape)) // max(1, total))
            for b in stack.bands}


def run_local(stack: Stack, params: RuleParams, plan: ScanPlan, *,
              memory_limit: int | None = None, workdir: str | Path | None = None,
              progress: ProgressCallback | None = None,
              extra_accumulators: list[AccumulatorFactory] | None = None,
              checkpoint: Checkpoint | None = None,
              on_checkpoint: Callable[[int], None] | None = None,
              phase: PhaseCallback | None = None) -> ScanResult:
    """Run ``plan`` (made for the local executor) on ``stack``: see
    :func:`badpix.engine.scan_stack`."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if plan.unit == "strips":
        results = _strips(stack, plan, progress)  # its read buffers freed on return
        timings["stream"] = time.perf_counter() - t0
        t_rules = time.perf_counter()  # finalizing the statistics counts here, as for frames
        bands = classify_stats(stack, results.band_stats(), params, phase=phase)
        timings["rules"] = time.perf_counter() - t_rules
    else:
        sinks: dict[str, Any] = (
            _sinks(stack, plan, memory_limit, None if workdir is None else Path(workdir))
            if checkpoint is None else checkpoint.sinks(stack.bands, stack.dtype))
        try:
            bands = _frames(stack, params, plan, sinks, timings, progress,
                            extra_factories(plan, stack, extra_accumulators), checkpoint,
                            on_checkpoint, phase)
        finally:
            for s in sinks.values():
                s.close()
    timings["total"] = time.perf_counter() - t0
    result = ScanResult.from_stack(stack, params, bands, timings, plan)
    return result if checkpoint is None else checkpoint.describe(result)


def _frames(stack: Stack, params: RuleParams, plan: ScanPlan, sinks: dict[str, Any],
            timings: dict[str, float], progress: ProgressCallback | None,
            factories: list[AccumulatorFactory], checkpoint: Checkpoint | None,
            on_checkpoint: Callable[[int], None] | None, phase: PhaseCallback | None
            ) -> dict[str, Any]:
    state = FrameState(stack, params, factories, sinks=sinks,
                       frame_moments=plan.moments_over_frames and checkpoint is None)
    first = 0 if checkpoint is None else checkpoint.start(state, sinks)  # resume: units done
    if progress is not None and first:
        progress(first)
    units = [(s, e) for s, e in plan.frame_ranges if s >= first]
    longest = max((e - s for s, e in units), default=1)
    check_allocation(2 * longest * stack.frame_nbytes, "two frame buffers",
                     stack.reader.paths[0] if stack.reader.paths else None)
    bufs = [np.empty((longest, *stack.frame_shape), stack.dtype) for _ in range(2)] \
        if units else []
    t_read = time.perf_counter()
    with ThreadPoolExecutor(max(1, stack.decode_threads)) as decode:
        for (start, stop), frames in read_ahead(
                units, lambda u, buf: stack.read_into(*u, buf[:u[1] - u[0]], decode), bufs):
            state.update(frames, start)
            if progress is not None:
                progress(stop - start)  # skipped frames are done too
            if checkpoint is not None and checkpoint.unit_done(stop, state, sinks) \
                    and on_checkpoint is not None:
                on_checkpoint(checkpoint.done)
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
        # once finalized, the streaming state (sums, persistence counters, onset bits: 26
        # bytes per pixel of a 64-photo series) goes before the rules allocate their
        # results, which then reuse its pages: fresh pages are slow here
        state.moments, state.extras, state.frame = {}, {}, None
        for s in sinks.values():
            s.close()
        moments.clear()

    bands = classify_bands(stack, inputs, params, release=release, phase=phase)
    timings["rules"] = time.perf_counter() - t_rules
    return bands
