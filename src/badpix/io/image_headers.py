"""What the image reader learns from a file's header: size and mode, capture date, JPEG quality.

* PNG: the IHDR chunk (``_png_ihdr``), read from the first 33 bytes of a file;
* Pillow modes: which mode a frame is converted to, its channels and dtype, and
  whether an alpha channel is dropped (``_mode_layout``);
* EXIF ``DateTimeOriginal`` (with its offset and sub-seconds) as seconds since the
  epoch (:func:`exif_datetime_to_epoch`, ``_exif_date``);
* the libjpeg quality of a JPEG's quantisation tables (:func:`estimate_jpeg_quality`).

Nothing here decodes pixels; :mod:`badpix.io.images` is the reader.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["estimate_jpeg_quality", "exif_datetime_to_epoch"]

# EXIF tags (Exif sub-IFD): DateTimeOriginal, OffsetTimeOriginal, SubSecTimeOriginal
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_ORIGINAL = 0x9011
_SUBSEC_ORIGINAL = 0x9291


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
