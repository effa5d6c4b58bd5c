"""badpix: find and fix defective pixels in stacks of image frames.

>>> import badpix
>>> stack = badpix.open_stack("frames/", layout="l2-l1-m0")     # doctest: +SKIP
>>> ds = badpix.scan(stack)                                     # doctest: +SKIP
>>> int((ds.flags_L2 & 3 != 0).sum())                           # doctest: +SKIP
12

The heavy subpackages (statistics kernels, Dask, plotting) load on first use.
"""

from __future__ import annotations

from . import _startup_signals

_startup_signals.install()  # first: Ctrl-C while the executable imports gives one line

import os  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from ._lazy import lazy_getattr  # noqa: E402
from .errors import BadpixError  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Unpack

    import xarray as xr

    from ._types import ProgressCallback, RuleKeywords, Source
    from .detect.params import RuleParams
    from .io.memory import Dims
    from .layout import Band, Layout, load_layout
    from .stack import Stack, open_stack

_LAZY = {
    "__version__": "badpix._version",  # importlib.metadata costs ~25 ms; only --version needs it
    # numpy (~80 ms) is not needed by ``badpix --help``: layouts and stacks load on first use
    "Band": "badpix.layout",
    "Layout": "badpix.layout",
    "load_layout": "badpix.layout",
    "Stack": "badpix.stack",
    "open_stack": "badpix.stack",
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


def scan(
    source: Source | Stack,
    *,
    layout: str | os.PathLike | Layout | None = None,
    dataset: str | None = None,
    dims: Dims = None,
    skip_bad: bool = False,
    params: RuleParams | None = None,
    memory_limit: int | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    out: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    add: bool = False,
    median: bool | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    **rule_params: Unpack[RuleKeywords],
) -> xr.Dataset:
    """Scan a stack of frames and return an :class:`xarray.Dataset` of statistics and flags.

    Parameters
    ----------
    source
        Frames on disk: a folder or glob of frame files (``.npy``, PNG, JPEG, TIFF,
        GeoTIFF, camera RAW), one multi-frame file (multi-page TIFF, ``.npy`` stack,
        HDF5/NeXus, ``.rtdc``, netCDF ``.nc``, a zarr store), ``"file.h5:events/image"``,
        or a list of files.  Frames in memory: a numpy or dask array ``(frame, y, x)``
        or ``(frame, y, x, channel)`` (a dask array is computed block by block, never
        whole), an ``xarray.DataArray`` (dims found by name, coordinates and CRS carried
        into the result) or an ``xarray.Dataset`` (``dataset=`` names the variable).
        Or a :class:`Stack` from :func:`open_stack`.
    layout
        Band layout: a preset name (``"l2-l1-m0"``), a TOML file or a :class:`Layout`;
        ``None``: one band per channel (``ch0``, ``ch1``, ... or the channel coordinate's
        labels).
    dataset
        Dataset path inside an HDF5/NeXus file, variable of a netCDF file or
        ``xarray.Dataset``, array of a zarr group.
    dims
        Arrays only: the role (``"frame"``, ``"y"``, ``"x"``, ``"channel"``) of each
        axis in order, or a mapping from role to dimension name (``{"frame": "band"}``).
    skip_bad
        Leave out frames that cannot be decoded or differ in shape (listed in the
        result's ``input.skipped``) instead of stopping with an error.
    params
        All rule parameters as a :class:`RuleParams`; keywords below override it.
    memory_limit
        Bytes of frames the scan holds at once, over all work units in flight (default:
        a quarter of the available memory); beyond it the exact median spills to a
        temporary tile store.
    client
        A ``dask.distributed.Client``: run the scan on its cluster (same results).
    progress
        ``advance(n_frames)``, called as frames are done.
    out, checkpoint_every, resume, add, on_checkpoint
        Resumable scans: with ``out`` and ``checkpoint_every`` (or ``resume``/``add``)
        the state is kept in ``out/state/``; see :func:`run_scan`.
    median
        Collect the exact temporal median (default: the scan plan decides; photo
        series leave it out).
    **rule_params
        Any field of :class:`RuleParams`, e.g. ``stuck_std=0.5``: ``stuck_std``,
        ``outlier_k``, ``outlier_size``, ``size``, ``hot_z``, ``dead_z``, ``noisy_z``,
        ``scale_floor``, ``use_range``, ``counting`` (default ``"auto"``: decided from
        the data), ``counting_size``,
        ``counting_alpha``, ``counting_hot_ratio``, ``counting_min_rate``,
        ``counting_fano``, ``counting_dead_alpha``, ``persistence``, ``persistence_dn``,
        ``persistence_z``, ``onset_min_frames`` (defaults and meaning there).

    Returns
    -------
    xarray.Dataset
        CF-1.10: variables ``<quantity>_<band>`` (``mean, std, var, min, max, median,
        count, flags, score``) on dims ``y_<band>``/``x_<band>``; ``flags`` are bits
        with ``flag_masks``/``flag_meanings``; a CRS is the ``spatial_ref`` grid
        mapping.  :func:`band_dataset` gives one band with plain ``y``/``x``.

    Examples
    --------
    >>> import numpy as np, badpix
    >>> frames = np.random.default_rng(0).normal(100, 5, (8, 20, 30)).astype(np.uint16)
    >>> frames[:, 4, 7] = 4000                                  # a hot pixel
    >>> ds = badpix.scan(frames)
    >>> int(ds["flags_ch0"][4, 7]) & int(badpix.Flag.HOT) != 0
    True
    >>> ds = badpix.scan("frames/", layout="l2-l1-m0", stuck_std=0.5)   # doctest: +SKIP
    """
    from .engine import run_scan

    return run_scan(source, layout=layout, dataset=dataset, dims=dims, skip_bad=skip_bad,
                    params=params, memory_limit=memory_limit, client=client,
                    progress=progress, out=out, checkpoint_every=checkpoint_every,
                    resume=resume, add=add, median=median, on_checkpoint=on_checkpoint,
                    **rule_params).to_dataset()


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["BadpixError", "Band", "Layout", "Stack", "load_layout", "open_stack", "scan", *_LAZY]


def __dir__() -> list[str]:
    # the public names only (not the helpers this module imports), lazy ones included
    return sorted(__all__)
