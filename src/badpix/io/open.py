"""Pick a reader for a path: folder, glob, file, ``file.h5:dataset`` or a list of files."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import Reader, natural_key, split_dataset_path
from .memory import Dims, array_reader, is_array_input
from .registry import candidates, entries, known_suffixes

#: what each reader reads and the modules it imports, for messages and ``badpix doctor``
READER_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "npy-frames": ("NumPy .npy frames", ()),
    "npy-stack": ("a NumPy .npy stack", ()),
    "image": ("PNG/JPEG/BMP images", ("PIL",)),
    "tiff": ("TIFF", ("tifffile",)),
    "geotiff": ("GeoTIFF", ("rasterio",)),
    "hdf5": ("HDF5", ("h5py", "hdf5plugin")),
    "zarr": ("zarr stores", ("zarr",)),
    "raw": ("camera RAW", ("rawpy",)),
    "netcdf": ("netCDF", ("xarray", "h5netcdf")),
}
#: import name -> the name ``pip install`` wants, where they differ
PIP_NAMES = {"PIL": "pillow"}


def missing_package_error(format_name: str, paths: Sequence[Path], where: str | os.PathLike,
                          module: str) -> InputError:
    """The one-line error for files whose reader needs a package that is not installed.

    >>> str(missing_package_error("raw", [Path("p/a.nef"), Path("p/b.nef")], "p", "rawpy"))
    'p: 2 .nef files found: camera RAW needs rawpy (pip install rawpy)'
    """
    counts: dict[str, int] = {}
    for p in paths:
        suffix = p.suffix.lower() or "(no suffix)"
        counts[suffix] = counts.get(suffix, 0) + 1
    found = " and ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    found += " file found" if len(paths) == 1 else " files found"
    top = module.split(".")[0]
    package = PIP_NAMES.get(top, top)
    kind = READER_NEEDS.get(format_name, (format_name, ()))[0]
    return InputError(where, f"{found}: {kind} needs {package} (pip install {package})")


def _where(source, paths: Sequence[Path]) -> str | Path:
    """What an error message names: the one file, the folder/pattern given, or the folder."""
    if len(paths) == 1:
        return paths[0]
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    parents = {p.parent for p in paths}
    return parents.pop() if len(parents) == 1 else paths[0]


def open_reader(
    source: str | os.PathLike | Sequence[str | os.PathLike] | Any,
    *,
    dataset: str | None = None,
    skip_bad: bool = False,
    format: str | None = None,
    dims: Dims = None,
    **options: Any,
) -> Reader:
    """Open ``source`` with the first reader of the table that claims it.

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
    if format is not None and not any(e.format_name == format for e in entries()):
        names = sorted({e.format_name for e in entries()})
        raise InputError(None, f"unknown format {format!r}; known: {', '.join(names)}")
    suffixes = sorted({p.suffix.lower() or "(none)" for p in paths})
    where = _where(source, paths)
    for entry in candidates(paths, dataset, format):
        try:
            cls = entry.load()  # the reader's module is imported only now
            if cls.can_open(paths, dataset):
                return cls(paths, dataset=dataset, skip_bad=skip_bad, **options)
        except ModuleNotFoundError as exc:
            # a reader's package is missing from this installation: say which, for which files
            raise missing_package_error(entry.format_name, paths, where,
                                        exc.name or "?") from None
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
