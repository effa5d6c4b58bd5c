"""Fill the bad pixels of one image or raster file by harmonic inpainting (:mod:`.inpaint`).

>>> import numpy as np
>>> img = np.add.outer(np.arange(6.0), np.arange(6.0))     # a plane: harmonic
>>> bad = np.zeros((6, 6), bool); bad[2:4, 1:5] = True
>>> bool(np.allclose(fill_array(np.where(bad, np.nan, img), bad), img))
True
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import InputError, OutputError, ParameterError
from ..io.atomic import atomic_path
from ..io.base import GeoRef
from ..io.writers import command_tags, write_geotiff
from .plan import RepairPlan

__all__ = ["fill_array", "fill_raster"]


def fill_array(image: np.ndarray, mask: np.ndarray | None = None,
               max_size: int | None = None) -> np.ndarray:
    """Harmonic fill of ``mask`` (default: the NaN pixels) in a 2-D or (h, w, c) image.

    Regions larger than ``max_size`` pixels (per channel) are left as they are.
    Returns a new array of the input dtype.

    >>> import numpy as np
    >>> fill_array(np.array([[1.0, np.nan, 3.0]])).tolist()
    [[1.0, 2.0, 3.0]]
    """
    img = np.asarray(image)
    if mask is None:
        mask = np.isnan(img) if img.dtype.kind == "f" else np.zeros(img.shape, bool)
    m = np.asarray(mask, bool)
    if m.shape[:2] != img.shape[:2]:
        raise ParameterError(f"mask shape {m.shape} does not match the image's {img.shape}")
    m3 = m if m.ndim == 3 else m[:, :, None]
    if img.ndim == 3 and m3.shape[2] != img.shape[2]:
        m3 = np.broadcast_to(m3, img.shape)
    if max_size is not None:
        m3 = m3.copy()
        for ch in range(m3.shape[2]):
            labels, n = ndimage.label(m3[:, :, ch])
            if n:
                sizes = np.bincount(labels.ravel())
                big = sizes > max_size
                big[0] = False
                m3[:, :, ch] &= ~big[labels]
    out = np.array(img, copy=True)
    frame = out if out.ndim == 3 else out[:, :, None]
    RepairPlan.build(m3, "inpaint", frame_shape=frame.shape).apply(frame)
    return out


def fill_raster(source: str | os.PathLike, output: str | os.PathLike, *,
                max_size: int | None = None) -> dict:
    """Fill nodata/NaN gaps of a single raster and write it with the same CRS, transform,
    nodata, tags and band descriptions (atomically), plus ``badpix_*`` provenance tags.
    A GeoTIFF input gives a Cloud Optimized GeoTIFF of the input's dtype.

    Returns ``{"filled": n_pixels, "left": n_pixels}``.

    >>> fill_raster("dem.tif", "dem_filled.tif")          # doctest: +SKIP
    {'filled': 1234, 'left': 0}
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    src_path = Path(source)
    if not src_path.is_file():
        raise InputError(src_path, "no such file")
    out_path = Path(output)
    if out_path.resolve() == src_path.resolve():
        raise OutputError(f"{out_path}: is the input; choose another output file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(src_path) as src:
                data = src.read()
                profile = src.profile.copy()
                tags = src.tags()
                band_tags = [src.tags(i + 1) for i in range(src.count)]
                descriptions = src.descriptions
                nodata = src.nodata
                colorinterp = src.colorinterp
        except RasterioIOError as exc:
            raise InputError(src_path, f"not a readable raster ({exc})") from None
    gaps = np.zeros(data.shape, bool)
    if nodata is not None:
        gaps |= np.isnan(data) if np.isnan(nodata) else data == nodata
    if data.dtype.kind == "f":
        gaps |= np.isnan(data)
    image = np.moveaxis(data, 0, -1)
    filled = fill_array(image, np.moveaxis(gaps, 0, -1), max_size=max_size)
    out = np.ascontiguousarray(np.moveaxis(filled, -1, 0))
    left = int((out == nodata).sum()) if nodata is not None and not np.isnan(nodata) else 0
    if out.dtype.kind == "f":
        left += int(np.isnan(out).sum())
    tags = {**tags, **command_tags(f"fill max_size={max_size}", src_path)}
    if profile["driver"] in ("GTiff", "COG"):
        # GeoTIFF in, Cloud Optimized GeoTIFF out, in the input's dtype
        crs = profile.get("crs")
        gt = tuple(float(v) for v in profile["transform"].to_gdal())
        plain = crs is None and gt == (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        write_geotiff(out_path, out, georef=None if plain else GeoRef(
                          crs.to_wkt() if crs else None, gt),
                      nodata=nodata, tags=tags, band_tags=band_tags,
                      descriptions=descriptions if any(descriptions) else None)
        return {"filled": int(gaps.sum()) - left, "left": left}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(out_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(out)
            dst.update_tags(**tags)
            for i in range(dst.count):
                if band_tags[i]:
                    dst.update_tags(i + 1, **band_tags[i])
                if descriptions[i]:
                    dst.set_band_description(i + 1, descriptions[i])
            if colorinterp:
                dst.colorinterp = colorinterp
    return {"filled": int(gaps.sum()) - left, "left": left}
