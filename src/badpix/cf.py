"""Scan results as CF-1.10 ``xarray`` datasets: attributes, coordinates and the CRS.

What :meth:`badpix.ScanResult.to_dataset` writes, and why:

* ``flags_<band>`` are bit flags: ``flag_masks`` (1, 2, 4, ...) with
  ``flag_meanings`` (``"stuck outlier hot dead noisy persistent"``), so CF tools
  (cf-xarray, ncdump readers, Panoply) decode them.
* Statistics carry ``long_name`` and ``units``: the input's ``units`` attribute for
  mean/std/min/max/median (``"1"`` when the input has none: raw digital numbers),
  its square for the variance, ``"1"`` for counts and scores.
* Dimensions ``y_<band>``/``x_<band>`` hold full-frame pixel rows/columns, unless
  the input has map coordinates (an ``xarray.DataArray``'s ``y``/``x`` coordinates,
  or a GeoTIFF's transform without rotation): then they hold those coordinates
  (at the band's pixels) and ``row_<band>``/``col_<band>`` keep the pixel indices.
* A CRS becomes a grid-mapping variable ``spatial_ref`` as rioxarray writes it
  (``crs_wkt`` and ``spatial_ref`` attributes, the CF grid-mapping parameters when
  pyproj is installed) named by every variable's ``grid_mapping`` attribute.

>>> import numpy as np, badpix
>>> ds = badpix.scan(np.random.default_rng(0).integers(0, 99, (6, 4, 5), dtype=np.uint8))
>>> ds.attrs["Conventions"], ds["flags_ch0"].attrs["flag_meanings"].split()[:2]
('CF-1.10', ['stuck', 'outlier'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .detect.flags import CLASSES

if TYPE_CHECKING:
    import xarray as xr

    from .result import BandResult, ScanResult

__all__ = ["CONVENTIONS", "band_dataset", "grid_mapping_attrs", "scan_dataset"]

CONVENTIONS = "CF-1.10"

_LONG_NAMES = {
    "mean": "temporal mean of the pixel",
    "std": "temporal standard deviation of the pixel",
    "var": "temporal variance of the pixel",
    "min": "temporal minimum of the pixel",
    "max": "temporal maximum of the pixel",
    "median": "temporal median of the pixel",
    "count": "number of valid frames of the pixel",
    "flags": "defect classes of the pixel",
    "score": "worst rule score of the pixel (1 = at its rule's threshold)",
}


def grid_mapping_attrs(crs_wkt: str | None, transform: tuple[float, ...] | None = None
                       ) -> dict[str, Any]:
    """Attributes of a ``spatial_ref`` grid-mapping variable, as rioxarray writes them.

    >>> grid_mapping_attrs(None, (0.0, 1.0, 0.0, 0.0, 0.0, -1.0))["GeoTransform"]
    '0.0 1.0 0.0 0.0 0.0 -1.0'
    """
    attrs: dict[str, Any] = {}
    if crs_wkt:
        try:  # the CF parameters (grid_mapping_name, ...) need pyproj, which is optional
            from pyproj import CRS

            attrs.update(CRS.from_wkt(crs_wkt).to_cf())
        except Exception:  # noqa: BLE001 - no pyproj, or a CRS it cannot express in CF
            pass
        attrs["crs_wkt"] = crs_wkt
        attrs["spatial_ref"] = crs_wkt
    if transform is not None:
        attrs["GeoTransform"] = " ".join(repr(float(v)) for v in transform)
    return attrs


def _is_geographic(crs_wkt: str | None) -> bool:
    if not crs_wkt:
        return False
    try:
        from rasterio.crs import CRS

        return bool(CRS.from_wkt(crs_wkt).is_geographic)
    except Exception:  # noqa: BLE001 - unparsable WKT: treat as projected
        return False


def _map_coords(result: ScanResult, br: BandResult
                ) -> tuple[tuple[np.ndarray, dict], tuple[np.ndarray, dict]] | None:
    """Map y/x coordinates of the band's pixels, or ``None`` (pixel indices only)."""
    rows, cols = br.band.row_coords(), br.band.col_coords()
    given = result.input.coords
    if given and "y" in given and "x" in given:
        (yv, ya), (xv, xa) = given["y"], given["x"]
        ya = {k: v for k, v in ya.items() if k != "name"}
        xa = {k: v for k, v in xa.items() if k != "name"}
        return (yv[rows], ya), (xv[cols], xa)
    geo = result.input.georef
    if geo is None or geo.transform is None:
        return None
    x0, dx, rx, y0, ry, dy = geo.transform
    if rx != 0 or ry != 0:
        return None  # rotated: no 1-D coordinates; the GeoTransform says it all
    if _is_geographic(geo.crs_wkt):
        ya = {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
        xa = {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}
    else:
        ya = {"standard_name": "projection_y_coordinate", "axis": "Y"}
        xa = {"standard_name": "projection_x_coordinate", "axis": "X"}
        try:
            from rasterio.crs import CRS

            unit = CRS.from_wkt(geo.crs_wkt).linear_units if geo.crs_wkt else None
            if unit in ("metre", "meter", "m"):
                ya["units"] = xa["units"] = "m"
        except Exception:  # noqa: BLE001
            pass
    return ((y0 + (rows + 0.5) * dy, ya), (x0 + (cols + 0.5) * dx, xa))


def _units(attrs: dict[str, Any] | None) -> str:
    value = (attrs or {}).get("units")
    return str(value) if value else "1"


def scan_dataset(result: ScanResult) -> xr.Dataset:
    """:meth:`ScanResult.to_dataset`: every band of ``result`` in one CF dataset."""
    import xarray as xr

    data_vars: dict[str, xr.DataArray] = {}
    coords: dict[str, Any] = {}
    geo = result.input.georef
    grid = None
    if geo is not None and (geo.crs_wkt or geo.transform is not None):
        one = len(result.bands) == 1 and not next(iter(result.bands.values())).band.strided
        transform = geo.transform if one else None
        grid = "spatial_ref"
        coords[grid] = xr.Variable((), np.int64(0), grid_mapping_attrs(geo.crs_wkt, transform))
    units = _units(result.input.attrs)
    bit_masks = np.array([int(f) for f in CLASSES.values()], np.uint8)
    for name, br in result.bands.items():
        y, x = f"y_{name}", f"x_{name}"
        rows, cols = br.band.row_coords(), br.band.col_coords()
        pixel_y = {"long_name": "row of the pixel in the frame", "units": "1"}
        pixel_x = {"long_name": "column of the pixel in the frame", "units": "1"}
        mapped = _map_coords(result, br)
        if mapped is None:
            coords[y] = xr.Variable(y, rows, pixel_y)
            coords[x] = xr.Variable(x, cols, pixel_x)
        else:
            (yv, ya), (xv, xa) = mapped
            coords[y] = xr.Variable(y, yv, ya)
            coords[x] = xr.Variable(x, xv, xa)
            coords[f"row_{name}"] = xr.Variable(y, rows, pixel_y)
            coords[f"col_{name}"] = xr.Variable(x, cols, pixel_x)
        s = br.stats
        arrays = {"mean": s.mean, "std": s.std, "var": s.var, "min": s.min, "max": s.max,
                  "count": s.count, "flags": br.flags, "score": br.score}
        if s.median is not None:
            arrays["median"] = s.median
        for var, arr in arrays.items():
            attrs: dict[str, Any] = {"long_name": f"{_LONG_NAMES[var]} in band {name}",
                                     "band": name, "channel": br.band.channel}
            if var == "flags":
                attrs.update(flag_masks=bit_masks, flag_meanings=" ".join(CLASSES),
                             valid_range=np.array([0, int(bit_masks.sum())], np.uint8))
                arr = np.asarray(arr, np.uint8)
            elif var == "var":
                attrs["units"] = "1" if units == "1" else f"({units})^2"
            elif var in ("count", "score"):
                attrs["units"] = "1"
            else:
                attrs["units"] = units
            if grid is not None:
                attrs["grid_mapping"] = grid
            data_vars[f"{var}_{name}"] = xr.DataArray(arr, dims=(y, x), attrs=attrs)
    attrs = dict(result.provenance())
    attrs.update(Conventions=CONVENTIONS, title="badpix scan: per-pixel statistics and defects",
                 source=result.input.source or result.input.description,
                 history=f"badpix {attrs['badpix_version']} scan of {result.input.n_frames} "
                         f"frames ({result.input.description})",
                 bands=",".join(result.bands))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def band_dataset(ds: xr.Dataset, band: str) -> xr.Dataset:
    """One band of a scan dataset with plain ``y``/``x`` dims and variable names.

    >>> import numpy as np, badpix
    >>> ds = badpix.scan(np.zeros((4, 3, 5, 2), np.uint16))
    >>> one = badpix.band_dataset(ds, "ch1")
    >>> sorted(one.dims), one["flags"].attrs["band"]
    (['x', 'y'], 'ch1')
    """
    suffix = f"_{band}"
    names = [v for v in ds.data_vars if str(v).endswith(suffix)]
    if not names:
        raise KeyError(f"no band {band!r}; bands: {ds.attrs.get('bands')}")
    sub = ds[names]
    renames = {n: str(n)[: -len(suffix)] for n in names}
    renames.update({f"{c}{suffix}": c for c in ("y", "x", "row", "col") if f"{c}{suffix}" in sub.variables})
    sub = sub.rename(renames)
    sub.attrs["bands"] = band
    return sub

