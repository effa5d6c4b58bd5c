"""Engines run the accumulators over a stack: local streaming (default) or Dask."""

from __future__ import annotations

import os
from typing import Any, Unpack

from .._types import ProgressCallback, RuleKeywords, Source
from ..detect.params import RuleParams
from ..io.memory import Dims
from ..layout import Layout
from ..stack import Stack, open_stack
from .local import scan_stack
from .result import BandResult, ScanResult, band_dataset

__all__ = ["BandResult", "ScanResult", "band_dataset", "run_scan", "scan_stack"]


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
    **rule_params: Unpack[RuleKeywords],
) -> ScanResult:
    """Open ``source`` (unless it is a :class:`Stack` already) and scan it.

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
        Bytes the exact median may hold in memory before it spills to disk.
    client
        A ``dask.distributed.Client``: the Dask engine runs the same accumulators.
    progress
        ``advance(n_frames)``, called as frames are done.

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
    if client is not None:
        from .dask import scan_stack_dask

        return scan_stack_dask(stack, params, client=client, memory_limit=memory_limit,
                               progress=progress)
    return scan_stack(stack, params, memory_limit=memory_limit, progress=progress)
