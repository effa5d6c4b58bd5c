"""The local streaming engine: one pass over the frames, constant memory.

Frames stream through two reused block buffers (decoded in background
threads) into per-band accumulators; the exact temporal median is collected
alongside (in memory when it fits the budget, else in an on-disk tile store
so every input file is still read once).  After the pass the accumulators are
finalized into :class:`~badpix.stats.bandstats.BandStats` and handed to the
rules.  The Dask engine (:mod:`badpix.engine.dask`) runs the same
accumulators and returns the same :class:`ScanResult`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..detect import classify
from ..detect.params import RuleParams
from ..layout import Band
from ..memory import check_allocation, check_scan_memory
from ..stack import Stack
from ..stats.bandstats import BandStats
from ..stats.base import Accumulator, AccumulatorFactory
from ..stats.median import MedianCollector
from ..stats.moments import MomentAccumulator
from .plan import ScanPlan, extra_factories, make_plan
from .result import BandResult, ScanResult
from .state import Checkpoint
from .strips import (
    band_stats_from_strips,
    read_strip,
    strip_buffer_shape,
    strip_dtypes,
    strip_statistics,
)

ProgressCallback = Callable[[int], None]
#: ``phase(name, done)``: a step after reading starts (False) or ends (True)
PhaseCallback = Callable[[str, bool], None]


def localize_lossy(stack: Stack, flags: np.ndarray, scores: dict[str, np.ndarray]) -> np.ndarray:
    """JPEG input: keep the peak pixel of each 8x8 smear; adds ``scores["loc_confidence"]``."""
    if str(stack.reader.attrs.get("format", "")).upper() != "JPEG":
        return flags
    from ..detect.localize import localize

    peaks, confidence = localize(flags != 0, scores["score"], gap=8)
    scores["loc_confidence"] = confidence
    return np.where(peaks, flags, np.uint8(0))


class BandAccumulators:
    """All per-band state of a scan: moments, the median collector (optional) and extras."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype, n_frames: int,
                 median_memory: int | None, workdir: Path | None,
                 extras: list[Accumulator] | None = None, *, median: bool = True,
                 moments: bool = True):
        self.moments = MomentAccumulator(shape, dtype) if moments else None
        self.median = (MedianCollector(shape, dtype, n_frames, memory_limit=median_memory,
                                       workdir=workdir) if median else None)
        self.extras = extras or []

    def update(self, frames: np.ndarray, first_index: int) -> None:
        if self.moments is not None:
            self.moments.update(frames)
        if self.median is not None:
            self.median.update(frames)
        for acc in self.extras:
            acc.update(frames, first_index)

    def close(self) -> None:
        if self.median is not None:
            self.median.close()

    def release(self) -> None:
        """Drop the streaming state once finalized: the rules reuse its memory."""
        self.moments = None
        self.extras = []
        self.close()
        self.median = None


def band_stats(stack: Stack, band: Band, moments: MomentAccumulator, median: np.ndarray | None,
               extras: list[Accumulator]) -> BandStats:
    """Finalize one band's accumulators into its :class:`BandStats`."""
    stats = BandStats.from_moments(band.name, moments.n_frames, stack.dtype, moments.finalize(),
                                  median)
    for acc in extras:
        stats.extra.update(acc.finalize())
    return stats


def classify_band(stack: Stack, band: Band, stats: BandStats, params: RuleParams) -> BandResult:
    """Run the rules on one band's statistics (and JPEG localisation): every engine's last step."""
    flags, scores = classify(stats, params)
    flags = localize_lossy(stack, flags, scores)
    return BandResult(band, stats, flags, scores)


def _threadsafe_numba() -> bool:
    """numba's OpenMP and TBB layers take parallel kernels from several threads; workqueue not."""
    try:
        import numba

        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel kernel has run yet: do not guess
        return False


def classify_bands(stack: Stack, inputs: dict[str, tuple], params: RuleParams,
                   threads: int | None = None,
                   release: Callable[[], None] | None = None,
                   phase: PhaseCallback | None = None) -> dict[str, BandResult]:
    """:func:`band_stats` then :func:`classify_band` for every band,
    ``inputs[name] = (moments, median, extras)``.

    Bands are independent, so up to ``threads`` (default: 2 when the machine has
    them) are finalized and classified at once: the rules' numpy steps are
    single-threaded, and on small VMs their fresh band-size arrays cost page faults
    that two threads take in parallel.  Three 10 MP photo bands: 12.3 s one after the
    other, 9.2-9.6 s in two threads (same results).

    ``release``: called once every band is finalized, before the rules run, after
    ``inputs`` has been emptied: the caller drops its accumulators there, and the
    rules' results reuse their memory instead of fresh pages.
    """
    by_name = {b.name: b for b in stack.bands}

    def finalize(name: str) -> BandStats:
        return band_stats(stack, by_name[name], *inputs[name])

    threads = _rule_threads(threads, len(inputs))
    if phase is not None:
        phase("statistics", False)
    with ThreadPoolExecutor(threads, thread_name_prefix="badpix-finalize") as pool:
        mapper = map if threads == 1 else pool.map
        stats = dict(zip(inputs, mapper(finalize, inputs), strict=True))
    if phase is not None:
        phase("statistics", True)
    if release is not None:
        inputs.clear()
        release()
    return classify_stats(stack, stats, params, threads, phase=phase)


