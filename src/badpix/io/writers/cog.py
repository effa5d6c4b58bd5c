"""Cloud Optimized GeoTIFF output through rasterio (GDAL's COG driver), atomic.

:func:`geotiff_profile` is the one creation profile of every GeoTIFF badpix writes
and :func:`write_geotiff` writes an array with it.  A plain pixel grid (no georef)
gets an explicit identity transform, and a TIFF that GDAL left incomplete (full
disk, file-size limit) is an :class:`~badpix.errors.OutputError`, not a file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import OutputError
from ..atomic import atomic_path
from ..base import GeoRef

__all__ = ["COG_BLOCKSIZE", "geotiff_profile", "write_geotiff"]

_IDENTITY_MATRIX = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
                    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


#: COG tile size: 256 gives a photo band of ~300x300 one overview level (512 would give none)
COG_BLOCKSIZE = 256


def geotiff_profile(dtype: np.dtype, *, width: int, height: int, count: int,
                    compress: str | None = "deflate") -> dict[str, Any]:
    """The rasterio creation profile of every GeoTIFF badpix writes: a Cloud Optimized GeoTIFF.

    GDAL's COG driver tiles the image (256 x 256), compresses it, adds
    overviews while the image is larger than one tile and orders the file
    (IFDs first, then overviews, then full resolution) so that HTTP range
    reads work.  Deflate is read by every TIFF reader; level 1 because on
    noisy statistics higher levels cost 1.6x the time for ~2 % smaller files.
    The predictor (2 for integers, 3 for floats) is what makes deflate worth
    it on smooth data; flag masks are mostly zero and compress without one.
    Overviews use nearest-neighbour sampling for integers (flag bits must
    not be averaged into values that are no flags) and averaging for floats.

    >>> geotiff_profile(np.dtype("float32"), width=64, height=64, count=5)["predictor"]
    3
    """
    dt = np.dtype(dtype)
    prof: dict[str, Any] = {
        "driver": "COG", "width": width, "height": height, "count": count,
        "dtype": dt.name, "blocksize": COG_BLOCKSIZE,
        "overview_resampling": "average" if dt.kind == "f" else "nearest",
        "compress": (compress or "none").lower(),
        # BIGTIFF=IF_SAFER: a classic TIFF unless the file could pass 4 GB
        "bigtiff": "if_safer",
    }
    if compress and compress.lower() in ("deflate", "lzw", "zstd"):
        if compress.lower() in ("deflate", "zstd"):
            prof["level"] = 1
        if dt.kind == "f":
            prof["predictor"] = 3
        elif dt.itemsize > 1:
            prof["predictor"] = 2
    return prof


def write_geotiff(path: str | os.PathLike, data: np.ndarray, *, georef: GeoRef | None = None,
                  nodata: float | None = None, tags: Mapping[str, Any] | None = None,
                  descriptions: Sequence[str] | None = None, compress: str | None = "deflate",
                  band_tags: Sequence[Mapping[str, Any]] | None = None,
                  overwrite: bool = True) -> Path:
    """Write ``data`` (``(rows, cols)`` or ``(bands, rows, cols)``) as a Cloud Optimized GeoTIFF.

    The creation options are :func:`geotiff_profile`'s (tiled, compressed,
    overviews where the image exceeds one 256 x 256 tile, COG layout); the
    dtype is the array's: callers choose it (float32 statistics, uint8 masks).

    Parameters
    ----------
    georef
        CRS and transform.  ``None`` writes a plain pixel grid: no CRS and an
        explicit identity transform, so no coordinates are invented and GDAL
        readers do not warn "Dataset has no geotransform".
    nodata
        Nodata value stored in the file (GDAL_NODATA tag).
    tags
        Provenance, stored as GDAL metadata items (values converted with ``str``).
    descriptions
        One name per band (e.g. ``mean, std, min, max, median``).
    compress
        GDAL compression (``"deflate"``, ``"lzw"``, ``"zstd"``, ``None``).
    band_tags
        Metadata items per band (e.g. copied from an input raster).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mask.tif"
    >>> write_geotiff(p, np.zeros((4, 5), np.uint8), tags={"tool": "badpix"}).name
    'mask.tif'
    """
    import rasterio
    from rasterio._err import CPLE_BaseError  # GDAL's errors (not RasterioError)
    from rasterio.errors import RasterioError
    from rasterio.transform import Affine

    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise OutputError(f"{os.fspath(path)}: GeoTIFF data must be 2-D or 3-D, got {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "uif" or arr.dtype.itemsize > 8:
        raise OutputError(f"{os.fspath(path)}: cannot write {arr.dtype} data as GeoTIFF")
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    bands, rows, cols = arr.shape
    if descriptions is not None and len(descriptions) != bands:
        raise OutputError(f"{os.fspath(path)}: {len(descriptions)} descriptions for {bands} bands")
    if band_tags is not None and len(band_tags) != bands:
        raise OutputError(f"{os.fspath(path)}: {len(band_tags)} band tag sets for {bands} bands")
    plain = georef is None or georef.transform is None
    if plain:
        # GDAL does not store an identity transform (and rasterio warns that it
        # will not); write a placeholder with shear, which GDAL stores as a
        # ModelTransformation tag, then overwrite that tag with the identity.
        transform = Affine(1.0, 0.5, 0.0, 0.25, 1.0, 0.0)
    else:
        transform = Affine.from_gdal(*georef.transform)
    profile = geotiff_profile(arr.dtype, width=cols, height=rows, count=bands, compress=compress)
    profile.update(transform=transform,
                   crs=georef.crs_wkt if georef is not None and georef.crs_wkt else None)
    if nodata is not None:
        profile["nodata"] = nodata
    target = Path(path)
    with atomic_path(target, overwrite=overwrite, expect_bytes=arr.nbytes) as tmp:
        try:
            # the COG driver only copies: rasterio builds the file in memory and GDAL
            # copies it (with overviews) to ``tmp`` when the dataset closes; inside an
            # Env GDAL's errors go to rasterio's logger (quiet in atomic_path) up to the
            # file's close, where a full disk shows; outside they hit stderr
            with _gdal_stderr_dropped(), rasterio.Env(), \
                    rasterio.open(tmp, "w", **profile) as dst:
                dst.write(arr)
                if tags:
                    dst.update_tags(**{str(k): str(v) for k, v in tags.items()})
                for i, bt in enumerate(band_tags or (), start=1):
                    if bt:
                        dst.update_tags(i, **{str(k): str(v) for k, v in bt.items()})
                if descriptions is not None:
                    for i, d in enumerate(descriptions, start=1):
                        dst.set_band_description(i, str(d))
        except (RasterioError, CPLE_BaseError, ValueError, TypeError) as exc:
            # a full disk shows as CPLE_AppDefinedError at close: atomic_path names it
            raise OutputError(f"{target}: cannot write GeoTIFF ({exc})") from None
        _check_complete(tmp, target)
        if plain:
            _set_identity_transform(tmp, target)
    return target


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def _gdal_stderr_dropped() -> Iterator[None]:
    """Drop what libtiff prints on file descriptor 2 while GDAL writes.

    On a full disk or past the file-size limit libtiff prints ``_tiffWriteProc:
    File too large.`` straight to stderr (neither rasterio's logger nor CPL_LOG
    sees it); the failure itself is reported in one line by
    :func:`~badpix.io.atomic.atomic_path`.
    """
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (embedded): nothing to protect
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _check_complete(tmp: Path, target: Path) -> None:
    """Raise when GDAL wrote a TIFF shorter than its own strips say.

    On a full disk or past the file-size limit GDAL logs ``_tiffWriteProc: File too
    large.`` and closes the file without raising; the strips then point past its end.
    :func:`~badpix.io.atomic.atomic_path` says why (no space, size limit...).
    """
    import tifffile

    from ..tiff import tifffile_messages

    size = tmp.stat().st_size
    try:
        with tifffile_messages(), tifffile.TiffFile(tmp) as tif:
            end = max((int(o) + int(n) for page in tif.pages
                       for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)),
                      default=0)
    except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError):
        end = size + 1
    if end > size:
        raise OutputError(f"{target}: GDAL wrote an incomplete file ({size} bytes)")


def _set_identity_transform(tmp: Path, target: Path) -> None:
    import tifffile

    with tifffile.TiffFile(tmp, mode="r+b") as tif:
        tag = tif.pages.first.tags.get(34264)  # ModelTransformationTag
        if tag is None or len(tag.value) != 16:
            raise OutputError(f"{target}: GDAL wrote no model transformation to replace")
        tag.overwrite(_IDENTITY_MATRIX)
