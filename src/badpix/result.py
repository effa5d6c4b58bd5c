"""What a scan returns, whatever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .detect.flags import CLASSES, flag_names
from .detect.params import RuleParams
from .io.base import GeoRef, SkippedFrame
from .layout import Band, Layout
from .stack import Stack
from .stats.bandstats import BandStats

if TYPE_CHECKING:  # xarray (and pandas) cost ~0.4 s: imported by to_dataset only
    import xarray as xr


@dataclass
class BandResult:
    """Statistics, flags and scores of one band."""

    band: Band
    stats: BandStats
    flags: np.ndarray
    scores: dict[str, np.ndarray]

    @property
    def score(self) -> np.ndarray:
        return self.scores.get("score", np.zeros(self.flags.shape))


@dataclass
class InputInfo:
    """Where the frames came from (recorded in every output)."""

    source: str
    format: str
    n_frames: int
    frame_shape: tuple[int, int, int]
    dtype: str
    skipped: list[SkippedFrame] = field(default_factory=list)
    georef: GeoRef | None = None
    description: str = ""
    #: capture time of every frame (s since 1970, stack order), when the scan needed them (onset)
    frame_times: list[float] | None = None
    #: ``{"y"|"x": (values, attrs)}``: map coordinates of an ``xarray.DataArray`` input
    coords: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    #: attributes of an ``xarray.DataArray`` input (``units`` reaches the statistics)
    attrs: dict[str, Any] = field(default_factory=dict)
    #: every frame's file name (``reader.frame_label``, stack order), when the scan ran onset
    frame_files: list[str] | None = None

    def capture_order(self) -> list[int]:
        """Stack indices in capture-time order (file order without every frame's time)."""
        from .stats.onset import capture_order

        times = None if self.frame_times is None else np.asarray(self.frame_times, np.float64)
        return [int(i) for i in capture_order(times, self.n_frames)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "format": self.format, "n_frames": self.n_frames,
            "frame_shape": list(self.frame_shape), "dtype": self.dtype,
            "skipped": [{"label": s.label, "reason": s.reason} for s in self.skipped],
            "crs": None if self.georef is None else self.georef.crs_wkt,
            "transform": (None if self.georef is None or self.georef.transform is None
                          else list(self.georef.transform)),
            "description": self.description,
        }


@dataclass
class ScanResult:
    """Per-band statistics, flags and scores of one scan.

    >>> import numpy as np
    >>> from badpix.engine import run_scan
    >>> f = np.full((6, 5, 5), 100, np.uint16); f[::2] += 4; f[:, 2, 3] = 9000
    >>> r = run_scan(f)
    >>> r.counts()["ch0"]["hot"], r.defects()[0]["row"], r.defects()[0]["col"]
    (1, 2, 3)
    """

    input: InputInfo
    layout: Layout
    params: RuleParams
    bands: dict[str, BandResult]
    timings: dict[str, float] = field(default_factory=dict)
    #: the :class:`~badpix.engine.plan.ScanPlan` the scan ran (``None``: not recorded)
    plan: Any = None

    @classmethod
    def from_stack(cls, stack: Stack, params: RuleParams, bands: dict[str, BandResult],
                   timings: dict[str, float], plan: Any = None) -> ScanResult:
        r = stack.reader
        source = ", ".join(str(p) for p in r.paths[:1]) + (
            f" (+{len(r.paths) - 1} files)" if len(r.paths) > 1 else "")
        info = InputInfo(source=source or f"<{r.format_name}>", format=r.format_name,
                         n_frames=min(b.stats.n_frames for b in bands.values()) if bands else 0,
                         frame_shape=r.frame_shape, dtype=np.dtype(r.dtype).name,
                         skipped=list(stack.skipped), georef=r.georef, description=r.describe(),
                         coords=dict(getattr(r, "spatial_coords", {}) or {}),
                         attrs=dict(getattr(r, "attrs", {}) or {}))
        if any("onset_frame" in b.stats.extra for b in bands.values()):
            times = r.frame_times()
            info.frame_times = None if times is None else [float(t) for t in times]
            info.frame_files = [r.frame_label(i) for i in range(r.n_frames)]
        return cls(info, stack.layout, params, bands, timings, plan)

    def rule_set(self) -> dict[str, Any]:
        """Which rule set ran and why (``summary.json`` ``rule_set``; see
        :class:`~badpix.detect.photon.CountingDecision`)."""
        d = self.params.counting_decision
        if d is None:  # parameters that no engine resolved (a result built by hand)
            from .detect.photon import CountingDecision

            d = CountingDecision(self.params.counting is True, float("nan"),
                                 f"given: counting={self.params.counting!r}", auto=False)
        return d.to_dict()

    def rules(self) -> list[str]:
        """The classes whose rules ran (OUTLIER needs the median, PERSISTENT the photo pass)."""
        return [c for c in CLASSES if any(c in br.scores for br in self.bands.values())]

    def counts(self) -> dict[str, dict[str, int]]:
        """Flagged pixels per band and class, plus ``any``."""
        out = {}
        for name, br in self.bands.items():
            c = {cls_name: int(np.count_nonzero(br.flags & bit)) for cls_name, bit in CLASSES.items()}
            c["any"] = int(np.count_nonzero(br.flags))
            out[name] = c
        return out

    def defects(self) -> list[dict[str, Any]]:
        """One record per flagged pixel, in full-frame coordinates, worst score first per band.

        Photo scans add ``onset_frame`` (0-based index of the onset frame in
        capture-time order, the order ``onset_time`` follows; -1: none),
        ``onset_file`` (the file name of that frame, empty when none) and
        ``onset_time`` (ISO 8601 UTC, empty when unknown); JPEG scans add
        ``loc_confidence`` (see :func:`badpix.detect.localize.localize`).
        """
        from .timefmt import format_time

        rows = []
        for name, br in self.bands.items():
            rr, cc = np.nonzero(br.flags)
            s = br.stats
            score = br.score
            order = np.argsort(-np.nan_to_num(score[rr, cc], nan=-np.inf), kind="stable")
            for i in order:
                r, c = int(rr[i]), int(cc[i])
                f = int(br.flags[r, c])
                fr, fc = br.band.position(r, c)
                rows.append({
                    "band": name, "row": fr, "col": fc, "flags": f,
                    "classes": ";".join(flag_names(f)),
                    "mean": float(s.mean[r, c]), "std": float(s.std[r, c]),
                    "median": float(s.median[r, c]) if s.median is not None else float("nan"),
                    "score": float(score[r, c]),
                })
                if "onset_frame" in s.extra:
                    rows[-1]["onset_frame"] = int(s.extra["onset_frame"][r, c])
                    rows[-1]["onset_file"] = self._frame_file(int(s.extra["onset_index"][r, c]))
                    rows[-1]["onset_time"] = format_time(float(s.extra["onset_time"][r, c]))
                if "loc_confidence" in br.scores:
                    rows[-1]["loc_confidence"] = float(br.scores["loc_confidence"][r, c])
        return rows

    def _frame_file(self, index: int) -> str:
        files = self.input.frame_files or []
        return files[index] if 0 <= index < len(files) else ""

    def provenance(self) -> dict[str, str]:
        """Flat string tags for file headers (GeoTIFF tags, HDF5 attributes)."""
        import json

        return {
            "badpix_version": __version__,
            "badpix_input": self.input.source,
            "badpix_n_frames": str(self.input.n_frames),
            "badpix_parameters": json.dumps(self.params.to_dict(), sort_keys=True),
        }

    def to_dataset(self) -> xr.Dataset:
        """All bands as one CF-1.10 :class:`xarray.Dataset`.

        Bands may differ in shape, so each band has its own dimensions
        ``y_<band>``/``x_<band>`` (full-frame pixel coordinates, or the input's map
        coordinates with ``row_<band>``/``col_<band>`` beside them) and variables
        ``<name>_<band>`` for ``mean, std, var, min, max, median, count, flags,
        score``; flags carry ``flag_masks``/``flag_meanings``, a CRS is the
        ``spatial_ref`` grid mapping (:mod:`badpix.cf`).  :func:`band_dataset`
        extracts one band with plain ``y``/``x``.

        >>> import numpy as np
        >>> from badpix.engine import run_scan
        >>> ds = run_scan(np.zeros((5, 4, 6), np.uint16)).to_dataset()
        >>> ds["mean_ch0"].dims, ds.attrs["Conventions"]
        (('y_ch0', 'x_ch0'), 'CF-1.10')
        """
        from .cf import scan_dataset

        return scan_dataset(self)


def band_dataset(ds: xr.Dataset, band: str) -> xr.Dataset:
    """One band of :meth:`ScanResult.to_dataset` with plain ``y``/``x`` dims and variable names.

    Parameters
    ----------
    ds
        A dataset from :func:`badpix.scan` or :meth:`ScanResult.to_dataset`.
    band
        The band's name (``ds.attrs["bands"]`` lists them).

    Returns
    -------
    xarray.Dataset
        ``mean, std, var, min, max, median, count, flags, score`` on dims ``y``/``x``
        (and ``row``/``col``, ``spatial_ref`` coordinates when the input had them).

    Examples
    --------
    >>> import numpy as np, badpix
    >>> one = band_dataset(badpix.scan(np.zeros((5, 4, 6), np.uint16)), "ch0")
    >>> one["flags"].dims
    ('y', 'x')
    """
    from .cf import band_dataset as _band

    return _band(ds, band)
