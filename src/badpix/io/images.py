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
* Grey/RGB JPEGs (baseline and progressive) and 8-bit grey/RGB PNGs are decoded by
  ``imagecodecs`` (libjpeg-turbo, libpng) straight into the frame buffer: the same
  pixels as Pillow at about half the cost (no intermediate copies).  Pillow still
  reads every header (size check, bomb guard) and decodes everything else, and
  any file ``imagecodecs`` refuses or that is truncated.
* Pillow's decompression-bomb guard stays on (``Image.MAX_IMAGE_PIXELS`` is never
  changed); an image above the limit is refused with a :class:`DecodeError`.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, InputError
from ..memory import check_allocation
from .base import Reader, consistent_headers

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
    is_photo_series = True
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
        """Decode frame ``index`` into ``out`` (shape :attr:`frame_shape`).

        The file is read once.  Pillow parses the header (size re-checked
        against the opening, decompression-bomb guard on); baseline/progressive
        JPEGs and 8-bit grey/RGB PNGs whose Pillow mode is already the target
        mode are then decoded by ``imagecodecs`` (libjpeg-turbo / libpng)
        straight into ``out`` -- the same pixels as Pillow, at half the cost --
        and everything else (CMYK, palette, alpha, conversions, or when
        ``imagecodecs`` refuses the data) by Pillow.
        """
        path = self.paths[index]
        if self._png16[index]:
            out[...] = _decode_png16_rgb(path, self.frame_shape)
            return
        data = _read_file(path)
        Image = _pil()
        try:
            # the size was checked against the bomb limit when the reader was made
            with Image.open(io.BytesIO(data)) as im:
                if (im.size[1], im.size[0]) != self.frame_shape[:2]:
                    raise DecodeError(path, f"image is now {im.size[1]}x{im.size[0]}, "
                                      f"expected {self.frame_shape[0]}x{self.frame_shape[1]}")
                target = self._modes[index]
                if im.mode == target and _fast_decode(im, data, out, self.frame_shape):
                    return
                if im.mode != target and not (target == "I;16" and im.mode.startswith("I;16")):
                    im = im.convert(target)
                arr = np.asarray(im)
        except (InputError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow plugins raise assorted types
            raise DecodeError(path, f"cannot decode image ({exc})") from None
        if arr.size != out.size:
            raise DecodeError(path, f"image decoded to {arr.shape}, expected {self.frame_shape}")
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


def _read_file(path: Path) -> bytes:
    """The whole file, once its size has passed the memory check (files are untrusted)."""
    try:
        check_allocation(path.stat().st_size, "image file", path)
        return path.read_bytes()
    except OSError as exc:
        raise DecodeError(path, f"cannot read ({exc.strerror})") from None


# -- fast paths: imagecodecs straight into the frame buffer ----------------------------

# a marker in JPEG entropy-coded data: 0xFF followed by anything but a stuffed zero,
# a restart marker or another fill byte
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_complete(data: bytes) -> bool:
    """True when the first image of a JPEG stream ends with its EOI marker inside ``data``.

    libjpeg quietly pads a truncated stream (``imagecodecs`` returns grey rows),
    whereas Pillow refuses it; a stream that fails this check is left to Pillow,
    so truncated files keep raising.  The marker segments are walked by their
    lengths; a sequential (baseline) JPEG whose first scan holds every component
    -- what cameras and Pillow write -- has only entropy-coded data and restart
    markers after it, in which ``FF D9`` cannot occur, so ending with ``FF D9``
    proves it complete.  Other streams (progressive, several scans, trailing
    data) have the data after each SOS scanned for the next marker.

    >>> import io; from PIL import Image
    >>> b = io.BytesIO(); Image.new("RGB", (8, 8)).save(b, "JPEG"); d = b.getvalue()
    >>> _jpeg_complete(d), _jpeg_complete(d[:-2]), _jpeg_complete(d[:len(d) // 2])
    (True, False, False)
    """
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return False
    pos = 2
    sequential = False
    components = 0
    while pos < n:
        if data[pos] != 0xFF:
            return False  # garbage between segments: Pillow's (libjpeg's) recovery decides
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            return False
        code = data[pos]
        pos += 1
        if code == 0xD9:  # EOI
            return True
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # TEM, RSTn: no length
            continue
        if pos + 2 > n:
            return False
        start = pos
        pos += (data[pos] << 8) | data[pos + 1]
        if pos > n:
            return False
        if code in (0xC0, 0xC1) and start + 7 < n:  # SOF0/1: sequential Huffman
            sequential, components = True, data[start + 7]
        elif 0xC2 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            sequential = False  # progressive, lossless, arithmetic: scan them all
        if code == 0xDA:  # SOS: entropy-coded data up to the next marker
            if (sequential and start + 2 < n and data[start + 2] == components
                    and data.endswith(b"\xff\xd9")):
                return True
            m = _JPEG_MARKER.search(data, pos)
            if m is None:
                return False
            pos = m.start()
    return False


def _contiguous_target(out: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray | None:
    """``out`` as the array imagecodecs fills for this frame shape, if it can write there."""
    if out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        return None
    return out[:, :, 0] if shape[2] == 1 else out


def _fast_decode(im, data: bytes, out: np.ndarray, shape: tuple[int, int, int]) -> bool:
    """Decode ``data`` with imagecodecs into ``out`` if it gives Pillow's pixels; else False.

    ``im`` is the Pillow image opened on ``data`` (header only), already checked
    for size; its mode equals the target mode.  Only 8-bit grey and RGB are
    taken: JPEG (baseline, progressive; "MPO" is a JPEG with more images after
    the first, which is the one both decoders read) and non-palette 8-bit PNG
    without transparency.  Anything imagecodecs rejects falls back to Pillow.
    """
    if im.mode not in ("L", "RGB") or out.dtype != np.uint8:
        return False
    fmt = im.format
    if fmt in ("JPEG", "MPO"):
        if not _jpeg_complete(data):
            return False
        codec = "jpeg8_decode"
    elif fmt == "PNG":
        ihdr = _png_ihdr(data[:33])
        if (ihdr is None or ihdr[2] != 8 or ihdr[3] not in (0, 2)
                or "transparency" in im.info):
            return False
        codec = "png_decode"
    else:
        return False
    try:
        import imagecodecs
    except ImportError:
        return False
    dest = _contiguous_target(out, shape)
    try:
        if dest is not None:
            # imagecodecs checks that the image fits ``out`` exactly (ValueError otherwise)
            pix = getattr(imagecodecs, codec)(data, out=dest)
        else:
            pix = getattr(imagecodecs, codec)(data)
    except (RuntimeError, ValueError, TypeError, MemoryError):
        return False
    if pix.dtype != np.uint8 or pix.size != out.size or pix.shape[:2] != shape[:2]:
        return False
    if dest is None or not np.may_share_memory(pix, dest):
        out[...] = pix.reshape(shape)
    return True


# -- 16-bit colour PNG ------------------------------------------------------------------

def _decode_png16_rgb(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode a 16-bit RGB/RGBA PNG to ``(h, w, 3)`` uint16 with imagecodecs (alpha dropped).

    The header is checked against ``shape`` before decoding, so a file replaced since
    the stack was opened cannot make the decoder allocate more than one frame.
    """
    data = _read_file(path)
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