def _rule_threads(threads: int | None, n_bands: int) -> int:
    if threads is None:
        threads = min(2, os.cpu_count() or 1) if _threadsafe_numba() else 1
    return max(1, min(threads, n_bands))


def classify_stats(stack: Stack, stats: dict[str, BandStats], params: RuleParams,
                   threads: int | None = None,
                   phase: PhaseCallback | None = None) -> dict[str, BandResult]:
    """:func:`classify_band` for every band's finalized statistics, bands in parallel.

    The last step of every engine (see :func:`classify_bands`); the Dask engine's
    strip tasks deliver finalized statistics and start here.
    """
    by_name = {b.name: b for b in stack.bands}

    def rules(item: tuple[str, BandStats]) -> BandResult:
        name, band_stats_ = item
        if phase is not None:
            phase(f"rules {name}", False)
        result = classify_band(stack, by_name[name], band_stats_, params)
        if phase is not None:
            phase(f"rules {name}", True)
        return result

    threads = _rule_threads(threads, len(stats))
    with ThreadPoolExecutor(threads, thread_name_prefix="badpix-rules") as pool:
        mapper = map if threads == 1 else pool.map
        return dict(zip(stats, mapper(rules, stats.items()), strict=True))


def _strip_stats(stack: Stack, plans: dict[str, list[tuple[int, int]]],
                 progress: ProgressCallback | None, timings: dict[str, float]
                 ) -> dict[str, BandStats]:
    """Every band's statistics from strips (:mod:`badpix.engine.strips`), one after another.

    A reader thread reads the next strip into the second buffer while the fused
    moments-and-median kernel (numba threads, GIL released) computes the current one.
    Integer results are those of the streaming path, bit for bit.
    """
    dtype = np.dtype(stack.dtype)
    work = [(b, s) for b in stack.bands for s in plans[b.name]]
    size = max(int(np.prod(strip_buffer_shape(stack, b, s))) for b, s in work)
    check_allocation(2 * size * dtype.itemsize, "two strips of frames",
                     stack.reader.paths[0] if stack.reader.paths else None)
    bufs = [np.empty(size, dtype), np.empty(size, dtype)]
    results = {b.name: {k: np.empty(b.shape, dt) for k, dt in strip_dtypes(dtype).items()}
               for b in stack.bands}
    n_frames: dict[str, int] = {}
    total_px = sum(int(np.prod(b.shape)) for b in stack.bands)
    done_px = reported = 0
    t_read = time.perf_counter()
    with ThreadPoolExecutor(1, thread_name_prefix="badpix-read") as pool:
        pending = pool.submit(read_strip, stack.reader, *work[0], bufs[0])
        for i, (b, (r0, r1)) in enumerate(work):
            view = pending.result()
            if i + 1 < len(work):
                pending = pool.submit(read_strip, stack.reader, *work[i + 1], bufs[(i + 1) % 2])
            res = strip_statistics(view, {k: a[r0:r1] for k, a in results[b.name].items()})
            n_frames[b.name] = int(res["n_frames"])
            done_px += (r1 - r0) * b.shape[1]
            now = stack.n_frames * done_px // total_px  # progress in frames
            if progress is not None and now > reported:
                progress(now - reported)
            reported = now
    del bufs
    timings["stream"] = time.perf_counter() - t_read
    return {b.name: band_stats_from_strips(b, n_frames[b.name], dtype, results.pop(b.name))
            for b in stack.bands}


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
    """Scan ``stack`` in one streaming pass and classify every band.

    Parameters
    ----------
    stack
        From :func:`badpix.open_stack`.
    params
        Rule parameters (defaults documented in :class:`~badpix.detect.params.RuleParams`).
    memory_limit
        Bytes the exact median may hold in memory across all bands (default: a
        quarter of the available memory); beyond it the median spills to a tile
        store in ``workdir``.  Strips (below) hold two strips of at most half of it.
    block_frames
        Frames per block (default: about 64 MiB per block, at least two per decode
        thread; :func:`stack_block_frames`).  Given, the frames are always streamed.
    progress
        Called with the number of frames done after every block.
    extra_accumulators
        Factories of further per-band accumulators (see :mod:`badpix.stats.base`);
        their finalized arrays land in ``BandStats.extra``.  ``None``: the
        persistence/onset accumulators for photo series
        (:func:`~badpix.engine.plan.make_plan`), nothing for other inputs; ``[]``: none.
    median
        Collect the exact temporal median (and run the OUTLIER rule); ``None``:
        for every input but photo series.
    plan
        A :class:`~badpix.engine.plan.ScanPlan` made for the local executor (default:
        :func:`~badpix.engine.plan.make_plan` of the arguments above).
    checkpoint
        Keep resumable state (:class:`~badpix.engine.state.Checkpoint`, made with a
        plan that has ``checkpoint_every``): the units it records as done are skipped,
        their merged states restored, and a checkpoint is committed every
        ``checkpoint_every`` frames.  ``on_checkpoint``: called with the frames done.
    phase
        Called as ``phase(name, False)`` when a step after reading starts
        (``"median"``, ``"statistics"``, ``"rules <band>"``) and as
        ``phase(name, True)`` when it ends, for progress displays.

    Notes
    -----
    Integer inputs whose reader reads rows alone (``.npy``, unfiltered HDF5) are
    scanned in strips of rows over every frame when the median is collected and no
    extra accumulator runs (:mod:`badpix.engine.strips`): same results, bit for bit,
    without collecting the frames for the median.

    Examples
    --------
    >>> from badpix import open_stack                        # doctest: +SKIP
    >>> result = scan_stack(open_stack("frames/"))            # doctest: +SKIP
    >>> result.counts()                                       # doctest: +SKIP
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
    extra_accumulators = extra_factories(plan, stack, extra_accumulators)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = stack.n_frames
    if plan.unit == "strips":
        stats = _strip_stats(stack, plan.strip_plans(), progress, timings)
        t_rules = time.perf_counter()
        bands = classify_stats(stack, stats, params, phase=phase)
        timings["rules"] = time.perf_counter() - t_rules
        timings["total"] = time.perf_counter() - t0
        return ScanResult.from_stack(stack, params, bands, timings, plan)
    block_frames = plan.block_frames
    band_bytes = sum(int(np.prod(b.shape)) for b in stack.bands) * stack.dtype.itemsize
    per_band_memory = None
    if memory_limit is not None:
        per_band_memory = {b.name: int(memory_limit * int(np.prod(b.shape)) * stack.dtype.itemsize
                                       / max(1, band_bytes)) for b in stack.bands}
    with_median = plan.collects_median
    # moments over whole frames when the bands tile them; each band is a view at the end
    flat_shape = (stack.frame_shape[0], int(np.prod(stack.frame_shape[1:])))
    frame_moments = (MomentAccumulator(flat_shape, stack.dtype) if plan.moments_over_frames
                     else None)
    accs = {
        b.name: BandAccumulators(b.shape, stack.dtype, n,
                                 None if per_band_memory is None else per_band_memory[b.name],
                                 None if workdir is None else Path(workdir),
                                 [acc for f in (extra_accumulators or [])
                                  if (acc := f(b.shape, stack.dtype, n, params)) is not None],
                                 median=with_median and checkpoint is None,
                                 moments=frame_moments is None)
        for b in stack.bands
    }
    first, sinks, states = 0, {}, {}
    try:
        if checkpoint is not None:  # resume after the units done; frames go to the state
            first = checkpoint.done
            restored = checkpoint.restore(stack.bands, {k: a.extras for k, a in accs.items()})
            sinks = checkpoint.sinks(stack.bands, stack.dtype)
            for name, a in accs.items():
                if restored is not None:
                    a.moments, a.extras = restored[name]
                a.median = sinks[name]
            states = {name: (a.moments, a.extras) for name, a in accs.items()}
            checkpoint.start(states, sinks)
            if progress is not None and first:
                progress(first)
        t_read = time.perf_counter()
        for start, block in stack.iter_blocks(block_frames, first, n):
            if frame_moments is not None:
                frame_moments.update(block.reshape(len(block), *flat_shape))
            for b in stack.bands:
                accs[b.name].update(b.view(block), start)
            if checkpoint is None:
                if progress is not None:
                    progress(len(block))
                continue
            if progress is not None:
                progress(min(n, start + block_frames) - start)
            if checkpoint.unit_done(start + block_frames, states, sinks) \
                    and on_checkpoint is not None:
                on_checkpoint(checkpoint.done)
        timings["stream"] = time.perf_counter() - t_read
        if frame_moments is not None:
            for b in stack.bands:
                accs[b.name].moments = frame_moments.subset(
                    lambda a, b=b: b.view(a.reshape(1, *stack.frame_shape))[0])
        t_med = time.perf_counter()
        if phase is not None and with_median:
            phase("median", False)
        medians = {name: None if a.median is None else a.median.finalize()
                   for name, a in accs.items()}
        if phase is not None and with_median:
            phase("median", True)
        timings["median"] = time.perf_counter() - t_med
        t_rules = time.perf_counter()
        frame_moments = None  # the bands' moments are views of its arrays now

        def release() -> None:
            # once finalized, the streaming state (sums, persistence counters, onset bits:
            # 26 bytes per pixel of a 64-photo series, more with more photos) goes before
            # the rules allocate their results, which then reuse its pages: fresh pages
            # are slow on small VMs (see the README)
            for a in accs.values():
                a.release()

        inputs = {name: (a.moments, medians.pop(name), a.extras) for name, a in accs.items()}
        bands = classify_bands(stack, inputs, params, release=release, phase=phase)
        timings["rules"] = time.perf_counter() - t_rules
    finally:
        for a in accs.values():
            a.close()
    timings["total"] = time.perf_counter() - t0
    result = ScanResult.from_stack(stack, params, bands, timings, plan)
    return result if checkpoint is None else checkpoint.describe(result)
