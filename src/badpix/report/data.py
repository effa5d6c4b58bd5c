"""What a report needs from a scan folder: band statistics, rule thresholds, top defects.

Reads only what it draws: the ``mean``, ``std`` and ``median`` bands of
``stats_<band>.tif`` (``min``/``max`` only at the top defects' pixels), the
mask, and the first rows of each band in ``defects.csv`` (which the scan
writes worst score first).

>>> p = thresholds({"stuck_std": 0.5})
>>> p["stuck_std"], p["outlier_k"], p["outlier_size"]
(0.5, 8.0, 5)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.outlier import local_median  # as the OUTLIER rule computes it
from ..io.scandir import STATS_BANDS, ScanDir
from ..layout import Band

#: rule defaults (as in :class:`badpix.detect.params.RuleParams`) for summaries that lack them
DEFAULTS: dict[str, Any] = {"stuck_std": 1.0, "outlier_k": 8.0, "outlier_size": 5}


def thresholds(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters the histograms need, defaults filled in for missing or malformed keys."""
    p = dict(parameters or {})
    out: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        v = p.get(key, default)
        try:
            v = type(default)(v)
        except (TypeError, ValueError):
            v = default
        if isinstance(v, float) and not math.isfinite(v):
            v = default
        out[key] = v
    if out["outlier_size"] < 1:
        out["outlier_size"] = DEFAULTS["outlier_size"]
    out["counting"] = p.get("counting") is True  # resolved by the scan ("auto" never lands here)
    return out


