"""The engine: a plan, its work units, and two executors that run them.

:mod:`.plan` decides how a scan runs (pure; :mod:`.partition` holds its arithmetic),
:mod:`.units` are the work, :mod:`.local` and :mod:`.dask` (+ :mod:`.tasks` on the
workers) execute a plan, and :mod:`.state` makes a local run resumable.
:func:`scan_stack` is the one place that picks the executor (``run_scan`` and ``badpix
scan`` end there).  docs/design.md draws the mechanism and says where a new executor or
accumulator goes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Unpack

from .._types import ProgressCallback, RuleKeywords, Source
from ..detect.bands import PhaseCallback
from ..detect.params import RuleParams
from ..errors import ParameterError
from ..io.memory import Dims
from ..layout import Layout
from ..result import BandResult, ScanResult, band_dataset
from ..stack import Stack, open_stack
from ..stats.base import AccumulatorFactory
from .local import run_local
from .plan import ScanPlan, make_plan

__all__ = ["BandResult", "ScanPlan", "ScanResult", "band_dataset", "plan_scan", "run_scan",
           "scan_stack"]


def _stateful(out: Any, checkpoint_every: int | None, resume: bool, add: bool) -> bool:
    stateful = resume or add or checkpoint_every is not None
    if stateful and out is None:
        raise ParameterError("--resume/--add/--checkpoint-every need an output folder (out=)")
    return stateful


def plan_scan(stack: Stack, *, client: Any = None, threads: int | None = None,
              out: Any = None, checkpoint_every: int | None = None, resume: bool = False,
              add: bool = False, memory_limit: int | None = None, median: bool | None = None,
              extra_accumulators: Sequence[AccumulatorFactory] | bool | None = None,
              block_frames: int | None = None, frames_per_task: int | None = None,
              strips: bool | None = None) -> ScanPlan:
    """The :class:`ScanPlan` :func:`scan_stack` would run (``threads``: a cluster's, without one).

    >>> import numpy as np, tempfile, pathlib
    >>> from badpix import open_stack
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     np.save(d / f"f_{i}.npy", np.zeros((4, 4), np.uint8))
    >>> plan_scan(open_stack(d), threads=2).executor
    'dask'
    """
    stateful = _stateful(out, checkpoint_every, resume, add)  # make_plan refuses it on Dask
    dask = client is not None or threads is not None
    if client is not None:
        threads = max(1, sum(client.nthreads().values()))
    if (resume or add) and not dask:  # the blocks and checkpoints the state recorded
        from ..io.scanstate import ScanState

        m = ScanState(out).load()
        block_frames, checkpoint_every = int(m["block_frames"]), int(m["checkpoint_every"])
    return make_plan(stack, memory_limit=memory_limit, executor="dask" if dask else "local",
                     threads=threads or 1, median=median, extras=extra_accumulators,
                     block_frames=block_frames, frames_per_task=frames_per_task, strips=strips,
                     checkpoint_every=(checkpoint_every or 256) if stateful else None)


def scan_stack(stack: Stack, params: RuleParams | None = None, *, client: Any = None,
               plan: ScanPlan | None = None, memory_limit: int | None = None,
               median: bool | None = None,
               extra_accumulators: Sequence[AccumulatorFactory] | bool | None = None,
               block_frames: int | None = None, frames_per_task: int | None = None,
               strips: bool | None = None, out: str | os.PathLike | None = None,
               checkpoint_every: int | None = None, resume: bool = False, add: bool = False,
               workdir: str | os.PathLike | None = None,
               progress: Callable[[int], None] | None = None,
               on_checkpoint: Callable[[int], None] | None = None,
               phase: PhaseCallback | None = None, numba_threads: int = 1) -> ScanResult:
    """Scan an opened ``stack`` and classify every band: the one place that picks the executor.

    Parameters
    ----------
    stack, params
        From :func:`badpix.open_stack`; rule parameters (defaults documented in
        :class:`~badpix.detect.params.RuleParams`).
    client
        A ``dask.distributed.Client``: the Dask executor (:mod:`.dask`) runs the units,
        the stack's files readable by every worker under the same paths.  Else the
        local executor (:mod:`.local`).
    plan
        From :func:`plan_scan` (default: made here from the arguments below).
    memory_limit
        Bytes of frames the scan may hold at once, over all units in flight (the local
        median spills to a tile store beyond it).  Default: the median in memory up to a
        quarter of the available memory; 256 MiB per unit on a cluster.
    median, extra_accumulators
        Collect the exact temporal median (``None``: all but photo series); further
        per-band accumulators (:mod:`badpix.stats.base`; ``None``: persistence + onset
        for photo series; ``True``/``False``; a list of factories, picklable for Dask).
    block_frames, frames_per_task, strips
        Frames per read block / per cluster frame unit (either given: frame units);
        ``strips``: ``None`` where they fit, ``False`` never, ``True`` or an error.
    out, checkpoint_every, resume, add, on_checkpoint
        Resumable state in ``out/state/`` (:class:`~badpix.engine.state.Checkpoint`, local
        executor): committed every ``checkpoint_every`` frames, ``resume`` skips the
        units done, ``add`` merges new frames; ``on_checkpoint(frames_done)``.
    workdir
        Folder for the median's temporary store (on a cluster: storage every worker
        sees; default ``/dev/shm`` when every worker is on this machine and it fits).
    progress, phase
        ``progress(n_frames)`` as frames are done; ``phase(name, done)`` around the
        steps after reading (``"median"``, ``"statistics"``, ``"rules <band>"``).
    numba_threads
        numba threads per Dask thread (default 1: Dask provides the parallelism).

    Examples
    --------
    >>> import numpy as np
    >>> from badpix import open_stack
    >>> frames = np.full((6, 4, 5), 100, np.uint16); frames[::2] += 3
    >>> frames[:, 1, 2] = 7                               # a stuck pixel
    >>> scan_stack(open_stack(frames)).counts()["ch0"]["stuck"]
    1
    """
    from ..detect.photon import resolve_counting
    from ..memory import check_scan_memory

    params = resolve_counting(stack, params)  # counting="auto": decided once, here
    if plan is None:
        plan = plan_scan(stack, client=client, out=out, checkpoint_every=checkpoint_every,
                         resume=resume, add=add, memory_limit=memory_limit, median=median,
                         extra_accumulators=extra_accumulators, block_frames=block_frames,
                         frames_per_task=frames_per_task, strips=strips)
    stateful = _stateful(out, checkpoint_every, resume, add)
    if stateful and plan.executor != "local":
        raise ParameterError("--resume/--add/--checkpoint-every run on the local executor; "
                             "drop --workers/--scheduler")
    check_scan_memory(stack, params, memory_limit)  # before the first allocation
    # a policy (True/False) is in the plan already; factories are passed on
    extras = (None if extra_accumulators is None or isinstance(extra_accumulators, bool)
              else list(extra_accumulators))
    if plan.executor == "dask":
        if client is None:
            raise ParameterError("a plan for the Dask executor needs a client")
        from .dask import run_dask

        return run_dask(stack, params, plan, client, workdir=workdir, progress=progress,
                        extra_accumulators=extras, numba_threads=numba_threads)
    checkpoint = None
    if stateful:  # checkpointing: a property of the run
        from .state import Checkpoint

        assert out is not None  # _stateful raised otherwise
        checkpoint = Checkpoint(stack, plan, out, resume=resume, add=add)
        stack, plan = checkpoint.stack, checkpoint.plan  # the state's layout and blocks
    return run_local(stack, params, plan, memory_limit=memory_limit,
                     workdir=None if workdir is None else Path(workdir), progress=progress,
                     extra_accumulators=extras, checkpoint=checkpoint,
                     on_checkpoint=on_checkpoint, phase=phase)


def run_scan(source: Source | Stack, *, layout: str | os.PathLike | Layout | None = None,
             dataset: str | None = None, dims: Dims = None, skip_bad: bool = False,
             params: RuleParams | None = None, memory_limit: int | None = None,
             client: Any = None, progress: ProgressCallback | None = None,
             out: str | os.PathLike | None = None, checkpoint_every: int | None = None,
             resume: bool = False, add: bool = False, median: bool | None = None,
             on_checkpoint: Callable[[int], None] | None = None,
             **rule_params: Unpack[RuleKeywords]) -> ScanResult:
    """Open ``source`` (unless it is a :class:`Stack` already) and scan it (:func:`scan_stack`).

    :func:`badpix.scan` returns ``run_scan(...).to_dataset()``; this returns the
    :class:`ScanResult` itself (per-band statistics, flags and scores as numpy
    arrays, ``counts()``, ``defects()``, and what :func:`badpix.write_scan_dir` writes).

    Parameters
    ----------
    source
        A path, a list of files, frames in memory (numpy/dask array, xarray object)
        or a :class:`Stack`, as for :func:`badpix.scan`.
    layout, dataset, dims, skip_bad
        How to open ``source`` (ignored for a :class:`Stack`); see :func:`badpix.scan`.
    params, **rule_params
        Rule parameters: a :class:`RuleParams` and/or its fields as keywords.
    memory_limit, client, progress, out, checkpoint_every, resume, add, median, on_checkpoint
        As for :func:`scan_stack`.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.full((6, 4, 5), 100, np.uint16); frames[:, 1, 2] = 7
    >>> frames[::2] += 3                       # some temporal noise everywhere...
    >>> frames[:, 1, 2] = 7                    # ...but not at the stuck pixel
    >>> run_scan(frames).counts()["ch0"]["stuck"]
    1
    """
    stack = source if isinstance(source, Stack) else open_stack(
        source, layout=layout, dataset=dataset, skip_bad=skip_bad, dims=dims)
    if params is None:
        params = RuleParams(**rule_params)
    elif rule_params:
        from dataclasses import replace

        params = replace(params, **rule_params)
    return scan_stack(stack, params, client=client, out=out, checkpoint_every=checkpoint_every,
                   resume=resume, add=add, memory_limit=memory_limit, median=median,
                   progress=progress, on_checkpoint=on_checkpoint)
