"""In-memory inputs: numpy arrays, dask arrays and ``xarray.DataArray`` as a :class:`Reader`.

``open_stack(array)`` wraps the array in one of these readers, so every engine
sees the usual reader contract and nothing is read before a block is asked for:

* a numpy array (or anything sliceable with ``shape``/``dtype``, e.g. a zarr or
  h5py array) is sliced a block of frames (or a strip of rows) at a time;
* a dask array is computed block by block: each read computes only the chunks
  holding the frames asked for, never the whole array;
* an ``xarray.DataArray`` (numpy-, dask- or file-backed, e.g. from
  ``xr.open_dataset``/``xr.open_zarr``) is indexed lazily by position; its ``y``/``x``
  coordinates and CRS (a rioxarray ``spatial_ref`` coordinate, a ``grid_mapping``
  attribute or a ``crs_wkt``/``crs`` attribute) are carried into the results.

Axes.  A plain array is ``(frame, y, x)`` or ``(frame, y, x, channel)``; a 2-D
array is one frame.  A DataArray's dimensions are recognised by name: ``frame``
or ``time`` (frames), ``y``/``row``/``lat``/``latitude``, ``x``/``col``/``lon``/
``longitude`` and ``channel``; a 3-D array whose ``y`` and ``x`` are found takes
its third dimension as frames.  ``dims=`` names them otherwise: a sequence gives
the role of every axis in order (``("y", "x", "frame")``), a mapping names the
dimension of each role (``{"frame": "band"}``).

>>> import numpy as np
>>> r = array_reader(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
>>> r.n_frames, r.frame_shape, int(r.read_frames(1, 2)[0, 0, 1, 0])
(2, (3, 4, 1), 13)
>>> array_reader(np.zeros((3, 4, 5)), dims=("y", "x", "frame")).frame_shape
(3, 4, 1)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._duck import is_dask as _is_dask
from .._duck import is_xarray as _is_xarray
from ..errors import InputError, ParameterError
from .base import GeoRef, Reader, as_hwc, default_channel_names

__all__ = ["ArrayReader", "DaskArrayReader", "array_reader", "is_array_input", "to_dataarray"]

ROLES = ("frame", "y", "x", "channel")
#: dimension names recognised for each role, in order of preference
DIM_NAMES = {
    "frame": ("frame", "frames", "time", "t"),
    "y": ("y", "row", "rows", "lat", "latitude"),
    "x": ("x", "col", "cols", "column", "lon", "longitude"),
    "channel": ("channel", "channels", "c"),
}
Dims = Sequence[str] | Mapping[str, str] | None


def is_array_input(obj: Any) -> bool:
    """True for arrays and xarray objects (not paths or lists of paths).

    >>> import numpy as np
    >>> is_array_input(np.zeros((2, 3, 4))), is_array_input("frames/"), is_array_input(["a"])
    (True, False, False)
    """
    if isinstance(obj, (str, bytes, os.PathLike, list, tuple)):
        return False
    if _is_xarray(obj, "Dataset") or _is_xarray(obj, "DataArray"):
        return True
    return hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "__getitem__")


def to_dataarray(ds: Any, dataset: str | None = None) -> Any:
    """The variable of frames of an ``xarray.Dataset``: ``dataset`` or the only one with 3+ dims.

    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"img": (("frame", "y", "x"), np.zeros((2, 3, 4))), "t": ("frame", [0, 1])})
    >>> to_dataarray(ds).name
    'img'
    """
    if not _is_xarray(ds, "Dataset"):
        return ds
    if dataset is not None:
        if dataset not in ds.data_vars:
            raise InputError(None, f"dataset has no variable {dataset!r}; variables: "
                             + ", ".join(map(str, ds.data_vars)))
        return ds[dataset]
    found = [str(n) for n, v in ds.data_vars.items() if v.ndim >= 3]
    if len(found) != 1:
        raise InputError(None, "name the variable of frames with dataset=...; variables "
                         "with 3 or more dims: " + (", ".join(found) or "none"))
    return ds[found[0]]


def _axis_roles(names: Sequence[str], dims: Dims, is_named: bool) -> dict[str, int]:
    """Axis index of each role (``channel`` optional) for axes called ``names``."""
    ndim = len(names)
    if dims is not None and not isinstance(dims, Mapping):
        roles = list(dims)
        if len(roles) != ndim or set(roles) - set(ROLES) or len(set(roles)) != ndim:
            raise ParameterError(f"dims={tuple(roles)}: give one of {', '.join(ROLES)} for each "
                                 f"of the {ndim} axes, each at most once")
        return {r: i for i, r in enumerate(roles)}
    found: dict[str, int] = {}
    if isinstance(dims, Mapping):
        for role, name in dims.items():
            if role not in ROLES or name not in names:
                raise ParameterError(f"dims={dict(dims)}: roles are {', '.join(ROLES)} and the "
                                     f"dimensions {', '.join(map(str, names))}")
            found[role] = list(names).index(name)
    if not is_named and not found:
        plain = {2: ("y", "x"), 3: ("frame", "y", "x"), 4: ("frame", "y", "x", "channel")}
        if ndim not in plain:
            raise ParameterError(f"frames must be 2-D to 4-D, not shape of {ndim} dims")
        return {r: i for i, r in enumerate(plain[ndim])}
    for role in ROLES:
        if role in found:
            continue
        for candidate in DIM_NAMES[role]:
            i = next((k for k, n in enumerate(names) if str(n).lower() == candidate), None)
            if i is not None and i not in found.values():
                found[role] = i
                break
    rest = [i for i in range(ndim) if i not in found.values()]
    if len(rest) == 1 and {"y", "x"} <= set(found):
        # (band, y, x): the one unnamed dim holds the frames (or the channels, frames known)
        unnamed = next((r for r in ("frame", "channel") if r not in found), None)
        if unnamed is not None:
            found[unnamed] = rest.pop()
    if rest or not {"y", "x"} <= set(found):
        raise ParameterError(f"cannot tell frame/y/x/channel apart in dims {tuple(names)}; "
                             "name them with dims=, e.g. dims={'frame': 'time'}")
    return found


def _georef(da: Any, ydim: str, xdim: str) -> GeoRef | None:
    """CRS (rioxarray ``spatial_ref``, ``grid_mapping``, ``crs_wkt``) and transform of ``da``."""
    wkt = None
    gm_name = da.attrs.get("grid_mapping") or da.encoding.get("grid_mapping") or "spatial_ref"
    gm = da.coords[gm_name].attrs if gm_name in da.coords else {}
    for attrs in (gm, da.attrs):
        wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref") or attrs.get("crs")
        if isinstance(wkt, str) and wkt:
            break
        wkt = None
    transform = None
    if isinstance(gm.get("GeoTransform"), str):
        try:
            transform = tuple(float(v) for v in gm["GeoTransform"].split())
        except ValueError:
            transform = None
    if (transform is None or len(transform) != 6) and ydim in da.coords and xdim in da.coords:
        transform = _regular_transform(np.asarray(da[ydim].values), np.asarray(da[xdim].values))
    if transform is not None and len(transform) != 6:
        transform = None
    if wkt is None and transform is None:
        return None
    return GeoRef(wkt, transform)


def _regular_transform(y: np.ndarray, x: np.ndarray) -> tuple[float, ...] | None:
    """GDAL geotransform of evenly spaced pixel-centre coordinates, else ``None``."""
    if y.size < 2 or x.size < 2 or y.dtype.kind not in "iuf" or x.dtype.kind not in "iuf":
        return None
    dy, dx = float(y[1] - y[0]), float(x[1] - x[0])
    if not (np.allclose(np.diff(y), dy) and np.allclose(np.diff(x), dx)) or dx == 0 or dy == 0:
        return None
    return (float(x[0]) - dx / 2, dx, 0.0, float(y[0]) - dy / 2, 0.0, dy)


class ArrayReader(Reader):
    """Frames of an in-memory (or lazily indexed) array, read a slice at a time.

    Use :func:`array_reader`, which also picks :class:`DaskArrayReader` for dask data.

    >>> import numpy as np
    >>> r = ArrayReader(np.ones((4, 5, 6, 3), np.uint16))
    >>> r.describe()
    'array: 4 frames of (5, 6, 3) uint16'
    """

    format_name = "array"
    reads_rows = True

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return False  # never picked for paths: open_reader hands arrays over directly

    def __init__(self, data: Any, dims: Dims = None, name: str | None = None):
        super().__init__()
        da = to_dataarray(data)
        self.paths = []
        self.name = name
        #: y/x coordinate values and attributes of a DataArray input, for the results
        self.spatial_coords: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        self._times: np.ndarray | None = None
        if _is_xarray(da, "DataArray"):
            names = [str(d) for d in da.dims]
            roles = _axis_roles(names, dims, True)
            self.name = name or (None if da.name is None else str(da.name))
            self.georef = _georef(da, names[roles["y"]], names[roles["x"]])
            for role in ("y", "x"):
                dim = names[roles[role]]
                if dim in da.coords:
                    self.spatial_coords[role] = (np.asarray(da[dim].values),
                                                 {"name": dim, **da[dim].attrs})
            if "frame" in roles:
                self._times = _frame_seconds(da, names[roles["frame"]])
            # dask-backed: the dask array; else the DataArray, indexed lazily by position
            # (a file-backed variable's .data would load all of it)
            self._data = da.data if da.chunks is not None else da
            channel_coord = (names[roles["channel"]] if "channel" in roles else None)
            labels = (None if channel_coord is None or channel_coord not in da.coords
                      else [str(v) for v in np.asarray(da[channel_coord].values)])
            self.attrs = {k: v for k, v in da.attrs.items() if isinstance(v, (str, int, float))}
        else:
            roles = _axis_roles([f"axis{i}" for i in range(np.ndim(da))], dims, False)
            self._data = da
            labels = None
        dtype = np.dtype(da.dtype)
        if dtype.kind not in "iuf" or dtype.itemsize > 8:
            raise InputError(None, f"array has dtype {dtype}; frames must be integer or float")
        self._roles = roles
        shape = tuple(int(s) for s in da.shape)
        self.n_frames = shape[roles["frame"]] if "frame" in roles else 1
        if self.n_frames == 0:
            raise InputError(None, "array holds no frames")
        hw = (shape[roles["y"]], shape[roles["x"]])
        self.frame_shape = as_hwc(hw + ((shape[roles["channel"]],) if "channel" in roles else ()))
        self.dtype = dtype.newbyteorder("=")
        names_ok = labels is not None and len(set(labels)) == len(labels) and all(labels)
        self.channel_names = (tuple(labels) if names_ok and labels is not None
                              else default_channel_names(self.frame_shape[2]))
        # axes of the data in (frame, y, x, channel) order, for np.transpose after slicing
        self._order = [roles[r] for r in ROLES if r in roles]

    def _slice(self, start: int, stop: int, rows: tuple[int, int] | None = None) -> np.ndarray:
        index: list[Any] = [slice(None)] * len(self._order)
        if "frame" in self._roles:
            index[self._roles["frame"]] = slice(start, stop)
        if rows is not None:
            index[self._roles["y"]] = slice(*rows)
        part = self._data[tuple(index)]
        arr = self._materialize(part)
        arr = np.transpose(arr, self._order)
        if "frame" not in self._roles:
            arr = arr[None]
        if "channel" not in self._roles:
            arr = arr[..., None]
        return arr

    def _materialize(self, part: Any) -> np.ndarray:
        return np.asarray(part.values if _is_xarray(part, "DataArray") else part)

    def read_frames(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        out = self.block_buffer(stop - start, out)
        out[...] = self._slice(start, stop)
        return out

    def read_frame(self, index: int, out: np.ndarray) -> None:
        out[...] = self._slice(index, index + 1)[0]

    def read_rows(self, start: int, stop: int, rows: tuple[int, int], out: np.ndarray
                  ) -> np.ndarray:
        """Rows ``(r0, r1)`` of frames ``[start, stop)``: one slice of the array."""
        out[...] = self._slice(start, stop, rows)
        return out

    def frame_times(self) -> np.ndarray | None:
        """Seconds since 1970 of a datetime64 frame coordinate, else ``None``."""
        return self._times

    def frame_label(self, index: int) -> str:
        return f"{self.name or 'array'}[{index}]"

    def describe(self) -> str:
        what = f"{self.format_name} {self.name!r}" if self.name else self.format_name
        if self.paths:
            what = f"{what} in {self.paths[0]}"
        return f"{what}: {self.n_frames} frames of {self.frame_shape} {self.dtype.name}"


class DaskArrayReader(ArrayReader):
    """A dask array (or dask-backed DataArray): each read computes only its chunks.

    Row strips would compute whole-frame chunks once per strip, so this reader
    does not offer them (``reads_rows`` False): blocks of frames stream instead.
    """

    format_name = "dask-array"
    reads_rows = False

    def _materialize(self, part: Any) -> np.ndarray:
        return np.asarray(part.compute())


def _frame_seconds(da: Any, dim: str) -> np.ndarray | None:
    if dim not in da.coords:
        return None
    values = np.asarray(da[dim].values)
    if values.dtype.kind != "M":
        return None
    return (values - np.datetime64(0, "s")) / np.timedelta64(1, "ns") * 1e-9


def array_reader(data: Any, dims: Dims = None, name: str | None = None,
                 dataset: str | None = None) -> ArrayReader:
    """The reader for an array, a dask array, a DataArray or a Dataset (``dataset``: variable).

    >>> import numpy as np, dask.array as dsa
    >>> type(array_reader(dsa.zeros((4, 3, 2), chunks=2))).__name__
    'DaskArrayReader'
    """
    da = to_dataarray(data, dataset)
    lazy = _is_dask(da) or (_is_xarray(da, "DataArray") and da.chunks is not None)
    return (DaskArrayReader if lazy else ArrayReader)(da, dims=dims, name=name)
