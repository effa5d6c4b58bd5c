"""Load a bad-pixel mask for repair: a scan folder, a mask image/array, or ``.badpixels``.

Every loader returns a bool array ``(H, W, C)`` matching the frames
``frame_shape``; a 2-D mask is broadcast to every channel.

>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "mask.npy"
>>> np.save(p, np.eye(3, dtype=np.uint8))
>>> load_mask(p, (3, 3, 2)).shape
(3, 3, 2)
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..detect.flags import parse_classes
from ..errors import InputError
from ..io.badpixels import read_badpixels

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")


def load_mask(spec: str | os.PathLike, frame_shape: tuple[int, int, int],
              classes: str | int | None = None) -> np.ndarray:
    """Bool mask ``(H, W, C)`` for frames of ``frame_shape`` from ``spec``.

    Parameters
    ----------
    spec
        A scan output folder (``summary.json`` + ``mask_<band>.tif``), a mask file
        (``.npy``, ``.tif``, ``.png``; nonzero = bad; ``(H, W)`` or ``(H, W, C)``) or a
        dcraw ``.badpixels`` file.
    classes
        Defect classes to repair from a scan folder (``"hot,stuck"``; default all).
        For a mask file, an int bit mask selects flag bits; ``None`` takes any nonzero.
    """
    p = Path(spec)
    h, w, c = (int(v) for v in frame_shape)
    bits = classes if isinstance(classes, int) or classes is None else parse_classes(classes)
    if p.is_dir():
        return _from_scan(p, (h, w, c), parse_classes(None) if bits is None else bits)
    if not p.is_file():
        raise InputError(p, "mask not found (expected a scan folder, a mask file or .badpixels)")
    suffix = p.suffix.lower()
    if suffix == ".badpixels":
        m = read_badpixels(p, (h, w))
    elif suffix == ".npy":
        try:
            m = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(p, f"not a readable .npy mask ({exc})") from None
    elif suffix in IMAGE_SUFFIXES:
        m = _read_image(p)
    else:
        raise InputError(p, f"unknown mask type {suffix or '(none)'}; use a scan folder, "
                         ".npy, .tif, .png or .badpixels")
    if m.dtype.kind not in "biuf":
        raise InputError(p, f"mask has unsupported dtype {m.dtype}")
    if bits is not None and m.dtype.kind in "iu":
        m = (m.astype(np.int64) & int(bits)) != 0
    else:
        m = m != 0
    return _fit(m, (h, w, c), p)


def _fit(m: np.ndarray, frame_shape: tuple[int, int, int], where: Path) -> np.ndarray:
    h, w, c = frame_shape
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    ok = (m.ndim == 2 and m.shape == (h, w)) or (m.ndim == 3 and m.shape == (h, w, c))
    if not ok:
        raise InputError(where, f"mask shape {tuple(m.shape)} does not match the frames' "
                         f"{(h, w, c)} (rows, cols, channels)")
    if m.ndim == 2:
        m = np.repeat(m[:, :, None], c, axis=2)
    return np.ascontiguousarray(m)


def _read_image(p: Path) -> np.ndarray:
    if p.suffix.lower() == ".png":
        from PIL import Image

        try:
            with Image.open(p) as im:
                return np.asarray(im)
        except OSError as exc:
            raise InputError(p, f"not a readable PNG mask ({exc})") from None
    return _read_tif(p)


def _read_tif(p: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                data = src.read()
    except RasterioIOError as exc:
        raise InputError(p, f"not a readable TIFF mask ({exc})") from None
    return data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)


def _from_scan(folder: Path, frame_shape: tuple[int, int, int], bits: int) -> np.ndarray:
    from ..io.scandir import load_scan

    scan = load_scan(folder)
    if tuple(scan.frame_shape) != tuple(frame_shape):
        raise InputError(folder, f"scan was of frames {tuple(scan.frame_shape)} (rows, cols, "
                         f"channels) but the frames to repair are {tuple(frame_shape)}")
    return scan.frame_mask(bits) != 0


def scan_frame_shape(folder: str | os.PathLike) -> tuple[int, int, int]:
    """``input.frame_shape`` (rows, cols, channels) recorded in a scan folder's summary.json."""
    p = Path(folder) / "summary.json"
    try:
        return tuple(int(v) for v in json.loads(p.read_text())["input"]["frame_shape"])
    except FileNotFoundError:
        raise InputError(folder, "not a scan output folder (no summary.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(p, f"lacks a readable input.frame_shape ({exc})") from None
