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
from .result import BandResult, ScanResult
from .strips import (
    band_stats_from_strips,
    plan_strips,
    read_strip,
    strip_buffer_shape,
    strip_dtypes,
    strip_statistics,
)

ProgressCallback = Callable[[int], None]

#: aim for blocks of about this many bytes: big enough to amortise kernel
#: launches, small enough to stay in cache-friendly territory and bounded memory
TARGET_BLOCK_BYTES = 64 * 2**20


def choose_block_frames(frame_nbytes: int, n_frames: int, min_frames: int = 1) -> int:
    """Frames per block: about 64 MiB, between ``min_frames`` and 32 frames (and at most all).

    >>> choose_block_frames(8 * 2**20, 100), choose_block_frames(30 * 2**20, 100, 4)
    (8, 4)
    """
    frames = min(32, TARGET_BLOCK_BYTES // max(1, frame_nbytes))
    return int(max(1, min(n_frames, max(frames, min_frames))))


def stack_block_frames(stack: Stack) -> int:
    """:func:`choose_block_frames` for ``stack``: two frames per decode thread at least.

    Photos are decoded one file per thread, a block at a time, while the
    statistics run on the previous block.  With 10 MP JPEGs (30 MB) the 64 MiB
    rule gave blocks of 2 frames; the streaming pass of 64 frames took 2.41 s
    (median of 4) against 1.71 s with 4 frames and 1.70 s with 8.
    """
    return choose_block_frames(stack.frame_nbytes, stack.n_frames,
                               2 * stack.decode_threads if stack.decodes_per_file else 1)


#: reader formats of photo series: persistence and onset are on by default there
PHOTO_FORMATS = ("image", "raw")


def photo_accumulators(stack: Stack, enabled: bool | None = None) -> list[AccumulatorFactory]:
    """Persistence + onset accumulators for photo series (``enabled=None``: by input format).

    The onset accumulator orders frames by the reader's capture times (EXIF) and
    also yields the persistence fractions, so it replaces the persistence one.
    """
    if enabled is None:
        enabled = stack.reader.format_name in PHOTO_FORMATS
    if not enabled:
        return []
    from ..stats.onset import make_onset_factory

    return [make_onset_factory(stack.reader.frame_times())]


def localize_lossy(stack: Stack, flags: np.ndarray, scores: dict[str, np.ndarray]) -> np.ndarray:
    """JPEG input: keep the peak pixel of each 8x8 smear; adds ``scores["loc_confidence"]``."""
    if str(stack.reader.attrs.get("format", "")).upper() != "JPEG":
        return flags
    from ..detect.localize import localize

    peaks, confidence = localize(flags != 0, scores["score"], gap=8)
    scores["loc_confidence"] = confidence
    return np.where(peaks, flags, np.uint8(0))


def value_range(dtype: np.dtype, lo: float, hi: float) -> tuple[float, float]:
    """The data range: the dtype's for integers, the observed one for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        return (0.0, 1.0) if info is None else (float(info.min), float(info.max))
    return (float(lo), float(hi))


def collect_median(stack: Stack, median: bool | None = None) -> bool:
    """Whether a scan collects the exact temporal median (``None``: yes, except for photo series).

    The median is the one statistic that needs every frame kept (``frames x
    pixels`` bytes, in memory or spilled to disk) and only the OUTLIER rule uses
    it.  A photo series is hundreds of different scenes, where a pixel's median
    is scene content rather than a property of the sensor (on the moving-stars
    series the persistence rule is what separates defects from the sky); its
    exact median cost a 10 MP JPEG scan 30 MB of fresh memory per frame, more than
    the decoding.  So photo scans leave it (and OUTLIER) out unless asked for.

    >>> from badpix import open_stack                                # doctest: +SKIP
    >>> collect_median(open_stack("photos/")), collect_median(open_stack("frames/"))  # doctest: +SKIP
    (False, True)
    """
    if median is None:
        return stack.reader.format_name not in PHOTO_FORMATS
    return bool(median)


def tiles_frame(stack: Stack) -> bool:
    """True when the bands tile every frame (RGB channels, Bayer planes, band rows covering it).

    Then the per-pixel moments run once over whole contiguous frames and each
    band's moments are a view of that state (:meth:`MomentAccumulator.subset`):
    the same integers, half the time of stride-3 RGB views.  (Only the pixel count
    is checked: correctness does not depend on it, as every band is a view of the
    whole frame's state; efficiency does.)
    """
    total = int(np.prod(stack.frame_shape))
    return len(stack.bands) > 1 and sum(int(np.prod(b.shape)) for b in stack.bands) == total


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


def finalize_band(name: str, n_frames: int, dtype: np.dtype, moments: dict,
                  median: np.ndarray | None) -> BandStats:
    """BandStats from finalized moments (a dict as returned by ``finalize``) and a median."""
    lo = hi = 0.0
    if np.dtype(dtype).kind not in "iub":  # integers: the dtype's range, no pass over the data
        with np.errstate(invalid="ignore"):
            lo = float(np.nanmin(moments["min"])) if np.isfinite(moments["min"]).any() else 0.0
            hi = float(np.nanmax(moments["max"])) if np.isfinite(moments["max"]).any() else 0.0
    stats = BandStats(
        name=name, n_frames=n_frames, dtype=np.dtype(dtype), count=moments["count"],
        mean=moments["mean"], var=moments["var"], min=moments["min"], max=moments["max"],
        median=median, value_range=value_range(dtype, lo, hi),
    )
    if "std" in moments:
        stats.set_std(moments["std"])
    return stats


def band_stats(stack: Stack, band: Band, moments: MomentAccumulator, median: np.ndarray | None,
               extras: list[Accumulator]) -> BandStats:
    """Finalize one band's accumulators into its :class:`BandStats`."""
    stats = finalize_band(band.name, moments.n_frames, stack.dtype, moments.finalize(), median)
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
                   release: Callable[[], None] | None = None) -> dict[str, BandResult]:
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
    with ThreadPoolExecutor(threads, thread_name_prefix="badpix-finalize") as pool:
        mapper = map if threads == 1 else pool.map
        stats = dict(zip(inputs, mapper(finalize, inputs), strict=True))
    if release is not None:
        inputs.clear()
        release()
    return classify_stats(stack, stats, params, threads)


def _rule_threads(threads: int | None, n_bands: int) -> int:
    if threads is None:
        threads = min(2, os.cpu_count() or 1) if _threadsafe_numba() else 1
    return max(1, min(threads, n_bands))


def classify_stats(stack: Stack, stats: dict[str, BandStats], params: RuleParams,
                   threads: int | None = None) -> dict[str, BandResult]:
    """:func:`classify_band` for every band's finalized statistics, bands in parallel.

    The last step of every engine (see :func:`classify_bands`); the Dask engine's
    strip tasks deliver finalized statistics and start here.
    """
    by_name = {b.name: b for b in stack.bands}

    def rules(item: tuple[str, BandStats]) -> BandResult:
        name, band_stats_ = item
        return classify_band(stack, by_name[name], band_stats_, params)

    threads = _rule_threads(threads, len(stats))
    with ThreadPoolExecutor(threads, thread_name_prefix="badpix-rules") as pool:
        mapper = map if threads == 1 else pool.map
        return dict(zip(stats, mapper(rules, stats.items()), strict=True))


#: bytes of frames per strip in the local engine; two strips are in memory (one is read
#: while the other is computed), as much as the Dask engine's default per task
LOCAL_STRIP_BYTES = 256 * 2**20


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
        persistence/onset accumulators for photo series (:func:`photo_accumulators`),
        nothing for other inputs; ``[]``: none.
    median
        Collect the exact temporal median (and run the OUTLIER rule); ``None``:
        for every input but photo series (:func:`collect_median`).

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
    params = params or RuleParams()
    check_scan_memory(stack, params, memory_limit)  # before the first allocation
    if extra_accumulators is None:
        extra_accumulators = photo_accumulators(stack)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = stack.n_frames
    if block_frames is None and not extra_accumulators and collect_median(stack, median) \
            and np.dtype(stack.dtype).kind in "iu":
        budget = LOCAL_STRIP_BYTES if memory_limit is None else min(LOCAL_STRIP_BYTES,
                                                                     int(memory_limit) // 2)
        plans = plan_strips(stack, budget, 1)
        if plans is not None:
            stats = _strip_stats(stack, plans, progress, timings)
            t_rules = time.perf_counter()
            bands = classify_stats(stack, stats, params)
            timings["rules"] = time.perf_counter() - t_rules
            timings["total"] = time.perf_counter() - t0
            return ScanResult.from_stack(stack, params, bands, timings)
    block_frames = block_frames or stack_block_frames(stack)
    band_bytes = sum(int(np.prod(b.shape)) for b in stack.bands) * stack.dtype.itemsize
    per_band_memory = None
    if memory_limit is not None:
        per_band_memory = {b.name: int(memory_limit * int(np.prod(b.shape)) * stack.dtype.itemsize
                                       / max(1, band_bytes)) for b in stack.bands}
    with_median = collect_median(stack, median)
    # moments over whole frames when the bands tile them; each band is a view at the end
    flat_shape = (stack.frame_shape[0], int(np.prod(stack.frame_shape[1:])))
    frame_moments = MomentAccumulator(flat_shape, stack.dtype) if tiles_frame(stack) else None
    accs = {
        b.name: BandAccumulators(b.shape, stack.dtype, n,
                                 None if per_band_memory is None else per_band_memory[b.name],
                                 None if workdir is None else Path(workdir),
                                 [acc for f in (extra_accumulators or [])
                                  if (acc := f(b.shape, stack.dtype, n, params)) is not None],
                                 median=with_median, moments=frame_moments is None)
        for b in stack.bands
    }
    try:
        t_read = time.perf_counter()
        for start, block in stack.iter_blocks(block_frames):
            if frame_moments is not None:
                frame_moments.update(block.reshape(len(block), *flat_shape))
            for b in stack.bands:
                accs[b.name].update(b.view(block), start)
            if progress is not None:
                progress(len(block))
        timings["stream"] = time.perf_counter() - t_read
        if frame_moments is not None:
            for b in stack.bands:
                accs[b.name].moments = frame_moments.subset(
                    lambda a, b=b: b.view(a.reshape(1, *stack.frame_shape))[0])
        t_med = time.perf_counter()
        medians = {name: None if a.median is None else a.median.finalize()
                   for name, a in accs.items()}
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
        bands = classify_bands(stack, inputs, params, release=release)
        timings["rules"] = time.perf_counter() - t_rules
    finally:
        for a in accs.values():
            a.close()
    timings["total"] = time.perf_counter() - t0
    return ScanResult.from_stack(stack, params, bands, timings)
