"""TIFF frames through tifffile: a multi-page TIFF is a stack, a folder of TIFFs one frame each.

Every full-resolution page of every file is a frame, in file order then page
order (reduced-resolution pages, i.e. overviews/thumbnails, are skipped).  So a
single multi-page TIFF, a folder of single-page TIFFs and a folder of
multi-page TIFFs all work.  Samples per pixel become channels: ``R, G, B`` for
RGB photometric (an alpha sample is dropped, as for PNG), ``ch0...`` otherwise.
Compressed pages (LZW, Deflate, JPEG, Zstd, WebP, ...) are decoded by tifffile
with the ``imagecodecs`` codecs; a JPEG page stored as YCbCr is read as RGB.

GeoTIFFs (files with GeoKeys or model transformation tags) are read by
:mod:`badpix.io.geotiff`, which is registered later and therefore tried first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, FrameMismatchError, InputError
from ..memory import check_allocation
from .base import Reader, SkippedFrame, default_channel_names

__all__ = ["TiffReader", "GEO_TAGS", "has_geo_tags"]

TIFF_SUFFIXES = (".tif", ".tiff")

#: ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory
GEO_TAGS = (33550, 33922, 34264, 34735)

# TIFF ExtraSamples values meaning "alpha" (associated, unassociated)
_ALPHA_EXTRASAMPLES = (1, 2)


def _tifffile():
    import tifffile

    return tifffile


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


_LOG_LOCK = threading.Lock()
_LOG_DEPTH = [0, True]  # open collectors, tifffile's own propagate flag


@contextlib.contextmanager
def tifffile_messages() -> Iterator[list[str]]:
    """Collect tifffile's logged warnings instead of letting them reach stderr.

    tifffile logs (not raises) a broken page chain, an IFD loop or an inconsistent
    tag and carries on with what it could read; the caller decides what each means.
    Safe from several threads (a thread may see another's messages; they are only
    ever used to refuse a file, never to accept one).
    """
    log = logging.getLogger("tifffile")
    handler = _Collect()
    with _LOG_LOCK:
        if _LOG_DEPTH[0] == 0:
            _LOG_DEPTH[1] = log.propagate
            log.propagate = False
        _LOG_DEPTH[0] += 1
        log.addHandler(handler)
    try:
        yield handler.messages
    finally:
        with _LOG_LOCK:
            log.removeHandler(handler)
            _LOG_DEPTH[0] -= 1
            if _LOG_DEPTH[0] == 0:
                log.propagate = _LOG_DEPTH[1]


#: tifffile messages that mean the page chain is broken: pages after it are lost
_CHAIN_BROKEN = ("invalid page offset", "circular reference", "TiffPages", "invalid IFD",
                 "corrupted tag list", "corrupted page list")


def chain_problem(messages: list[str]) -> str | None:
    """The first tifffile message saying the page chain broke, or ``None``.

    >>> chain_problem(["<tifffile.TiffPages @8> invalid page offset 10496"])
    'page chain broken (invalid page offset 10496)'
    """
    for m in messages:
        if any(k in m for k in _CHAIN_BROKEN):
            detail = m.split("> ", 1)[-1]
            return f"page chain broken ({detail})"
    return None


def has_geo_tags(path: Path) -> bool:
    """True when the first page of a TIFF carries GeoTIFF tags (reads the header only)."""
    tifffile = _tifffile()
    try:
        with tifffile_messages(), tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            return any(code in tags for code in GEO_TAGS)
    except (OSError, ValueError, IndexError, KeyError, TypeError, tifffile.TiffFileError):
        return False


def _compression_name(page) -> str:
    """``"LZW (5)"`` for a known compression, the bare code for an unknown one."""
    c = page.compression
    return f"{c.name} ({int(c)})" if hasattr(c, "name") else str(int(c))


def _imagecodecs_version() -> str:
    try:
        import imagecodecs
    except ImportError:
        return "imagecodecs is not installed"
    return f"imagecodecs {imagecodecs.__version__}"


def _is_jpeg_ycbcr(page) -> bool:
    """YCbCr photometric in an (old- or new-style) JPEG-compressed page."""
    return int(page.photometric) == 6 and int(page.compression) in (6, 7, 33007)


def _page_layout(page, path: Path) -> tuple[tuple[int, int, int], np.dtype, tuple[str, ...], int]:
    """``(frame_shape, dtype, channel_names, samples_kept)`` of a page, from its tags."""
    from tifffile import TIFF

    if page.imagedepth > 1:
        raise DecodeError(path, f"volumetric TIFF pages (depth {page.imagedepth}) are not frames")
    if page.compression not in TIFF.DECOMPRESSORS:
        # tifffile decodes LZW, JPEG, Deflate, Zstd, WebP... through imagecodecs; this
        # is a compression neither knows (or a codec missing from this build)
        raise DecodeError(path, f"no decoder for TIFF compression {_compression_name(page)} "
                          f"in tifffile/imagecodecs ({_imagecodecs_version()})")
    dtype = page.dtype
    if dtype is None or np.dtype(dtype).kind not in "uif":
        raise DecodeError(path, f"unsupported TIFF sample type {dtype} "
                          f"({page.bitspersample} bits)")
    spp = int(page.samplesperpixel)
    extras = tuple(page.extrasamples or ())
    channels = spp
    names = default_channel_names(spp)
    # RGB, or YCbCr in JPEG-compressed pages (the JPEG decoder gives RGB back)
    if (int(page.photometric) == 2 or _is_jpeg_ycbcr(page)) and spp >= 3:
        channels = 3 if (spp == 4 and extras and extras[0] in _ALPHA_EXTRASAMPLES) else spp
        names = ("R", "G", "B") + default_channel_names(channels)[3:]
    shape = (int(page.imagelength), int(page.imagewidth), channels)
    return shape, np.dtype(dtype).newbyteorder("="), names, channels


class TiffReader(Reader):
    """One or more TIFF files; every full-resolution page is a frame.

    >>> import numpy as np, tempfile, pathlib, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = tifffile.imwrite(d / "stack.tif", np.zeros((4, 6, 5), np.uint16), photometric="minisblack")
    >>> r = TiffReader([d / "stack.tif"])
    >>> r.n_frames, r.frame_shape, r.frame_label(2)
    (4, (6, 5, 1), 'stack.tif[2]')
    """

    format_name = "tiff"
    suffixes = TIFF_SUFFIXES

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return (dataset is None and bool(paths)
                and all(p.suffix.lower() in TIFF_SUFFIXES for p in paths))

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, **_: Any):
        super().__init__()
        tifffile = _tifffile()
        good: list[Path] = []
        frames: list[tuple[int, int]] = []  # (index into good, page index)
        pages_per_file: list[int] = []
        first: tuple[tuple[int, int, int], np.dtype, str] | None = None
        names: tuple[str, ...] = ()
        for p in paths:
            file_frames: list[int] = []
            try:
                with tifffile_messages() as messages, tifffile.TiffFile(p) as tif:
                    n_pages = len(tif.pages)
                    broken = chain_problem(messages)
                    if broken is not None:
                        # tifffile stops at the break and reports fewer pages: never
                        # scan the pages before it as if they were the whole file
                        problem = f"{broken} after {n_pages} page(s)"
                        if not skip_bad:
                            raise DecodeError(p, problem)
                        self.skipped.append(SkippedFrame(f"{p.name}[{n_pages}:]", problem))
                    if n_pages == 0:
                        raise DecodeError(p, "not a readable TIFF file (no image pages)")
                    for k in range(n_pages):
                        page = tif.pages[k]
                        if page.is_reduced:
                            continue
                        label = p.name if n_pages == 1 else f"{p.name}[{k}]"
                        try:
                            shape, dtype, pnames, _kept = _page_layout(page, p)
                            if first is None:
                                check_allocation(int(np.prod(shape)) * dtype.itemsize,
                                                 "one frame", p)
                                first, names = (shape, dtype, label), pnames
                            elif (shape, dtype) != first[:2]:
                                where = "" if n_pages == 1 else f" page {k}"
                                raise FrameMismatchError(
                                    p, f"{where.strip() + ': ' if where else ''}shape {shape} "
                                    f"{dtype} differs from the first frame's {first[0]} "
                                    f"{first[1]} ({first[2]})")
                        except InputError as exc:
                            if not skip_bad:
                                raise
                            self.skipped.append(SkippedFrame(label, exc.problem))
                            continue
                        file_frames.append(k)
            except InputError:
                raise
            except (OSError, ValueError, IndexError, KeyError, TypeError, tifffile.TiffFileError) as exc:
                problem = f"not a readable TIFF file ({exc})"
                if not skip_bad:
                    raise DecodeError(p, problem) from None
                self.skipped.append(SkippedFrame(p.name, problem))
                continue
            if not file_frames:
                continue
            good.append(p)
            pages_per_file.append(n_pages)
            frames.extend((len(good) - 1, k) for k in file_frames)
        if first is None:
            raise InputError(paths[0].parent if paths else None, "no readable TIFF frames")
        self.paths = good
        self._frames = frames
        self._pages_per_file = pages_per_file
        self.n_frames = len(frames)
        self.frame_shape = first[0]
        self.dtype = first[1]
        self.channel_names = names
        self.georef = None
        self._handles: dict[int, Any] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._unpicklable = ("_handles", "_locks", "_guard")

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._handles, self._locks, self._guard = {}, {}, threading.Lock()

    def frames_per_file(self) -> list[int]:
        """Frames in each file: its full-resolution pages (reduced-resolution ones are not frames)."""
        counts = [0] * len(self.paths)
        for f, _k in self._frames:
            counts[f] += 1
        return counts

    def frame_label(self, index: int) -> str:
        f, k = self._frames[index]
        name = self.paths[f].name
        return name if self._pages_per_file[f] == 1 else f"{name}[{k}]"

    def _handle(self, f: int):
        """(TiffFile, lock) for a multi-page file, opened once and shared by threads."""
        with self._guard:
            if f not in self._handles:
                self._handles[f] = _tifffile().TiffFile(self.paths[f])
                self._locks[f] = threading.Lock()
            return self._handles[f], self._locks[f]

    def read_frame(self, index: int, out: np.ndarray) -> None:
        f, k = self._frames[index]
        path = self.paths[f]
        try:  # every decoder error below names the file
            with tifffile_messages():
                self._read_page(f, k, out, path)
        except (InputError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - codecs raise their own types (zlib.error...)
            raise DecodeError(path, f"cannot decode TIFF page {k} ({exc})") from None

    def _read_page(self, f: int, k: int, out: np.ndarray, path: Path) -> None:
        if self._pages_per_file[f] == 1:
            # one page per file: open per read so threads decode files in parallel
            with _tifffile().TiffFile(path) as tif:
                self._decode(tif.pages[0], out, path)
        else:
            tif, lock = self._handle(f)
            with lock:  # a TiffFile's file position is shared state
                self._decode(tif.pages[k], out, path)

    def _decode(self, page, out: np.ndarray, path: Path) -> None:
        shape, dtype, _names, kept = _page_layout(page, path)
        if shape != self.frame_shape or dtype != self.dtype:
            raise DecodeError(path, f"page {page.index} is now {shape} {dtype}, expected "
                              f"{self.frame_shape} {self.dtype}")
        direct = (out.flags.c_contiguous and kept == page.samplesperpixel
                  and int(page.planarconfig) == 1)
        if direct:
            # decode straight into the caller's buffer (tifffile reshapes a view)
            page.asarray(out=out.reshape(page.shape))
            return
        arr = page.asarray()
        if int(page.planarconfig) == 2 and arr.ndim == 3:  # separate planes (s, h, w)
            arr = np.moveaxis(arr, 0, -1)
        arr = arr.reshape(shape[0], shape[1], -1)
        out[...] = arr[:, :, :kept]

    def __del__(self) -> None:
        # a reader dropped without close() must not leak open files (ResourceWarning)
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def close(self) -> None:
        if "_guard" not in self.__dict__:  # __init__ failed before the handles existed
            return
        with self._guard:
            for tif in self._handles.values():
                tif.close()
            self._handles.clear()
