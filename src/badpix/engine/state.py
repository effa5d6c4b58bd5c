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

from ..errors import InputError, ParameterError
from ..io.atomic import remove_stale_temporaries
from ..io.base import SkippedFrame
from ..io.scanstate import (
    STATE_FORMAT,
    ScanState,
    digest,
    fingerprint,
    layout_dict,
    layout_from,
    skipped_list,
)
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
    the first frame (:attr:`done`), the restored accumulators (:meth:`restore`), the
    median sinks (:meth:`sinks`), and calls :meth:`unit_done` after every unit.
    """

    def __init__(self, stack: Stack, plan: ScanPlan, out: str | os.PathLike, *,
                 resume: bool = False, add: bool = False,
                 checkpoint_every: int | None = None):
        if resume and add:
            add = False  # an interrupted --add is resumed like a scan: the last segment goes on
        self.out = out
        state = self.state = ScanState(out)
        fp = fingerprint(stack)
        digest_ = digest(fp)
        if resume or add:
            m = state.load()
            # a SIGKILL may have left temporary names here and in OUT: this run owns both
            remove_stale_temporaries(state.dir)
            remove_stale_temporaries(out)
            stack = self._check_matches(stack, m, out)
            seg = m["segments"][-1]
            if resume and seg["digest"] != digest_:
                raise InputError(stack.reader.paths[0] if stack.reader.paths else None,
                                 f"input differs from the interrupted scan in {out} (files, "
                                 "sizes or modification times changed); cannot resume")
            if add:
                if seg["frames_done"] < seg["n_frames"]:
                    raise ParameterError(f"the last run into {out} was interrupted; finish it "
                                         "with --resume first")
                if any(s["digest"] == digest_ for s in m["segments"]):
                    raise ParameterError(f"these frames are already part of the scan in {out}")
                m["segments"].append({"digest": digest_, "n_frames": fp["n_frames"],
                                      "frames_done": 0, "stored_at_start": m["stored"],
                                      "skipped": skipped_list(stack.skipped)})
                state.write_json(f"inputs-{len(m['segments']) - 1}.json", fp)
        else:
            state.reset()
            m = {"format": STATE_FORMAT, "generation": 0, "frame_shape": list(stack.frame_shape),
                 "dtype": np.dtype(stack.dtype).str, "layout": layout_dict(stack.layout),
                 "block_frames": plan.block_frames, "checkpoint_every": plan.checkpoint_every,
                 "stored": 0,
                 "segments": [{"digest": digest_, "n_frames": fp["n_frames"], "frames_done": 0,
                               "stored_at_start": 0, "skipped": skipped_list(stack.skipped)}]}
            state.write_json("inputs-0.json", fp)
        state.manifest = m
        self.stack = stack
        self.seg = m["segments"][-1]
        # the recorded blocks and checkpoints: boundaries must not move, or outputs would differ
        self.every = int(m["checkpoint_every"])
        self.plan = dataclasses.replace(plan, block_frames=int(m["block_frames"]),
                                        checkpoint_every=self.every)
        self.done = int(self.seg["frames_done"])
        self.stored = int(m["stored"])
        self._skipped_before = len(stack.skipped)

    @staticmethod
    def _check_matches(stack: Stack, m: dict[str, Any], out: str | os.PathLike) -> Stack:
        layout = layout_from(m["layout"])
        if layout.bands != stack.layout.bands:
            if stack.layout.source == "channels" and not m["layout"]["source"] == "channels":
                stack = Stack(stack.reader, layout.bind(stack.frame_shape), stack.skip_bad,
                              stack.decode_threads, stack.skipped)
            else:
                raise ParameterError(f"layout {stack.layout.source} differs from the scan's "
                                     f"({layout.source}) in {out}")
        if list(stack.frame_shape) != m["frame_shape"] or np.dtype(stack.dtype).str != m["dtype"]:
            raise ParameterError(f"frames {stack.frame_shape} {np.dtype(stack.dtype).name} do not "
                                 f"match the scan in {out} ({tuple(m['frame_shape'])} "
                                 f"{np.dtype(m['dtype']).name})")
        return stack

    def restore(self, bands: Sequence[Band], extras: dict[str, list[Accumulator]]
                ) -> dict[str, tuple[MomentAccumulator, list[Accumulator]]] | None:
        """The merged states of the units done (None before the first checkpoint)."""
        if self.state.manifest["generation"] == 0:
            return None
        return self.state.load_accumulators(bands, extras)

    def sinks(self, bands: Sequence[Band], dtype: np.dtype) -> dict[str, StoreMedian]:
        """Each band's frame store (cut to the checkpoint) as the median's sink."""
        sinks = {}
        for b in bands:
            st = FrameStore(self.state.store_path(b.name), b.shape, dtype, create=True)
            st.truncate(self.stored)  # frames written after the last checkpoint
            sinks[b.name] = StoreMedian(st, self.stored, self.plan.unit_memory,
                                        self.plan.collects_median)
        return sinks

    def start(self, state: Any, sinks: dict[str, StoreMedian]) -> None:
        """Before the first unit: an empty checkpoint, so a resume can start from frame 0."""
        if self.state.manifest["generation"] == 0:
            self.state.commit(_states(state), {k: s.store for k, s in sinks.items()})

    def unit_done(self, stop: int, state: Any, sinks: dict[str, StoreMedian]) -> bool:
        """After the unit ending at frame ``stop`` (``state``: a
        :class:`~badpix.engine.units.FrameState`): commit at every ``checkpoint_every``."""
        n = self.stack.n_frames
        self.done = min(n, stop)
        if not (self.done == n or self.done % self.every == 0):
            return False
        m = self.state.manifest
        self.seg["frames_done"] = self.done
        m["stored"] = next(iter(sinks.values())).slot if sinks else self.stored
        self.seg["skipped"] += skipped_list(self.stack.skipped[self._skipped_before:])
        self._skipped_before = len(self.stack.skipped)
        self.state.commit(_states(state), {k: s.store for k, s in sinks.items()})
        return True

    def describe(self, result: ScanResult) -> ScanResult:
        _describe_segments(result, self.state.manifest, self.stack)
        return result


def _states(state: Any) -> dict[str, tuple[MomentAccumulator, list[Accumulator]]]:
    return {name: (m, state.extras[name]) for name, m in state.moments.items()}


def _describe_segments(result: ScanResult, m: dict[str, Any], stack: Stack) -> None:
    """Input info of a scan built from several inputs: all segments' skipped frames and sources."""
    result.input.skipped = [SkippedFrame(s["label"], s["reason"])
                            for seg in m["segments"] for s in seg["skipped"]]
    if len(m["segments"]) > 1:
        result.input.source += f" (+{len(m['segments']) - 1} earlier input(s) merged)"
