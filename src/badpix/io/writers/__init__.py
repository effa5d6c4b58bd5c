"""Output writers: GeoTIFF, PNG, ``.npy``, HDF5, CSV and JSON, all atomic.

Every writer goes through :func:`badpix.io.atomic.atomic_path`: the file appears
complete under its name or not at all, and a writer that raises leaves nothing
behind.  One module per kind of file, every writer re-exported here:

* :mod:`~badpix.io.writers.cog` -- Cloud Optimized GeoTIFF (rasterio/GDAL);
* :mod:`~badpix.io.writers.arrays` -- PNG, ``.npy`` and HDF5;
* :mod:`~badpix.io.writers.text` -- CSV and JSON.
"""

from __future__ import annotations

import os

import numpy as np

from .arrays import write_h5, write_npy, write_png
from .cog import geotiff_profile, write_geotiff
from .text import write_csv, write_json

__all__ = ["command_tags", "float_dtype_for", "geotiff_profile", "write_csv", "write_geotiff",
           "write_h5", "write_json", "write_npy", "write_png"]


def command_tags(command: str, source: str | os.PathLike) -> dict[str, str]:
    """Provenance tags of a file made by one badpix command from one input file.

    >>> sorted(command_tags("fill max_size=None", "dem.tif"))
    ['badpix_command', 'badpix_source', 'badpix_version']
    """
    from ..._version import __version__

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
