"""Checkpointing, a property of the local executor: ``--checkpoint-every``, ``--resume``, ``--add``.

A checkpointed scan keeps everything it needs to continue in ``OUT/state/``::

    state/manifest.json            what was scanned, frames done, current generation
    state/inputs-<k>.json          fingerprint of input segment k (files, sizes, mtimes)
    state/gen-<g>/moments_<band>.npz    MomentAccumulator state (no pickles)
    state/gen-<g>/extra_<band>_<i>.npz  states of extra accumulators
    state/median_<band>.raw        every frame of the band, frame-major (append-only)

Every ``checkpoint_every`` frames (rounded up to whole read blocks) the median
stores are flushed, the accumulator states are written into a fresh
generation folder and ``manifest.json`` is replaced atomically; only then is
the previous generation deleted.  A kill at any moment therefore leaves one
complete, consistent checkpoint.  ``resume`` verifies the input fingerprint,
truncates the median stores to the checkpoint and continues; the resumed scan
sees exactly the same blocks as an uninterrupted one, so its outputs are
identical (bit for bit, float data included).

The exact temporal median needs every frame again at the end.  Instead of
re-reading the inputs (slow codecs, maybe gone for ``--add``) each band's
frames are appended once to a raw frame-major file; at the end the median is
computed tile by tile (:func:`~badpix.engine.store.tiled_median`) with at most ``memory_limit``
bytes of frames in memory.  **Disk cost**: the size of the bands' pixels of
every frame scanned (a 4 GB uint16 stack needs 4 GB in ``OUT/state/``).

Example
-------
>>> from badpix.engine import run_scan                              # doctest: +SKIP
>>> r = run_scan("frames/", out="scan/", checkpoint_every=100)     # doctest: +SKIP
>>> # killed?  the same call with resume=True continues from the last checkpoint
>>> r = run_scan("more/", out="scan/", add=True)                   # doctest: +SKIP

The local executor (:func:`badpix.engine.local.scan_stack`) runs the plan's frame
units (read blocks) as always; with a :class:`Checkpoint` it starts from the units
the state says are done, with their merged states, appends each unit's frames to the
state's frame stores and commits after every ``checkpoint_every`` frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ..io.atomic import atomic_path, remove_stale_temporaries
from ..io.base import SkippedFrame
from ..layout import Band, Layout
from ..stack import Stack
from ..stats.base import Accumulator
from ..stats.moments import MomentAccumulator
from .plan import ScanPlan
from .result import ScanResult
from .store import FrameStore, StoreMedian

__all__ = ["Checkpoint", "fingerprint", "read_state_layout", "state_summary"]

STATE_FORMAT = 1


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
        digest = _digest(fp)
        if resume or add:
            m = state.load()
            # a SIGKILL may have left temporary names here and in OUT: this run owns both
            remove_stale_temporaries(state.dir)
            remove_stale_temporaries(out)
            stack = self._check_matches(stack, m, out)
            seg = m["segments"][-1]
            if resume and seg["digest"] != digest:
                raise InputError(stack.reader.paths[0] if stack.reader.paths else None,
                                 f"input differs from the interrupted scan in {out} (files, "
                                 "sizes or modification times changed); cannot resume")
            if add:
                if seg["frames_done"] < seg["n_frames"]:
                    raise ParameterError(f"the last run into {out} was interrupted; finish it "
                                         "with --resume first")
                if any(s["digest"] == digest for s in m["segments"]):
                    raise ParameterError(f"these frames are already part of the scan in {out}")
                m["segments"].append({"digest": digest, "n_frames": fp["n_frames"],
                                      "frames_done": 0, "stored_at_start": m["stored"],
                                      "skipped": _skipped_list(stack.skipped)})
                state.write_json(f"inputs-{len(m['segments']) - 1}.json", fp)
        else:
            state.reset()
            m = {"format": STATE_FORMAT, "generation": 0, "frame_shape": list(stack.frame_shape),
                 "dtype": np.dtype(stack.dtype).str, "layout": _layout_dict(stack.layout),
                 "block_frames": plan.block_frames, "checkpoint_every": plan.checkpoint_every,
                 "stored": 0,
                 "segments": [{"digest": digest, "n_frames": fp["n_frames"], "frames_done": 0,
                               "stored_at_start": 0, "skipped": _skipped_list(stack.skipped)}]}
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
        layout = _layout_from(m["layout"])
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

    def start(self, accs: dict[str, tuple[MomentAccumulator, list[Accumulator]]],
              sinks: dict[str, StoreMedian]) -> None:
        if self.state.manifest["generation"] == 0:  # an empty checkpoint: resume from frame 0
            self.state.commit(accs, {k: s.store for k, s in sinks.items()})

    def unit_done(self, stop: int, accs: dict[str, tuple[MomentAccumulator, list[Accumulator]]],
                  sinks: dict[str, StoreMedian]) -> bool:
        """After the unit ending at frame ``stop``: commit at every ``checkpoint_every``."""
        n = self.stack.n_frames
        self.done = min(n, stop)
        if not (self.done == n or self.done % self.every == 0):
            return False
        m = self.state.manifest
        self.seg["frames_done"] = self.done
        m["stored"] = next(iter(sinks.values())).slot if sinks else self.stored
        self.seg["skipped"] += _skipped_list(self.stack.skipped[self._skipped_before:])
        self._skipped_before = len(self.stack.skipped)
        self.state.commit(accs, {k: s.store for k, s in sinks.items()})
        return True

    def describe(self, result: ScanResult) -> ScanResult:
        _describe_segments(result, self.state.manifest, self.stack)
        return result


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def fingerprint(stack: Stack) -> dict[str, Any]:
    """What identifies the input: files (absolute path, size, mtime), format, shape, dtype.

    A resumed scan refuses to continue when any of it changed.
    """
    r = stack.reader
    files = []
    for p in r.paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise InputError(p, f"cannot stat ({exc.strerror})") from None
        files.append([os.path.abspath(p), int(st.st_size), int(st.st_mtime_ns)])
    return {
        "format": r.format_name,
        "dataset": getattr(r, "dataset", None) if isinstance(getattr(r, "dataset", None), str)
        else None,
        "n_frames": int(r.n_frames),
        "frame_shape": [int(s) for s in r.frame_shape],
        "dtype": np.dtype(r.dtype).str,
        "files": files,
    }


def _layout_dict(layout: Layout) -> dict[str, Any]:
    # every Band field (steps included) so that --add cuts new frames identically
    return {"source": layout.source,
            "bands": [{k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in dataclasses.asdict(b).items()} for b in layout]}


def _layout_from(d: dict[str, Any]) -> Layout:
    return Layout(tuple(Band(**{k: (tuple(v) if isinstance(v, list) else v)
                                for k, v in b.items()}) for b in d["bands"]), d["source"])


class ScanState:
    """The ``OUT/state/`` folder: manifest, generations of accumulator states, median stores."""

    def __init__(self, out: str | os.PathLike):
        self.dir = Path(out) / "state"
        self.manifest: dict[str, Any] = {}

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def load(self) -> dict[str, Any]:
        try:
            self.manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise InputError(self.dir, "no scan state here (run the scan with "
                             "--checkpoint-every first)") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(self.manifest_path, f"unreadable scan state ({exc})") from None
        if self.manifest.get("format") != STATE_FORMAT:
            raise InputError(self.manifest_path, "scan state of an unknown format")
        return self.manifest

    def reset(self) -> None:
        """Delete any previous state (a fresh scan into an old folder)."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)

    def store_path(self, band: str) -> Path:
        return self.dir / f"median_{band}.raw"

    def gen_dir(self, gen: int) -> Path:
        return self.dir / f"gen-{gen:06d}"

    def write_json(self, name: str, obj: Any) -> None:
        with atomic_path(self.dir / name) as tmp:
            with open(tmp, "w") as fh:
                json.dump(obj, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())

    def commit(self, accs: dict[str, tuple[MomentAccumulator, list[Accumulator]]],
               stores: dict[str, FrameStore]) -> None:
        """Write one checkpoint: stores synced, states in a new generation, manifest replaced."""
        for st in stores.values():
            st.sync()
        gen = int(self.manifest.get("generation", 0)) + 1
        tmp = self.dir / f".gen-{gen:06d}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for name, (moments, extras) in accs.items():
            _save_npz(tmp / f"moments_{name}.npz", moments.state())
            for i, acc in enumerate(extras):
                _save_npz(tmp / f"extra_{name}_{i}.npz", acc.state())
        os.replace(tmp, self.gen_dir(gen))
        self.manifest["generation"] = gen
        self.write_json("manifest.json", self.manifest)  # the commit point
        self._sweep(keep=gen)

    def _sweep(self, keep: int) -> None:
        for p in self.dir.iterdir():
            if p.name.startswith((".gen-", "gen-")) and p.name != self.gen_dir(keep).name:
                shutil.rmtree(p, ignore_errors=True)

    def load_accumulators(self, bands: Sequence[Band], extras: dict[str, list[Accumulator]]
                          ) -> dict[str, tuple[MomentAccumulator, list[Accumulator]]]:
        d = self.gen_dir(int(self.manifest["generation"]))
        out = {}
        for b in bands:
            moments = MomentAccumulator.load(d / f"moments_{b.name}.npz")
            restored = [type(acc).from_state(_load_npz(d / f"extra_{b.name}_{i}.npz"))
                        for i, acc in enumerate(extras[b.name])]
            out[b.name] = (moments, restored)
        return out


