"""The engine: a plan, its work units, and two executors that run them.

::

    Stack ──make_plan──▶ ScanPlan ──execute──▶ local executor (threads)  ─┐
     (reader traits,     (units, median,        or Dask executor          ├─▶ FrameState /
      bands, budget)      accumulators)         (client.map)              │   strip arrays
                                                                          ▼
                   ScanResult ◀── detect.bands (rules on whole bands) ◀── BandStats

* :mod:`.plan` decides everything (:func:`~.plan.make_plan`, pure); :mod:`.partition`
  holds its arithmetic.
* :mod:`.units`: frame units, strip units, median tiles -- read, then computed, and
  merged by the accumulators' ``merge``.
* :mod:`.local` (:func:`~badpix.stack.read_ahead`: the next unit read while one computes) and
  :mod:`.dask` (``client.map`` over the same units) execute a plan; :mod:`.state`
  makes a local run resumable (checkpoints are a property of execution).

:func:`execute` is the one place that picks the executor (``run_scan`` and
``badpix scan`` both end there).  A new executor is one module with a
``run_<name>(stack, params, plan, ...)`` over the units; a new accumulator is a factory
(:mod:`badpix.stats.base`) the plan names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Unpack

from .._types import ProgressCallback, RuleKeywords, Source
from ..detect.params import RuleParams
from ..errors import ParameterError
from ..io.memory import Dims
from ..layout import Layout
from ..result import BandResult, ScanResult, band_dataset
from ..stack import Stack, open_stack
from ..stats.base import AccumulatorFactory
from .local import scan_stack
from .plan import ScanPlan, make_plan

__all__ = ["BandResult", "ScanPlan", "ScanResult", "band_dataset", "execute", "plan_scan",
           "run_scan", "scan_stack"]


def _stateful(out: Any, checkpoint_every: int | None, resume: bool, add: bool) -> bool:
    stateful = resume or add or checkpoint_every is not None
    if stateful and out is None:
        raise ParameterError("--resume/--add/--checkpoint-every need an output folder (out=)")
    return stateful


def plan_scan(stack: Stack, *, client: Any = None, threads: int | None = None,
              out: Any = None, checkpoint_every: int | None = None, resume: bool = False,
              add: bool = False, memory_limit: int | None = None, median: bool | None = None,
              extra_accumulators: Sequence[AccumulatorFactory] | bool | None = None
              ) -> ScanPlan:
    """The :class:`ScanPlan` :func:`execute` would run (``threads``: a cluster's, without one).

    >>> import numpy as np, tempfile, pathlib
    >>> from badpix import open_stack
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     np.save(d / f"f_{i}.npy", np.zeros((4, 4), np.uint8))
    >>> plan_scan(open_stack(d), threads=2).executor
    'dask'
    """
    stateful = _stateful(out, checkpoint_every, resume, add)
    dask = client is not None or threads is not None
    if stateful and dask:
        raise ParameterError("--resume/--add/--checkpoint-every run on the local engine; "
                             "drop --workers/--scheduler")
    if client is not None:
        threads = max(1, sum(client.nthreads().values()))
    block_frames = None
    if resume or add:  # the blocks and checkpoints the state recorded
        from ..io.scanstate import ScanState

        m = ScanState(out).load()
        block_frames, checkpoint_every = int(m["block_frames"]), int(m["checkpoint_every"])
    return make_plan(stack, memory_limit=memory_limit, executor="dask" if dask else "local",
                     threads=threads or 1, median=median, extras=extra_accumulators,
                     block_frames=block_frames,
                     checkpoint_every=(checkpoint_every or 256) if stateful else None)


def execute(stack: Stack, params: RuleParams | None = None, *, client: Any = None,
            out: str | os.PathLike | None = None, checkpoint_every: int | None = None,
            resume: bool = False, add: bool = False, memory_limit: int | None = None,
            median: bool | None = None,
            extra_accumulators: Sequence[AccumulatorFactory] | bool | None = None,
            workdir: str | os.PathLike | None = None,
            progress: Callable[[int], None] | None = None,
            plan: ScanPlan | None = None,
            on_checkpoint: Callable[[int], None] | None = None,
            phase: Callable[[str, bool], None] | None = None) -> ScanResult:
    """Scan ``stack``: the one place that chooses the engine.

    ``client``: the Dask executor, else the local one.  ``out`` with
    ``checkpoint_every``/``resume``/``add``: the local executor keeps resumable state in
    ``out/state/`` (:mod:`badpix.engine.state`; ``on_checkpoint`` is called with the
    frames done after each checkpoint).  ``plan``: from :func:`plan_scan` (default:
    made here).  ``phase``: the local executor's phase callback (see
    :func:`~badpix.engine.local.scan_stack`).
    """
    params = params or RuleParams()
    if plan is None:
        plan = plan_scan(stack, client=client, out=out, checkpoint_every=checkpoint_every,
                         resume=resume, add=add, memory_limit=memory_limit, median=median,
                         extra_accumulators=extra_accumulators)
    # a policy (True/False) is in the plan already; factories are passed on
    extras = (None if extra_accumulators is None or isinstance(extra_accumulators, bool)
              else list(extra_accumulators))
    checkpoint = None
    if _stateful(out, checkpoint_every, resume, add):  # checkpointing: a property of the run
        from .state import Checkpoint

        assert out is not None  # _stateful raised otherwise
        checkpoint = Checkpoint(stack, plan, out, resume=resume, add=add,
                                checkpoint_every=checkpoint_every)
    elif client is not None:
        from .dask import scan_stack_dask

        return scan_stack_dask(stack, params, client, progress=progress, workdir=workdir,
                               extra_accumulators=extras, plan=plan)
    return scan_stack(stack, params, memory_limit=memory_limit, progress=progress,
                      workdir=None if workdir is None else Path(workdir),
                      extra_accumulators=extras, median=median, plan=plan,
                      checkpoint=checkpoint, on_checkpoint=on_checkpoint, phase=phase)


def run_scan(
    source: Source | Stack,
    *,
    layout: str | os.PathLike | Layout | None = None,
    dataset: str | None = None,
    dims: Dims = None,
    skip_bad: bool = False,
    params: RuleParams | None = None,
    memory_limit: int | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    out: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    add: bool = False,
    median: bool | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    **rule_params: Unpack[RuleKeywords],
) -> ScanResult:
    """Open ``source`` (unless it is a :class:`Stack` already) and scan it (:func:`execute`).

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
    memory_limit
        Bytes of frames the scan holds at once, over all work units in flight
        (the median spills to disk beyond it).
    client
        A ``dask.distributed.Client``: the Dask executor runs the same work units.
    progress
        ``advance(n_frames)``, called as frames are done.
    out, checkpoint_every, resume, add, on_checkpoint
        With ``out`` and ``checkpoint_every`` (or ``resume``/``add``) the local
        executor keeps resumable state in ``out/state/``; ``on_checkpoint`` is
        called with the frames done after each checkpoint.
    median
        Collect the exact temporal median (default: the plan decides; photo
        series leave it out).

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
    return execute(stack, params, client=client, out=out, checkpoint_every=checkpoint_every,
                   resume=resume, add=add, memory_limit=memory_limit, median=median,
                   progress=progress, on_checkpoint=on_checkpoint)
