"""The ``OUT/state/`` folder of a checkpointed scan: its on-disk format.

::

    state/manifest.json            what was scanned, frames done, current generation
    state/inputs-<k>.json          fingerprint of input segment k (files, sizes, mtimes)
    state/gen-<g>/moments_<band>.npz    MomentAccumulator state (no pickles)
    state/gen-<g>/extra_<band>_<i>.npz  states of extra accumulators
    state/median_<band>.raw        every frame of the band, frame-major (append-only)

A commit writes a fresh generation folder, then replaces ``manifest.json``
atomically, then deletes the previous generation: a kill at any moment leaves one
complete checkpoint.  What a checkpoint *means* to a scan (which units are done, when
to commit) is :class:`badpix.engine.state.Checkpoint`'s business.
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
from ..layout import Band, Layout
from ..stats.base import Accumulator
from ..stats.moments import MomentAccumulator
from ..stats.store import FrameStore
from .atomic import atomic_path
from .base import SkippedFrame

__all__ = ["STATE_FORMAT", "ScanState", "digest", "fingerprint", "layout_dict", "layout_from",
           "read_state_layout", "skipped_list", "state_summary"]

STATE_FORMAT = 1


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def fingerprint(stack: Any) -> dict[str, Any]:
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


def layout_dict(layout: Layout) -> dict[str, Any]:
    # every Band field (steps included) so that --add cuts new frames identically
    return {"source": layout.source,
            "bands": [{k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in dataclasses.asdict(b).items()} for b in layout]}


def layout_from(d: dict[str, Any]) -> Layout:
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

    def begin(self, stack: Any, block_frames: int, checkpoint_every: int | None) -> None:
        """A fresh state for a scan of ``stack`` (any previous state deleted)."""
        self.reset()
        fp = fingerprint(stack)
        self.manifest = {
            "format": STATE_FORMAT, "generation": 0, "frame_shape": list(stack.frame_shape),
            "dtype": np.dtype(stack.dtype).str, "layout": layout_dict(stack.layout),
            "block_frames": block_frames, "checkpoint_every": checkpoint_every, "stored": 0,
            "segments": [_segment(fp, 0, stack.skipped)]}
        self.write_json("inputs-0.json", fp)

    def reopen(self, stack: Any, *, add: bool) -> Any:
        """Load the state to go on with ``stack``: its last segment (resume) or a new one.

        Returns ``stack``, bound to the scan's layout when it was opened with the default
        one; raises when the frames, the layout or the inputs do not fit the state.
        """
        from ..stack import Stack

        m, out = self.load(), self.dir.parent
        layout = layout_from(m["layout"])
        if layout.bands != stack.layout.bands:
            if stack.layout.source != "channels" or m["layout"]["source"] == "channels":
                raise ParameterError(f"layout {stack.layout.source} differs from the scan's "
                                     f"({layout.source}) in {out}")
            stack = Stack(stack.reader, layout.bind(stack.frame_shape), stack.skip_bad,
                          stack.decode_threads, stack.skipped)
        if list(stack.frame_shape) != m["frame_shape"] or np.dtype(stack.dtype).str != m["dtype"]:
            raise ParameterError(f"frames {stack.frame_shape} {np.dtype(stack.dtype).name} do not "
                                 f"match the scan in {out} ({tuple(m['frame_shape'])} "
                                 f"{np.dtype(m['dtype']).name})")
        fp = fingerprint(stack)
        seg, digest_ = m["segments"][-1], digest(fp)
        if not add and seg["digest"] != digest_:
            raise InputError(stack.reader.paths[0] if stack.reader.paths else None,
                             f"input differs from the interrupted scan in {out} (files, "
                             "sizes or modification times changed); cannot resume")
        if add:
            if seg["frames_done"] < seg["n_frames"]:
                raise ParameterError(f"the last run into {out} was interrupted; finish it "
                                     "with --resume first")
            if any(s["digest"] == digest_ for s in m["segments"]):
                raise ParameterError(f"these frames are already part of the scan in {out}")
            m["segments"].append(_segment(fp, m["stored"], stack.skipped))
            self.write_json(f"inputs-{len(m['segments']) - 1}.json", fp)
        return stack

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
               stores: dict[str, FrameStore], *, frames_done: int | None = None,
               stored: int | None = None, skipped: Sequence[Any] = ()) -> None:
        """Write one checkpoint: stores synced, states in a new generation, manifest replaced.

        ``frames_done`` of the current segment, ``stored`` frames in the stores and the
        frames ``skipped`` since the last commit are recorded with it.
        """
        seg = self.manifest["segments"][-1]
        if frames_done is not None:
            seg["frames_done"] = frames_done
        if stored is not None:
            self.manifest["stored"] = stored
        seg["skipped"] += skipped_list(skipped)
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

    def skipped_frames(self) -> list[SkippedFrame]:
        """The skipped frames of every segment, in order."""
        return [SkippedFrame(s["label"], s["reason"])
                for seg in self.manifest["segments"] for s in seg["skipped"]]

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
    return layout_from(st.load()["layout"])


def skipped_list(skipped: Sequence[Any]) -> list[dict[str, str]]:
    return [{"label": s.label, "reason": s.reason} for s in skipped]


def _segment(fp: dict[str, Any], stored_at_start: int, skipped: Sequence[Any]) -> dict[str, Any]:
    return {"digest": digest(fp), "n_frames": fp["n_frames"], "frames_done": 0,
            "stored_at_start": stored_at_start, "skipped": skipped_list(skipped)}


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