def _save_npz(path: Path, state: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **state)
        fh.flush()
        os.fsync(fh.fileno())


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable checkpoint ({exc})") from None


def read_state_layout(out: str | os.PathLike) -> Layout | None:
    """The band layout recorded in ``OUT/state/`` (``None`` without state); for ``--add``."""
    st = ScanState(out)
    if not st.exists():
        return None
    return _layout_from(st.load()["layout"])


def _skipped_list(skipped: Sequence[Any]) -> list[dict[str, str]]:
    return [{"label": s.label, "reason": s.reason} for s in skipped]


def _describe_segments(result: ScanResult, m: dict[str, Any], stack: Stack) -> None:
    """Input info of a scan built from several inputs: all segments' skipped frames and sources."""
    result.input.skipped = [SkippedFrame(s["label"], s["reason"])
                            for seg in m["segments"] for s in seg["skipped"]]
    if len(m["segments"]) > 1:
        result.input.source += f" (+{len(m['segments']) - 1} earlier input(s) merged)"


def state_summary(out: str | os.PathLike) -> dict[str, Any]:
    """What ``OUT/state/`` holds, for ``summary.json`` (``{}`` without state)."""
    st = ScanState(out)
    if not st.exists():
        return {}
    m = st.load()
    size = sum(p.stat().st_size for p in st.dir.glob("median_*.raw"))
    return {"state": {"segments": [{"digest": s["digest"], "n_frames": s["n_frames"],
                                    "frames_done": s["frames_done"]} for s in m["segments"]],
                      "frames_stored": m["stored"], "checkpoint_every": m["checkpoint_every"],
                      "median_store_bytes": size}}
