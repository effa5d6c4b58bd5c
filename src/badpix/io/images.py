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

What the headers give (size, mode, EXIF date, JPEG quality) is read by
:mod:`badpix.io.image_headers`; the ``imagecodecs`` paths are :mod:`badpix.io.image_decode`.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, InputError
from ..memory import check_allocation
from .base import Reader, consistent_headers
from .image_decode import _decode_png16_rgb, _fast_decode, _read_file
from .image_headers import _exif_date, _mode_layout, _png_header, estimate_jpeg_quality

__all__ = ["ImageFramesReader"]

_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

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
