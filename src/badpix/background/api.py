"""One entry for both methods on arrays, xarray, stacks and paths, and the file-to-file run.

>>> import numpy as np
>>> frames = np.random.default_rng(1).integers(0, 255, (12, 30, 5), dtype=np.uint8)
>>> background(frames, method="rolling", kernel_size=4).images.shape
(8, 30, 5)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from ..io.atomic import StagedDir, atomic_path
from .output import CorrectedWriter, FolderImageWriter, is_hdf5_output, write_table
from .result import BackgroundResult
from .rolling import check_rolling_params, rolling_image_count, rolling_median_background
from .rtdc import RtdcBackgroundWriter
from .source import FrameSource, open_source
from .sparse import check_sparse_params, sparse_median_background

__all__ = ["METHODS", "background", "background_to_file"]

METHODS = ("sparse", "rolling")
DEFAULT_KERNEL = {"sparse": 200, "rolling": 100}


def _from_xarray(da: Any) -> tuple[Any, np.ndarray | None]:
    """Frames and (when the frame axis has a numeric or datetime coordinate) times in s."""
    dim = da.dims[0]
    times = None
    for name in (dim, "time"):
        if name in da.coords and da.coords[name].dims == (dim,):
            c = np.asarray(da.coords[name].values)
            if c.dtype.kind == "M":
                times = (c - c[0]) / np.timedelta64(1, "ns") * 1e-9
            elif c.dtype.kind == "m":
                times = c / np.timedelta64(1, "ns") * 1e-9
            elif c.dtype.kind in "f" and name == "time":
                times = c
            if times is not None:
                break
    if da.chunks is not None:  # dask-backed: read block by block, never computed whole
        from ..stack import open_stack

        return open_stack(da), times
    return np.asarray(da.values), times


def background(
    frames: Any,
    method: str = "sparse",
    kernel_size: int | None = None,
    split_time: float = 1.0,
    thresh_cleansing: float = 0,
    frac_cleansing: float = 0.8,
    offset_correction: bool = True,
    times: np.ndarray | None = None,
    frame_rate: float | None = None,
    frame_numbers: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> BackgroundResult:
    """Median background of any stack: ``method="sparse"`` (default) or ``"rolling"``.

    Parameters
    ----------
    frames
        Array ``(N, rows, cols[, channels])``, a dask array (read block by block),
        ``xarray.DataArray`` (frame axis first, or dims named as for
        :func:`badpix.open_stack` when dask-backed; a ``time`` coordinate, numeric
        seconds or datetime64, gives the times), a :class:`badpix.Stack`, or a path
        (``.rtdc`` reads its metadata).
    method, kernel_size
        ``kernel_size`` defaults to 200 (sparse) or 100 (rolling), as in dcnum.
    split_time, thresh_cleansing, frac_cleansing, offset_correction, times, frame_rate, frame_numbers
        Sparse only; see :func:`~.sparse.sparse_median_background`.
    progress
        ``advance(n_frames)`` callback.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((8, 20, 4), np.uint8), dims=("time", "y", "x"),
    ...                   coords={"time": np.arange(8) * 0.5})
    >>> background(da, kernel_size=3, split_time=1.0).step_times.tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    if method not in METHODS:
        raise ParameterError(f"--method: must be one of {', '.join(METHODS)}, not {method!r}")
    k = DEFAULT_KERNEL[method] if kernel_size is None else kernel_size
    if type(frames).__name__ == "DataArray":
        frames, da_times = _from_xarray(frames)
        if times is None and frame_rate is None and frame_numbers is None:
            times = da_times
    if method == "rolling":
        return rolling_median_background(frames, kernel_size=k, progress=progress)
    return sparse_median_background(frames, times=times, frame_rate=frame_rate,
                                    frame_numbers=frame_numbers, kernel_size=k,
                                    split_time=split_time, thresh_cleansing=thresh_cleansing,
                                    frac_cleansing=frac_cleansing,
                                    offset_correction=offset_correction, progress=progress)


