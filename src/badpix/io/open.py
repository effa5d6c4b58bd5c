"""Pick a reader for a path: folder, glob, file, ``file.h5:dataset`` or a list of files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import Reader, reader_registry, resolve_inputs, split_dataset_path
from .memory import Dims, array_reader, is_array_input


def open_reader(
    source: str | os.PathLike | Sequence[str | os.PathLike] | Any,
    *,
    dataset: str | None = None,
    skip_bad: bool = False,
    format: str | None = None,
    dims: Dims = None,
    **options: Any,
) -> Reader:
    """Open ``source`` with the first registered reader that claims it.

    Parameters
    ----------
    source
        A folder, a glob pattern (``"frames/*.npy"``), a file, ``"file.h5:events/image"``,
        or a list of files; or an array: numpy, dask, ``xarray.DataArray`` or
        ``xarray.Dataset`` (see :mod:`badpix.io.memory`).
    dataset
        Dataset path inside HDF5/NeXus files (overrides a ``:dataset`` suffix).
    skip_bad
        Leave out files that cannot be decoded or whose shape differs, and list them
        in ``reader.skipped``, instead of raising.
    format
        Force a reader by its ``format_name`` (e.g. ``"npy-frames"``).
    dims
        Arrays only: the role (``frame``, ``y``, ``x``, ``channel``) of each axis, or a
        mapping from role to dimension name (see :mod:`badpix.io.memory`).
    """
    if is_array_input(source):
        return array_reader(source, dims=dims, dataset=dataset)
    if isinstance(source, (str, os.PathLike)):
        text, inner = split_dataset_path(os.fspath(source))
        dataset = dataset or inner
        paths = resolve_inputs(text)
    else:
        paths = resolve_inputs(list(source))
    candidates = reader_registry()
    if format is not None:
        candidates = [c for c in candidates if c.format_name == format]
        if not candidates:
            names = sorted({c.format_name for c in reader_registry()})
            raise InputError(None, f"unknown format {format!r}; known: {', '.join(names)}")
    suffixes = sorted({p.suffix.lower() or "(none)" for p in paths})
    for cls in candidates:
        if cls.can_open(paths, dataset):
            return cls(paths, dataset=dataset, skip_bad=skip_bad, **options)
    where: str | Path = paths[0] if len(paths) == 1 else os.fspath(source)
    raise InputError(where, f"no reader for files of type {', '.join(suffixes)}"
                     + (f" with dataset {dataset!r}" if dataset else ""))
