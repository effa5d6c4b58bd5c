"""The ``.badpix`` accessor on xarray objects; ``import badpix.xarray`` registers it.

``import badpix`` does not import xarray (it costs about half a second and most
scans never need it), and an accessor that appeared only after some other badpix
call had happened to import xarray would work or not depending on call order.
So, like ``import rioxarray`` or ``import cf_xarray``, registering is one
explicit import:

>>> import numpy as np, xarray as xr
>>> import badpix.xarray  # noqa: F401 - registers da.badpix / ds.badpix
>>> frames = xr.DataArray(np.random.default_rng(0).normal(100, 5, (8, 10, 12)).astype(np.uint16),
...                       dims=("time", "y", "x"))
>>> frames[:, 2, 3] = 4000                                # a hot pixel
>>> scan = frames.badpix.scan()
>>> int(scan.badpix.band("ch0")["flags"][2, 3]) & 4       # HOT
4
>>> fixed = frames.badpix.repair(scan)                     # every flagged pixel
>>> int(fixed[0, 2, 3]) < 200, fixed.dims
(True, ('time', 'y', 'x'))
>>> frames.badpix.local_variance(3).dims                   # per frame, coords kept
('time', 'y', 'x')

DataArray methods: :meth:`~BadpixDataArrayAccessor.scan`,
:meth:`~BadpixDataArrayAccessor.run_scan`, :meth:`~BadpixDataArrayAccessor.repair`,
:meth:`~BadpixDataArrayAccessor.local_median` / ``local_mean`` / ``local_variance`` /
``local_std``.  Dataset methods: :meth:`~BadpixDatasetAccessor.band` (one band of a
scan), :meth:`~BadpixDatasetAccessor.scan` (one variable) and
:meth:`~BadpixDatasetAccessor.repair` (every variable holding frames).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Unpack

import xarray as xr

from .io.memory import Dims, _axis_roles

if TYPE_CHECKING:
    from ._types import ProgressCallback, RuleKeywords
    from .detect.params import RuleParams
    from .layout import Layout
    from .result import ScanResult

__all__ = ["BadpixDataArrayAccessor", "BadpixDatasetAccessor"]


@xr.register_dataarray_accessor("badpix")
class BadpixDataArrayAccessor:
    """``da.badpix``: scans, repairs and spatial filters of a DataArray of frames."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def run_scan(self, *, layout: str | os.PathLike | Layout | None = None, dims: Dims = None,
                 params: RuleParams | None = None, memory_limit: int | None = None,
                 client: Any = None, progress: ProgressCallback | None = None,
                 **rule_params: Unpack[RuleKeywords]) -> ScanResult:
        """:func:`badpix.run_scan` of these frames (a :class:`~badpix.ScanResult`)."""
        from .engine import run_scan

        return run_scan(self._da, layout=layout, dims=dims, params=params,
                        memory_limit=memory_limit, client=client, progress=progress,
                        **rule_params)

    def scan(self, *, layout: str | os.PathLike | Layout | None = None, dims: Dims = None,
             params: RuleParams | None = None, memory_limit: int | None = None,
             client: Any = None, progress: ProgressCallback | None = None,
             **rule_params: Unpack[RuleKeywords]) -> xr.Dataset:
        """:func:`badpix.scan` of these frames: the CF dataset of statistics and flags.

        Parameters are those of :func:`badpix.scan`; the frames' ``y``/``x``
        coordinates and CRS are the dataset's.
        """
        return self.run_scan(layout=layout, dims=dims, params=params,
                             memory_limit=memory_limit, client=client, progress=progress,
                             **rule_params).to_dataset()

    def repair(self, mask: Any, method: str = "neighbors", cfa: str | None = None, *,
               classes: str | None = None, dims: Dims = None) -> xr.DataArray:
        """Repaired copy (lazy when dask-backed): :func:`badpix.repair.repair` with this as frames.

        ``mask``: a scan dataset (``da.badpix.scan()``), a DataArray of flags or a
        boolean/integer array ``(y, x)`` or ``(y, x, channel)``.
        """
        from .repair import repair

        out: xr.DataArray = repair(self._da, mask, method, cfa, classes=classes, dims=dims)
        return out

    def _spatial(self, name: str, size: int | tuple[int, int], mode: str, cval: float,
                 dims: Dims) -> xr.DataArray:
        from .stats import spatial

        func = getattr(spatial, name)
        if self._da.ndim == 2:
            out: xr.DataArray = func(self._da, size, mode, cval)
            return out
        names = [str(d) for d in self._da.dims]
        roles = _axis_roles(names, dims, True)
        y, x = names[roles["y"]], names[roles["x"]]
        res = xr.apply_ufunc(lambda img: func(img, size, mode, cval), self._da,
                             input_core_dims=[[y, x]], output_core_dims=[[y, x]],
                             vectorize=True, dask="parallelized", output_dtypes=["float64"],
                             keep_attrs=True)
        if name == "local_variance" and res.attrs.get("units") not in (None, "1"):
            res.attrs["units"] = f"({res.attrs['units']})^2"
        return res.transpose(*names)

    def local_median(self, size: int | tuple[int, int] = 5, mode: str = "reflect",
                     cval: float = 0.0, *, dims: Dims = None) -> xr.DataArray:
        """:func:`badpix.local_median` of every ``(y, x)`` image (per frame, per channel)."""
        return self._spatial("local_median", size, mode, cval, dims)

    def local_mean(self, size: int | tuple[int, int] = 3, mode: str = "reflect",
                   cval: float = 0.0, *, dims: Dims = None) -> xr.DataArray:
        """:func:`badpix.local_mean` of every ``(y, x)`` image."""
        return self._spatial("local_mean", size, mode, cval, dims)

    def local_variance(self, size: int | tuple[int, int] = 3, mode: str = "reflect",
                       cval: float = 0.0, *, dims: Dims = None) -> xr.DataArray:
        """:func:`badpix.local_variance` of every ``(y, x)`` image (``units`` squared)."""
        return self._spatial("local_variance", size, mode, cval, dims)

    def local_std(self, size: int | tuple[int, int] = 3, mode: str = "reflect",
                  cval: float = 0.0, *, dims: Dims = None) -> xr.DataArray:
        """:func:`badpix.local_std` of every ``(y, x)`` image."""
        return self._spatial("local_std", size, mode, cval, dims)


