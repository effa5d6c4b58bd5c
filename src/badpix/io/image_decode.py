"""Pixel decoding for the image reader where Pillow is slow or wrong.

* 8-bit grey/RGB JPEG and PNG: ``imagecodecs`` (libjpeg-turbo, libpng) decodes
  straight into the frame buffer (``_fast_decode``) when it gives Pillow's pixels;
  a truncated JPEG is left to Pillow, which refuses it (``_jpeg_complete``).
* 16-bit colour PNG, which Pillow reduces to 8 bits: ``_decode_png16_rgb``.

Every file is read whole only after its size has passed the memory check
(``_read_file``).  :mod:`badpix.io.images` is the reader that calls these.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DecodeError
from ..memory import check_allocation
from .image_headers import _png_ihdr


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
