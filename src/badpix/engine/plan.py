"""The scan plan: every decision about *how* a scan runs, made once, by one pure function.

:func:`make_plan` reads the stack (reader traits, frame shape and dtype, bands), the
memory budget and the executor's threads, and decides the work units (row strips
over every frame where the reader reads rows alone and the exact median is wanted;
frame ranges otherwise), where the median's frames go, which accumulators run and
how many frames per unit.  ``memory_limit`` means one thing everywhere: the bytes of
frames the whole scan may hold at once, over all units in flight; results never
depend on it.  ``badpix scan --plan`` prints the plan, ``summary.json`` records it.

>>> import numpy as np, tempfile, pathlib
>>> from badpix import open_stack
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(5):
...     np.save(d / f"f_{i}.npy", np.full((64, 8), i, np.uint16))
>>> plan = make_plan(open_stack(d))
>>> plan.unit, plan.median, plan.accumulators, plan.strips
('strips', 'strips', ('moments',), (('ch0', ((0, 32), (32, 64))),))
>>> make_plan(open_stack(d), median=False).unit
'frames'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..stack import Stack
from ..stats.base import AccumulatorFactory
from .partition import (
    CHECKPOINT_MEDIAN_BYTES,
    STRIP_MIN_ROWS,
    UNIT_BYTES,
    choose_block_frames,
    chunk_ranges,
    default_frames_per_task,
    plan_strips,
    stack_block_frames,
    tiles_frame,
)

__all__ = ["EXECUTORS", "ScanPlan", "extra_factories", "make_plan"]

#: the executors a plan can be made for
EXECUTORS = ("local", "dask")

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ScanPlan:
    """How one scan runs; printable (``str``) and serialisable (:meth:`to_dict`).

    Attributes
    ----------
    executor, threads
        ``"local"`` (threads in this process) or ``"dask"``; units computed at once.
    photo
        The reader declared a photo series (:attr:`Reader.is_photo_series`).
    unit, strips, frame_ranges, block_frames
        ``"strips"``: ``strips`` is ``((band, ((r0, r1), ...)), ...)`` of band rows over
        every frame; ``"frames"``: ``frame_ranges`` ``((start, stop), ...)`` read in
        blocks of ``block_frames``.
    median
        ``"none"``; ``"strips"`` (each strip computes it); ``"memory"`` / ``"spill"``
        (the local pass keeps every frame in memory / on disk); ``"store"`` (frame units
        write files that median tile units read); ``"state"`` (the checkpoint's store).
    accumulators
        ``"moments"`` plus the extras' names (``"onset"``: persistence and onset).
    moments_over_frames
        The bands tile every frame: moments run over whole frames, bands are views.
    unit_memory, memory_limit
        Bytes of frames one unit (strip, median tile) may hold; the budget given.
    checkpoint_every
        Frames between checkpoints (``None``: not checkpointed).
    """

    executor: str
    photo: bool
    unit: str
    strips: tuple[tuple[str, Ranges], ...]
    frame_ranges: Ranges
    block_frames: int
    median: str
    accumulators: tuple[str, ...]
    moments_over_frames: bool
    unit_memory: int
    memory_limit: int | None
    threads: int
    checkpoint_every: int | None = None

    @property
    def n_units(self) -> int:
        return sum(len(s) for _, s in self.strips) if self.unit == "strips" \
            else len(self.frame_ranges)

    @property
    def collects_median(self) -> bool:
        return self.median != "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists; :meth:`from_dict` reverses it."""
        d = dataclasses.asdict(self)
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanPlan:
        def ranges(x: Any) -> Ranges:
            return tuple((int(a), int(b)) for a, b in x)

        d = dict(d)
        d["strips"] = tuple((str(n), ranges(s)) for n, s in d["strips"])
        d["frame_ranges"] = ranges(d["frame_ranges"])
        d["accumulators"] = tuple(d["accumulators"])
        return cls(**d)

    def __str__(self) -> str:
        if self.unit == "strips":
            units = ", ".join(f"{name}: {len(s)} strips of ~{s[0][1] - s[0][0]} rows"
                              for name, s in self.strips)
        else:
            sizes = sorted({b - a for a, b in self.frame_ranges})
            units = (f"{len(self.frame_ranges)} frame ranges of "
                     f"{'/'.join(map(str, sizes[-2:]))} frames, read in blocks of "
                     f"{self.block_frames}")
        lines = [
            f"executor      {self.executor} ({self.threads} thread(s))",
            f"input         {'photo series' if self.photo else 'sensor frames'}",
            f"units         {self.unit}: {units}",
            f"median        {self.median}",
            f"accumulators  {', '.join(self.accumulators)}"
            + (" (moments over whole frames)" if self.moments_over_frames else ""),
            f"memory        {_size(self.unit_memory)} per unit"
            + ("" if self.memory_limit is None else f" (limit {_size(self.memory_limit)})"),
        ]
        if self.checkpoint_every is not None:
            lines.append(f"checkpoint    every {self.checkpoint_every} frames")
        return "\n".join(lines)


def _size(n: int) -> str:
    k = min(3, max(0, (int(n).bit_length() - 1) // 10))  # 1024**k <= n
    return f"{n} B" if k == 0 else f"{n / 1024**k:.1f} {('KiB', 'MiB', 'GiB')[k - 1]}"


def _accumulator_names(stack: Stack, extras: bool | Sequence[AccumulatorFactory] | None
                       ) -> tuple[str, ...]:
    if extras is None:
        extras = stack.reader.is_photo_series
    if isinstance(extras, bool):
        return ("moments", "onset") if extras else ("moments",)
    return ("moments", *(getattr(f, "__name__", type(f).__name__) for f in extras))


def extra_factories(plan: ScanPlan, stack: Stack,
                    given: Sequence[AccumulatorFactory] | None = None
                    ) -> list[AccumulatorFactory]:
    """The extra accumulator factories the plan names: ``given`` ones, else onset's.

    The onset accumulator orders frames by the reader's capture times (EXIF) and
    also yields the persistence fractions, so it replaces the persistence one.
    """
    if given is not None and not isinstance(given, bool):
        return list(given)
    if "onset" not in plan.accumulators:
        return []
    from ..stats.onset import make_onset_factory

    return [make_onset_factory(stack.reader.frame_times())]


def make_plan(stack: Stack, *, memory_limit: int | None = None, executor: str = "local",
              threads: int = 1, median: bool | None = None,
              extras: bool | Sequence[AccumulatorFactory] | None = None,
              block_frames: int | None = None, frames_per_task: int | None = None,
              strips: bool | None = None, checkpoint_every: int | None = None,
              available: int | None = None) -> ScanPlan:
    """Decide how ``stack`` is scanned (see the module docstring); no side effect.

    Parameters
    ----------
    memory_limit
        Bytes of frames the scan may hold at once (module docstring); ``None``: defaults.
    executor, threads
        ``"local"`` or ``"dask"``, and how many units run at once (a cluster's threads).
    median
        Collect the exact temporal median; ``None``: unless the input is a photo series
        (its pixels' median is scene content, and only OUTLIER uses it).
    extras
        Extra accumulators: ``None`` by the reader's trait (persistence + onset for
        photo series), ``True``/``False``, or a list of factories.
    block_frames, frames_per_task
        Frames per read block / per frame unit (given: always frame units).
    strips
        ``None``: strips where they fit (module docstring); ``False``: never;
        ``True``: strips or :class:`~badpix.errors.ParameterError`.
    checkpoint_every
        Checkpoint every N frames (rounded up to whole blocks): frame units of one
        block, the frames kept in the state folder for the median.
    available
        Available memory in bytes (``None``: asked from the system when needed).
    """
    if executor not in EXECUTORS:
        raise ParameterError(f"unknown executor {executor!r}; choose one of "
                             f"{', '.join(EXECUTORS)}")
    if frames_per_task is not None and int(frames_per_task) < 1:
        raise ParameterError("frames_per_task must be at least 1")
    if checkpoint_every is not None and int(checkpoint_every) < 1:
        raise ParameterError("--checkpoint-every must be at least 1")
    threads = max(1, int(threads))
    n = stack.n_frames
    dtype = np.dtype(stack.dtype)
    photo = bool(stack.reader.is_photo_series)
    accs = _accumulator_names(stack, extras)
    with_median = (not photo) if median is None else bool(median)
    band_pixels = sum(int(np.prod(b.shape)) for b in stack.bands)
    common = dict(executor=executor, photo=photo, accumulators=accs, memory_limit=memory_limit,
                  threads=threads)
    no_extras = len(accs) == 1

    if checkpoint_every is not None:
        if executor != "local":
            raise ParameterError("--resume/--add/--checkpoint-every run on the local "
                                 "executor; drop --workers/--scheduler")
        block = min(block_frames or stack_block_frames(stack), int(checkpoint_every))
        every = -(-int(checkpoint_every) // block) * block  # a resume re-reads the same blocks
        return ScanPlan(unit="frames", strips=(), block_frames=block,
                        frame_ranges=tuple(chunk_ranges(n, block)),
                        median="state" if with_median else "none", moments_over_frames=False,
                        unit_memory=int(memory_limit or CHECKPOINT_MEDIAN_BYTES),
                        checkpoint_every=every, **common)

    if executor == "local":
        budget = UNIT_BYTES if memory_limit is None else min(UNIT_BYTES, int(memory_limit) // 2)
        # floats stream: their moments in a strip's fused kernel gain nothing here
        if strips is not False and block_frames is None and no_extras and with_median \
                and dtype.kind in "iu":
            plans = plan_strips(stack, budget, 1)
            if plans is not None:
                return _strip_plan(plans, budget, **common)
        block = block_frames or stack_block_frames(stack)
        median_where = "none"
        if with_median:  # in memory up to the limit, or a quarter of the available memory
            if memory_limit is None and available is None:
                from ..memory import available_memory

                available = available_memory()
            cap = int(memory_limit) if memory_limit is not None else int(0.25 * available)
            median_where = "spill" if n * band_pixels * dtype.itemsize > cap else "memory"
        return ScanPlan(unit="frames", strips=(), frame_ranges=tuple(chunk_ranges(n, block)),
                        block_frames=block, median=median_where,
                        moments_over_frames=tiles_frame(stack), unit_memory=budget, **common)

    # dask
    per_task = UNIT_BYTES if memory_limit is None else max(1, int(memory_limit) // threads)
    if strips or (strips is None and frames_per_task is None and no_extras and with_median):
        plans = plan_strips(stack, per_task, threads)
        if plans is None and strips:
            raise ParameterError("strip tasks need a reader that reads rows alone (.npy, "
                                 "unfiltered HDF5), no --skip-bad, and strips of at least "
                                 f"{STRIP_MIN_ROWS} rows within the memory limit")
        if plans is not None:
            if not no_extras:
                raise ParameterError("strip tasks run no extra accumulators")
            return _strip_plan(plans, per_task, **common)
    block = choose_block_frames(stack.frame_nbytes, n)
    ranges = chunk_ranges(n, int(frames_per_task) if frames_per_task else
                          default_frames_per_task(n, stack.frame_nbytes, block, threads,
                                                  band_pixels),
                          nthreads=1 if frames_per_task else threads)
    block = min(block, max((e - s for s, e in ranges), default=1))
    return ScanPlan(unit="frames", strips=(), frame_ranges=tuple(ranges), block_frames=block,
                    median="store" if with_median else "none", moments_over_frames=False,
                    unit_memory=per_task, **common)


def _strip_plan(plans: dict[str, list[tuple[int, int]]], budget: int, **common: Any
                ) -> ScanPlan:
    return ScanPlan(unit="strips", strips=tuple((k, tuple(v)) for k, v in plans.items()),
                    frame_ranges=(), block_frames=0, median="strips",
                    moments_over_frames=False, unit_memory=budget, **common)
