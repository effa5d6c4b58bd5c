"""Write background results: ``.rtdc``/HDF5 files dcnum and dclab read, or a folder of TIFF/NPY + CSV.

HDF5 layout (the same one dcnum 0.31 writes, so ``dcnum.read.HDF5Data(path)["image_bg"]``
returns one image per frame):

* sparse: the distinct images in ``basin_events/image_bg``, the frame -> image
  index in ``events/basinmap0`` and an *internal mapped basin* in ``basins/``;
* rolling: ``events/image_bg`` with one image per frame;
* ``events/bg_off`` (float64) when computed;
* a *file basin* pointing at the input ``.rtdc`` so its features (``image``,
  ``time``, ...) stay reachable; root attributes copied from the input, plus
  ``experiment:event count`` and ``pipeline:dcnum background``;
* parameters as attributes of ``image_bg``/``bg_off`` and as JSON in
  ``logs/badpix-background``.

Compression is Zstd via ``hdf5plugin`` (a badpix dependency, and what dcnum
writes) unless ``compression="gzip"`` (readable by any HDF5 tool) or ``"none"``.

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

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import OutputError, ParameterError
from ..io.atomic import StagedDir
from .result import BackgroundResult

__all__ = ["HDF5_OUT_SUFFIXES", "RtdcBackgroundWriter", "dcnum_ppid", "is_hdf5_output",
           "write_folder", "write_rtdc", "CorrectedWriter"]

HDF5_OUT_SUFFIXES = (".rtdc", ".h5", ".hdf5")
DCNUM_PPID_GENERATION = "13"  # dcnum 0.31's pipeline-id generation


def is_hdf5_output(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in HDF5_OUT_SUFFIXES


def _ppid_val(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (float, np.floating)) and v == int(v):
        return int(v)
    return v


def dcnum_ppid(method: str, params: dict[str, Any]) -> str:
    """dcnum's pipeline identifier for these parameters, e.g. ``sparsemed:k=200^s=1^t=0^f=0.8^o=1``.

    >>> dcnum_ppid("rolling", {"kernel_size": 100})
    'rollmed:k=100^b=10000'
    """
    if method == "sparse":
        keys = [("k", "kernel_size"), ("s", "split_time"), ("t", "thresh_cleansing"),
                ("f", "frac_cleansing"), ("o", "offset_correction")]
        return "sparsemed:" + "^".join(f"{a}={_ppid_val(params[b])}" for a, b in keys)
    return f"rollmed:k={int(params['kernel_size'])}^b=10000"


def _ds_kwargs(compression: str) -> dict[str, Any]:
    if compression == "zstd":
        import hdf5plugin

        kw = dict(hdf5plugin.Zstd(clevel=5))
    elif compression == "gzip":
        kw = {"compression": "gzip", "compression_opts": 1}
    elif compression == "none":
        kw = {}
    else:
        raise ParameterError(f"--compression: must be zstd, gzip or none, not {compression!r}")
    kw["fletcher32"] = True
    return kw


def _chunks(item_shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    # about 1 MiB per chunk, 10..1000 items (dcnum's rule, good for its reader cache)
    size = int(np.prod(item_shape)) * np.dtype(dtype).itemsize
    return (min(1000, max(10, 2**20 // max(1, size))), *item_shape)


def _measurement_identifier(attrs: dict[str, Any]) -> str | None:
    # same rule as dcnum.read.get_measurement_identifier, so its basin check passes
    mid = attrs.get("experiment:run identifier")
    if not mid:
        m_time = attrs.get("experiment:time") or None
        m_date = attrs.get("experiment:date") or None
        m_sid = attrs.get("setup:identifier") or None
        if None not in (m_time, m_date, m_sid):
            digest = hashlib.md5(f"{m_time}_{m_date}_{m_sid}".encode()).hexdigest()
            mid = str(uuid.UUID(hex=digest))
    return mid


class RtdcBackgroundWriter:
    """Write one background result into an HDF5 file (see the module docstring).

    Use :meth:`write_images` (rolling: streamed blocks of per-frame images;
    sparse: all distinct images plus the index) and :meth:`finish`.
    """

    def __init__(self, path: str | os.PathLike, n_frames: int, frame_shape: tuple[int, ...],
                 dtype: np.dtype, method: str, params: dict[str, Any],
                 input_path: str | os.PathLike | None = None, compression: str = "zstd",
                 output_target: str | os.PathLike | None = None):
        import h5py

        self.kw = _ds_kwargs(compression)
        self.n = int(n_frames)
        self.shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.method = method
        self.params = params
        self.ppid = dcnum_ppid(method, params)
        self.h5 = h5py.File(path, "w", libver="latest")
        self.written = 0
        attrs: dict[str, Any] = {}
        features: list[str] = []
        if input_path is not None:
            attrs, features = self._input_info(input_path)
        for key, val in attrs.items():
            self.h5.attrs[key] = val
        self.h5.attrs["experiment:event count"] = self.n
        self.h5.attrs["pipeline:dcnum background"] = self.ppid
        self.events = self.h5.require_group("events")
        if input_path is not None:
            target = Path(output_target if output_target is not None else path)
            self._file_basin(Path(input_path), target, features,
                             _measurement_identifier(attrs))
        self._log()

    # -- setup --------------------------------------------------------------------
    @staticmethod
    def _input_info(input_path: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
        import h5py
        import hdf5plugin  # noqa: F401

        with h5py.File(input_path, "r") as h5:
            attrs = dict(h5.attrs)
            feats = list(h5["events"].keys()) if "events" in h5 else []
            if "basin_events" in h5:
                feats += list(h5["basin_events"].keys())
        # ours replace the input's background features
        skip = {"image_bg", "bg_off"}
        feats = sorted(f for f in set(feats) if not f.startswith("basinmap") and f not in skip)
        return attrs, feats

    def _store_basin(self, bdat: dict[str, Any]) -> None:
        text = json.dumps(bdat, indent=2)
        key = hashlib.md5(text.encode("utf-8", errors="ignore")).hexdigest()
        lines = text.split("\n")
        self.h5.require_group("basins").create_dataset(
            key, data=lines, shape=(len(lines),), dtype=f"S{max(len(s) for s in lines)}",
            chunks=True, **self.kw)

    def _file_basin(self, input_path: Path, target: Path, features: list[str],
                    identifier: str | None) -> None:
        # absolute path first, then relative to the output (dcnum tries both in turn)
        paths = [str(input_path.resolve())]
        try:
            paths.append(os.path.relpath(input_path.resolve(), target.resolve().parent))
        except ValueError:  # other drive on Windows
            pass
        self._store_basin({"description": f"Input of badpix {__version__} background",
                           "name": input_path.name, "format": "hdf5", "paths": paths,
                           "type": "file", "identifier": identifier, "features": features})

    def _log(self) -> None:
        info = {"badpix_version": __version__, "method": self.method, "dcnum_ppid": self.ppid,
                "parameters": self.params}
        lines = json.dumps(info, indent=2, default=_json_default).split("\n")
        self.h5.require_group("logs").create_dataset(
            "badpix-background", data=lines, shape=(len(lines),),
            dtype=f"S{max(len(s) for s in lines)}", chunks=True, **self.kw)

    def _attrs(self, ds: Any) -> None:
        ds.attrs["dcnum ppid background"] = self.ppid
        ds.attrs["dcnum ppid generation"] = DCNUM_PPID_GENERATION
        ds.attrs["badpix version"] = __version__
        ds.attrs["badpix method"] = self.method
        for key, val in self.params.items():
            ds.attrs[f"badpix {key}"] = val

    def _image_ds(self, group: Any, n: int) -> Any:
        ds = group.create_dataset("image_bg", shape=(n, *self.shape), dtype=self.dtype,
                                  maxshape=(None, *self.shape),
                                  chunks=_chunks(self.shape, self.dtype), **self.kw)
        if len(self.shape) == 2:
            ds.attrs.create("CLASS", np.bytes_("IMAGE"))
            ds.attrs.create("IMAGE_VERSION", np.bytes_("1.2"))
            ds.attrs.create("IMAGE_SUBCLASS", np.bytes_("IMAGE_GRAYSCALE"))
        self._attrs(ds)
        return ds

    # -- data -----------------------------------------------------------------------
    def write_sparse(self, images: np.ndarray, index: np.ndarray) -> None:
        """Distinct images as an internal basin mapped by ``events/basinmap0``."""
        ds = self._image_ds(self.h5.require_group("basin_events"), len(images))
        ds[...] = images
        self.events.create_dataset("basinmap0", data=np.asarray(index, np.int64),
                                   maxshape=(None,), chunks=_chunks((), np.int64), **self.kw)
        self._store_basin({"description": f"Pipeline identifier: {self.ppid}",
                           "name": "background images", "format": "h5dataset",
                           "paths": ["basin_events"], "type": "internal",
                           "features": ["image_bg"], "mapping": "basinmap0"})

    def write_rolling_block(self, first: int, images: np.ndarray) -> None:
        """Per-frame images ``[first, first + len(images))`` (streamed, in order)."""
        if "image_bg" not in self.events:
            self._image_ds(self.events, self.n)
        ds = self.events["image_bg"]
        ds[first:first + len(images)] = images
        self.written = first + len(images)
        self._last = images[-1].copy()

    def finish_rolling(self) -> None:
        """The last ``k`` frames reuse the last image (as dcnum does)."""
        ds = self.events["image_bg"]
        step = ds.chunks[0]
        for s in range(self.written, self.n, step):
            e = min(self.n, s + step)
            ds[s:e] = np.broadcast_to(self._last, (e - s, *self.shape))

    def write_bg_off(self, bg_off: np.ndarray) -> None:
        ds = self.events.create_dataset("bg_off", data=np.asarray(bg_off, np.float64),
                                        maxshape=(None,), chunks=_chunks((), np.float64),
                                        **self.kw)
        self._attrs(ds)

    def close(self) -> None:
        self.h5.close()


def write_rtdc(path: str | os.PathLike, result: BackgroundResult,
               input_path: str | os.PathLike | None = None, compression: str = "zstd",
               output_target: str | os.PathLike | None = None) -> Path:
    """Write an in-memory result to ``path`` (not atomic: pass a temporary path)."""
    w = RtdcBackgroundWriter(path, result.n_frames, result.images.shape[1:],
                             result.images.dtype, result.method, result.params,
                             input_path=input_path, compression=compression,
                             output_target=output_target)
    try:
        if result.method == "sparse":
            w.write_sparse(result.images, result.index)
        else:
            w.write_rolling_block(0, result.images)
            w.finish_rolling()
        if result.bg_off is not None:
            w.write_bg_off(result.bg_off)
    finally:
        w.close()
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


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
