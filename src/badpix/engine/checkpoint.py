"""Resumable local scans: checkpoints, ``--resume`` and ``--add``.

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
computed tile by tile (:func:`tiled_median`) with at most ``memory_limit``
bytes of frames in memory.  **Disk cost**: the size of the bands' pixels of
every frame scanned (a 4 GB uint16 stack needs 4 GB in ``OUT/state/``).

Example
-------
>>> from badpix import open_stack                                  # doctest: +SKIP
>>> r = scan_checkpointed(open_stack("frames/"), out="scan/", checkpoint_every=100)  # doctest: +SKIP
>>> # killed?  the same call with resume=True continues from the last checkpoint
>>> r = scan_checkpointed(open_stack("more/"), out="scan/", add=True)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.params import RuleParams
from ..errors import InputError, OutputError, ParameterError
from ..io.atomic import atomic_path
from ..layout import Band, Layout
from ..stack import Stack
from ..stats.base import Accumulator, AccumulatorFactory
from ..stats.moments import MomentAccumulator
from .local import classify_bands
from .plan import ScanPlan, extra_factories, make_plan, plan_tiles
from .result import ScanResult

__all__ = [
    "FrameStore",
    "fingerprint",
    "plan_tiles",
    "read_state_layout",
    "scan_checkpointed",
    "tiled_median",
]

STATE_FORMAT = 1


# ----------------------------------------------------------------------------- frame store

class FrameStore:
    """One band's frames in a raw file, frame-major: frame ``k`` at byte ``k * h * w * itemsize``.

    Writing a block of frames is one contiguous ``pwrite`` (fast, and safe from
    several processes writing disjoint frame ranges: the Dask engine does
    that); reading a spatial tile over all frames is one ``pread`` per frame
    (per row when the tile is narrower than the band).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.raw"
    >>> st = FrameStore(p, (2, 3), np.uint16, create=True)
    >>> st.write(0, np.arange(12, dtype=np.uint16).reshape(2, 2, 3))
    >>> st.read_tile(np.arange(2), (0, 2, 1, 3))[:, 1]
    array([[ 4,  5],
           [10, 11]], dtype=uint16)
    >>> st.close()
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int], dtype: np.dtype | str,
                 create: bool = False):
        self.path = Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.frame_bytes = self.shape[0] * self.shape[1] * self.dtype.itemsize
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot open frame store ({exc.strerror})") from None
        self._buf: np.ndarray | None = None

    def write(self, index: int, frames: np.ndarray) -> None:
        """Write frames ``(k, h, w)`` (any strides) as frames ``index .. index + k - 1``."""
        k = frames.shape[0]
        if k == 0:
            return
        if frames.flags.c_contiguous and frames.dtype == self.dtype:
            data = frames
        else:
            # reuse one contiguous buffer: fresh memory per block is slow on these VMs
            if self._buf is None or self._buf.shape[0] < k:
                self._buf = np.empty((k, *self.shape), self.dtype)
            data = self._buf[:k]
            np.copyto(data, frames, casting="no")
        view = memoryview(data.reshape(-1)).cast("B")
        offset = index * self.frame_bytes
        while len(view):
            done = os.pwrite(self._fd, view, offset)
            view = view[done:]
            offset += done

    def read_tile(self, slots: np.ndarray, tile: tuple[int, int, int, int],
                  out: np.ndarray | None = None) -> np.ndarray:
        """Pixels ``[r0:r1, c0:c1]`` of the frames at ``slots`` as ``(len(slots), r1-r0, c1-c0)``."""
        r0, r1, c0, c1 = tile
        h, w = self.shape
        isz = self.dtype.itemsize
        shape = (len(slots), r1 - r0, c1 - c0)
        if out is None:
            out = np.empty(shape, self.dtype)
        else:
            out = out.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        full_rows = c0 == 0 and c1 == w
        for j, slot in enumerate(np.asarray(slots, np.int64)):
            base = int(slot) * self.frame_bytes
            if full_rows:  # the tile is one contiguous run of this frame
                self._pread_into(out[j], base + r0 * w * isz)
            else:
                for r in range(r0, r1):
                    self._pread_into(out[j, r - r0], base + (r * w + c0) * isz)
        return out

    def _pread_into(self, arr: np.ndarray, offset: int) -> None:
        view = memoryview(arr.reshape(-1)).cast("B")
        while len(view):
            got = os.preadv(self._fd, [view], offset)
            if got <= 0:
                raise InputError(self.path, "frame store is shorter than its manifest says")
            view = view[got:]
            offset += got

    def truncate(self, n_frames: int) -> None:
        """Drop frames from ``n_frames`` on (frames written after the last checkpoint)."""
        os.ftruncate(self._fd, n_frames * self.frame_bytes)

    def reserve(self, n_frames: int) -> None:
        """Make the file ``n_frames`` long (sparse) so that writers can fill it in any order."""
        if os.fstat(self._fd).st_size < n_frames * self.frame_bytes:
            os.ftruncate(self._fd, n_frames * self.frame_bytes)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def update_bands(bands: Sequence[Band], frames: np.ndarray, first_index: int,
                 accs: dict[str, tuple[MomentAccumulator, list[Accumulator]]],
                 stores: dict[str, FrameStore],
                 slot: int) -> None:
    """Feed a block of frames to every band's accumulators and store it from ``slot`` on.

    The step the checkpointed and the Dask engines share: ``accs`` maps a band name
    to ``(moments, extra accumulators)``; ``first_index`` is the block's first stack
    frame (the extra accumulators order frames by it).
    """
    for b in bands:
        view = b.view(frames)
        moments, extras = accs[b.name]
        moments.update(view)
        for acc in extras:
            acc.update(view, first_index)
        store = stores.get(b.name)
        if store is not None:
            store.write(slot, view)


