"""PNG, JPEG and BMP frames through Pillow: one frame per file, a folder or glob of them.

Decisions
---------
* Grey images give one channel named ``ch0``; colour images give ``R, G, B``.
* An alpha channel (``RGBA``, ``LA``, palette with transparency) is **dropped**:
  alpha is a compositing mask written by the exporting program, not a sensor
  reading, so testing it for defective pixels would only report the mask.
  ``attrs["alpha_dropped"]`` records that it happened.
* Palette and bilevel images are expanded to RGB / grey ``uint8``.
* 16-bit colour PNGs are decoded by ``imagecodecs`` (libpng), because Pillow
  silently reduces them to 8 bits per channel; interlaced files work too.
* Pillow's decompression-bomb guard stays on (``Image.MAX_IMAGE_PIXELS`` is never
  changed); an image above the limit is refused with a :class:`DecodeError`.
"""

from __future__ import annotations

import struct
import threading
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, InputError
from .base import Reader, check_allocation, consistent_headers, register_reader

__all__ = ["ImageFramesReader", "exif_datetime_to_epoch", "estimate_jpeg_quality"]

_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

# EXIF tags (Exif sub-IFD): DateTimeOriginal, OffsetTimeOriginal, SubSecTimeOriginal
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_ORIGINAL = 0x9011
_SUBSEC_ORIGINAL = 0x9291

# Pillow's warning filters are process-global; serialise the few places that
# change them so that two threads cannot interleave their save/restore.
_WARN_LOCK = threading.Lock()


def _pil():
    from PIL import Image

    return Image


def _open_checked(path: Path):
    """Open an image lazily (header only) with the decompression-bomb guard as an error."""
    Image = _pil()
    with _WARN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DecodeError(
                path, f"refused as a possible decompression bomb ({exc}); the limit is "
                f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} pixels") from None
        except (OSError, ValueError, SyntaxError) as exc:
            # Pillow raises UnidentifiedImageError (an OSError) for garbage files
            raise DecodeError(path, f"not a readable image ({exc})") from None


def _png_ihdr(head: bytes) -> tuple[int, int, int, int, int] | None:
    """``(width, height, bit_depth, colour_type, interlace)`` from a PNG's IHDR, else ``None``."""
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _png_header(path: Path) -> tuple[int, int, int, int, int] | None:
    """:func:`_png_ihdr` of a file, reading only its first 33 bytes."""
    with open(path, "rb") as f:
        return _png_ihdr(f.read(33))


def _mode_layout(mode: str) -> tuple[str, int, np.dtype, bool]:
    """For a Pillow mode: (mode to convert to, channels, dtype, alpha dropped)."""
    if mode in ("L",):
        return "L", 1, np.dtype(np.uint8), False
    if mode == "1":
        return "L", 1, np.dtype(np.uint8), False
    if mode == "LA":
        return "L", 1, np.dtype(np.uint8), True
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return "I;16", 1, np.dtype(np.uint16), False
    if mode == "I":
        return "I", 1, np.dtype(np.int32), False
    if mode == "F":
        return "F", 1, np.dtype(np.float32), False
    if mode == "RGB":
        return "RGB", 3, np.dtype(np.uint8), False
    if mode in ("RGBA", "RGBa", "PA"):
        return "RGB", 3, np.dtype(np.uint8), True
    if mode in ("P",):
        return "RGB", 3, np.dtype(np.uint8), False  # transparency, if any, is dropped
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return "RGB", 3, np.dtype(np.uint8), False
    raise ValueError(f"unsupported Pillow image mode {mode!r}")


def exif_datetime_to_epoch(date: str, offset: str | None = None,
                           subsec: str | None = None) -> float | None:
    """Seconds since 1970-01-01 UTC for an EXIF ``"YYYY:MM:DD HH:MM:SS"`` string.

    EXIF dates carry no time zone unless ``OffsetTimeOriginal`` is present; without
    it the clock time is taken as UTC (differences between frames stay right).

    >>> exif_datetime_to_epoch("1970:01:01 00:01:00", subsec="5")
    60.5
    >>> exif_datetime_to_epoch("2024:01:01 01:00:00", offset="+01:00")
    1704067200.0
    """
    try:
        dt = datetime.strptime(date.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except (ValueError, AttributeError):
        return None
    tz = UTC
    if offset:
        text = offset.strip().rstrip("\x00")
        try:
            sign = -1 if text.startswith("-") else 1
            hh, mm = text.lstrip("+-").split(":")
            tz = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
        except ValueError:
            tz = UTC
    seconds = dt.replace(tzinfo=tz).timestamp()
    if subsec:
        digits = "".join(ch for ch in str(subsec) if ch.isdigit())
        if digits:
            seconds += int(digits) / 10 ** len(digits)
    return float(seconds)


# libjpeg's standard luminance quantisation table (quality 50), natural order
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], float)


