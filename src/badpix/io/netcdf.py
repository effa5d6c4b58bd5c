"""netCDF files (``.nc``, ``.nc4``, ``.cdf``) through xarray: one variable of frames.

The file is opened lazily with :func:`xarray.open_dataset` (netCDF-4 through
h5netcdf or netCDF4, netCDF-3 through scipy, whichever xarray finds) and the
variable is indexed by position a block of frames or a strip of rows at a time
(:class:`~badpix.io.memory.ArrayReader`), so only what is asked for is read.
``file.nc:img`` or ``dataset="img"`` names the variable; without it the only
variable with three or more dimensions is used.  Dimensions are recognised by
name as for DataArrays (``frame``/``time``, ``y``, ``x``, ``channel``).

Stored values are read as they are (no ``_FillValue`` masking, no
``scale_factor``/``add_offset``): a defect scan works on the sensor's numbers,
bit for bit the same as from ``.npy`` files of the same frames.  The variable's
``y``/``x`` coordinates and CRS (``grid_mapping``/``spatial_ref``) reach the
scan dataset.

>>> import numpy as np, tempfile, pathlib, xarray as xr
>>> path = pathlib.Path(tempfile.mkdtemp()) / "frames.nc"
>>> xr.Dataset({"img": (("frame", "y", "x"), np.arange(24, dtype=np.uint16).reshape(2, 3, 4))}
...            ).to_netcdf(path)
>>> r = NetcdfReader([path])
>>> r.n_frames, r.frame_shape, int(r.read_frames(1, 2)[0, 0, 0, 0])
(2, (3, 4, 1), 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DecodeError, InputError
from .memory import ArrayReader, to_dataarray

__all__ = ["NetcdfReader", "NETCDF_SUFFIXES", "is_netcdf"]

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
#: first bytes of netCDF-3 (``CDF\x01``/``\x02``/``\x05``) and netCDF-4 (HDF5) files
_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def is_netcdf(path: Path) -> bool:
    """True for a file with a netCDF suffix and a netCDF-3 or netCDF-4 signature."""
    if path.suffix.lower() not in NETCDF_SUFFIXES or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(8)
    return any(head.startswith(m) for m in _MAGIC)


class NetcdfReader(ArrayReader):
    """One variable of a netCDF file, read lazily by position (see the module docs)."""

    format_name = "netcdf"
    # one file is one stack: folders of frame files do not list .nc files (a stray one
    # beside .npy frames would otherwise make the folder unreadable)
    suffixes = ()
    reads_rows = True

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return len(paths) == 1 and is_netcdf(paths[0])

    def __init__(self, paths: Sequence[Path], dataset: str | None = None,
                 skip_bad: bool = False, dims: Any = None, **_: object):
        import xarray as xr

        path = Path(paths[0])
        try:
            # cache=False: indexing reads the slice asked for and keeps nothing
            ds = xr.open_dataset(path, mask_and_scale=False, cache=False)
        except Exception as exc:  # noqa: BLE001 - engines raise assorted types
            raise DecodeError(path, f"not a readable netCDF file ({exc})") from None
        try:
            da = to_dataarray(ds, dataset)
        except InputError as exc:
            raise InputError(path, exc.problem) from None
        super().__init__(da, dims=dims)
        self.paths = [path]
        self.dataset = str(da.name)
        self._ds = ds
        self.attrs = {**self.attrs, "format": "netCDF", "variable": self.dataset}

    def frame_label(self, index: int) -> str:
        return f"{self.paths[0].name}:{self.dataset}[{index}]"

    def close(self) -> None:
        self._ds.close()
