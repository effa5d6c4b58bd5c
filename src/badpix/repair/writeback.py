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
atomically by its repaired version).  Each format's file is written by its sink
in :mod:`badpix.repair.sinks`.

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
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError, ParameterError
from ..io.atomic import atomic_path, hold_signals
from ..io.base import Reader
from .sinks import SINKS, Sink

__all__ = ["FrameWriter", "detect_kind", "open_writer"]

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
        self._sink: Sink | None = None
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
            self._sink = SINKS[self.kind](self.reader.paths[f], tmp, self.counts[f],
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
