"""Checkpointing, a property of the local executor: ``--checkpoint-every``, ``--resume``, ``--add``.

The frame units (one read block each) run in order; their frames go to the state's
frame stores (the final median needs no second pass over the inputs) and the merged
accumulator states are committed every ``checkpoint_every`` frames in ``OUT/state/``
(:mod:`badpix.io.scanstate`).  A resume checks the input fingerprint, cuts the stores
back to the checkpoint and sees the same blocks as an uninterrupted run: identical
outputs, bit for bit.

>>> from badpix.engine import run_scan                              # doctest: +SKIP
>>> r = run_scan("frames/", out="scan/", checkpoint_every=100)     # doctest: +SKIP
>>> r = run_scan("frames/", out="scan/", resume=True)             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..io.atomic import remove_stale_temporaries
from ..io.scanstate import ScanState
from ..layout import Band
from ..result import ScanResult
from ..stack import Stack
from ..stats.base import Accumulator
from ..stats.moments import MomentAccumulator
from ..stats.store import FrameStore, StoreMedian
from .plan import ScanPlan

__all__ = ["Checkpoint"]


class Checkpoint:
    """The resumable state of one local scan in ``OUT/state/``: what is done, and commits.

    Made before the scan (it checks ``resume``/``add`` against the state and may rebind
    the stack to the scan's layout: use :attr:`stack`); the executor then asks it for
    the median sinks (:meth:`sinks`), restores the units done (:meth:`start`) and calls
    :meth:`unit_done` after every unit.
    """

    def __init__(self, stack: Stack, plan: ScanPlan, out: str | os.PathLike, *,
                 resume: bool = False, add: bool = False):
        # an interrupted --add is resumed like a scan: its last segment goes on
        self.state = state = ScanState(out)
        if resume or add:
            # a SIGKILL may have left temporary names here and in OUT: this run owns both
            remove_stale_temporaries(state.dir)
            remove_stale_temporaries(out)
            stack = state.reopen(stack, add=add and not resume)
        else:
            state.begin(stack, plan.block_frames, plan.checkpoint_every)
        m = state.manifest
        self.stack = stack
        # the recorded blocks and checkpoints: boundaries must not move, or outputs would differ
        self.every = int(m["checkpoint_every"])
        self.plan = dataclasses.replace(plan, block_frames=int(m["block_frames"]),
                                        checkpoint_every=self.every)
        self.done, self.stored = int(m["segments"][-1]["frames_done"]), int(m["stored"])
        self._skipped_before = len(stack.skipped)

    def sinks(self, bands: Sequence[Band], dtype: np.dtype) -> dict[str, StoreMedian]:
        """Each band's frame store (cut to the checkpoint) as the median's sink."""
        sinks = {}
        for b in bands:
            st = FrameStore(self.state.store_path(b.name), b.shape, dtype, create=True)
            st.truncate(self.stored)  # frames written after the last checkpoint
            sinks[b.name] = StoreMedian(st, self.stored, self.plan.unit_memory,
                                        self.plan.collects_median)
        return sinks

    def start(self, state: Any, sinks: dict[str, StoreMedian]) -> int:
        """Before the first unit: restore the merged states of the units done into ``state``
        (a :class:`~badpix.engine.units.FrameState`), or commit an empty checkpoint so a
        resume can start from frame 0; the first frame to scan."""
        if self.state.manifest["generation"] == 0:
            self.state.commit(_states(state), {k: s.store for k, s in sinks.items()})
        else:
            for name, (moments, extras) in self.state.load_accumulators(
                    self.stack.bands, state.extras).items():
                state.moments[name], state.extras[name] = moments, extras
        return self.done

    def unit_done(self, stop: int, state: Any, sinks: dict[str, StoreMedian]) -> bool:
        """After the unit ending at frame ``stop`` (``state``: a
        :class:`~badpix.engine.units.FrameState`): commit at every ``checkpoint_every``."""
        n = self.stack.n_frames
        self.done = min(n, stop)
        if not (self.done == n or self.done % self.every == 0):
            return False
        self.state.commit(_states(state), {k: s.store for k, s in sinks.items()},
                          frames_done=self.done, skipped=self.stack.skipped[self._skipped_before:],
                          stored=next(iter(sinks.values())).slot if sinks else self.stored)
        self._skipped_before = len(self.stack.skipped)
        return True

    def describe(self, result: ScanResult) -> ScanResult:
        """``result`` with the input info of every segment: skipped frames, sources."""
        result.input.skipped = self.state.skipped_frames()
        if (k := len(self.state.manifest["segments"])) > 1:
            result.input.source += f" (+{k - 1} earlier input(s) merged)"
        return result


def _states(state: Any) -> dict[str, tuple[MomentAccumulator, list[Accumulator]]]:
    return {name: (m, state.extras[name]) for name, m in state.moments.items()}
