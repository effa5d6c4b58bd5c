"""The scan output folder: write it (atomically, all files together) and read it back.

Layout of a scan folder (see ``docs/contracts.md``)::

    summary.json          input, layout, parameters, rule set, counts, timings, versions
    defects.csv           one row per flagged pixel (full-frame coordinates)
    mask_<band>.tif       uint8 flag image per band (or .png / .npy / masks.h5)
    stats_<band>.tif      float32 (or --stats-dtype float64): mean, std, min, max, median
    drifting_pixel_mask_<band>.tif   with --legacy-float-mask
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..detect.flags import DRIFTING
from ..errors import InputError
from ..layout import Band
from .atomic import StagedDir
from .base import GeoRef
from .writers import write_csv, write_geotiff, write_h5, write_json, write_npy, write_png

MASK_FORMATS = ("tif", "png", "npy", "h5")
STATS_BANDS = ("mean", "std", "min", "max", "median")
DEFECT_COLUMNS = ["band", "row", "col", "flags", "classes", "mean", "std", "median", "score"]
#: columns added when the scan computed them (photo series: onset; JPEG: localisation)
OPTIONAL_DEFECT_COLUMNS = ["onset_frame", "onset_file", "onset_time", "loc_confidence"]

#: the sensor team's float mask value for a drifting pixel
LEGACY_MASK_VALUE = 10000.0

STATS_DTYPES = ("float32", "float64")
#: what a mask's flag bits mean (a mask tag; statistics files have no flags)
FLAG_BITS_TAG = "1=stuck 2=outlier 4=hot 8=dead 16=noisy 32=persistent"


def software_versions() -> dict[str, str]:
    """Versions of badpix and the libraries that shaped its numbers and files."""
    from importlib.metadata import PackageNotFoundError

    out = {"badpix": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "numba", "rasterio", "h5py", "tifffile", "pillow", "xarray",
                "dask", "distributed"):
        try:
            out[pkg] = _installed_version(pkg)
        except PackageNotFoundError:
            pass
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:
        pass
    return out


def _installed_version(pkg: str) -> str:
    """``importlib.metadata.version(pkg)`` from the metadata's header lines only.

    ``version()`` parses the whole METADATA file with the email parser (numpy's
    and scipy's carry their licences): ~8 ms for the ten packages of a summary,
    against ~3 ms for reading up to the ``Version:`` line.

    >>> from importlib.metadata import version
    >>> _installed_version("numpy") == version("numpy")
    True
    """
    from importlib.metadata import distribution

    dist = distribution(pkg)
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
    return dist.version


def band_georef(georef: GeoRef | None, band: Band) -> GeoRef | None:
    """Georeferencing of a band's window of the frame."""
    return None if georef is None else georef.window(band.rows[0], band.cols[0], band.row_step,
                                                     band.col_step)


def legacy_georef(georef: GeoRef | None) -> GeoRef | None:
    """Georeferencing of a legacy float mask: the band's own, EPSG:4326 when it has no CRS.

    The sensor team's files are EPSG:4326; that CRS is used only when neither
    the input nor ``--crs`` gives one, and only when the transform's corners
    can be degrees (otherwise a projected transform in EPSG:4326 would put the
    corners off the globe: gdalinfo's "Invalid angle").

    >>> legacy_georef(None).transform is None
    True
    >>> g = GeoRef(None, (500000.0, 10.0, 0.0, 6e6, 0.0, -10.0))
    >>> legacy_georef(g).crs_wkt is None
    True
    """
    from rasterio.crs import CRS

    if georef is not None and georef.crs_wkt:
        return georef
    wgs84 = CRS.from_epsg(4326).to_wkt()
    if georef is None or georef.transform is None:
        return GeoRef(wgs84, None)
    x0, dx, _, y0, _, dy = georef.transform
    if -180.0 <= x0 <= 180.0 and -90.0 <= y0 <= 90.0 and abs(dx) < 1 and abs(dy) < 1:
        return GeoRef(wgs84, georef.transform)
    return GeoRef(None, georef.transform)


#: GDAL configuration for the scan folder's GeoTIFFs (see :func:`_gdal_for_scan_files`)
SCAN_GDAL_OPTIONS = {"COG_TMP_COMPRESSION": "NONE", "GDAL_NUM_THREADS": "ALL_CPUS"}


def _scan_gdal_options() -> dict[str, str]:
    """:data:`SCAN_GDAL_OPTIONS` less ``GDAL_NUM_THREADS`` when the environment sets it.

    A configuration option set through :class:`rasterio.Env` would override the
    user's own ``GDAL_NUM_THREADS`` (e.g. ``1`` on a machine shared with others).
    """
    if "GDAL_NUM_THREADS" in os.environ:
        return {k: v for k, v in SCAN_GDAL_OPTIONS.items() if k != "GDAL_NUM_THREADS"}
    return dict(SCAN_GDAL_OPTIONS)


@contextlib.contextmanager
def _gdal_for_scan_files() -> Iterator[None]:
    """GDAL options for writing a scan folder's GeoTIFFs: faster, the same images.

    GDAL's COG driver computes the overviews into a temporary TIFF beside the
    output and then copies them, recompressed with the file's own DEFLATE, into
    the COG; that temporary file is ZSTD-compressed by default.  Uncompressed,
    it costs ~15 ms less per five-band statistics file of a 100 x 1024 band
    (~20 % of its write) and the final file's bytes do not change
    (``tests/io/test_scandir_gdal.py``) - except, for some odd-sized uint8
    masks, the pixels of the smallest (nearest-neighbour) overview level
    (1100 x 1300: the 137 x 162 level; an ``xfail`` there).  The option is one
    GDAL documents for debugging; a GDAL without it ignores it.

    ``GDAL_NUM_THREADS=ALL_CPUS`` lets the COG driver deflate the tiles in
    worker threads; GDAL writes them in the order one thread would, so the
    bytes do not change.  DEFLATE is most of a COG write: the five-band float32
    statistics of a 2048 x 2048 band took 0.80 s in one thread and 0.50 s in two
    (2-core machine, medians of 7 interleaved processes; uncompressed the COG
    takes 0.24 s for 111 MB instead of 64 MB).  A ``GDAL_NUM_THREADS`` in the
    environment is left as the user set it.
    """
    import rasterio

    with rasterio.Env(**_scan_gdal_options()):
        yield


def write_scan_dir(result, out: str | os.PathLike, *, mask_format: str = "tif",
                   legacy_float_mask: bool = False, georef: GeoRef | None = None,
                   extra_summary: dict[str, Any] | None = None,
                   stats_dtype: str = "float32") -> list[Path]:
    """Write a :class:`~badpix.result.ScanResult` to ``out``; returns the files.

    All files are written into a staging folder inside ``out`` and renamed into
    place only when every one of them succeeded.
    ``georef`` overrides the input's georeferencing (``--crs``/``--transform``).
    ``stats_dtype`` is ``float32`` (7 significant digits, half the size; the
    statistics are computed in float64 and rounded once) or ``float64``.
    """
    if mask_format not in MASK_FORMATS:
        raise ValueError(f"mask format must be one of {MASK_FORMATS}")
    if stats_dtype not in STATS_DTYPES:
        raise ValueError(f"statistics dtype must be one of {STATS_DTYPES}")
    geo = georef if georef is not None else result.input.georef
    tags = result.provenance()
    # a scan folder is one run: every file an earlier run listed in its summary
    # (its scan outputs and the report/timeline written into it later) goes
    previous = _previous_outputs(Path(out))
    with StagedDir(out) as stage, _gdal_for_scan_files():
        d = stage.path
        h5_masks: dict[str, np.ndarray] = {}
        for name, br in result.bands.items():
            bgeo = band_georef(geo, br.band)
            btags = {**tags, "badpix_band": name, "badpix_channel": str(br.band.channel),
                     "badpix_rows": "{}:{}:{}".format(*br.band.rows, br.band.row_step),
                     "badpix_cols": "{}:{}:{}".format(*br.band.cols, br.band.col_step)}
            mtags = {**btags, "badpix_flag_bits": FLAG_BITS_TAG}
            if mask_format == "tif":
                write_geotiff(d / f"mask_{name}.tif", br.flags, georef=bgeo, tags=mtags,
                              descriptions=["flags"])
            elif mask_format == "png":
                write_png(d / f"mask_{name}.png", br.flags, text=mtags)
            elif mask_format == "npy":
                write_npy(d / f"mask_{name}.npy", br.flags)
            else:
                h5_masks[f"mask_{name}"] = br.flags
            s = br.stats
            median = s.median if s.median is not None else np.full(s.shape, np.nan)
            stack = np.stack([s.mean, s.std, s.min, s.max, median], dtype=stats_dtype)
            write_geotiff(d / f"stats_{name}.tif", stack, georef=bgeo,
                          tags={**btags, "badpix_stats_dtype": stats_dtype},
                          descriptions=list(STATS_BANDS))
            if legacy_float_mask:
                legacy = np.where((br.flags & DRIFTING) != 0, LEGACY_MASK_VALUE, 0.0)
                write_geotiff(d / f"drifting_pixel_mask_{name}.tif", legacy.astype(np.float32),
                              georef=legacy_georef(bgeo), tags=mtags)
        if h5_masks:
            write_h5(d / "masks.h5", h5_masks, attrs=tags)
        rows = result.defects()
        columns = DEFECT_COLUMNS + [c for c in OPTIONAL_DEFECT_COLUMNS if rows and c in rows[0]]
        write_csv(d / "defects.csv", columns, [[r[c] for c in columns] for r in rows])
        files = sorted(p.name for p in d.iterdir()) + ["summary.json"]
        summary = {
            "badpix_version": __version__,
            "input": result.input.to_dict(),
            "layout": {"source": result.layout.source,
                       "bands": [b.to_dict() for b in result.layout]},
            "parameters": result.params.to_dict(),
            "rule_set": result.rule_set(),
            "mask_format": mask_format,
            "counts": result.counts(),
            "rules": result.rules(),
            "timings": {k: round(v, 4) for k, v in result.timings.items()},
            "versions": software_versions(),
            "outputs": files,
        }
        # per band and rule: flags expected from noise alone at this frame count
        from ..detect.power import band_power, power_messages

        summary["power"] = {name: band_power(br.stats, result.params)
                            for name, br in result.bands.items()}
        summary["power_warnings"] = power_messages(summary["power"], result.input.n_frames)
        if any("onset_frame" in br.stats.extra for br in result.bands.values()):
            from ..timefmt import format_time

            times = result.input.frame_times
            files = result.input.frame_files or []
            summary["onset"] = {
                "persistence": result.params.persistence,
                "order": "file" if times is None or any(t != t for t in times) else "capture",
                # stack (file) order, as the reader lists the frames
                "frame_times": None if times is None else [format_time(t) or None for t in times],
                # capture order: entry k is the frame that defects.csv calls onset_frame k
                "capture_order": [
                    {"file": files[i] if i < len(files) else "",
                     "time": None if times is None else format_time(times[i]) or None}
                    for i in result.input.capture_order()],
            }
        if georef is not None:
            summary["georef_override"] = {"crs": georef.crs_wkt,
                                          "transform": list(georef.transform or [])}
        if getattr(result, "plan", None) is not None:  # how it ran (badpix.engine.plan)
            summary["plan"] = result.plan.to_dict()
        if extra_summary:
            summary.update(extra_summary)
        write_json(d / "summary.json", summary)
    # outputs of an earlier scan into the same folder that this scan did not
    # rewrite (other band names or mask format) would be mistaken for ours
    for name in previous - set(files):
        stale = Path(out) / name
        if stale.is_file() and stale.parent == Path(out):
            stale.unlink()
    return [Path(out) / f for f in files]


def record_output(scan_dir: str | os.PathLike, written: str | os.PathLike) -> bool:
    """Add ``written`` to the ``outputs`` of ``scan_dir/summary.json`` if it lies in that folder.

    Commands that write into a scan folder after the scan (``report``,
    ``timeline``) record their files so that the next scan into the folder
    removes them with the rest of the run.  Returns whether it was recorded.

    >>> import tempfile, pathlib, json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "summary.json").write_text('{"outputs": ["summary.json"]}')
    >>> record_output(d, d / "timeline.png"), json.loads((d / "summary.json").read_text())
    (True, {'outputs': ['summary.json', 'timeline.png']})
    """
    d, w = Path(scan_dir), Path(written)
    summary_path = d / "summary.json"
    if not summary_path.is_file() or w.resolve().parent != d.resolve():
        return False
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if not isinstance(summary, dict):
        return False
    outputs = summary.get("outputs")
    outputs = list(outputs) if isinstance(outputs, list) else []
    if w.name not in outputs:
        outputs.append(w.name)
        summary["outputs"] = outputs
        write_json(summary_path, summary)
    return True


def _previous_outputs(out: Path) -> set[str]:
    try:
        names = json.loads((out / "summary.json").read_text()).get("outputs", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and "/" not in n and "\\" not in n}


@dataclass
class ScanDir:
    """A scan output folder read back: summary, bands and lazily loaded masks/stats."""

    path: Path
    summary: dict[str, Any]

    @property
    def bands(self) -> list[Band]:
        return [Band.from_dict(b) for b in self.summary["layout"]["bands"]]

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.summary["input"]["frame_shape"])

    def mask(self, band: str) -> np.ndarray:
        """The uint8 flag image of ``band``."""
        fmt = self.summary.get("mask_format", "tif")
        p = self.path / f"mask_{band}.{fmt}" if fmt != "h5" else self.path / "masks.h5"
        if not p.exists():
            raise InputError(p, "mask file is missing from the scan folder")
        if fmt == "tif":
            return _read_tif_bands(p)[0]
        if fmt == "png":
            from PIL import Image

            with Image.open(p) as im:
                return np.asarray(im).astype(np.uint8)
        if fmt == "npy":
            return np.load(p, allow_pickle=False)
        import h5py

        with h5py.File(p, "r") as f:
            return f[f"mask_{band}"][()]

    def stats(self, band: str) -> dict[str, np.ndarray]:
        """``mean, std, min, max, median`` of ``band`` as float64 arrays."""
        p = self.path / f"stats_{band}.tif"
        if not p.exists():
            raise InputError(p, "statistics file is missing from the scan folder")
        # float32 files (the default) widen exactly
        return dict(zip(STATS_BANDS, _read_tif_bands(p).astype(np.float64), strict=True))

    def frame_mask(self, classes: int = 0xFF) -> np.ndarray:
        """Flags of every band placed into a full-frame ``(rows, cols, channels)`` uint8 array."""
        full = np.zeros(self.frame_shape, np.uint8)
        for b in self.bands:
            m = self.mask(b.name)
            if m.shape != b.shape:
                raise InputError(self.path / f"mask_{b.name}", f"shape {m.shape} differs from "
                                 f"band {b.name!r}'s {b.shape} in summary.json")
            rs, cs = b.slices()
            full[rs, cs, b.channel] |= m & np.uint8(classes)
        return full


def _read_tif_bands(path: Path) -> np.ndarray:
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            # masks of plain pixel grids (no CRS) are legitimate
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.read()
    except RasterioIOError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({exc})") from None


def load_scan(path: str | os.PathLike) -> ScanDir:
    """Open a scan output folder written by :func:`write_scan_dir`."""
    p = Path(path)
    summary_path = p / "summary.json"
    if not summary_path.is_file():
        raise InputError(p, "not a badpix scan folder (no summary.json)")
    try:
        summary = json.loads(summary_path.read_text())
        _ = summary["layout"]["bands"], summary["input"]["frame_shape"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(summary_path, f"malformed summary ({exc})") from None
    return ScanDir(p, summary)