@xr.register_dataset_accessor("badpix")
class BadpixDatasetAccessor:
    """``ds.badpix``: one band of a scan dataset, or scans and repairs of a dataset's frames."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def band(self, name: str) -> xr.Dataset:
        """:func:`badpix.band_dataset`: one band of a scan with plain ``y``/``x``."""
        from .cf import band_dataset

        return band_dataset(self._ds, name)

    def scan(self, variable: str | None = None, *,
             layout: str | os.PathLike | Layout | None = None, dims: Dims = None,
             params: RuleParams | None = None, memory_limit: int | None = None,
             client: Any = None, progress: ProgressCallback | None = None,
             **rule_params: Unpack[RuleKeywords]) -> xr.Dataset:
        """:func:`badpix.scan` of ``variable`` (default: the only one with 3+ dims)."""
        from . import scan

        return scan(self._ds, dataset=variable, layout=layout, dims=dims, params=params,
                    memory_limit=memory_limit, client=client, progress=progress, **rule_params)

    def repair(self, mask: Any, method: str = "neighbors", cfa: str | None = None, *,
               classes: str | None = None, variables: list[str] | None = None,
               dims: Dims = None) -> xr.Dataset:
        """A copy with ``variables`` repaired (default: every variable with 3+ dims).

        Other variables and all coords and attrs are kept as they are.
        """
        names = variables if variables is not None else [
            str(n) for n, v in self._ds.data_vars.items() if v.ndim >= 3]
        out = self._ds.copy()
        for n in names:
            out[n] = self._ds[n].badpix.repair(mask, method, cfa, classes=classes, dims=dims)
        return out
