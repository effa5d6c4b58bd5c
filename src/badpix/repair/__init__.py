"""Repair flagged pixels in frames or whole stacks, and write them back in their own format.

Methods (see :mod:`badpix.repair.plan` for the exact neighbour-growth rule):

``neighbors``  weighted mean of the valid 8-neighbours (weights 1 and 1/sqrt(2)),
               growing to radius 2, 3, ... when none is valid; same-colour only
               with a Bayer ``cfa``
``median``     median of the same neighbours
``inpaint``    harmonic fill of each connected bad region from its boundary
               (best for clusters and dead columns)

>>> import numpy as np
>>> frames = np.full((3, 4, 4), 10, np.uint16); frames[:, 0, 0] = 65535
>>> mask = np.zeros((4, 4), bool); mask[0, 0] = True
>>> repair(frames, mask)[:, 0, 0].tolist()
[10, 10, 10]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._duck import is_dask as _is_dask
from .._duck import is_xarray as _is_xarray
from ..errors import ParameterError
from ..io.image_headers import estimate_jpeg_quality
from ..io.memory import Dims
from .fill import fill_array, fill_raster
from .masks import load_mask
from .plan import CFA_PATTERNS, METHODS, RepairPlan
from .writeback import open_writer

__all__ = [
    "CFA_PATTERNS",
    "METHODS",
    "RepairPlan",
    "RepairResult",
    "estimate_jpeg_quality",
    "fill_array",
    "fill_raster",
    "load_mask",
    "repair",
    "repair_stack",
]


def _as_stack(frames: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """View ``frames`` as ``(n, h, w, c)`` using the mask's ``(h, w)`` to resolve 3-D input."""
    h, w = mask.shape[:2]
    if frames.ndim == 2:
        return frames[None, :, :, None], (h, w, 1)
    if frames.ndim == 3:
        if frames.shape[1:] == (h, w):  # (n, h, w) stack of grey frames
            return frames[:, :, :, None], (h, w, 1)
        return frames[None], frames.shape  # one (h, w, c) frame
    if frames.ndim == 4:
        return frames, frames.shape[1:]
    raise ParameterError(f"frames must be 2-D to 4-D, not shape {frames.shape}")


def repair(frames: Any, mask: Any, method: str = "neighbors", cfa: str | None = None, *,
           classes: str | None = None, dims: Dims = None) -> Any:
    """Return a repaired copy of ``frames``; the input array is not modified.

    Parameters
    ----------
    frames
        One frame ``(h, w)``/``(h, w, c)`` or a stack ``(n, h, w)``/``(n, h, w, c)``;
        a 3-D array whose last two axes equal the mask's ``(h, w)`` is a stack.
        A dask array ``(n, h, w[, c])`` comes back as a lazy dask array repaired
        block by block; an ``xarray.DataArray`` (dims found by name, see ``dims``)
        comes back as one with the same dims, coords and attrs
        (:mod:`badpix.repair.arrays`).
    mask
        Nonzero = bad; ``(h, w)`` for every channel or ``(h, w, c)`` per channel; a
        DataArray of flags, or a whole scan dataset from :func:`badpix.scan` (every
        band's flags at their pixels).
    method
        ``"neighbors"`` (default), ``"median"`` or ``"inpaint"``.
    cfa
        Bayer pattern of raw single-channel frames (``RGGB``, ``BGGR``, ``GRBG``,
        ``GBRG``): only same-colour neighbours are used.
    classes
        With a mask of flag bits (or a scan dataset): the defect classes to repair,
        e.g. ``"hot,dead"`` (default: all).
    dims
        DataArray frames: the role of each dim or a role-to-name mapping, as for
        :func:`badpix.open_stack`.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([[1.0, 2, 3], [4, 99, 6], [7, 8, 9]])
    >>> float(repair(f, f == 99)[1, 1])
    5.0
    """
    from .arrays import _mask_array, repair_dask, repair_dataarray

    if _is_xarray(frames, "DataArray"):
        return repair_dataarray(frames, mask, method, cfa, classes, dims, repair)
    if _is_dask(frames):
        n, h, w = frames.shape[:3]
        return repair_dask(frames, _mask_array(mask, (h, w, int(np.prod(frames.shape[3:]))),
                                               classes), method, cfa, repair)
    arr = np.array(frames, copy=True)
    if _is_xarray(mask, "Dataset") or classes is not None:
        if arr.ndim == 4:
            shape = arr.shape[1:]
        elif arr.ndim == 3:
            shape = _scan_frame_shape(mask, arr.shape)
        else:
            shape = (*arr.shape[-2:], 1)
        mask = _mask_array(mask, tuple(int(v) for v in shape), classes)
        if mask.ndim == 3 and shape[2] == 1:
            mask = mask[..., 0]
    m = np.asarray(mask)
    if m.ndim not in (2, 3):
        raise ParameterError(f"mask must be (h, w) or (h, w, c), not shape {m.shape}")
    stack, frame_shape = _as_stack(arr, m)
    if tuple(m.shape[:2]) != tuple(frame_shape[:2]):
        raise ParameterError(f"mask shape {m.shape} does not match the frames' "
                             f"{tuple(frame_shape)} (rows, cols, channels)")
    plan = RepairPlan.build(m, method, cfa, frame_shape=tuple(frame_shape))
    plan.apply(stack)
    return arr


