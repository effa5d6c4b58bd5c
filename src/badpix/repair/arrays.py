"""Repair of dask arrays and ``xarray.DataArray``: block by block, coords and attrs kept.

:func:`badpix.repair` hands these inputs here.  A dask array ``(n, h, w[, c])`` is
repaired lazily, one block of frames at a time (the frame axis keeps its chunks,
the others become whole, as the neighbourhood plan needs whole frames); a
DataArray is transposed to ``(frame, y, x, channel)`` by its dim names (see
:mod:`badpix.io.memory`), repaired (lazily when dask-backed) and returned with
its dims, coords, name and attrs.

A scan dataset (from :func:`badpix.scan`) as the mask is turned into the frame's
mask with :func:`mask_from_scan`: every band's flags at its pixels and channel.

>>> import numpy as np, xarray as xr
>>> from badpix.repair import repair
>>> da = xr.DataArray(np.full((3, 4, 4), 10.0), dims=("frame", "y", "x"),
...                   coords={"x": [0.5, 1.5, 2.5, 3.5]}, attrs={"units": "DN"})
>>> bad = da.copy(); bad[:, 1, 2] = 500.0
>>> fixed = repair(bad, np.asarray(bad[0] == 500.0))
>>> float(fixed[0, 1, 2]), fixed.attrs["units"], fixed.x.values.tolist()[:2]
(10.0, 'DN', [0.5, 1.5])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._duck import is_dask as _is_dask
from .._duck import is_xarray as _is_xarray
from ..errors import ParameterError
from ..io.memory import Dims, _axis_roles

__all__ = ["mask_from_scan", "repair_dask", "repair_dataarray"]


def mask_from_scan(scan: Any, frame_shape: tuple[int, int, int], classes: str | None = None
                   ) -> np.ndarray:
    """The ``(h, w, c)`` mask of a scan dataset: each band's flags (``classes``) at its pixels.

    >>> import numpy as np, badpix
    >>> f = np.full((6, 3, 4), 100, np.uint16); f[::2] += 5; f[:, 1, 1] = 9
    >>> mask_from_scan(badpix.scan(f), (3, 4, 1), "stuck")[..., 0].astype(int).tolist()
    [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    """
    from ..detect.flags import parse_classes

    bits = parse_classes(classes)
    mask = np.zeros(frame_shape, bool)
    bands = [b for b in str(scan.attrs.get("bands", "")).split(",") if b]
    if not bands:
        raise ParameterError("the mask dataset is not a badpix scan (no 'bands' attribute)")
    for b in bands:
        flags = scan[f"flags_{b}"]
        rows = scan[f"row_{b}"] if f"row_{b}" in scan.coords else scan[f"y_{b}"]
        cols = scan[f"col_{b}"] if f"col_{b}" in scan.coords else scan[f"x_{b}"]
        r = np.asarray(rows.values, np.int64)
        c = np.asarray(cols.values, np.int64)
        ch = int(flags.attrs.get("channel", 0))
        if r.max(initial=0) >= frame_shape[0] or c.max(initial=0) >= frame_shape[1] \
                or ch >= frame_shape[2]:
            raise ParameterError(f"band {b} of the scan does not fit frames of {frame_shape}")
        mask[r[:, None], c[None, :], ch] |= (np.asarray(flags.values).astype(np.int64) & bits) != 0
    return mask


def _mask_array(mask: Any, frame_shape: tuple[int, int, int], classes: str | None) -> np.ndarray:
    if _is_xarray(mask, "Dataset"):
        return mask_from_scan(mask, frame_shape, classes)
    m = np.asarray(mask.values if _is_xarray(mask, "DataArray") else mask)
    if classes is not None:
        from ..detect.flags import parse_classes

        if m.dtype.kind not in "iu":
            raise ParameterError("classes= needs a mask of flag bits (integers), not "
                                 f"{m.dtype}")
        m = (m.astype(np.int64) & parse_classes(classes)) != 0
    return m


def repair_dask(frames: Any, mask: np.ndarray, method: str, cfa: str | None,
                repair: Callable[..., np.ndarray]) -> Any:
    """Lazily repaired dask array ``(n, h, w[, c])``: each block of frames is repaired alone.

    ``repair`` is :func:`badpix.repair.repair` on numpy frames (passed in, so that this
    module does not import its package back).
    """

    if frames.ndim not in (3, 4):
        raise ParameterError(f"a dask array of frames must be (n, h, w[, c]), not {frames.shape}")
    whole = {i: -1 for i in range(1, frames.ndim)}
    blocks = frames.rechunk({0: frames.chunks[0], **whole})

    def one(block: np.ndarray) -> np.ndarray:
        return repair(block, mask, method, cfa)

    return blocks.map_blocks(one, dtype=frames.dtype)


def repair_dataarray(frames: Any, mask: Any, method: str, cfa: str | None,
                     classes: str | None, dims: Dims,
                     repair: Callable[..., np.ndarray]) -> Any:
    """A repaired copy of a DataArray of frames (or of one frame), same dims, coords, attrs.

    ``repair`` is :func:`badpix.repair.repair` on numpy frames, as for :func:`repair_dask`.
    """

    names = [str(d) for d in frames.dims]
    roles = _axis_roles(names, dims, True)
    order = [names[roles[r]] for r in ("frame", "y", "x", "channel") if r in roles]
    da = frames.transpose(*order)
    shape = da.shape
    h, w = shape[order.index(names[roles["y"]])], shape[order.index(names[roles["x"]])]
    c = shape[-1] if "channel" in roles else 1
    m = _mask_array(mask, (h, w, c), classes)
    if m.ndim == 3 and "channel" not in roles and m.shape[2] == 1:
        m = m[..., 0]
    data = da.data
    if _is_dask(data):
        if "frame" not in roles:
            raise ParameterError("a dask-backed DataArray to repair needs a frame dim")
        data = data if data.ndim == 4 else data[..., None]
        fixed = repair_dask(data, m if m.ndim == 3 else m[..., None], method, cfa, repair)
        fixed = fixed if "channel" in roles else fixed[..., 0]
    else:
        arr = np.asarray(da.values)
        stack = arr if "frame" in roles else arr[None]
        stack = stack if "channel" in roles else stack[..., None]
        fixed = repair(stack, m if m.ndim == 3 else m[..., None], method, cfa)
        fixed = fixed if "channel" in roles else fixed[..., 0]
        fixed = fixed if "frame" in roles else fixed[0]
    return da.copy(data=fixed).transpose(*names)
