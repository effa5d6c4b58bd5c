"""Duck-typed checks for xarray and dask objects, so that ``import badpix`` imports neither.

>>> import numpy as np
>>> is_xarray(np.zeros(3), "DataArray"), is_dask(np.zeros(3)), values(np.ones(2)).tolist()
(False, False, [1.0, 1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_dask", "is_xarray", "like", "values"]


def is_xarray(obj: Any, kind: str) -> bool:
    """True when ``obj`` is an xarray ``kind`` (``"DataArray"``, ``"Dataset"``)."""
    return type(obj).__name__ == kind and type(obj).__module__.startswith("xarray")


def is_dask(obj: Any) -> bool:
    """True for a dask collection with chunks (a dask array)."""
    return type(obj).__module__.startswith("dask") and hasattr(obj, "chunks")


def values(img: Any) -> np.ndarray:
    """The pixels of an ndarray or of an ``xarray.DataArray``."""
    return np.asarray(img.values) if is_xarray(img, "DataArray") else img


def like(img: Any, out: np.ndarray, squared_units: bool = False) -> Any:
    """``out`` as ``img`` came: a DataArray keeps its dims, coords, name and attrs.

    ``squared_units``: a ``units`` attribute ``u`` becomes ``(u)^2`` (variances).
    """
    if not is_xarray(img, "DataArray"):
        return out
    res = img.copy(data=out)
    units = res.attrs.get("units")
    if squared_units and units and units != "1":
        res.attrs["units"] = f"({units})^2"
    return res