def read_stats_bands(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Some bands of ``stats_<band>.tif`` by GDAL description (contract order as fallback)."""
    import rasterio

    from ..errors import InputError

    if not path.exists():
        raise InputError(path, "statistics file is missing from the scan folder")
    # GDAL decompresses with both cores; deflated float64 stats are most of a report's time
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(path) as src:
        desc = [d or "" for d in src.descriptions]
        index = {d: i + 1 for i, d in enumerate(desc) if d}
        out = {}
        for name in names:
            i = index.get(name)
            if i is None and name in STATS_BANDS and STATS_BANDS.index(name) < src.count:
                i = STATS_BANDS.index(name) + 1
            if i is not None:
                out[name] = src.read(i).astype(np.float64, copy=False)
    return out


def read_stats_at(path: Path, names: tuple[str, ...], pixels: list[tuple[int, int]]
                  ) -> dict[str, np.ndarray]:
    """Values of some stats bands at a few ``(row, col)`` band pixels (one 1x1 window each)."""
    import rasterio
    from rasterio.windows import Window

    out = {n: np.full(len(pixels), np.nan) for n in names}
    if not pixels or not path.exists():
        return out
    with rasterio.open(path) as src:
        desc = [d or "" for d in src.descriptions]
        idx = {}
        for n in names:
            if n in desc:
                idx[n] = desc.index(n) + 1
            elif n in STATS_BANDS and STATS_BANDS.index(n) < src.count:
                idx[n] = STATS_BANDS.index(n) + 1
        if not idx:
            return out
        bands = list(idx.values())
        for k, (r, c) in enumerate(pixels):
            v = src.read(bands, window=Window(c, r, 1, 1))[:, 0, 0]
            for j, n in enumerate(idx):
                out[n][k] = v[j]
    return out


@dataclass
class Histogram:
    """A histogram on log-spaced bins of positive values, with a threshold and its count."""

    edges: np.ndarray
    counts: np.ndarray
    zeros: int
    threshold: float | None
    beyond: int | None
    beyond_label: str
    total: int


def log_histogram(values: np.ndarray, threshold: float | None, above: bool,
                  bins: int = 120) -> Histogram:
    """Histogram of ``values > 0`` on ``bins`` log-spaced bins; zeros counted apart.

    ``beyond`` counts values above (``above=True``) or below the threshold,
    zeros included, NaN never.  Bins are uniform in ``log10`` so numpy takes
    its fast path (searchsorted on 16M values would cost seconds); the
    logarithm is taken in float32, plenty for placing values in 120 bins.

    >>> h = log_histogram(np.array([0.0, 1.0, 10.0, 100.0]), 5.0, above=True, bins=4)
    >>> h.zeros, h.beyond, int(h.counts.sum())
    (1, 2, 3)
    """
    v = np.asarray(values).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = np.log10(v, dtype=np.float32)  # 0 -> -inf, negative/NaN -> NaN
    n_finite = int(np.count_nonzero(np.isfinite(v)))
    zeros = int(np.count_nonzero(v == 0))
    lv[np.isinf(lv)] = np.nan  # log10(0) and log10(inf) stay off the axis
    lo_hi = []
    if np.isfinite(lv).any():
        lo_hi = [float(np.nanmin(lv)), float(np.nanmax(lv))]
    if threshold is not None and threshold > 0:
        lo_hi.append(math.log10(threshold))
    lo, hi = (min(lo_hi), max(lo_hi)) if lo_hi else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    # a margin so a threshold at the data's edge is still a visible line
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    # NaN falls outside any range and is dropped by np.histogram without a warning
    counts, ledges = np.histogram(lv, bins=bins, range=(lo, hi))
    beyond = None
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            beyond = int(np.count_nonzero(v > threshold if above else v < threshold))
    return Histogram(10.0 ** ledges, counts, zeros, threshold, beyond,
                     "above" if above else "below", n_finite)


@dataclass
class Defect:
    """One row of ``defects.csv`` (full-frame ``row``/``col``)."""

    band: str
    row: int
    col: int
    flags: int
    classes: list[str]
    mean: float
    std: float
    median: float
    score: float


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def read_top_defects(path: Path, n: int) -> tuple[dict[str, list[Defect]], dict[str, int]]:
    """The first ``n`` defects of each band in ``defects.csv`` and the rows per band.

    The scan writes each band's rows worst score first; rows are re-sorted by
    score anyway so hand-made or merged files rank correctly too.
    """
    top: dict[str, list[Defect]] = {}
    total: dict[str, int] = {}
    if not path.exists():
        return top, total
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for rec in reader:
            band = rec.get("band", "")
            total[band] = total.get(band, 0) + 1
            lst = top.setdefault(band, [])
            # keep up to 4n candidates per band, then sort: bounded memory on huge files
            if len(lst) >= 4 * max(n, 1):
                continue
            try:
                d = Defect(band, int(rec["row"]), int(rec["col"]), int(rec.get("flags") or 0),
                           [c for c in (rec.get("classes") or "").split(";") if c],
                           _float(rec.get("mean")), _float(rec.get("std")),
                           _float(rec.get("median")), _float(rec.get("score")))
            except (KeyError, TypeError, ValueError):
                continue
            lst.append(d)
    for band, lst in top.items():
        lst.sort(key=lambda d: -d.score if np.isfinite(d.score) else math.inf)
        top[band] = lst[:n]
    return top, total


@dataclass
class BandData:
    """Arrays and derived numbers of one band for the report."""

    name: str
    shape: tuple[int, int]
    origin: tuple[int, int]
    mean: np.ndarray
    std: np.ndarray
    median: np.ndarray | None
    flags: np.ndarray
    deviation: np.ndarray | None
    std_hist: Histogram
    dev_hist: Histogram | None
    outlier_scale: float | None
    mask_counts: dict[str, int] = field(default_factory=dict)
    band: Band | None = None


def load_band(scan: ScanDir, name: str, params: dict[str, Any]) -> BandData:
    """Statistics, flags, recomputed OUTLIER deviation and both histograms of one band."""
    from ..detect.flags import CLASSES

    band = next(b for b in scan.bands if b.name == name)
    st = read_stats_bands(scan.path / f"stats_{name}.tif", ("mean", "std", "median"))
    flags = scan.mask(name)
    mean = st.get("mean")
    if mean is None:
        mean = np.full(flags.shape, np.nan)
    std = st.get("std", np.full(flags.shape, np.nan))
    median = st.get("median")
    if median is not None and not np.isfinite(median).any():
        median = None  # written as all-NaN when the scan ran without the median
    hist_std = log_histogram(std, params["stuck_std"], above=False)
    deviation = dev_hist = scale = None
    if median is not None:
        deviation = median - local_median(median, params["outlier_size"])
        absdev = np.abs(deviation)
        n_finite = int(np.count_nonzero(np.isfinite(absdev)))
        if n_finite:
            # the rule's nanmean(|dev|); plain mean when nothing is NaN (4x faster)
            scale = float(absdev.mean() if n_finite == absdev.size else np.nanmean(absdev))
            dev_hist = log_histogram(absdev, params["outlier_k"] * scale, above=True)
    values = np.bincount(flags.ravel(), minlength=256)
    bits = np.arange(256)
    counts = {c: int(values[(bits & int(bit)) != 0].sum()) for c, bit in CLASSES.items()}
    counts["any"] = int(values[1:].sum())
    return BandData(name, tuple(flags.shape), (band.rows[0], band.cols[0]), mean, std, median,
                    flags, deviation, hist_std, dev_hist, scale, counts, band)


def read_pixel_series(stack, pixels: dict[str, list[tuple[int, int]]]) -> dict[str, np.ndarray]:
    """Time series ``(n_frames, k)`` of a few band pixels, in one pass over the frames.

    ``pixels`` maps band name -> ``(row, col)`` in band coordinates.  Only the
    requested pixels are copied out of each block; memory is the two block
    buffers of :meth:`badpix.stack.Stack.iter_blocks` plus ``n_frames x k``.

    >>> import numpy as np, tempfile, pathlib
    >>> from badpix import open_stack
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     np.save(d / f"f{i}.npy", np.full((4, 4, 1), i, np.uint8))
    >>> read_pixel_series(open_stack(d), {"ch0": [(1, 2)]})["ch0"].ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    bands = {b.name: b for b in stack.bands}
    want = {n: p for n, p in pixels.items() if p and n in bands}
    if not want:
        return {}
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in want}
    idx = {n: (np.array([r for r, _ in p]), np.array([c for _, c in p])) for n, p in want.items()}
    block = int(max(1, min(32, (64 * 2**20) // max(1, stack.frame_nbytes))))
    for _, blk in stack.iter_blocks(block):
        for n, (rr, cc) in idx.items():
            # fancy indexing copies, which the reused block buffer requires
            chunks[n].append(bands[n].view(blk)[:, rr, cc].astype(np.float64))
    return {n: np.concatenate(c) if c else np.empty((0, len(want[n]))) for n, c in chunks.items()}