def background_to_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    method: str = "sparse",
    kernel_size: int | None = None,
    split_time: float = 1.0,
    thresh_cleansing: float = 0,
    frac_cleansing: float = 0.8,
    offset_correction: bool = True,
    subtract: str | os.PathLike | None = None,
    compression: str = "zstd",
    image_format: str = "tif",
    dataset: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[FrameSource], None] | None = None,
) -> tuple[BackgroundResult, list[Path]]:
    """Compute the background of ``source`` and write it to ``output`` atomically.

    ``output`` ending in ``.rtdc``/``.h5``/``.hdf5`` gets the dcnum/dclab layout
    (see :mod:`.output`); anything else is a folder with ``image_bg.tif`` (or
    ``.npy``), ``frames.csv`` and ``background.json``.  The rolling method streams
    its images straight to the output.  ``subtract`` also writes the corrected
    frames ``frame - image_bg - bg_off`` as float32 (``.npy``, ``.tif`` or HDF5).

    Examples
    --------
    >>> background_to_file("M001.rtdc", "M001_bg.rtdc", kernel_size=100)  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ParameterError(f"--method: must be one of {', '.join(METHODS)}, not {method!r}")
    k = DEFAULT_KERNEL[method] if kernel_size is None else kernel_size
    if method == "sparse":
        check_sparse_params(k, split_time, thresh_cleansing, frac_cleansing)
    else:
        check_rolling_params(k)
    output = Path(output)
    if subtract is not None and Path(subtract).resolve() == output.resolve():
        raise ParameterError(f"--subtract: {subtract} is also the output file")
    src = open_source(source, dataset=dataset)
    with src:
        if src.dtype.kind not in "biuf":
            raise InputError(src.label, f"frames have unsupported dtype {src.dtype}")
        if Path(os.fspath(source)).resolve() == output.resolve():
            raise ParameterError(f"-o: {output} is the input file; choose another output")
        if on_start is not None:
            on_start(src)
        input_h5 = getattr(src, "path", None)
        if method == "rolling":
            check_rolling_params(k, src.n_frames, src.label)
            result, written = _rolling_to_file(src, output, k, input_h5, compression,
                                               image_format, subtract, progress)
        else:
            result = sparse_median_background(
                src, kernel_size=k, split_time=split_time, thresh_cleansing=thresh_cleansing,
                frac_cleansing=frac_cleansing, offset_correction=offset_correction,
                progress=progress)
            written = _write_result(result, output, input_h5, compression, image_format,
                                    src.label)
            if subtract is not None:
                written.append(_subtract_sparse(src, result, Path(subtract), compression))
    return result, written


def _write_result(result: BackgroundResult, output: Path, input_h5: Path | None,
                  compression: str, image_format: str, label: str) -> list[Path]:
    if is_hdf5_output(output):
        with atomic_path(output) as tmp:
            w = RtdcBackgroundWriter(tmp, result.n_frames, result.images.shape[1:],
                                     result.images.dtype, result.method, result.params,
                                     input_path=input_h5, compression=compression,
                                     output_target=output)
            try:
                w.write_sparse(result.images, result.index)
                if result.bg_off is not None:
                    w.write_bg_off(result.bg_off)
            finally:
                w.close()
        return [output]
    with StagedDir(output) as stage:
        iw = FolderImageWriter(stage.path, len(result.images), result.images.shape[1:],
                               result.images.dtype, image_format)
        iw.write(0, result.images)
        iw.close()
        write_table(stage.path, result, {"input": label})
        names = sorted(p.name for p in stage.path.iterdir())
    return [output / n for n in names]


def _subtract_sparse(src: FrameSource, result: BackgroundResult, path: Path,
                     compression: str) -> Path:
    block = max(1, min(result.params.get("kernel_size_used", 64), 256))
    buf = None if hasattr(src, "frames") else np.empty((block, *src.frame_shape), src.dtype)
    with atomic_path(path) as tmp:
        cw = CorrectedWriter(tmp, src.n_frames, src.frame_shape, compression)
        try:
            for s in range(0, src.n_frames, block):
                e = min(src.n_frames, s + block)
                frames = src.read(s, e, None if buf is None else buf[:e - s])
                cw.write(s, result.subtract(frames, start=s))
        finally:
            cw.close()
    return path


def _rolling_to_file(src: FrameSource, output: Path, k: int, input_h5: Path | None,
                     compression: str, image_format: str, subtract: str | os.PathLike | None,
                     progress: Callable[[int], None] | None
                     ) -> tuple[BackgroundResult, list[Path]]:
    n = src.n_frames
    n_img = rolling_image_count(n, k)
    params = {"kernel_size": k}
    h5 = is_hdf5_output(output)
    written: list[Path] = []
    # --subtract re-reads each frame when its image arrives (the kernel has
    # already overwritten it in its ring buffer); reads are sequential, one handle
    sub_src = src
    with _outputs(output, h5, subtract) as (target_tmp, stage, sub_tmp):
        if h5:
            w = RtdcBackgroundWriter(target_tmp, n, src.frame_shape, src.dtype, "rolling",
                                     params, input_path=input_h5, compression=compression,
                                     output_target=output)
        else:
            w = FolderImageWriter(stage.path, n_img, src.frame_shape, src.dtype, image_format)
        cw = CorrectedWriter(sub_tmp, n, src.frame_shape, compression) if subtract else None
        last: list[np.ndarray] = []

        def sink(first: int, images: np.ndarray) -> None:
            if h5:
                w.write_rolling_block(first, images)
            else:
                w.write(first, images)
            if cw is not None:
                frames = sub_src.read(first, first + len(images))
                cw.write(first, frames.astype(np.float32) - images)
            last[:] = [images[-1].copy()]

        try:
            result = rolling_median_background(src, kernel_size=k, sink=sink, progress=progress)
            if h5:
                w.finish_rolling()
            if cw is not None:
                for s in range(n_img, n, 256):
                    e = min(n, s + 256)
                    cw.write(s, sub_src.read(s, e).astype(np.float32) - last[0])
        finally:
            w.close()
            if cw is not None:
                cw.close()
        if not h5:
            write_table(stage.path, result, {"input": src.label})
            written = [output / p.name for p in sorted(stage.path.iterdir())]
        else:
            written = [output]
    if subtract is not None:
        written.append(Path(subtract))
    return result, written


class _outputs:
    """Temporary targets for the main output (file or staged folder) and ``--subtract``."""

    def __init__(self, output: Path, h5: bool, subtract: str | os.PathLike | None):
        self.output, self.h5, self.subtract = output, h5, subtract
        self._ctx: list[Any] = []

    def __enter__(self):
        target_tmp = stage = sub_tmp = None
        if self.h5:
            c = atomic_path(self.output)
            target_tmp = c.__enter__()
        else:
            c = StagedDir(self.output)
            stage = c.__enter__()
        self._ctx.append(c)
        if self.subtract is not None:
            c2 = atomic_path(self.subtract)
            sub_tmp = c2.__enter__()
            self._ctx.append(c2)
        return target_tmp, stage, sub_tmp

    def __exit__(self, *exc: Any) -> bool:
        # close in reverse order; when one fails, the others are discarded too
        err: BaseException | None = None
        for c in reversed(self._ctx):
            try:
                if err is None:
                    c.__exit__(*exc)
                else:
                    c.__exit__(type(err), err, err.__traceback__)
            except BaseException as e:  # noqa: BLE001 - keep closing the rest
                if err is None and exc[0] is None:
                    err = e
        if err is not None:
            raise err
        return False
