"""Write background results: ``.rtdc``/HDF5 files dcnum and dclab read, or a folder of TIFF/NPY + CSV.

The HDF5 layout and its writer are :mod:`badpix.background.rtdc`; this module holds
the folder output, the background-corrected frames and the choice between them.

Folder layout: ``image_bg.tif`` (or ``.npy``, one page per distinct image),
``frames.csv`` (``frame,image,bg_off[,time]``) and ``background.json``.

>>> import numpy as np, tempfile, pathlib
>>> from badpix.background import background
>>> r = background(np.zeros((6, 30, 8), np.uint8), method="rolling", kernel_size=2)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "bg"
>>> sorted(p.name for p in write_folder(out, r))
['background.json', 'frames.csv', 'image_bg.tif']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import OutputError, ParameterError
from ..io.atomic import StagedDir
from .result import BackgroundResult
from .rtdc import _chunks, _ds_kwargs, _json_default, dcnum_ppid

__all__ = ["HDF5_OUT_SUFFIXES", "CorrectedWriter", "FolderImageWriter", "is_hdf5_output",
           "write_folder", "write_table"]

HDF5_OUT_SUFFIXES = (".rtdc", ".h5", ".hdf5")


def is_hdf5_output(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in HDF5_OUT_SUFFIXES


class FolderImageWriter:
    """Distinct images into ``image_bg.tif`` (one page each) or ``image_bg.npy``, streamed."""

    def __init__(self, folder: Path, n_images: int, shape: tuple[int, ...], dtype: np.dtype,
                 image_format: str = "tif"):
        self.format = image_format
        if image_format == "tif":
            import tifffile

            self.path = folder / "image_bg.tif"
            self._tif = tifffile.TiffWriter(self.path, bigtiff=n_images * int(np.prod(shape)) > 2**31)
        elif image_format == "npy":
            self.path = folder / "image_bg.npy"
            self._npy = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype,
                                                  shape=(n_images, *shape))
        else:
            raise ParameterError(f"--image-format: must be tif or npy, not {image_format!r}")

    def write(self, first: int, images: np.ndarray) -> None:
        if self.format == "tif":
            for im in images:
                self._tif.write(im, contiguous=False, metadata=None)
        else:
            self._npy[first:first + len(images)] = images

    def close(self) -> None:
        if self.format == "tif":
            self._tif.close()
        else:
            self._npy.flush()
            del self._npy


def write_table(folder: Path, result: BackgroundResult, extra: dict[str, Any]) -> list[Path]:
    """``frames.csv`` and ``background.json`` beside the images."""
    csv = folder / "frames.csv"
    cols = ["frame", "image"]
    data = [np.arange(result.n_frames), result.index]
    fmt = ["%d", "%d"]
    if result.bg_off is not None:
        cols.append("bg_off")
        data.append(result.bg_off)
        fmt.append("%.17g")
    if result.times is not None:
        cols.append("time")
        data.append(result.times.astype(np.float64))
        fmt.append("%.17g")
    table = np.empty((result.n_frames, len(cols)), dtype=object)
    for j, col in enumerate(data):
        table[:, j] = col
    with open(csv, "w") as f:
        f.write(",".join(cols) + "\n")
        np.savetxt(f, table, fmt=fmt, delimiter=",")
    info: dict[str, Any] = {"badpix_version": __version__, "method": result.method,
                            "dcnum_ppid": dcnum_ppid(result.method, result.params),
                            "parameters": result.params, "n_frames": result.n_frames,
                            "time_source": result.time_source, "notes": result.notes}
    if result.step_times is not None:
        info["step_times"] = result.step_times.tolist()
        info["kept"] = result.kept.tolist()
        info["windows"] = result.windows.tolist()
    info.update(extra)
    js = folder / "background.json"
    js.write_text(json.dumps(info, indent=2, default=_json_default))
    return [csv, js]


def write_folder(target: str | os.PathLike, result: BackgroundResult,
                 image_format: str = "tif", extra: dict[str, Any] | None = None) -> list[Path]:
    """Write an in-memory result as a folder, atomically (staged, then published)."""
    with StagedDir(target) as stage:
        w = FolderImageWriter(stage.path, len(result.images), result.images.shape[1:],
                              result.images.dtype, image_format)
        w.write(0, result.images)
        w.close()
        write_table(stage.path, result, extra or {})
        names = sorted(p.name for p in stage.path.iterdir())
    return [Path(target) / n for n in names]


class CorrectedWriter:
    """Background-corrected frames (float32) into ``.npy``, ``.tif`` or HDF5 (``corrected``)."""

    def __init__(self, path: Path, n: int, shape: tuple[int, ...], compression: str = "zstd"):
        suffix = path.suffix.lower()
        self.kind = ("h5" if suffix in HDF5_OUT_SUFFIXES else
                     "npy" if suffix == ".npy" else "tif" if suffix in (".tif", ".tiff") else None)
        if self.kind is None:
            raise OutputError(f"{path}: --subtract writes .npy, .tif or .h5/.rtdc files")
        if self.kind == "h5":
            import h5py

            self._h5 = h5py.File(path, "w")
            self._ds = self._h5.create_dataset("corrected", shape=(n, *shape), dtype=np.float32,
                                               maxshape=(None, *shape),
                                               chunks=_chunks(shape, np.float32),
                                               **_ds_kwargs(compression))
            self._ds.attrs["badpix"] = "frame - image_bg - bg_off"
        elif self.kind == "npy":
            self._npy = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                                  shape=(n, *shape))
        else:
            import tifffile

            self._tif = tifffile.TiffWriter(path, bigtiff=n * int(np.prod(shape)) * 4 > 2**31)

    def write(self, first: int, corrected: np.ndarray) -> None:
        if self.kind == "h5":
            self._ds[first:first + len(corrected)] = corrected
        elif self.kind == "npy":
            self._npy[first:first + len(corrected)] = corrected
        else:
            for im in corrected:
                self._tif.write(im, contiguous=False, metadata=None)

    def close(self) -> None:
        if self.kind == "h5":
            self._h5.close()
        elif self.kind == "npy":
            self._npy.flush()
            del self._npy
        else:
            self._tif.close()