def _scan_frame_shape(mask: Any, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(h, w, c) of 3-D frames: ``(n, h, w)`` unless the mask's bands use channels."""
    channels = {int(mask[v].attrs.get("channel", 0)) for v in getattr(mask, "data_vars", ())
                if str(v).startswith("flags_")}
    if channels - {0}:
        return (shape[0], shape[1], shape[2])
    return (shape[1], shape[2], 1)


@dataclass
class RepairResult:
    """What :func:`repair_stack` did."""

    n_frames: int
    n_pixels: int  # flagged pixels repaired per frame (pixel-channels)
    n_unrepairable: int
    method: str
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    jpeg_quality: int | None = None

    @property
    def frames_per_second(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("inf")


def repair_stack(
    source: str | os.PathLike,
    mask: str | os.PathLike | np.ndarray,
    output: str | os.PathLike | None = None,
    *,
    method: str = "neighbors",
    cfa: str | None = None,
    classes: str | None = None,
    in_place: bool = False,
    jpeg_quality: int | None = None,
    dataset: str | None = None,
    format: str | None = None,
    block_frames: int = 16,
    progress: Callable[[int], None] | None = None,
) -> RepairResult:
    """Repair every frame of ``source`` and write it to ``output`` in the input's format.

    ``mask`` is a scan folder, a mask file (``.npy``/``.tif``/``.png``/``.badpixels``)
    or an array; ``classes`` picks defect classes from a scan folder.  The
    neighbourhood plan is built once; frames stream through in blocks.

    >>> repair_stack("frames/", "scan/", "repaired/", classes="hot,dead")  # doctest: +SKIP
    RepairResult(n_frames=200, n_pixels=4194, ...)
    """
    from ..stack import open_stack

    t0 = time.perf_counter()
    stack = open_stack(source, dataset=dataset, format=format)
    reader = stack.reader
    if isinstance(mask, np.ndarray):
        m = np.asarray(mask)
        if classes is not None and m.dtype.kind in "iu":
            from ..detect.flags import parse_classes

            m = (m.astype(np.int64) & parse_classes(classes)) != 0
        h, w, c = reader.frame_shape
        if m.shape[:2] != (h, w) or (m.ndim == 3 and m.shape[2] not in (1, c)):
            raise ParameterError(f"mask shape {m.shape} does not match the frames' {(h, w, c)} "
                                 f"({reader.describe()})")
    else:
        m = load_mask(mask, reader.frame_shape, classes)
    plan = RepairPlan.build(m, method, cfa, frame_shape=reader.frame_shape)
    quality = None
    with open_writer(reader, output, in_place=in_place, jpeg_quality=jpeg_quality) as writer:
        if writer.kind == "jpeg":
            quality = jpeg_quality
            if quality is None:
                from PIL import Image

                with Image.open(reader.paths[0]) as im:
                    quality = estimate_jpeg_quality(im.quantization)
        for start, block in stack.iter_blocks(block_frames):
            plan.apply(block)
            writer.write(start, block)
            if progress is not None:
                progress(len(block))
    reader.close()
    return RepairResult(reader.n_frames, plan.n_repaired, plan.n_unrepairable, method,
                        writer.written, time.perf_counter() - t0, quality)
