"""HDF5 / NeXus / RT-DC frames through h5py: one dataset, in one file or in numbered parts.

* ``file.h5:events/image`` or ``dataset=``; without a dataset ``events/image``
  (RT-DC) is used when present, else the error lists the 3-D datasets found.
* A dataset ``(N, H, W)`` gives frames ``(H, W, 1)``; ``(N, H, W, C)`` gives C channels.
* Several files (e.g. ``scan_m1_part0000{0..4}.nxs``) are parts of one series,
  concatenated in file-number order; all parts must agree on frame shape and dtype.
* ``hdf5plugin`` is imported first so Zstd/Blosc/LZ4/Bitshuffle data decode.

Security: files are untrusted.  Links are walked one component at a time and
never followed out of the named files: external links are refused, virtual
datasets are read only when all their sources lie in the folders the user named,
and datasets stored in external raw files are refused (:mod:`badpix.io.hdf5_safety`).
Declared shapes are checked against available memory before any block is allocated.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, FrameMismatchError, InputError
from ..memory import check_allocation
from .base import (
    Reader,
    SkippedFrame,
    as_hwc,
    default_channel_names,
)
from .hdf5_safety import (
    _corrupt_is_decode_error,
    _h5py,
    _list_stacks,
    _Missing,
    _safe_get,
    _SecurityError,
)

__all__ = ["Hdf5Reader", "H5_SUFFIXES", "DEFAULT_DATASET"]

H5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5", ".rtdc", ".cxi")
DEFAULT_DATASET = "events/image"


def _py(value: Any) -> Any:
    """An HDF5 attribute value as plain Python (scalars, str, small lists)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return _py(value.item())
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _py(value.reshape(-1)[0])
        if value.size <= 64:
            return [_py(v) for v in value.reshape(-1).tolist()]
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Hdf5Reader(Reader):
    """Frames from one dataset of an HDF5/NeXus/RT-DC file or of a series of part files.

    >>> import numpy as np, tempfile, pathlib, h5py
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for k in range(2):
    ...     with h5py.File(d / f"run_part{k}.h5", "w") as f:
    ...         f["entry/data"] = np.full((3, 4, 5), k, np.int16)
    >>> r = Hdf5Reader(sorted(d.glob("*.h5")), dataset="entry/data")
    >>> r.n_frames, r.frame_shape, r.frame_label(4)
    (6, (4, 5, 1), 'run_part1.h5[1]')
    """

    format_name = "hdf5"
    suffixes = H5_SUFFIXES

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        if not paths:
            return False
        if all(p.suffix.lower() in H5_SUFFIXES for p in paths):
            return True
        if dataset is None:
            return False
        h5py = _h5py()
        try:
            return all(h5py.is_hdf5(p) for p in paths)  # reads the 8-byte signature only
        except OSError:
            return False

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, **_: Any):
        super().__init__()
        h5py = _h5py()
        paths = [Path(p) for p in paths]
        _check_one_series(paths)
        self._allowed = sorted({p.resolve().parent for p in paths})
        good: list[Path] = []
        counts: list[int] = []
        first: tuple[tuple[int, ...], np.dtype, Path] | None = None
        chosen = dataset.strip("/") if dataset else None
        raw_rows = True
        for p in paths:
            try:
                try:
                    f = h5py.File(p, "r")
                except OSError as exc:
                    raise DecodeError(p, f"not a readable HDF5 file ({exc})") from None
                with f, _corrupt_is_decode_error(p):
                    if first is None and not self.attrs:
                        self.attrs = {str(k): _py(v) for k, v in _root_attrs(f).items()}
                    ds, name = self._find(f, p, chosen)
                    chosen = name  # later parts must hold the same dataset
                    shape = tuple(int(s) for s in ds.shape)
                    dtype = ds.dtype
                    # without filters HDF5 reads a row range alone; a compressed chunk is
                    # decoded whole, once per row range: then whole frames are cheaper
                    unfiltered = ds.id.get_create_plist().get_nfilters() == 0
                    raw_rows = raw_rows and unfiltered and not ds.is_virtual
                if dtype.kind not in "uif":
                    raise DecodeError(p, f"dataset {name} has unsupported type {dtype}")
                if len(shape) not in (3, 4):
                    raise DecodeError(p, f"dataset {name} has shape {shape}; badpix needs "
                                      "(frames, rows, cols) or (frames, rows, cols, channels)")
                frame = shape[1:]
                dtype = np.dtype(dtype).newbyteorder("=")
                if first is None:
                    check_allocation(int(np.prod(frame)) * dtype.itemsize, "one frame", p)
                    first = (frame, dtype, p)
                elif (frame, dtype) != first[:2]:
                    raise FrameMismatchError(
                        p, f"dataset {name}: frame shape {frame} {dtype} differs from the "
                        f"first part's {first[0]} {first[1]} ({first[2].name})")
            except InputError as exc:
                if not skip_bad or isinstance(exc, _SecurityError):
                    raise
                self.skipped.append(SkippedFrame(p.name, exc.problem))
                continue
            good.append(p)
            counts.append(shape[0])
        if first is None:
            raise InputError(paths[0] if paths else None, "no readable HDF5 frames")
        self.paths = good
        self.dataset = chosen
        self._counts = counts
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_frames = int(self._offsets[-1])
        if self.n_frames == 0:
            raise InputError(good[0], f"dataset {chosen} holds no frames")
        self._hdf_frame = first[0]
        self.frame_shape = as_hwc(first[0])
        self.dtype = first[1]
        self.channel_names = default_channel_names(self.frame_shape[2])
        self.georef = None
        self.reads_rows = raw_rows
        self._files: dict[int, Any] = {}
        self._dsets: dict[int, Any] = {}
        self._guard = threading.Lock()
        self._unpicklable = ("_files", "_dsets", "_guard")

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._files, self._dsets, self._guard = {}, {}, threading.Lock()

    def frames_per_file(self) -> list[int]:
        """Frames in each part file: the first axis of its image dataset."""
        return list(self._counts)

    # -- opening --------------------------------------------------------------------
    def _find(self, f, p: Path, name: str | None):
        """The image dataset of one part and its path."""
        want = name or DEFAULT_DATASET
        try:
            ds = _safe_get(f, want, p, self._allowed)
        except _Missing:
            found = _list_stacks(f)
            listing = "; ".join(found[:20]) if found else "none"
            if name is None:
                raise InputError(p, f"no dataset given and no {DEFAULT_DATASET}; 3-D datasets "
                                 f"in the file: {listing} (name one as FILE:PATH or with "
                                 "--dataset)") from None
            raise InputError(p, f"no dataset {want!r}; 3-D datasets in the file: "
                             f"{listing}") from None
        except InputError as exc:
            raise _SecurityError(exc.path, exc.problem) from None
        return ds, want

    def _dataset(self, part: int):
        with self._guard:
            ds = self._dsets.get(part)
            if ds is None:
                h5py = _h5py()
                p = self.paths[part]
                try:
                    f = h5py.File(p, "r")
                    self._files[part] = f
                    ds = _safe_get(f, self.dataset, p, self._allowed)
                except _Missing:
                    raise DecodeError(p, f"dataset {self.dataset} has disappeared") from None
                except OSError as exc:
                    raise DecodeError(p, f"cannot open ({exc})") from None
                if tuple(ds.shape) != (self._counts[part], *self._hdf_frame):
                    raise DecodeError(p, f"dataset {self.dataset} changed shape to {ds.shape}")
                self._dsets[part] = ds
            return ds

    # -- pixels ---------------------------------------------------------------------
    def read_frame(self, index: int, out: np.ndarray) -> None:
        self.read_frames(index, index + 1, out[np.newaxis])

    def read_frames(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Read frames ``[start, stop)``: one h5py slice per part, straight into ``out``."""
        return self._read_block(start, stop, self.block_buffer(stop - start, out), None)

    def read_rows(self, start: int, stop: int, rows: tuple[int, int], out: np.ndarray
                  ) -> np.ndarray:
        """Rows ``(r0, r1)`` of frames ``[start, stop)`` as one hyperslab per part file.

        :attr:`reads_rows` is True when no part is compressed or filtered (HDF5 then
        reads only those rows); the result is right either way.
        """
        return self._read_block(start, stop, out, rows)

    def _read_block(self, start: int, stop: int, out: np.ndarray,
                    rows: tuple[int, int] | None) -> np.ndarray:
        """Frames ``[start, stop)`` (all rows, or ``rows``) part by part into ``out``."""
        pos = 0
        first = int(np.searchsorted(self._offsets, start, side="right")) - 1
        for part in range(max(first, 0), len(self._counts)):
            lo, hi = int(self._offsets[part]), int(self._offsets[part + 1])
            if lo >= stop:
                break
            a, b = max(start, lo) - lo, min(stop, hi) - lo
            if b <= a:
                continue
            self._read_part(part, a, b, out[pos:pos + (b - a)], rows)
            pos += b - a
        return out

    def _read_part(self, part: int, a: int, b: int, dst: np.ndarray,
                   rows: tuple[int, int] | None = None) -> None:
        ds = self._dataset(part)
        path = self.paths[part]
        r0, r1 = rows if rows is not None else (0, ds.shape[1])
        try:
            if dst.flags.c_contiguous and dst.dtype == self.dtype:
                # HDF5 decodes (and converts byte order) directly into the buffer
                ds.read_direct(dst.reshape((b - a, r1 - r0, *ds.shape[2:])),
                               source_sel=np.s_[a:b, r0:r1])
            else:
                dst[...] = ds[a:b, r0:r1].reshape(dst.shape)
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            where = f"{a}:{b}" if rows is None else f"{a}:{b}, {r0}:{r1}"
            raise DecodeError(path, f"cannot read {self.dataset}[{where}] ({exc})") from None

    def frame_label(self, index: int) -> str:
        part = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return f"{self.paths[part].name}[{index - int(self._offsets[part])}]"

    def describe(self) -> str:
        return super().describe().replace(f"{self.paths[0]}", f"{self.paths[0]}:{self.dataset}",
                                          1)

    # -- per-frame metadata -------------------------------------------------------------
    def frame_feature(self, name: str) -> np.ndarray | None:
        """A 1-D dataset beside the image dataset (e.g. ``time``, ``frame``), over all parts.

        ``None`` when any part lacks it or its length differs from that part's frames.
        """
        if "/" in name.strip("/"):
            return None
        parent = self.dataset.rsplit("/", 1)[0] if "/" in self.dataset else ""
        path = f"{parent}/{name}" if parent else name
        pieces = []
        h5py = _h5py()
        for part, p in enumerate(self.paths):
            with h5py.File(p, "r") as f:
                try:
                    ds = _safe_get(f, path, p, self._allowed)
                except _Missing:
                    return None
                if ds.ndim != 1 or ds.shape[0] != self._counts[part] or ds.dtype.kind not in "uifb":
                    return None
                try:
                    pieces.append(ds[()])
                except OSError as exc:
                    raise DecodeError(p, f"cannot read {path} ({exc})") from None
        return np.concatenate(pieces)

    def frame_times(self) -> np.ndarray | None:
        """``time`` feature in seconds; else ``frame`` / ``imaging:frame rate`` (RT-DC); else None."""
        t = self.frame_feature("time")
        if t is not None:
            return t.astype(np.float64)
        rate = self.attrs.get("imaging:frame rate")
        if isinstance(rate, (int, float)) and rate > 0:
            frames = self.frame_feature("frame")
            if frames is not None:
                return frames.astype(np.float64) / float(rate)
        return None

    def close(self) -> None:
        with self._guard:
            self._dsets.clear()
            for f in self._files.values():
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
            self._files.clear()


def _root_attrs(f) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in f.attrs:
        try:
            out[key] = f.attrs[key]
        except (OSError, TypeError, ValueError):
            continue  # attributes of exotic types are metadata we can live without
    return out


def _check_one_series(paths: Sequence[Path]) -> None:
    """Refuse part files of different series that would interleave when sorted by number.

    ``scan_m1_part00000.nxs`` and ``scan_m2_part00000.nxs`` share the part number 0;
    concatenating a folder holding both would mix two detectors frame by frame.
    """
    if len(paths) < 2:
        return
    by_number: dict[int, set[str]] = {}
    for p in paths:
        stem = p.name.split(".")[0]
        numbers = list(re.finditer(r"\d+", stem))  # the number natural_key sorts by
        if not numbers:
            continue
        m = numbers[-1]
        by_number.setdefault(int(m.group()), set()).add(stem[:m.start()] + "#" + stem[m.end():])
    for key, prefixes in by_number.items():
        if len(prefixes) > 1:
            names = ", ".join(sorted(prefixes))
            raise InputError(paths[0].parent, f"files of different series share part number "
                             f"{key} ({names}); name one series, e.g. with a glob")
