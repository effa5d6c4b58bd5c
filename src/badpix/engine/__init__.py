"""Engines run the accumulators over a stack: local streaming (default) or Dask."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..detect.params import RuleParams
from ..stack import Stack, open_stack
from .local import scan_stack
from .result import BandResult, ScanResult, band_dataset

__all__ = ["BandResult", "ScanResult", "band_dataset", "run_scan", "scan_stack"]


def run_scan(
    source: str | os.PathLike | Sequence[str | os.PathLike] | Stack,
    *,
    layout=None,
    dataset: str | None = None,
    skip_bad: bool = False,
    params: RuleParams | None = None,
    memory_limit: int | None = None,
    client=None,
    progress=None,
    **rule_params,
) -> ScanResult:
    """Open ``source`` (unless it is a :class:`Stack` already) and scan it.

    Rule parameters may be given as a :class:`RuleParams` or as keywords
    (``stuck_std=0.5``).  With a ``dask.distributed.Client`` the Dask engine runs
    the same accumulators on the cluster.
    """
    stack = source if isinstance(source, Stack) else open_stack(
        source, layout=layout, dataset=dataset, skip_bad=skip_bad)
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
