"""GeoTIFF frames through rasterio: each file is one frame, raster bands are channels.

The georeferencing (CRS as WKT and the GDAL geotransform) comes from the first
file; every other file must have the same CRS and transform.  A file with no CRS
and an identity transform (a plain grid, as written by
:func:`badpix.io.writers.write_geotiff` without ``georef``) gives ``georef=None``.

Nodata: the value is recorded in ``attrs["nodata"]``; for float rasters pixels
equal to it become NaN (statistics skip NaN), integer rasters keep it as is
because integers have no NaN.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecodeError, FrameMismatchError, InputError
from ..memory import check_allocation
from .base import (
    GeoRef,
    Reader,
    consistent_headers,
    default_channel_names,
)
from .tiff import TIFF_SUFFIXES, has_geo_tags

__all__ = ["GeoTiffReader", "read_raster"]

_IDENTITY = (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_WARN_LOCK = threading.Lock()


def _check_tiff_chain(path: Path) -> None:
    """Refuse a TIFF whose page chain breaks or loops before GDAL reads (and prints) it.

    GDAL reports a truncated or looped IFD chain on stderr and reads what it found;
    tifffile walks the same chain and says where it breaks.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError:
        return  # rasterio says why below
    if magic[:2] not in (b"II", b"MM"):
        return
    import tifffile

    from .tiff import chain_problem, tifffile_messages

    try:
        with tifffile_messages() as messages, tifffile.TiffFile(path) as tif:
            n_pages = len(tif.pages)
    except (OSError, ValueError, IndexError, KeyError, TypeError, tifffile.TiffFileError) as exc:
        raise DecodeError(path, f"not a readable TIFF file ({exc})") from None
    broken = chain_problem(messages)
    if broken is not None:
        raise DecodeError(path, f"{broken} after {n_pages} page(s)")


