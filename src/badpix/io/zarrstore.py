"""Zarr stores (v2 and v3) through the ``zarr`` package: one array of frames.

* A store is a folder (``stack.zarr/`` holding ``zarr.json`` or ``.zarray`` /
  ``.zgroup``); ``stack.zarr:group/array`` or ``dataset=`` names an array inside
  a group.  Without a dataset the root array is used, or the only 3-D/4-D array
  of the group (the error lists them when there are several).
* An array ``(N, H, W)`` gives frames ``(H, W, 1)``; ``(N, H, W, C)`` gives C channels.
* Blocks of frames are read with one slice, so each chunk is decoded once per
  block, not once per frame; a block that ends inside a chunk decodes that
  chunk again for the next block.  This is the format for data that workers
  of a Dask cluster read themselves from shared storage.

Security: stores are untrusted.  Only numeric dtypes are read, arrays whose
codecs include a pickle codec (numcodecs ``Pickle`` would unpickle chunk
bytes) are refused, and the declared frame and chunk sizes are checked
against the available memory before anything is decoded.  Zarr metadata holds
no paths to other files, so nothing outside the named folder is opened.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, InputError
from ..memory import check_allocation
from .base import Reader, as_hwc, default_channel_names

__all__ = ["ZarrReader", "is_zarr_store"]

#: files that mark a folder as a zarr store (v3, then v2 array / group)
ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


def is_zarr_store(path: Path) -> bool:
    """True when ``path`` is a folder with zarr metadata at its root.

    >>> import tempfile, pathlib
    >>> is_zarr_store(pathlib.Path(tempfile.mkdtemp()))
    False
    """
    return path.is_dir() and any((path / m).is_file() for m in ZARR_MARKERS)


def _codec_names(arr: Any) -> list[str]:
    codecs: list[Any] = []
    for attr in ("filters", "compressors", "serializer"):
        value = getattr(arr, attr, None)
        if value is None:
            continue
        codecs.extend(value if isinstance(value, (list, tuple)) else [value])
    return [type(c).__name__ for c in codecs]


def _frame_arrays(group: Any, prefix: str = "") -> list[str]:
    """Paths of the 3-D/4-D arrays in ``group`` (recursively), for error messages."""
    import zarr

    found = []
    for name, member in group.members():
        path = f"{prefix}{name}"
        if isinstance(member, zarr.Array):
            if member.ndim in (3, 4):
                found.append(path)
        else:
            found.extend(_frame_arrays(member, path + "/"))
    return found


class ZarrReader(Reader):
    """One array of a zarr store, frames along the first axis.

    >>> import numpy as np, tempfile, pathlib, zarr
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "frames.zarr"
    >>> z = zarr.create_array(store, shape=(6, 4, 5), chunks=(2, 4, 5), dtype="uint16")
    >>> z[:] = np.arange(120).reshape(6, 4, 5)
    >>> r = ZarrReader([store])
    >>> r.n_frames, r.frame_shape, int(r.read_frames(2, 4)[1, 0, 0, 0])
    (6, (4, 5, 1), 60)
    """

    format_name = "zarr"
    suffixes = ()  # a store is a folder; resolve_inputs passes it on whole

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return len(paths) == 1 and is_zarr_store(paths[0])

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, **_: object):
        super().__init__()
        self.paths = [Path(paths[0])]
        self.dataset = dataset
        self._array = None
        self._lock = threading.Lock()
        self._unpicklable = ("_array", "_lock")
        arr = self._open()
        store = self.paths[0]
        dtype = np.dtype(arr.dtype)
        if dtype.kind not in "biuf" or dtype.itemsize > 8:
            raise DecodeError(store, f"unsupported dtype {dtype} (numeric frames only)")
        pickled = [n for n in _codec_names(arr) if "pickle" in n.lower()]
        if pickled:
            raise DecodeError(store, f"uses the {pickled[0]} codec, which would unpickle "
                                     "untrusted data; badpix refuses it")
        if arr.ndim not in (3, 4):
            raise DecodeError(store, f"array has shape {arr.shape}; frames need "
                                     "(N, H, W) or (N, H, W, C)")
        self.n_frames = int(arr.shape[0])
        if self.n_frames == 0:
            raise DecodeError(store, "array holds no frames")
        self.frame_shape = as_hwc(tuple(int(s) for s in arr.shape[1:]))
        self.dtype = dtype.newbyteorder("=")
        self.channel_names = default_channel_names(self.frame_shape[2])
        chunk_bytes = int(np.prod(arr.chunks)) * dtype.itemsize
        frame_bytes = int(np.prod(self.frame_shape)) * dtype.itemsize
        # reading one frame decodes every chunk it touches; both must fit
        check_allocation(2 * chunk_bytes + frame_bytes, "one zarr chunk and frame", store)
        self.chunk_frames = int(arr.chunks[0])
        self.attrs = {"format": f"zarr v{arr.metadata.zarr_format}",
                      "chunks": tuple(int(c) for c in arr.chunks),
                      "codecs": _codec_names(arr)}

    def _open(self) -> Any:
        if self._array is not None:
            return self._array
        import zarr

        store = self.paths[0]
        try:
            node = zarr.open(store, mode="r")
            if self.dataset is not None:
                if not isinstance(node, zarr.Group):
                    raise InputError(store, f"is an array, not a group with {self.dataset!r}")
                try:
                    node = node[self.dataset.strip("/")]
                except KeyError:
                    raise InputError(store, f"has no array {self.dataset!r}; frame arrays: "
                                     + (", ".join(_frame_arrays(node)) or "none")) from None
            elif isinstance(node, zarr.Group):
                found = _frame_arrays(node)
                if len(found) != 1:
                    raise InputError(store, "name the array of frames as STORE:ARRAY; "
                                     "frame arrays: " + (", ".join(found) or "none"))
                node = node[found[0]]
        except (InputError, DecodeError):
            raise
        except Exception as exc:  # noqa: BLE001 - zarr raises assorted types on bad metadata
            raise DecodeError(store, f"not a readable zarr store ({exc})") from None
        if not isinstance(node, zarr.Array):
            raise InputError(store, f"{self.dataset!r} is a group, not an array")
        self._array = node
        return node

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def read_frames(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` with one slice: each chunk is decoded once."""
        out = self.block_buffer(stop - start, out)
        with self._lock:  # zarr arrays are opened once per reader and shared by threads
            arr = self._open()
        try:
            out[...] = np.asarray(arr[start:stop]).reshape(out.shape)
        except Exception as exc:  # noqa: BLE001 - codec and store errors vary
            raise DecodeError(self.paths[0], f"cannot read frames {start}..{stop - 1} "
                                             f"({exc})") from None
        return out

    def read_frame(self, index: int, out: np.ndarray) -> None:
        self.read_frames(index, index + 1, out[None])

    def frame_label(self, index: int) -> str:
        inner = f":{self.dataset}" if self.dataset else ""
        return f"{self.paths[0].name}{inner}[{index}]"
