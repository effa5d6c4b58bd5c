"""Arrays as files: PNG (Pillow), ``.npy`` (never pickled) and HDF5 (h5py), atomic."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import OutputError
from ..atomic import atomic_path
from .text import _jsonable

__all__ = ["write_h5", "write_npy", "write_png"]


def write_png(path: str | os.PathLike, data2d: np.ndarray, *,
              text: Mapping[str, Any] | None = None, overwrite: bool = True) -> Path:
    """Write a grey ``uint8``/``uint16`` image (or ``(h, w, 3)`` uint8 RGB) as PNG.

    ``text`` is provenance stored in PNG ``tEXt`` chunks (read back with
    ``PIL.Image.open(path).text``).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.png"
    >>> _ = write_png(p, np.zeros((3, 4), np.uint16), text={"source": "x"})
    >>> from PIL import Image; Image.open(p).text["source"]
    'x'
    """
    from PIL import Image, PngImagePlugin

    arr = np.asarray(data2d)
    target = Path(path)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16):
        mode = "L" if arr.dtype == np.uint8 else "I;16"
    elif arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        mode = "RGB"
    else:
        raise OutputError(f"{target}: PNG needs (h, w) uint8/uint16 or (h, w, 3) uint8, "
                          f"got {arr.shape} {arr.dtype}")
    img = Image.fromarray(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("=")))
    if img.mode != mode:
        img = img.convert(mode)
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(str(k), str(v))
    with atomic_path(target, overwrite=overwrite) as tmp:
        try:
            img.save(tmp, format="PNG", pnginfo=info)
        except (OSError, ValueError) as exc:
            raise OutputError(f"{target}: cannot write PNG ({exc})") from None
    return target


def write_npy(path: str | os.PathLike, arr: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write ``arr`` as ``.npy`` (never pickled: object arrays are refused).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.load(write_npy(p, np.arange(3))).tolist()
    [0, 1, 2]
    """
    a = np.asanyarray(arr)
    target = Path(path)
    if a.dtype.hasobject:
        raise OutputError(f"{target}: object arrays are not written (would need pickling)")
    with atomic_path(target, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.save must not append ".npy"
            np.save(f, a, allow_pickle=False)
    return target


def write_h5(path: str | os.PathLike, datasets: Mapping[str, np.ndarray],
             attrs: Mapping[str, Any] | None = None, *, compression: str = "gzip",
             overwrite: bool = True) -> Path:
    """Write arrays (keys may be paths like ``"stats/mean"``) and root attributes to HDF5.

    Compression is ``"gzip"`` (default) or ``"lzf"``: both are built into h5py,
    so the file opens without hdf5plugin.  Attribute values that HDF5 cannot
    store natively (dicts, lists of mixed types, ``None``) are stored as JSON text.

    >>> import numpy as np, tempfile, pathlib, h5py
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> _ = write_h5(p, {"stats/mean": np.ones((2, 3))}, {"n_frames": 7})
    >>> with h5py.File(p) as f:
    ...     f["stats/mean"].shape, int(f.attrs["n_frames"])
    ((2, 3), 7)
    """
    import h5py

    if compression not in ("gzip", "lzf", None):
        raise OutputError(f"{os.fspath(path)}: compression must be gzip or lzf, not {compression!r}")
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        try:
            with h5py.File(tmp, "w") as f:
                for name, value in datasets.items():
                    a = np.asarray(value)
                    if a.dtype.hasobject:
                        raise OutputError(f"{target}: dataset {name!r} holds Python objects")
                    if a.dtype.kind == "U":
                        f.create_dataset(name, data=a.astype(h5py.string_dtype()))
                        continue
                    kw: dict[str, Any] = {}
                    if a.ndim > 0 and a.size > 1 and compression:
                        kw = {"compression": compression, "shuffle": True}
                        if compression == "gzip":
                            kw["compression_opts"] = 4
                    f.create_dataset(name, data=a, **kw)
                for key, value in (attrs or {}).items():
                    f.attrs[str(key)] = _h5_attr(value)
        except (OSError, ValueError, TypeError) as exc:
            raise OutputError(f"{target}: cannot write HDF5 ({exc})") from None
    return target


def _h5_attr(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return np.asarray(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return json.dumps(_jsonable(value), allow_nan=False)