def _ijg_tables() -> np.ndarray:
    """libjpeg's luminance table for each quality 1..100, values sorted: shape ``(100, 64)``."""
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)  # jpeg_quality_scaling()
    tables = np.floor((_STD_LUMA[None, :] * scale[:, None] + 50) / 100)
    return np.sort(np.clip(tables, 1, 255), axis=1)  # baseline tables are clipped to 1..255


_IJG_TABLES = _ijg_tables()


def estimate_jpeg_quality(quantization: dict[int, Sequence[int]] | None) -> int | None:
    """The libjpeg quality (1-100) whose luminance table best matches Pillow's ``im.quantization``.

    Tries every quality with libjpeg's scaling rule and keeps the closest, so files
    written by libjpeg/Pillow give back their exact quality; for other encoders it
    is an estimate.  ``None`` when there is no 64-entry luminance table.

    >>> from PIL import Image
    >>> import io
    >>> buf = io.BytesIO(); Image.new("L", (16, 16)).save(buf, "JPEG", quality=83)
    >>> estimate_jpeg_quality(Image.open(buf).quantization)
    83
    """
    if not quantization or 0 not in quantization:
        return None
    luma = np.asarray(list(quantization[0]), float)
    if luma.size != 64:
        return None
    # Pillow reports tables in zig-zag order, libjpeg's reference is natural order:
    # compare sorted values, which is order-free and exact for libjpeg's tables
    err = np.abs(_IJG_TABLES - np.sort(luma)).sum(axis=1)
    return int(np.argmin(err)) + 1  # the first (lowest) quality wins ties


