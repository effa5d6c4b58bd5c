"""The sinks of :mod:`badpix.repair.writeback`: one output file in its input's format.

A :class:`Sink` receives the frames of one input file in order (``put``) and
writes them to a temporary path, keeping what the input file carried beside the
pixels (see the table in :mod:`badpix.repair.writeback`); ``finish`` closes it and
the writer renames it into place.  :data:`SINKS` maps an output kind
(:func:`~badpix.repair.writeback.detect_kind`) to its sink.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import warnings
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..io.base import Reader

__all__ = ["SINKS", "Sink"]


class Sink(ABC):
    """One output file receiving ``count`` frames in order, written to ``tmp``."""

    def __init__(self, src: Path, tmp: Path, count: int, reader: Reader, **options: Any):
        self.src, self.tmp, self.count, self.reader, self.options = src, tmp, count, reader, options

    @abstractmethod
    def put(self, k: int, frame: np.ndarray) -> None:
        """Frame ``k`` (0-based within this file), shape ``(h, w, c)``."""

    def finish(self) -> None:  # noqa: B027 - optional
        """Flush and close; the caller renames ``tmp`` afterwards."""


class _NpySink(Sink):
    def __init__(self, *a: Any, **k: Any):
        super().__init__(*a, **k)
        from ..io.npy import read_npy_header

        self.shape, self.dtype, _, _ = read_npy_header(self.src)
        self.mm = None

    def put(self, k: int, frame: np.ndarray) -> None:
        if self.count == 1:
            # np.save on an open file keeps the exact name (it appends .npy to str paths)
            with open(self.tmp, "wb") as f:
                np.save(f, frame.reshape(self.shape).astype(self.dtype, copy=False))
            return
        if self.mm is None:
            self.mm = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=self.dtype,
                                                shape=self.shape)
        self.mm[k] = frame.reshape(self.shape[1:])

    def finish(self) -> None:
        if self.mm is not None:
            self.mm.flush()
            self.mm = None


def _png16(path: Path, frame: np.ndarray) -> None:
    """Lossless 16-bit colour PNG (Pillow cannot write those): filter 0, zlib level 6."""
    h, w, c = frame.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(frame.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class _PngSink(Sink):
    def put(self, k: int, frame: np.ndarray) -> None:
        from PIL import Image, PngImagePlugin

        with Image.open(self.src) as im:
            info = dict(im.info)
            alpha = None
            if im.mode in ("RGBA", "LA") and frame.dtype == np.uint8 and frame.shape[2] in (1, 3):
                # the reader drops alpha (not a sensor reading): put the original back
                alpha = np.asarray(im.getchannel("A"))
        if alpha is not None:
            frame = np.concatenate([frame, alpha[:, :, None]], axis=2)
        h, w, c = frame.shape
        if frame.dtype == np.uint16 and c > 1:
            _png16(self.tmp, frame)
            return
        if frame.dtype not in (np.uint8, np.uint16, np.bool_):
            raise OutputError(f"{self.src}: cannot write {frame.dtype} frames as PNG")
        arr = frame[:, :, 0] if c == 1 else frame
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
        if frame.dtype == np.uint16:
            img = Image.fromarray(np.ascontiguousarray(arr).astype("<u2"))  # I;16
        elif frame.dtype == np.bool_:
            img = Image.fromarray(np.ascontiguousarray(arr)).convert("1")
        else:
            img = Image.frombuffer(mode, (w, h), np.ascontiguousarray(arr).tobytes(),
                                   "raw", mode, 0, 1)
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in info.items():
            if isinstance(value, str) and key not in ("icc_profile",):
                pnginfo.add_text(key, value)
        extra = {k2: info[k2] for k2 in ("icc_profile", "dpi") if k2 in info}
        img.save(self.tmp, format="PNG", pnginfo=pnginfo, **extra)


class _JpegSink(Sink):
    def put(self, k: int, frame: np.ndarray) -> None:
        from PIL import Image, JpegImagePlugin

        if frame.dtype != np.uint8:
            raise OutputError(f"{self.src}: JPEG frames must be uint8, not {frame.dtype}")
        with Image.open(self.src) as im:
            qtables = im.quantization
            subsampling = JpegImagePlugin.get_sampling(im)
            exif = im.info.get("exif")
            icc = im.info.get("icc_profile")
            dpi = im.info.get("dpi")
            progressive = bool(im.info.get("progressive") or im.info.get("progression"))
        c = frame.shape[2]
        arr = np.ascontiguousarray(frame[:, :, 0] if c == 1 else frame)
        img = Image.fromarray(arr, mode={1: "L", 3: "RGB"}.get(c))
        kw: dict[str, Any] = {"progressive": progressive}
        quality = self.options.get("jpeg_quality")
        if quality is not None:
            kw["quality"] = int(quality)
        else:
            kw["qtables"] = qtables  # exactly the input's quality
        if subsampling != -1 and c == 3:
            kw["subsampling"] = subsampling
        if exif:
            kw["exif"] = exif
        if icc:
            kw["icc_profile"] = icc
        if dpi:
            kw["dpi"] = dpi
        img.save(self.tmp, format="JPEG", **kw)


#: TIFF compressions that are lossless; anything else is written as zlib
_LOSSLESS_TIFF = {"NONE", "LZW", "ADOBE_DEFLATE", "DEFLATE", "ZSTD", "PACKBITS", "LZMA",
                  "WEBP_LOSSLESS"}


class _TiffSink(Sink):
    def __init__(self, *a: Any, **k: Any):
        super().__init__(*a, **k)
        import tifffile

        with tifffile.TiffFile(self.src) as tif:
            pages = [(p.photometric, p.planarconfig, p.compression, p.predictor, p.description,
                      p.resolution, p.resolutionunit) for p in tif.pages]
            self.bigtiff = tif.is_bigtiff
        self.pages = pages
        self.writer = tifffile.TiffWriter(self.tmp, bigtiff=self.bigtiff)

    def put(self, k: int, frame: np.ndarray) -> None:
        photometric, planar, compression, predictor, description, res, resunit = \
            self.pages[min(k, len(self.pages) - 1)]
        comp = compression.name if hasattr(compression, "name") else str(compression)
        if comp not in _LOSSLESS_TIFF:
            comp = "ADOBE_DEFLATE"
            if getattr(photometric, "name", "") == "YCBCR":
                photometric = "RGB"  # the reader gave JPEG's YCbCr back as RGB
        c = frame.shape[2]
        arr = frame[:, :, 0] if c == 1 else frame
        if planar is not None and getattr(planar, "name", "") == "SEPARATE" and c > 1:
            arr = np.moveaxis(arr, -1, 0)
        kw: dict[str, Any] = {
            "photometric": photometric,
            "planarconfig": planar if c > 1 else None,
            "compression": None if comp == "NONE" else comp,
            "metadata": None,
            "resolution": res,
            "resolutionunit": resunit,
        }
        pred = getattr(predictor, "name", str(predictor))
        if kw["compression"] and pred not in ("NONE", "1"):
            kw["predictor"] = predictor
        if description:
            kw["description"] = description
        self.writer.write(np.ascontiguousarray(arr), **kw)

    def finish(self) -> None:
        self.writer.close()


class _GeoTiffSink(Sink):
    def __init__(self, *a: Any, **k: Any):
        super().__init__(*a, **k)
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(self.src) as src:
                profile = src.profile.copy()
                self.tags = src.tags()
                self.band_tags = [src.tags(i + 1) for i in range(src.count)]
                self.descriptions = src.descriptions
                self.colorinterp = src.colorinterp
                self.nbands = src.count
            self.dst = rasterio.open(self.tmp, "w", **profile)

    def put(self, k: int, frame: np.ndarray) -> None:
        c = frame.shape[2]
        bands = np.moveaxis(frame, -1, 0)  # (c, h, w)
        first = k * c + 1
        if first + c - 1 > self.nbands:
            raise OutputError(f"{self.src}: frame {k} has {c} bands, file has {self.nbands}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Warning)  # NotGeoreferencedWarning on plain TIFFs
            self.dst.write(np.ascontiguousarray(bands), list(range(first, first + c)))

    def finish(self) -> None:
        dst = self.dst
        dst.update_tags(**self.tags)
        for i in range(dst.count):
            if self.band_tags[i]:
                dst.update_tags(i + 1, **self.band_tags[i])
            if self.descriptions[i]:
                dst.set_band_description(i + 1, self.descriptions[i])
        with contextlib.suppress(ValueError):
            dst.colorinterp = self.colorinterp
        dst.close()


def _h5_dataset(reader: Reader, path: Path, count: int) -> str:
    name = getattr(reader, "dataset", None)  # Hdf5Reader.dataset: the image dataset's path
    if isinstance(name, str) and name:
        return name
    import h5py

    found: list[str] = []
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 3 and obj.shape[0] == count:
                found.append(name)

        f.visititems(visit)
    if "events/image" in found:
        return "events/image"
    if len(found) != 1:
        raise OutputError(f"{path}: cannot tell which dataset holds the frames ({found})")
    return found[0]


class _H5Sink(Sink):
    def __init__(self, *a: Any, **k: Any):
        super().__init__(*a, **k)
        import h5py
        import hdf5plugin  # noqa: F401 - registers compression filters for writing

        # a copy keeps every other dataset, group and attribute exactly as it was
        shutil.copyfile(self.src, self.tmp)
        self.file = h5py.File(self.tmp, "r+")
        self.dset = self.file[_h5_dataset(self.reader, self.src, self.count)]

    def put(self, k: int, frame: np.ndarray) -> None:
        self.dset[k] = frame.reshape(self.dset.shape[1:])

    def finish(self) -> None:
        self.file.close()


class _BmpSink(Sink):
    def put(self, k: int, frame: np.ndarray) -> None:
        from PIL import Image

        c = frame.shape[2]
        Image.fromarray(np.ascontiguousarray(frame[:, :, 0] if c == 1 else frame)).save(
            self.tmp, format="BMP")


#: output kind -> the sink writing one file of it
SINKS: dict[str, type[Sink]] = {"npy": _NpySink, "png": _PngSink, "jpeg": _JpegSink,
                                "bmp": _BmpSink,
                                "tiff": _TiffSink, "geotiff": _GeoTiffSink, "hdf5": _H5Sink}
