"""Synthetic photo series for the photo tests: Bayer DNGs (pidng), JPEGs with EXIF (piexif)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import piexif
from pidng.core import RAW2DNG, DNGTags, Tag
from pidng.defs import (
    CalibrationIlluminant,
    CFAPattern,
    DNGVersion,
    Orientation,
    PhotometricInterpretation,
)
from PIL import Image


def exif_date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y:%m:%d %H:%M:%S")


def write_dng(path: Path, mosaic: np.ndarray, pattern: str = "RGGB", black: int = 64,
              white: int = 4095, when: float | None = None) -> Path:
    """An uncompressed 16-bit CFA DNG of ``mosaic`` (what rawpy reads back bit-exactly)."""
    h, w = mosaic.shape
    t = DNGTags()
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.Orientation, Orientation.Horizontal)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, getattr(CFAPattern, pattern))
    t.set(Tag.BlackLevel, black)
    t.set(Tag.WhiteLevel, white)
    t.set(Tag.ColorMatrix1, [[10000, 10000], [0, 10000], [0, 10000], [0, 10000],
                             [10000, 10000], [0, 10000], [0, 10000], [0, 10000],
                             [10000, 10000]])
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    t.set(Tag.Make, "badpix")
    t.set(Tag.Model, "synthetic")
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    if when is not None:
        t.set(Tag.DateTimeOriginal, exif_date(when))
    conv = RAW2DNG()
    conv.options(t, path="", compress=False)
    out = conv.convert(np.ascontiguousarray(mosaic, np.uint16), filename=str(path.with_suffix("")))
    return Path(out)


def write_jpeg(path: Path, rgb: np.ndarray, when: float | None, quality: int = 92) -> None:
    exif = {}
    if when is not None:
        exif = {"Exif": {piexif.ExifIFD.DateTimeOriginal: exif_date(when).encode()}}
    Image.fromarray(rgb).save(path, quality=quality, exif=piexif.dump(exif) if exif else b"")


def smooth_scene(rng: np.random.Generator, shape: tuple[int, int], lo: float, hi: float,
                 n_frames: int, shift: int = 3) -> np.ndarray:
    """A smooth scene that pans a little between frames (hand-held series): (n, h, w)."""
    h, w = shape
    yy, xx = np.mgrid[0:h + 2 * shift * n_frames, 0:w + 2 * shift * n_frames]
    base = (np.sin(yy / 17.0) + np.cos(xx / 23.0) + 2) / 4
    out = np.empty((n_frames, h, w))
    for k in range(n_frames):
        dy, dx = rng.integers(0, 2 * shift * n_frames - 1, 2)
        out[k] = base[dy:dy + h, dx:dx + w]
    return lo + (hi - lo) * out


def add_stars(rng: np.random.Generator, frames: np.ndarray, n_stars: int, peak: float,
              step: int = 1) -> np.ndarray:
    """Bright point sources (stars, specular glints) at new random places in every frame.

    ``step`` 2 puts each on one photosite colour plane position only in a mosaic.
    Returns the per-frame star masks ``(n, h, w)``.
    """
    n, h, w = frames.shape
    masks = np.zeros(frames.shape, bool)
    for k in range(n):
        r = rng.integers(2, h - 2, n_stars)
        c = rng.integers(2, w - 2, n_stars)
        frames[k, r, c] += peak
        masks[k, r, c] = True
        # a little halo: stars are not single pixels, glints sometimes are
        for dr, dc in ((0, step), (step, 0), (0, -step), (-step, 0)):
            frames[k, np.clip(r + dr, 0, h - 1), np.clip(c + dc, 0, w - 1)] += peak / 4
    return masks