@register_reader
class ImageFramesReader(Reader):
    """A folder or glob of PNG/JPEG/BMP files, one frame per file.

    Only headers (and EXIF) are read when opening; pixels are decoded in
    :meth:`read_frame`.

    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.fromarray(np.full((4, 5, 3), i, np.uint8)).save(d / f"f{i}.png")
    >>> r = ImageFramesReader(sorted(d.glob("*.png")))
    >>> r.n_frames, r.frame_shape, r.channel_names
    (3, (4, 5, 3), ('R', 'G', 'B'))
    """

    format_name = "image"
    suffixes = _SUFFIXES

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return (dataset is None and bool(paths)
                and all(p.suffix.lower() in _SUFFIXES for p in paths))

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, **_: Any):
        super().__init__()
        checked: list[bool] = []

        def header(p: Path) -> dict:
            shape, dtype, mode, png16, dropped, info = self._header(p)
            if not checked:  # the first frame's size bounds every later one
                check_allocation(int(np.prod(shape)) * dtype.itemsize, "one frame", p)
                checked.append(True)
            return {"shape": shape, "dtype": dtype, "mode": mode, "png16": png16,
                    "dropped": dropped, "info": info}

        good = consistent_headers(paths, header, skip_bad=skip_bad, skipped=self.skipped,
                                  what="image frames")
        self.paths = [p for p, _ in good]
        self._modes = [h["mode"] for _, h in good]
        self._png16 = [h["png16"] for _, h in good]
        self.frame_dates: list[str | None] = [h["info"].get("date") for _, h in good]
        self._epochs: list[float | None] = [h["info"].get("epoch") for _, h in good]
        first = good[0][1]
        for key in ("format", "jpeg_quality", "dpi"):
            if key in first["info"]:
                self.attrs[key] = first["info"][key]
        alpha = any(h["dropped"] for _, h in good)
        self.n_frames = len(good)
        self.frame_shape = first["shape"]
        self.dtype = first["dtype"]
        self.channel_names = ("R", "G", "B") if self.frame_shape[2] == 3 else ("ch0",)
        self.georef = None
        if alpha:
            self.attrs["alpha_dropped"] = True

    # -- headers ------------------------------------------------------------------
    def _header(self, path: Path):
        """Shape, dtype and metadata of one file, without decoding pixels."""
        info: dict[str, Any] = {}
        ihdr = _png_header(path) if path.suffix.lower() == ".png" else None
        im = _open_checked(path)
        try:
            w, h = im.size
            info["format"] = im.format
            png16 = bool(ihdr and ihdr[2] == 16 and ihdr[3] in (2, 6))
            if png16:
                # Pillow would give 8-bit RGB here; decode the 16 bits ourselves
                shape, dtype, dropped = (h, w, 3), np.dtype(np.uint16), ihdr[3] == 6
                mode = "RGB;16"
            else:
                try:
                    mode, channels, dtype, dropped = _mode_layout(im.mode)
                except ValueError as exc:
                    raise DecodeError(path, str(exc)) from None
                if im.mode == "P" and "transparency" in im.info:
                    dropped = True
                shape = (h, w, channels)
            if im.format == "JPEG":
                q = estimate_jpeg_quality(getattr(im, "quantization", None) or {})
                if q is not None:
                    info["jpeg_quality"] = q
            if "dpi" in im.info:
                info["dpi"] = tuple(float(v) for v in im.info["dpi"])
            info.update(_exif_date(im))
        except DecodeError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            raise DecodeError(path, f"cannot read image header ({exc})") from None
        finally:
            im.close()
        return shape, dtype, mode, png16, dropped, info

    # -- pixels -------------------------------------------------------------------
    def read_frame(self, index: int, out: np.ndarray) -> None:
        path = self.paths[index]
        if self._png16[index]:
            out[...] = _decode_png16_rgb(path, self.frame_shape)
            return
        Image = _pil()
        try:
            # the size was checked against the bomb limit when the reader was made
            with Image.open(path) as im:
                if (im.size[1], im.size[0]) != self.frame_shape[:2]:
                    raise DecodeError(path, f"image is now {im.size[1]}x{im.size[0]}, "
                                      f"expected {self.frame_shape[0]}x{self.frame_shape[1]}")
                target = self._modes[index]
                if im.mode != target and not (target == "I;16" and im.mode.startswith("I;16")):
                    im = im.convert(target)
                arr = np.asarray(im)
        except (InputError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow plugins raise assorted types
            raise DecodeError(path, f"cannot decode image ({exc})") from None
        out[...] = arr.reshape(self.frame_shape)

    def frame_label(self, index: int) -> str:
        return self.paths[index].name

    def frame_times(self) -> np.ndarray | None:
        """EXIF ``DateTimeOriginal`` of each frame as seconds since the epoch, if all have it."""
        if not self._epochs or any(t is None for t in self._epochs):
            return None
        return np.asarray(self._epochs, dtype=np.float64)


def _exif_date(im) -> dict[str, Any]:
    """``{"date": raw string, "epoch": seconds}`` from EXIF DateTimeOriginal, or ``{}``."""
    try:
        exif = im.getexif()
    except (OSError, ValueError, SyntaxError, struct.error):
        return {}
    if not exif:
        return {}
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except (OSError, ValueError, KeyError, struct.error):
        sub = {}
    date = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME_ORIGINAL)
    if not isinstance(date, str):
        return {}
    offset = sub.get(_OFFSET_ORIGINAL)
    subsec = sub.get(_SUBSEC_ORIGINAL)
    date = date.strip().rstrip("\x00")
    return {"date": date,
            "epoch": exif_datetime_to_epoch(date, offset if isinstance(offset, str) else None,
                                            str(subsec) if subsec is not None else None)}


# -- 16-bit colour PNG ------------------------------------------------------------------

def _decode_png16_rgb(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode a 16-bit RGB/RGBA PNG to ``(h, w, 3)`` uint16 with imagecodecs (alpha dropped).

    The header is checked against ``shape`` before decoding, so a file replaced since
    the stack was opened cannot make the decoder allocate more than one frame.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DecodeError(path, f"cannot read ({exc.strerror})") from None
    ihdr = _png_ihdr(data)
    if ihdr is None or (ihdr[1], ihdr[0]) != shape[:2] or ihdr[2] != 16 or ihdr[3] not in (2, 6):
        raise DecodeError(path, "PNG header changed since the stack was opened")
    try:
        import imagecodecs
    except ImportError:
        raise DecodeError(path, "16-bit colour PNG needs the 'imagecodecs' package") from None
    try:
        pix = imagecodecs.png_decode(data)
    except (RuntimeError, ValueError, TypeError) as exc:  # imagecodecs.PngError is a RuntimeError
        raise DecodeError(path, f"corrupt PNG data ({exc})") from None
    if pix.dtype != np.uint16 or pix.shape[:2] != shape[:2] or pix.ndim != 3 or pix.shape[2] < 3:
        raise DecodeError(path, f"PNG decoded to {pix.shape} {pix.dtype}, expected "
                          f"{shape} uint16")
    return pix[:, :, :3]