def tiled_median(store: FrameStore, slots: np.ndarray, budget: int,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Exact temporal median (numpy's definition, NaN ignored) of the frames at ``slots``.

    Holds at most ``budget`` bytes of frames (one tile) in memory.

    >>> import numpy as np, tempfile, pathlib
    >>> st = FrameStore(pathlib.Path(tempfile.mkdtemp()) / "m.raw", (4, 4), np.uint8, create=True)
    >>> x = np.random.default_rng(0).integers(0, 255, (5, 4, 4), dtype=np.uint8)
    >>> st.write(0, x)
    >>> bool(np.array_equal(tiled_median(st, np.arange(5), 200), np.median(x, axis=0)))
    True
    """
    from ..stats.median import temporal_median

    h, w = store.shape
    if out is None:
        out = np.empty((h, w), np.float64)
    tiles = plan_tiles(len(slots), store.shape, store.dtype.itemsize, budget)
    largest = max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in tiles)
    buf = np.empty(len(slots) * largest, store.dtype)  # one buffer for every tile
    for tile in tiles:
        r0, r1, c0, c1 = tile
        frames = store.read_tile(slots, tile, buf)
        out[r0:r1, c0:c1] = temporal_median(frames)
    return out


# ----------------------------------------------------------------------------- fingerprints

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


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _layout_dict(layout: Layout) -> dict[str, Any]:
    # every Band field (steps included) so that --add cuts new frames identically
    return {"source": layout.source,
            "bands": [{k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in dataclasses.asdict(b).items()} for b in layout]}


def _layout_from(d: dict[str, Any]) -> Layout:
    return Layout(tuple(Band(**{k: (tuple(v) if isinstance(v, list) else v)
                                for k, v in b.items()}) for b in d["bands"]), d["source"])


# ----------------------------------------------------------------------------- state folder

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


# ----------------------------------------------------------------------------- the scan

def scan_checkpointed(
    stack: Stack,
    params: RuleParams | None = None,
    *,
    out: str | os.PathLike,
    checkpoint_every: int | None = None,
    resume: bool = False,
    add: bool = False,
    memory_limit: int | None = None,
    block_frames: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    extra_accumulators: list[AccumulatorFactory] | None = None,
    median: bool | None = None,
    plan: ScanPlan | None = None,
) -> ScanResult:
    """Scan ``stack`` with the local engine, keeping resumable state in ``OUT/state/``.

    Parameters
    ----------
    stack
        The frames: the whole input, the same input again (``resume``), or new
        frames to merge into the scan already in ``out`` (``add``).
    out
        Scan output folder; state goes to ``out/state/`` (outputs are written by
        the caller, e.g. :func:`badpix.io.scandir.write_scan_dir`).
    checkpoint_every
        Frames between checkpoints (rounded up to whole read blocks); default
        the value recorded in the state, else 256.
    resume
        Continue the interrupted scan (or add) in ``out``; the input must have the
        same fingerprint (files, sizes, modification times).  A finished scan is
        only re-finalized.
    add
        Merge ``stack``'s frames into the finished scan in ``out`` without reading
        the old frames.  The layout, frame shape and dtype must match.
    memory_limit
        Bytes of frames the final median holds at once (default 512 MiB).
    on_checkpoint
        Called with the frames done in the current input after every checkpoint.
    median
        Compute the exact temporal median (and the OUTLIER rule); ``None``: as the
        plan decides (:func:`badpix.engine.plan.make_plan`: not for photo series).  The
        frames are stored either way, so a finished scan can be re-finalized
        with the median later (``resume=True, median=True``).

    Returns
    -------
    ScanResult
        Statistics of every frame merged so far, classified with ``params``.
    """
    params = params or RuleParams()
    if resume and add:
        add = False  # an interrupted --add is resumed like a scan: the last segment continues
    t0 = time.perf_counter()
    state = ScanState(out)
    fp = fingerprint(stack)
    digest = _digest(fp)
    if resume or add:
        m = state.load()
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
        seg = m["segments"][-1]
        unfinished = seg["frames_done"] < seg["n_frames"]
        if resume:
            if seg["digest"] != digest:
                raise InputError(stack.reader.paths[0] if stack.reader.paths else None,
                                 f"input differs from the interrupted scan in {out} (files, "
                                 "sizes or modification times changed); cannot resume")
        else:
            if unfinished:
                raise ParameterError(f"the last run into {out} was interrupted; finish it with "
                                     "--resume first")
            if any(s["digest"] == digest for s in m["segments"]):
                raise ParameterError(f"these frames are already part of the scan in {out}")
            m["segments"].append({"digest": digest, "n_frames": fp["n_frames"],
                                  "frames_done": 0, "stored_at_start": m["stored"],
                                  "skipped": _skipped_list(stack.skipped)})
            state.write_json(f"inputs-{len(m['segments']) - 1}.json", fp)
        if checkpoint_every is None:
            checkpoint_every = m["checkpoint_every"]
    else:
        state.reset()
        if plan is None or plan.checkpoint_every is None:
            plan = make_plan(stack, memory_limit=memory_limit, median=median,
                             extras=extra_accumulators, block_frames=block_frames,
                             checkpoint_every=int(checkpoint_every or 256))
        block, every = plan.block_frames, plan.checkpoint_every
        m = {"format": STATE_FORMAT, "generation": 0, "frame_shape": list(stack.frame_shape),
             "dtype": np.dtype(stack.dtype).str, "layout": _layout_dict(stack.layout),
             "block_frames": block, "checkpoint_every": every, "stored": 0,
             "segments": [{"digest": digest, "n_frames": fp["n_frames"], "frames_done": 0,
                           "stored_at_start": 0, "skipped": _skipped_list(stack.skipped)}]}
        state.write_json("inputs-0.json", fp)
    state.manifest = m
    # the recorded blocks and checkpoints: boundaries must not move, or outputs would differ
    recorded = int(m["block_frames"]), int(m["checkpoint_every"])
    if plan is None or (plan.block_frames, plan.checkpoint_every) != recorded:
        plan = dataclasses.replace(
            make_plan(stack, memory_limit=memory_limit, median=median, extras=extra_accumulators,
                      block_frames=recorded[0], checkpoint_every=recorded[0]),
            checkpoint_every=recorded[1])
    block = int(m["block_frames"])
    every = int(m["checkpoint_every"])
    if resume and checkpoint_every is not None and checkpoint_every != every:
        every = int(m["checkpoint_every"])  # boundaries must not move, or outputs would differ
    seg = m["segments"][-1]
    bands = stack.bands
    n = stack.n_frames
    factories = extra_factories(plan, stack, extra_accumulators)
    extras = {b.name: [acc for f in factories
                       if (acc := f(b.shape, stack.dtype, n, params)) is not None] for b in bands}
    if m["generation"] > 0:
        accs = state.load_accumulators(bands, extras)
    else:
        accs = {b.name: (MomentAccumulator(b.shape, stack.dtype), extras[b.name]) for b in bands}
    stores = {b.name: FrameStore(state.store_path(b.name), b.shape, stack.dtype, create=True)
              for b in bands}
    timings: dict[str, float] = {}
    try:
        for st in stores.values():
            st.truncate(int(m["stored"]))  # frames written after the last checkpoint
        if m["generation"] == 0:
            state.commit(accs, stores)  # an empty checkpoint: resume works from frame 0 on
        t_read = time.perf_counter()
        done = int(seg["frames_done"])
        skipped_before = len(stack.skipped)
        if progress is not None and done:
            progress(done)
        stored = int(m["stored"])
        for start, blk in stack.iter_blocks(block, done, n):
            update_bands(bands, blk, start, accs, stores, stored)
            stored += len(blk)
            done = min(n, start + block)
            if progress is not None:
                progress(done - start)
            if done == n or done % every == 0:
                seg["frames_done"] = done
                m["stored"] = stored
                seg["skipped"] += _skipped_list(stack.skipped[skipped_before:])
                skipped_before = len(stack.skipped)
                state.commit(accs, stores)
                if on_checkpoint is not None:
                    on_checkpoint(done)
        timings["stream"] = time.perf_counter() - t_read
        t_med = time.perf_counter()
        budget = plan.unit_memory
        slots = np.arange(int(m["stored"]), dtype=np.int64)
        with_median = plan.collects_median
        medians = {name: (tiled_median(st, slots, budget) if len(slots) and with_median
                          else None) for name, st in stores.items()}
        timings["median"] = time.perf_counter() - t_med
    finally:
        for st in stores.values():
            st.close()
    t_rules = time.perf_counter()
    results = classify_bands(stack, {b.name: (accs[b.name][0], medians[b.name], accs[b.name][1])
                                     for b in bands}, params)
    timings["rules"] = time.perf_counter() - t_rules
    timings["total"] = time.perf_counter() - t0
    result = ScanResult.from_stack(stack, params, results, timings, plan)
    _describe_segments(result, m, stack)
    return result


def _skipped_list(skipped: Sequence[Any]) -> list[dict[str, str]]:
    return [{"label": s.label, "reason": s.reason} for s in skipped]


def _describe_segments(result: ScanResult, m: dict[str, Any], stack: Stack) -> None:
    """Input info of a scan built from several inputs: all segments' skipped frames and sources."""
    from ..io.base import SkippedFrame

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
