"""What a scan returns, whatever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..detect.flags import CLASSES, flag_names
from ..detect.params import RuleParams
from ..io.base import GeoRef, SkippedFrame
from ..layout import Band, Layout
from ..stack import Stack
from ..stats.bandstats import BandStats

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
    #: capture time of every frame (s since 1970), when the scan needed them (onset)
    frame_times: list[float] | None = None

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
    """Per-band statistics, flags and scores of one scan."""

    input: InputInfo
    layout: Layout
    params: RuleParams
    bands: dict[str, BandResult]
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_stack(cls, stack: Stack, params: RuleParams, bands: dict[str, BandResult],
                   timings: dict[str, float]) -> ScanResult:
        r = stack.reader
        source = ", ".join(str(p) for p in r.paths[:1]) + (
            f" (+{len(r.paths) - 1} files)" if len(r.paths) > 1 else "")
        info = InputInfo(source=source, format=r.format_name,
                         n_frames=min(b.stats.n_frames for b in bands.values()) if bands else 0,
                         frame_shape=tuple(r.frame_shape), dtype=np.dtype(r.dtype).name,
                         skipped=list(stack.skipped), georef=r.georef, description=r.describe())
        if any("onset_frame" in b.stats.extra for b in bands.values()):
            times = r.frame_times()
            info.frame_times = None if times is None else [float(t) for t in times]
        return cls(info, stack.layout, params, bands, timings)

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

        Photo scans add ``onset_frame`` (-1: none) and ``onset_time`` (ISO 8601 UTC,
        empty when unknown); JPEG scans add ``loc_confidence`` (see
        :func:`badpix.detect.localize.localize`).
        """
        from ..timefmt import format_time

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
                    rows[-1]["onset_time"] = format_time(float(s.extra["onset_time"][r, c]))
                if "loc_confidence" in br.scores:
                    rows[-1]["loc_confidence"] = float(br.scores["loc_confidence"][r, c])
        return rows

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
        """All bands as one :class:`xarray.Dataset`.

        Bands may differ in shape, so each band has its own dimensions
        ``y_<band>``/``x_<band>`` (full-frame pixel coordinates) and variables
        ``<name>_<band>`` for ``mean, std, var, min, max, median, count, flags,
        score``.  :func:`band_dataset` extracts one band with plain ``y``/``x``.
        """
        import xarray as xr

        data_vars = {}
        coords = {}
        for name, br in self.bands.items():
            y, x = f"y_{name}", f"x_{name}"
            coords[y] = br.band.row_coords()
            coords[x] = br.band.col_coords()
            s = br.stats
            arrays = {"mean": s.mean, "std": s.std, "var": s.var, "min": s.min, "max": s.max,
                      "count": s.count, "flags": br.flags, "score": br.score}
            if s.median is not None:
                arrays["median"] = s.median
            for var, arr in arrays.items():
                data_vars[f"{var}_{name}"] = xr.DataArray(
                    arr, dims=(y, x), attrs={"band": name, "channel": br.band.channel})
        attrs = {k: v for k, v in self.provenance().items()}
        attrs["bands"] = ",".join(self.bands)
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def band_dataset(ds: xr.Dataset, band: str) -> xr.Dataset:
    """One band of :meth:`ScanResult.to_dataset` with plain ``y``/``x`` dims and variable names.

    >>> # ds = badpix.scan("frames/"); band_dataset(ds, "ch0").flags
    """
    suffix = f"_{band}"
    names = [v for v in ds.data_vars if str(v).endswith(suffix)]
    if not names:
        raise KeyError(f"no band {band!r}; bands: {ds.attrs.get('bands')}")
    sub = ds[names].rename({n: str(n)[: -len(suffix)] for n in names})
    return sub.rename({f"y{suffix}": "y", f"x{suffix}": "x"})
