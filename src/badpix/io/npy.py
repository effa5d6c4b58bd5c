"""``.npy`` frames: a folder (or glob) of one-frame files, or one file holding a stack.

Headers are parsed without unpickling (``allow_pickle=False`` semantics): object
arrays are refused.  Pixel data of C-ordered files are read with ``readinto``
straight into the caller's buffer, which is the fastest path measured here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from tokenize import TokenError

import numpy as np

from ..errors import DecodeError, InputError
from ..memory import check_allocation
from .base import (
    Reader,
    as_hwc,
    consistent_headers,
    default_channel_names,
)


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Return ``(shape, dtype, fortran_order, data_offset)`` of a ``.npy`` file.

    Raises :class:`DecodeError` for files that are not ``.npy`` or hold objects.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise DecodeError(path, f"unsupported .npy version {version}")
            offset = f.tell()
    except DecodeError:
        raise
    except (ValueError, OSError, SyntaxError, TokenError, MemoryError) as exc:
        # numpy parses the header with ``tokenize`` and ``ast``: a mangled header
        # raises tokenize's TokenError or SyntaxError, not ValueError (found by fuzzing)
        raise DecodeError(path, f"not a readable .npy file ({type(exc).__name__})") from None
    if dtype.hasobject:
        raise DecodeError(path, "holds Python objects; badpix never unpickles input")
    if dtype.kind not in "biuf":
        raise DecodeError(path, f"unsupported dtype {dtype}")
    return tuple(int(s) for s in shape), dtype, bool(fortran), offset


def _read_npy_into(path: Path, out: np.ndarray, fortran: bool, offset: int,
                   dtype: np.dtype) -> None:
    nbytes = out.nbytes
    if fortran or not out.flags.c_contiguous or dtype != out.dtype:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
        out[...] = arr.reshape(out.shape)
        return
    with open(path, "rb") as f:
        f.seek(offset)
        got = f.readinto(memoryview(out.reshape(-1)).cast("B"))
    if got != nbytes:
        raise DecodeError(path, f"file is truncated ({got} of {nbytes} data bytes)")


class NpyFramesReader(Reader):
    """A folder or glob of ``.npy`` files, one frame per file, shape (rows, cols[, channels]).

    Files are ordered by the last number in their name (``frame_2`` before
    ``frame_10``; files without a number last, then by name).

    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     np.save(d / f"frame_{i}.npy", np.full((4, 5), i, np.uint16))
    >>> r = NpyFramesReader(sorted(d.glob("*.npy")))
    >>> r.n_frames, r.frame_shape
    (3, (4, 5, 1))
    """

    format_name = "npy-frames"
    suffixes = (".npy",)

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        if dataset is not None or not paths:
            return False
        if not all(p.suffix.lower() == ".npy" for p in paths):
            return False
        if len(paths) > 1:
            return True
        shape = read_npy_header(paths[0])[0]
        return len(shape) == 2  # a single 3-D/4-D file is a whole stack

    def __init__(self, paths: Sequence[Path], skip_bad: bool = False, **_: object):
        super().__init__()

        def header(p: Path) -> dict:
            shape, dtype, fortran, offset = read_npy_header(p)
            if len(shape) not in (2, 3):
                raise DecodeError(p, f"frame must be 2-D or 3-D, file holds shape {shape}")
            return {"shape": shape, "dtype": dtype, "fortran": fortran, "offset": offset}

        good = consistent_headers(paths, header, skip_bad=skip_bad, skipped=self.skipped,
                                  what=".npy frames")
        self.paths = [p for p, _ in good]
        self._headers = [(h["fortran"], h["offset"], h["dtype"]) for _, h in good]
        first = good[0][1]
        self.n_frames = len(good)
        self.frame_shape = as_hwc(first["shape"])
        self.dtype = np.dtype(first["dtype"]).newbyteorder("=")
        self.channel_names = default_channel_names(self.frame_shape[2])

    def read_frame(self, index: int, out: np.ndarray) -> None:
        fortran, offset, dtype = self._headers[index]
        path = self.paths[index]
        try:
            _read_npy_into(path, out, fortran, offset, dtype)
        except DecodeError:
            raise
        except (OSError, ValueError) as exc:
            raise DecodeError(path, f"cannot read ({exc})") from None

    reads_rows = True

    def read_rows(self, start: int, stop: int, rows: tuple[int, int], out: np.ndarray
                  ) -> np.ndarray:
        """Rows ``(r0, r1)`` of frames ``[start, stop)``: one read of those rows per file."""
        r0, r1 = rows
        row_bytes = int(np.prod(self.frame_shape[1:])) * self.dtype.itemsize
        for k in range(stop - start):
            fortran, offset, dtype = self._headers[start + k]
            path = self.paths[start + k]
            dst = out[k]
            try:
                if fortran or dtype != self.dtype or not dst.flags.c_contiguous:
                    arr = np.load(path, allow_pickle=False, mmap_mode="r")
                    dst[...] = arr.reshape(self.frame_shape)[r0:r1]
                    continue
                with open(path, "rb") as f:
                    f.seek(offset + r0 * row_bytes)
                    got = f.readinto(memoryview(dst.reshape(-1)).cast("B"))
            except (OSError, ValueError) as exc:
                raise DecodeError(path, f"cannot read ({exc})") from None
            if got != dst.nbytes:
                raise DecodeError(path, f"file is truncated (rows {r0}-{r1} of "
                                        f"{self.frame_shape[0]} not all there)")
        return out


class NpyStackReader(Reader):
    """One ``.npy`` file holding a whole stack: (frames, rows, cols[, channels]).

    Frames are read from a read-only memory map, so nothing is loaded up front.
    """

    format_name = "npy-stack"
    suffixes = ()

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        if dataset is not None or len(paths) != 1 or paths[0].suffix.lower() != ".npy":
            return False
        return len(read_npy_header(paths[0])[0]) in (3, 4)

    def __init__(self, paths: Sequence[Path], **_: object):
        super().__init__()
        path = paths[0]
        shape, dtype, fortran, offset = read_npy_header(path)
        expected = offset + int(np.prod(shape)) * dtype.itemsize
        if path.stat().st_size < expected:
            raise DecodeError(path, f"file is truncated: header declares {shape} {dtype}")
        self.paths = [path]
        self.n_frames = shape[0]
        if self.n_frames == 0:
            raise InputError(path, "stack holds no frames")
        self.frame_shape = as_hwc(shape[1:])
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.channel_names = default_channel_names(self.frame_shape[2])
        self._mm = None
        self._unpicklable = ("_mm",)

    def _map(self) -> np.ndarray:
        if self._mm is None:
            self._mm = np.load(self.paths[0], allow_pickle=False, mmap_mode="r")
        return self._mm

    def read_frame(self, index: int, out: np.ndarray) -> None:
        out[...] = self._map()[index].reshape(self.frame_shape)

    def read_frames(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        src = self._map()[start:stop].reshape((stop - start, *self.frame_shape))
        if out is None:
            check_allocation(src.nbytes, "frame block", self.paths[0])
            return np.array(src)
        out[...] = src
        return out

    reads_rows = True

    def read_rows(self, start: int, stop: int, rows: tuple[int, int], out: np.ndarray
                  ) -> np.ndarray:
        """Rows ``(r0, r1)`` of frames ``[start, stop)``, from the memory map."""
        r0, r1 = rows
        out[...] = self._map()[start:stop].reshape((stop - start, *self.frame_shape))[:, r0:r1]
        return out

    def close(self) -> None:
        self._mm = None
