"""badpix: find and fix defective pixels in stacks of image frames.

>>> import badpix
>>> stack = badpix.open_stack("frames/", layout="l2-l1-m0")     # doctest: +SKIP
>>> ds = badpix.scan(stack)                                     # doctest: +SKIP
>>> int((ds.flags_L2 & 3 != 0).sum())                           # doctest: +SKIP
12

The heavy subpackages (statistics kernels, Dask, plotting) load on first use.
"""

from __future__ import annotations

from .errors import BadpixError
from .layout import Band, Layout, load_layout
from .stack import Stack, open_stack

_LAZY = {
    "__version__": "badpix._version",  # importlib.metadata costs ~25 ms; only --version needs it
    "run_scan": "badpix.engine",
    "scan_stack": "badpix.engine",
    "ScanResult": "badpix.engine",
    "band_dataset": "badpix.engine",
    "load_scan": "badpix.io.scandir",
    "write_scan_dir": "badpix.io.scandir",
    "local_median": "badpix.stats.spatial",
    "local_mean": "badpix.stats.spatial",
    "local_variance": "badpix.stats.spatial",
    "local_std": "badpix.stats.spatial",
    "temporal_median": "badpix.stats.median",
    "MomentAccumulator": "badpix.stats.moments",
    "RuleParams": "badpix.detect.params",
    "classify": "badpix.detect",
    "Flag": "badpix.detect.flags",
}


def scan(source, **kwargs):
    """Scan a stack and return an :class:`xarray.Dataset` of statistics and flags.

    Takes what :func:`badpix.engine.run_scan` takes (a path, a list of files or a
    :class:`Stack`; ``layout=``, ``dataset=``, rule parameters as keywords,
    ``client=`` a ``dask.distributed.Client``).  Variables are named
    ``<quantity>_<band>`` with dims ``y_<band>``/``x_<band>``; see
    :func:`badpix.band_dataset` for one band with plain names.
    """
    from .engine import run_scan

    return run_scan(source, **kwargs).to_dataset()


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'badpix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["BadpixError", "Band", "Layout", "Stack", "load_layout", "open_stack", "scan", *_LAZY]
