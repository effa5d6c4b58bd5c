"""What this installation runs on: library versions, numba's set-up, the readers available.

``badpix doctor`` prints these; a bug report should include them.

>>> from badpix.environment import library_versions
>>> dict(library_versions())["numpy"] == __import__("numpy").__version__
True
"""

from __future__ import annotations

import importlib
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

NOT_INSTALLED = "not installed"


def _dist_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return NOT_INSTALLED


def _native(module: str, get: Callable[[object], object]) -> str | None:
    """The version of the C library behind ``module``, or ``None`` if it cannot be loaded."""
    try:
        mod = importlib.import_module(module)
        value = get(mod)
    except Exception:  # noqa: BLE001 - a broken native library must not stop the report
        return None
    if isinstance(value, tuple):
        return ".".join(str(v) for v in value)
    return str(value)


# (label, distribution, (importable module, native library label, how to read its version))
_LIBRARIES: list[tuple[str, str, tuple[str, str, Callable[[object], object]] | None]] = [
    ("badpix", "badpix", None),
    ("numpy", "numpy", None),
    ("numba", "numba", ("llvmlite", "llvmlite", lambda m: m.__version__)),
    ("scipy", "scipy", None),
    ("dask", "dask", None),
    ("distributed", "distributed", None),
    ("xarray", "xarray", None),
    ("rasterio", "rasterio", ("rasterio", "GDAL", lambda m: m.__gdal_version__)),
    ("h5py", "h5py", ("h5py", "HDF5", lambda m: m.version.hdf5_version)),
    ("hdf5plugin", "hdf5plugin", None),
    ("tifffile", "tifffile", None),
    ("imagecodecs", "imagecodecs", None),
    ("Pillow", "pillow", None),
    ("rawpy", "rawpy", ("rawpy", "LibRaw", lambda m: m.libraw_version)),
    ("zarr", "zarr", None),
    ("typer", "typer", None),
    ("click", "click", None),
]


def library_versions() -> list[tuple[str, str]]:
    """``(name, version)`` of Python, badpix and the libraries it relies on.

    A library built on a C library also names that one, e.g.
    ``("rasterio", "1.4.3 (GDAL 3.10.3)")``; a missing one reads ``"not installed"``.
    """
    rows = [("python", f"{platform.python_version()} ({platform.python_implementation()}, "
                       f"{platform.system()} {platform.machine()})")]
    for label, dist, native in _LIBRARIES:
        text = _dist_version(dist)
        if native is not None and text != NOT_INSTALLED:
            module, lib, get = native
            found = _native(module, get)
            text += f" ({lib} {found})" if found else f" ({lib} cannot be loaded)"
        rows.append((label, text))
    return rows


@dataclass
class NumbaSetup:
    """How numba runs badpix's kernels here."""

    threads: int
    threading_layer: str
    cache_dir: str
    cache_writable: bool


def _writable(path: Path) -> bool:
    while not path.exists() and path != path.parent:
        path = path.parent  # numba creates the folder on first use
    return os.access(path, os.W_OK)


def numba_setup(run_parallel: bool = True) -> NumbaSetup:
    """Threads, threading layer and kernel cache location of numba.

    numba picks its threading layer (tbb, omp or workqueue) when the first
    parallel kernel runs; with ``run_parallel`` a tiny one runs to find out.
    The cache is where compiled kernels are kept between runs: badpix's kernels
    load from it in milliseconds instead of compiling for seconds.
    """
    import numba

    from .stats import _kernels

    layer = "not started"
    if run_parallel:
        try:
            numba.threading_layer()
        except ValueError:  # no parallel kernel has run in this process yet
            _touch_parallel()
    try:
        layer = str(numba.threading_layer())
    except ValueError:
        pass
    cache_dir = str(_kernels.int_update_narrow.stats.cache_path)
    return NumbaSetup(threads=int(numba.get_num_threads()), threading_layer=layer,
                      cache_dir=cache_dir, cache_writable=_writable(Path(cache_dir)))


def _touch_parallel() -> None:
    import numba
    import numpy as np

    @numba.njit(parallel=True)
    def total(x):  # pragma: no cover - runs compiled
        s = 0.0
        for i in numba.prange(x.shape[0]):
            s += x[i]
        return s

    total(np.ones(4))


@dataclass
class ReaderStatus:
    """Whether the reader of one input format can run here."""

    format_name: str
    reads: str
    available: bool
    missing: str  # the package to install, "" when available


def reader_status() -> list[ReaderStatus]:
    """Every registered reader with whether its packages import, most common first."""
    from .io.open import PIP_NAMES, READER_NEEDS
    from .io.registry import reader_registry

    out = []
    for cls in sorted(reader_registry(), key=lambda c: c.format_name):
        reads, modules = READER_NEEDS.get(cls.format_name, (cls.format_name, ()))
        missing = ""
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - ImportError or a broken native library
                missing = PIP_NAMES.get(module, module)
                break
        out.append(ReaderStatus(cls.format_name, reads, not missing, missing))
    return out


def warm_kernels() -> list[tuple[str, float]]:
    """Compile (or load from numba's cache) the kernels a scan uses; seconds per stack kind.

    Scans three tiny synthetic stacks in a temporary folder: 16-bit integer
    frames, float frames and 8-bit JPEG photos (which also run the photo
    kernels).  The first run after an install compiles, later runs load the cache.
    """
    from .engine import run_scan
    from .synth import write_synthetic

    kinds = [("uint16 frames", "npy", "uint16", 1), ("float32 frames", "npy", "float32", 1),
             ("8-bit JPEG photos", "jpeg", "uint8", 3)]
    timings = []
    with tempfile.TemporaryDirectory(prefix="badpix-warm-") as tmp:
        for label, kind, dtype, channels in kinds:
            folder = Path(tmp) / label.split()[0]
            write_synthetic(folder, kind, n_frames=8, shape=(48, 64), dtype=dtype,
                            channels=channels)
            t0 = time.perf_counter()
            run_scan(folder)  # photos get their persistence/onset pass by default
            timings.append((label, time.perf_counter() - t0))
    return timings


__all__ = ["NumbaSetup", "ReaderStatus", "library_versions", "numba_setup", "reader_status",
           "warm_kernels"]
