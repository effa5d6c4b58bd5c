"""Write repaired frames back in the input's own format.

``open_writer(reader, output)`` returns a :class:`FrameWriter` that takes the
frames in order (``write(start, block)``) and streams them to files named like
the input files, each written to a temporary name and renamed when complete:

=============  ==============================================================
input          output
=============  ==============================================================
``.npy``       same file names (one frame per file), or one ``.npy`` stack;
               same header dtype (byte order) and shape
PNG            same bit depth and channels, lossless; text chunks, ICC, dpi kept
JPEG           the input's own quantisation tables (same quality; the estimate
               is reported) or ``jpeg_quality``; same chroma subsampling; EXIF
               and ICC kept
TIFF           tifffile, same dtype, photometric, planar config and lossless
               compression (lossy JPEG-in-TIFF becomes zlib); all pages
GeoTIFF        rasterio, same profile: CRS, transform, nodata, tags, band
               descriptions, compression
HDF5 / NeXus   a copy of the file with the image dataset rewritten: every other
               dataset and every attribute kept
=============  ==============================================================

The input is never touched unless ``in_place=True`` (then each file is replaced
atomically by its repaired version).

>>> import numpy as np, tempfile, pathlib
>>> from badpix.io.open import open_reader
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> np.save(d / "f0.npy", np.zeros((2, 3), np.uint16)); np.save(d / "f1.npy", np.ones((2, 3), np.uint16))
>>> r = open_reader(d)
>>> with open_writer(r, d / "out") as wr:
...     wr.write(0, r.read_all())
>>> sorted(p.name for p in (d / "out").iterdir())
['f0.npy', 'f1.npy']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import warnings
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError, ParameterError
from ..io.atomic import atomic_path, hold_signals
from ..io.base import Reader
from ..io.images import estimate_jpeg_quality

__all__ = ["FrameWriter", "detect_kind", "estimate_jpeg_quality", "open_writer"]

TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5")
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")

def detect_kind(reader: Reader) -> str:
    """Output kind for a reader: ``npy``, ``png``, ``jpeg``, ``tiff``, ``geotiff`` or ``hdf5``."""
    name = reader.format_name.lower()
    suffix = reader.paths[0].suffix.lower() if reader.paths else ""
    if "npy" in name or suffix == ".npy":
        return "npy"
    if any(k in name for k in ("hdf", "h5", "nexus")) or suffix in HDF5_SUFFIXES:
        return "hdf5"
    if "geo" in name or (suffix in TIFF_SUFFIXES and reader.georef is not None):
        return "geotiff"
    if "tif" in name or suffix in TIFF_SUFFIXES:
        return "tiff"
    if "png" in name or suffix == ".png":
        return "png"
    if "jp" in name or suffix in JPEG_SUFFIXES:
        return "jpeg"
    if suffix == ".bmp":
        return "bmp"
    raise OutputError(f"{reader.paths[0] if reader.paths else '?'}: cannot write frames of "
                      f"format {reader.format_name!r} back")


# -- sinks: one output file each ---------------------------------------------------------
class _Sink(ABC):
    """One output file receiving ``count`` frames in order, written to ``tmp``."""

    def __init__(self, src: Path, tmp: Path, count: int, reader: Reader, **options: Any):
        self.src, self.tmp, self.count, self.reader, self.options = src, tmp, count, reader, options

    @abstractmethod
    def put(self, k: int, frame: np.ndarray) -> None:
        """Frame ``k`` (0-based within this file), shape ``(h, w, c)``."""

    def finish(self) -> None:  # noqa: B027 - optional
        """Flush and close; the caller renames ``tmp`` afterwards."""


class _NpySink(_Sink):
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


class _PngSink(_Sink):
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


class _JpegSink(_Sink):
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


class _TiffSink(_Sink):
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


class _GeoTiffSink(_Sink):
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


class _H5Sink(_Sink):
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


class _BmpSink(_Sink):
    def put(self, k: int, frame: np.ndarray) -> None:
        from PIL import Image

        c = frame.shape[2]
        Image.fromarray(np.ascontiguousarray(frame[:, :, 0] if c == 1 else frame)).save(
            self.tmp, format="BMP")


_SINKS: dict[str, type[_Sink]] = {"npy": _NpySink, "png": _PngSink, "jpeg": _JpegSink,
                                  "bmp": _BmpSink,
                                  "tiff": _TiffSink, "geotiff": _GeoTiffSink, "hdf5": _H5Sink}


def _frame_counts(reader: Reader) -> list[int]:
    """Frames held by each input file, in order (:meth:`Reader.frames_per_file`)."""
    paths = reader.paths
    try:
        counts = [int(c) for c in reader.frames_per_file()]
    except NotImplementedError as exc:
        raise OutputError(f"{paths[0].parent}: cannot write back: {exc}") from None
    if len(counts) != len(paths) or sum(counts) != reader.n_frames:
        raise OutputError(f"{paths[0].parent}: cannot map {reader.n_frames} frames onto "
                          f"{len(paths)} files holding {sum(counts)}")
    return counts


class FrameWriter:
    """Streams repaired frames into files shaped like the reader's inputs.

    Use as a context manager: on success every file is renamed into place; on error
    (or Ctrl-C, SIGTERM) the temporary files are removed and nothing is published.
    Finished files wait under their temporary names until :meth:`close`, so an
    interrupted repair leaves no half set of repaired frames.
    """

    def __init__(self, reader: Reader, output: str | os.PathLike | None, *,
                 in_place: bool = False, jpeg_quality: int | None = None):
        if not reader.paths:
            raise OutputError("reader has no files to mirror")
        if getattr(reader, "skipped", None):
            raise OutputError(f"{reader.paths[0].parent}: frames were skipped while reading; "
                              "repair needs every frame so files map one to one")
        if jpeg_quality is not None and not 1 <= int(jpeg_quality) <= 100:
            raise ParameterError(f"--jpeg-quality must be 1..100, got {jpeg_quality}")
        self.reader = reader
        self.kind = detect_kind(reader)
        self.counts = _frame_counts(reader)
        self.targets = self._targets(output, in_place)
        self.options = {"jpeg_quality": jpeg_quality}
        self.starts = np.concatenate([[0], np.cumsum(self.counts)])
        self._file = -1
        self._sink: _Sink | None = None
        self._stack: contextlib.ExitStack | None = None
        self.written: list[Path] = []
        #: finished files, each still under its temporary name: (its atomic_path, target)
        self._pending: list[tuple[contextlib.ExitStack, Path]] = []

    def _targets(self, output: str | os.PathLike | None, in_place: bool) -> list[Path]:
        paths = self.reader.paths
        if in_place:
            return list(paths)
        if output is None:
            raise ParameterError("-o/--output is required unless --in-place is given")
        out = Path(output)
        # one input file -> OUTPUT is the file, unless it is (or looks like) a folder
        as_folder = out.is_dir() or (not out.exists() and out.suffix == "")
        if len(paths) == 1 and not as_folder:
            targets = [out]
        else:
            if out.exists() and not out.is_dir():
                raise OutputError(f"{out}: exists and is not a folder (the input has "
                                  f"{len(paths)} files)")
            targets = [out / p.name for p in paths]
            if len({t.name for t in targets}) != len(targets):
                raise OutputError(f"{out}: input files from different folders share names")
        for src, dst in zip(paths, targets, strict=True):
            if dst.resolve() == src.resolve():
                raise OutputError(f"{dst}: would overwrite the input (use --in-place to repair "
                                  "the input files themselves)")
        return targets

    def write(self, start: int, block: np.ndarray) -> None:
        """Frames ``start .. start + len(block)`` in order, each ``(h, w, c)``."""
        for k, frame in enumerate(block):
            i = start + k
            f = int(np.searchsorted(self.starts, i, side="right") - 1)
            if f != self._file:
                self._close_current()
                self._open(f)
            assert self._sink is not None
            self._sink.put(i - int(self.starts[f]), frame)
            if i == self.starts[f + 1] - 1:
                self._close_current()

    def _open(self, f: int) -> None:
        self._file = f
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.targets[f]))
        try:
            self._sink = _SINKS[self.kind](self.reader.paths[f], tmp, self.counts[f],
                                           self.reader, **self.options)
        except (OSError, ValueError) as exc:
            self._stack.close()
            raise InputError(self.reader.paths[f], f"cannot prepare output ({exc})") from None

    def _close_current(self) -> None:
        if self._sink is None or self._stack is None:
            return
        with hold_signals():  # the file always has an owner that removes it on abort
            sink, stack = self._sink, self._stack
            entry = (stack, self.targets[self._file])
            self._pending.append(entry)  # renamed in close()
            self._sink = self._stack = None
        try:
            sink.finish()
        except BaseException:
            with hold_signals():
                self._pending.remove(entry)
                stack.__exit__(*_exc_info())
            raise

    def abort(self) -> None:
        """Drop the file being written (its temporary file is removed)."""
        if self._stack is not None:
            with contextlib.suppress(Exception):
                if self._sink is not None:
                    self._sink.finish()
            self._stack.__exit__(OutputError, OutputError("aborted"), None)
        self._sink = self._stack = None
        pending, self._pending = self._pending, []
        for stack, _target in pending:
            with contextlib.suppress(Exception):
                stack.__exit__(OutputError, OutputError("aborted"), None)

    def close(self) -> list[Path]:
        """Finish the last file and rename every file into place; returns the targets."""
        self._close_current()
        while self._pending:
            stack, target = self._pending[0]
            try:
                stack.close()  # renames the temporary file into place
            except BaseException:
                self._pending.pop(0)
                self.abort()
                raise
            self._pending.pop(0)
            self.written.append(target)
        return self.written

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _exc_info():
    import sys

    return sys.exc_info()


def open_writer(reader: Reader, output: str | os.PathLike | None, *, in_place: bool = False,
                jpeg_quality: int | None = None) -> FrameWriter:
    """A :class:`FrameWriter` mirroring ``reader``'s files under ``output`` (or in place)."""
    return FrameWriter(reader, output, in_place=in_place, jpeg_quality=jpeg_quality)
