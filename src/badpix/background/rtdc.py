"""Background results as ``.rtdc``/HDF5 files that dcnum and dclab read.

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
from ..errors import ParameterError
from .result import BackgroundResult

__all__ = ["RtdcBackgroundWriter", "dcnum_ppid", "write_rtdc"]

DCNUM_PPID_GENERATION = "13"  # dcnum 0.31's pipeline-id generation


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