def _open(path: Path):
    """``rasterio.open`` for reading, with GDAL's "no geotransform" warning silenced.

    A plain grid has no geotransform by design; the warning would only say so
    (and is an error under ``-W error``).  Warning filters are process-global,
    hence the lock.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    _check_tiff_chain(path)
    with _WARN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            ds = rasterio.open(path)
        except RasterioIOError as exc:
            raise DecodeError(path, f"not a readable raster ({exc})") from None
    if ds.driver == "VRT":
        ds.close()
        # a VRT names other files; badpix reads only the files it was given
        raise DecodeError(path, "VRT files are not read (they refer to other files)")
    return ds


def _georef(ds) -> GeoRef | None:
    crs = ds.crs.to_wkt() if ds.crs else None
    gt = tuple(float(v) for v in ds.transform.to_gdal())
    if crs is None and gt == _IDENTITY:
        return None
    return GeoRef(crs, gt)


def _same_georef(a: GeoRef | None, b: GeoRef | None) -> bool:
    if a is None or b is None:
        return a is b
    if (a.transform is None) != (b.transform is None):
        return False
    if a.transform is not None and not all(
            math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
            for x, y in zip(a.transform, b.transform, strict=True)):
        return False
    if a.crs_wkt == b.crs_wkt:
        return True
    if a.crs_wkt is None or b.crs_wkt is None:
        return False
    from rasterio.crs import CRS

    return CRS.from_wkt(a.crs_wkt) == CRS.from_wkt(b.crs_wkt)


def _nodata(ds) -> float | None:
    vals = {v for v in ds.nodatavals if v is not None}
    if not vals:
        return None
    # one value for all bands is the GDAL/GeoTIFF norm (a single TIFF tag)
    v = ds.nodatavals[0]
    return None if v is None else float(v)


def _mask_nodata(arr: np.ndarray, nodata: float | None) -> None:
    """Set pixels equal to ``nodata`` to NaN in place (float arrays only)."""
    if nodata is None or arr.dtype.kind != "f" or math.isnan(nodata):
        return
    arr[arr == nodata] = np.nan


class GeoTiffReader(Reader):
    """A series of GeoTIFFs, one frame per file; bands are channels.

    >>> import numpy as np, tempfile, pathlib
    >>> from badpix.io.writers import write_geotiff
    >>> from badpix.io.base import GeoRef
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> g = GeoRef("EPSG:32633", (500000.0, 10.0, 0.0, 4e6, 0.0, -10.0))
    >>> for i in range(2):
    ...     _ = write_geotiff(d / f"t{i}.tif", np.zeros((2, 3, 4), np.uint16), georef=g)
    >>> r = GeoTiffReader(sorted(d.glob("*.tif")))
    >>> r.n_frames, r.frame_shape, r.georef.transform[1]
    (2, (3, 4, 2), 10.0)
    """

    format_name = "geotiff"
    suffixes = TIFF_SUFFIXES

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        if dataset is not None or not paths:
            return False
        if not all(p.suffix.lower() in TIFF_SUFFIXES for p in paths):
            return False
        return has_geo_tags(paths[0])

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, **_: Any):
        super().__init__()
        checked: list[bool] = []

        def header(p: Path) -> dict[str, Any]:
            ds = _open(p)
            try:
                dtypes = set(ds.dtypes)
                if len(dtypes) != 1:
                    raise DecodeError(p, f"bands have different types {sorted(dtypes)}")
                dtype = np.dtype(ds.dtypes[0])
                if dtype.kind not in "uif":
                    raise DecodeError(p, f"unsupported raster type {dtype}")
                h = {"shape": (ds.height, ds.width, ds.count), "dtype": dtype,
                     "georef": _georef(ds), "nodata": _nodata(ds),
                     "descriptions": tuple(ds.descriptions), "tags": ds.tags()}
            finally:
                ds.close()
            if not checked:  # the first frame's size bounds every later one
                check_allocation(int(np.prod(h["shape"])) * dtype.itemsize, "one frame", p)
                checked.append(True)
            return h

        def same_georef(p: Path, h: dict, first_path: Path, first: dict) -> None:
            if not _same_georef(h["georef"], first["georef"]):
                raise FrameMismatchError(
                    p, f"georeferencing differs from the first frame's ({first_path.name}): "
                    f"CRS/transform {_brief(h['georef'])} vs {_brief(first['georef'])}")

        good = consistent_headers(paths, header, skip_bad=skip_bad, skipped=self.skipped,
                                  what="GeoTIFF frames", check=same_georef)
        self.paths = [p for p, _ in good]
        first = good[0][1]
        self.n_frames = len(good)
        self.frame_shape = first["shape"]
        self.dtype = first["dtype"]
        self.georef = first["georef"]
        self.nodata = first["nodata"]
        desc = first["descriptions"]
        names = default_channel_names(self.frame_shape[2])
        if all(desc) and len(set(desc)) == len(desc):
            names = tuple(str(d) for d in desc)  # GDAL band descriptions name the channels
        self.channel_names = names
        self.attrs["nodata"] = self.nodata
        if first["tags"]:
            self.attrs["tags"] = dict(first["tags"])

    def read_frame(self, index: int, out: np.ndarray) -> None:
        path = self.paths[index]
        from rasterio.errors import RasterioIOError

        try:
            ds = _open(path)
            try:
                if (ds.height, ds.width, ds.count) != self.frame_shape:
                    raise DecodeError(path, f"raster is now {(ds.height, ds.width, ds.count)}, "
                                      f"expected {self.frame_shape}")
                if self.frame_shape[2] == 1 and out.flags.c_contiguous:
                    # single band: GDAL writes straight into the caller's buffer
                    ds.read(1, out=out.reshape(self.frame_shape[:2]))
                else:
                    out[...] = np.moveaxis(ds.read(), 0, -1)
            finally:
                ds.close()
        except InputError:
            raise
        except (RasterioIOError, OSError, ValueError) as exc:
            raise DecodeError(path, f"cannot decode raster ({exc})") from None
        _mask_nodata(out, self.nodata)


def _brief(g: GeoRef | None) -> str:
    if g is None:
        return "(none)"
    crs = "no CRS"
    if g.crs_wkt:
        from rasterio.crs import CRS

        crs = CRS.from_wkt(g.crs_wkt).to_string() or "custom CRS"
    return f"{crs}, {g.transform}"


def read_raster(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one raster (GeoTIFF or any file GDAL reads, except VRT) in full.

    Returns
    -------
    data
        ``(rows, cols)`` for one band, ``(bands, rows, cols)`` otherwise.  Float
        pixels equal to nodata are NaN.
    profile
        ``crs`` (WKT or ``None``), ``transform`` (GDAL 6-tuple or ``None``),
        ``georef`` (:class:`GeoRef` or ``None``), ``nodata``, ``tags`` (dict of str),
        ``descriptions`` (band names or ``None``), ``dtype``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from badpix.io.writers import write_geotiff
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> _ = write_geotiff(p, np.ones((3, 4), np.float32), nodata=-1.0, tags={"by": "me"})
    >>> arr, prof = read_raster(p)
    >>> arr.shape, prof["crs"], prof["nodata"], prof["tags"]["by"]
    ((3, 4), None, -1.0, 'me')
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    from rasterio.errors import RasterioIOError

    ds = _open(path)
    try:
        shape = (ds.count, ds.height, ds.width)
        dtype = np.dtype(ds.dtypes[0])
        check_allocation(int(np.prod(shape)) * dtype.itemsize, "raster", path)
        try:
            data = ds.read()
        except (RasterioIOError, OSError, ValueError) as exc:
            raise DecodeError(path, f"cannot decode raster ({exc})") from None
        georef = _georef(ds)
        nodata = _nodata(ds)
        desc = tuple(ds.descriptions)
        profile = {
            "crs": georef.crs_wkt if georef else None,
            "transform": georef.transform if georef else None,
            "georef": georef,
            "nodata": nodata,
            "tags": dict(ds.tags()),
            "descriptions": desc if any(desc) else None,
            "dtype": dtype.name,
            "driver": ds.driver,
        }
    finally:
        ds.close()
    _mask_nodata(data, nodata)
    return (data[0] if data.shape[0] == 1 else data), profile
