"""Pick a reader for a path: folder, glob, file, ``file.h5:dataset`` or a list of files.

Readers come from the table in :mod:`badpix.io.registry`; only the readers that
may claim the paths are imported, in priority order.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from .base import Reader, natural_key, split_dataset_path
from .registry import candidates, entries, known_suffixes

__all__ = ["open_reader", "resolve_inputs"]


def open_reader(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    dataset: str | None = None,
    skip_bad: bool = False,
    format: str | None = None,
    **options,
) -> Reader:
    """Open ``source`` with the first reader of the table that claims it.

    Parameters
    ----------
    source
        A folder, a glob pattern (``"frames/*.npy"``), a file, ``"file.h5:events/image"``,
        or a list of files.
    dataset
        Dataset path inside HDF5/NeXus files (overrides a ``:dataset`` suffix).
    skip_bad
        Leave out files that cannot be decoded or whose shape differs, and list them
        in ``reader.skipped``, instead of raising.
    format
        Force a reader by its ``format_name`` (e.g. ``"npy-frames"``).
    """
    if isinstance(source, (str, os.PathLike)):
        text, inner = split_dataset_path(os.fspath(source))
        dataset = dataset or inner
        paths = resolve_inputs(text)
    else:
        paths = resolve_inputs(list(source))
    if format is not None and not any(e.format_name == format for e in entries()):
        names = sorted({e.format_name for e in entries()})
        raise InputError(None, f"unknown format {format!r}; known: {', '.join(names)}")
    suffixes = sorted({p.suffix.lower() or "(none)" for p in paths})
    for entry in candidates(paths, dataset, format):
        cls = entry.load()
        if cls.can_open(paths, dataset):
            return cls(paths, dataset=dataset, skip_bad=skip_bad, **options)
    where: str | Path = paths[0] if len(paths) == 1 else os.fspath(source)
    raise InputError(where, f"no reader for files of type {', '.join(suffixes)}"
                     + (f" with dataset {dataset!r}" if dataset else ""))


def resolve_inputs(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Expand a folder, glob pattern, file or list of files into files in frame order.

    Raises :class:`InputError` for a missing path or a folder/glob with no files.
    """
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
        for p in paths:
            if not p.is_file():
                raise InputError(p, "no such file")
        return paths
    text = os.fspath(spec)
    p = Path(text)
    if p.is_dir() and any((p / m).is_file() for m in ("zarr.json", ".zarray", ".zgroup")):
        return [p]  # a zarr store is one source, not a folder of frame files
    if p.is_dir():
        files = [q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")]
        known = known_suffixes()
        files = [q for q in files if "".join(q.suffixes[-1:]).lower() in known]
        if not files:
            raise InputError(p, "folder holds no frame files (" + ", ".join(sorted(known)) + ")")
        return sorted(files, key=natural_key)
    if p.is_file():
        return [p]
    if any(ch in text for ch in "*?["):
        files = [Path(q) for q in glob.glob(text) if Path(q).is_file()]
        if not files:
            raise InputError(text, "pattern matches no files")
        return sorted(files, key=natural_key)
    raise InputError(text, "no such file or folder")
