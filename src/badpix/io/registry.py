"""The reader registry: a table of entry points, imported only when a reader is tried.

Each built-in format is one :class:`ReaderEntry`: its ``format_name``, the
``"module:Class"`` string of its reader (as xarray's backend entry points), the
file suffixes it claims and, for formats recognised by content rather than by
name, a cheap probe.  Nothing here imports a reader module: :func:`candidates`
yields the entries that may claim a set of paths, and :meth:`ReaderEntry.load`
imports the reader (and so its libraries: h5py, rasterio, zarr, ...) only when
that reader is asked.  Order is priority: a GeoTIFF is also a TIFF, so
``geotiff`` comes before ``tiff``; a single 3-D ``.npy`` is a stack, not a frame.

>>> [e.format_name for e in candidates([Path("a.tif")], None)]
['geotiff', 'tiff']
>>> sorted(known_suffixes())[:3]
['.arw', '.bmp', '.cr2']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import Reader

__all__ = ["ENTRIES", "ReaderEntry", "candidates", "known_suffixes", "reader_registry",
           "register_reader"]

_TIFF = (".tif", ".tiff")
_H5 = (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5", ".rtdc", ".cxi")
_RAW = (".dng", ".nef", ".cr2", ".cr3", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw")
_IMAGES = (".png", ".jpg", ".jpeg", ".bmp")
_NETCDF = (".nc", ".nc4", ".cdf", ".netcdf")


def _has_dataset(paths: Sequence[Path], dataset: str | None) -> bool:
    # "file.dat:events/image" - HDF5 recognised by its signature whatever the suffix
    return dataset is not None


def _netcdf_file(paths: Sequence[Path], dataset: str | None) -> bool:
    # one file is one stack: .nc files are not listed in folders of frames
    return len(paths) == 1 and paths[0].suffix.lower() in _NETCDF


def _is_folder(paths: Sequence[Path], dataset: str | None) -> bool:
    # a zarr store is a folder (resolve_inputs passes it on whole)
    return len(paths) == 1 and paths[0].is_dir()


@dataclass(frozen=True)
class ReaderEntry:
    """One reader in the table: where it lives and which inputs it may claim."""

    format_name: str
    target: str
    #: suffixes (lower case, with dot) claimed in folders/globs and matched by name
    suffixes: tuple[str, ...] = ()
    #: ``probe(paths, dataset)``: true when the reader must look at inputs its suffixes miss
    probe: Callable[[Sequence[Path], str | None], bool] | None = None

    def load(self) -> type[Reader]:
        """Import the reader's module and return its class."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def may_claim(self, paths: Sequence[Path], dataset: str | None) -> bool:
        """True when the reader should be asked (``can_open``) about ``paths``."""
        if paths and all(p.suffix.lower() in self.suffixes for p in paths):
            return True
        return self.probe is not None and self.probe(paths, dataset)


#: the built-in readers, most specific first
ENTRIES: tuple[ReaderEntry, ...] = (
    ReaderEntry("geotiff", "badpix.io.geotiff:GeoTiffReader", _TIFF),
    ReaderEntry("raw", "badpix.io.raw:RawReader", _RAW),
    ReaderEntry("netcdf", "badpix.io.netcdf:NetcdfReader", (), _netcdf_file),
    ReaderEntry("zarr", "badpix.io.zarrstore:ZarrReader", (), _is_folder),
    ReaderEntry("hdf5", "badpix.io.hdf5:Hdf5Reader", _H5, _has_dataset),
    ReaderEntry("tiff", "badpix.io.tiff:TiffReader", _TIFF),
    ReaderEntry("image", "badpix.io.images:ImageFramesReader", _IMAGES),
    ReaderEntry("npy-stack", "badpix.io.npy:NpyStackReader", (".npy",)),
    ReaderEntry("npy-frames", "badpix.io.npy:NpyFramesReader", (".npy",)),
)

_EXTRA: list[type[Reader]] = []


def register_reader(cls: type[Reader]) -> type[Reader]:
    """Class decorator adding a reader at run time; it is tried before the built-in ones."""
    _EXTRA.append(cls)
    return cls


def _entry_of(cls: type[Reader]) -> ReaderEntry:
    return ReaderEntry(cls.format_name, f"{cls.__module__}:{cls.__qualname__}",
                       tuple(cls.suffixes), lambda paths, dataset: True)


def entries() -> list[ReaderEntry]:
    """Run-time registered readers (latest first), then the built-in table."""
    return [_entry_of(c) for c in reversed(_EXTRA)] + list(ENTRIES)


def candidates(paths: Sequence[Path], dataset: str | None,
               format: str | None = None) -> Iterator[ReaderEntry]:
    """The entries to ask about ``paths``, in priority order (nothing is imported)."""
    for e in entries():
        if format is not None:
            if e.format_name == format:
                yield e
        elif e.may_claim(paths, dataset):
            yield e


def known_suffixes() -> set[str]:
    """Every suffix some reader claims (folders list only these files)."""
    return {s for e in entries() for s in e.suffixes}


def reader_registry() -> list[type[Reader]]:
    """All reader classes, most specific first (imports every reader module)."""
    return [e.load() for e in entries()]
