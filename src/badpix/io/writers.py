"""Output writers: GeoTIFF, PNG, ``.npy``, HDF5, CSV and JSON, all atomic.

Every writer goes through :func:`badpix.io.atomic.atomic_path`: the file appears
complete under its name or not at all, and a writer that raises leaves nothing
behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from .atomic import atomic_path
from .base import GeoRef

__all__ = ["command_tags", "float_dtype_for", "geotiff_profile", "write_geotiff", "write_png", "write_npy", "write_h5", "write_csv", "write_json"]

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


def command_tags(command: str, source: str | os.PathLike) -> dict[str, str]:
    """Provenance tags of a file made by one badpix command from one input file.

    >>> sorted(command_tags("fill max_size=None", "dem.tif"))
    ['badpix_command', 'badpix_source', 'badpix_version']
    """
    from .._version import __version__

    return {"badpix_version": __version__, "badpix_command": command,
            "badpix_source": os.fspath(source)}


def float_dtype_for(dtype: np.dtype) -> np.dtype:
    """The float type that holds a filtered or interpolated version of ``dtype`` pixels.

    float32 stays float32 and float64 float64; integers of up to 16 bits fit
    float32's 24-bit mantissa exactly, wider ones need float64.

    >>> float_dtype_for(np.dtype("uint16")), float_dtype_for(np.dtype("int32"))
    (dtype('float32'), dtype('float64'))
    """
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.dtype(np.float64) if dt.itemsize > 4 else np.dtype(np.float32)
    return np.dtype(np.float32) if dt.itemsize <= 2 else np.dtype(np.float64)


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

    from .tiff import tifffile_messages

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


def write_png(path: str | os.PathLike, data2d: np.ndarray, *,
              text: Mapping[str, Any] | None = None, overwrite: bool = True) -> Path:
    """Write a grey ``uint8``/``uint16`` image (or ``(h, w, 3)`` uint8 RGB) as PNG.

    ``text`` is provenance stored in PNG ``tEXt`` chunks (read back with
    ``PIL.Image.open(path).text``).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.png"
    >>> _ = write_png(p, np.zeros((3, 4), np.uint16), text={"source": "x"})
    >>> from PIL import Image; Image.open(p).text["source"]
    'x'
    """
    from PIL import Image, PngImagePlugin

    arr = np.asarray(data2d)
    target = Path(path)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16):
        mode = "L" if arr.dtype == np.uint8 else "I;16"
    elif arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8:
        mode = "RGB"
    else:
        raise OutputError(f"{target}: PNG needs (h, w) uint8/uint16 or (h, w, 3) uint8, "
                          f"got {arr.shape} {arr.dtype}")
    img = Image.fromarray(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("=")))
    if img.mode != mode:
        img = img.convert(mode)
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(str(k), str(v))
    with atomic_path(target, overwrite=overwrite) as tmp:
        try:
            img.save(tmp, format="PNG", pnginfo=info)
        except (OSError, ValueError) as exc:
            raise OutputError(f"{target}: cannot write PNG ({exc})") from None
    return target


def write_npy(path: str | os.PathLike, arr: np.ndarray, *, overwrite: bool = True) -> Path:
    """Write ``arr`` as ``.npy`` (never pickled: object arrays are refused).

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.load(write_npy(p, np.arange(3))).tolist()
    [0, 1, 2]
    """
    a = np.asanyarray(arr)
    target = Path(path)
    if a.dtype.hasobject:
        raise OutputError(f"{target}: object arrays are not written (would need pickling)")
    with atomic_path(target, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.save must not append ".npy"
            np.save(f, a, allow_pickle=False)
    return target


def write_h5(path: str | os.PathLike, datasets: Mapping[str, np.ndarray],
             attrs: Mapping[str, Any] | None = None, *, compression: str = "gzip",
             overwrite: bool = True) -> Path:
    """Write arrays (keys may be paths like ``"stats/mean"``) and root attributes to HDF5.

    Compression is ``"gzip"`` (default) or ``"lzf"``: both are built into h5py,
    so the file opens without hdf5plugin.  Attribute values that HDF5 cannot
    store natively (dicts, lists of mixed types, ``None``) are stored as JSON text.

    >>> import numpy as np, tempfile, pathlib, h5py
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> _ = write_h5(p, {"stats/mean": np.ones((2, 3))}, {"n_frames": 7})
    >>> with h5py.File(p) as f:
    ...     f["stats/mean"].shape, int(f.attrs["n_frames"])
    ((2, 3), 7)
    """
    import h5py

    if compression not in ("gzip", "lzf", None):
        raise OutputError(f"{os.fspath(path)}: compression must be gzip or lzf, not {compression!r}")
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        try:
            with h5py.File(tmp, "w") as f:
                for name, value in datasets.items():
                    a = np.asarray(value)
                    if a.dtype.hasobject:
                        raise OutputError(f"{target}: dataset {name!r} holds Python objects")
                    if a.dtype.kind == "U":
                        f.create_dataset(name, data=a.astype(h5py.string_dtype()))
                        continue
                    kw: dict[str, Any] = {}
                    if a.ndim > 0 and a.size > 1 and compression:
                        kw = {"compression": compression, "shuffle": True}
                        if compression == "gzip":
                            kw["compression_opts"] = 4
                    f.create_dataset(name, data=a, **kw)
                for key, value in (attrs or {}).items():
                    f.attrs[str(key)] = _h5_attr(value)
        except (OSError, ValueError, TypeError) as exc:
            raise OutputError(f"{target}: cannot write HDF5 ({exc})") from None
    return target


def _h5_attr(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return np.asarray(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return json.dumps(_jsonable(value), allow_nan=False)


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]],
              *, overwrite: bool = True) -> Path:
    """Write a CSV file with a header row (rows may be any iterable, e.g. a generator).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> print(write_csv(p, ["a", "b"], [(1, 2.5)]).read_text().strip())
    a,b
    1,2.5
    """
    target = Path(path)
    width = len(header)
    with atomic_path(target, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(list(header))
            for i, row in enumerate(rows):
                row = list(row)
                if len(row) != width:
                    raise OutputError(f"{target}: row {i} has {len(row)} fields, "
                                      f"header has {width}")
                w.writerow(_csv_value(v) for v in row)
    return target


def _csv_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented JSON; numpy scalars/arrays and paths are converted.

    Non-finite floats (NaN, inf) become ``null``: JSON has no NaN and strict
    parsers reject it.

    >>> import numpy as np, tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.json"
    >>> json.loads(write_json(p, {"n": np.int64(3), "x": float("nan")}).read_text())
    {'n': 3, 'x': None}
    """
    target = Path(path)
    try:
        text = json.dumps(_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False)
    except (OutputError, TypeError, ValueError) as exc:
        raise OutputError(f"{target}: cannot write JSON ({exc})") from None
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy, paths, tuples, sets and dataclass-free containers."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, GeoRef):
        return {"crs_wkt": obj.crs_wkt, "transform": _jsonable(obj.transform)}
    raise OutputError(f"cannot write a {type(obj).__name__} as JSON")

