"""``badpix localvar``: local variance / standard deviation of a raster over a k x k window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import ParameterError
from ._common import QuietOption, info, out

ORDER = 20

MODES = ("reflect", "nearest", "mirror", "constant", "wrap")


def localvar_command(
    raster: Path = typer.Argument(..., help="Single- or multi-band raster (GeoTIFF, TIFF, PNG)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output GeoTIFF."),
    size: int = typer.Option(3, "--size", "-k", help="Window size k (odd or even, >= 1)."),
    std: bool = typer.Option(False, "--std", help="Write the local standard deviation instead."),
    mode: str = typer.Option("reflect", help="Edge mode as in scipy.ndimage: " + ", ".join(MODES)),
    band: int = typer.Option(1, help="Raster band to use (1-based)."),
    quiet: bool = QuietOption,
) -> None:
    """Local variance (or std) over a k x k window; keeps CRS and transform, prints the average.

    NaN and nodata pixels are left out of every window and stay nodata in the output;
    float32 input gives float32 output (integers up to 16 bits too), float64 and wider
    integers float64.

    Example: badpix localvar dem.tif -o dem_var3.tif --size 3
    """
    from ..io.geotiff import read_raster
    from ..io.writers import command_tags, float_dtype_for, write_geotiff
    from ..stats.spatial import local_std, local_variance

    if size < 1:
        raise ParameterError(f"--size must be at least 1, got {size}")
    if mode not in MODES:
        raise ParameterError(f"--mode: choose one of {', '.join(MODES)}")
    data, profile = read_raster(raster)
    if data.ndim == 3:
        if not 1 <= band <= data.shape[0]:
            raise ParameterError(f"--band {band}: {raster} has {data.shape[0]} band(s)")
        data = data[band - 1]
    rows, cols = data.shape[-2:]
    if size > max(rows, cols):  # beyond the raster a window only reflects the raster into itself
        raise ParameterError(f"--size {size} is larger than the raster ({rows} x {cols} pixels "
                             f"in {raster}): at most {max(rows, cols)}")
    img = data.astype(np.float64)
    nodata = profile.get("nodata")
    gaps = np.isnan(img)
    if nodata is not None and not np.isnan(nodata):
        gaps |= data == nodata
    img[gaps] = np.nan
    result = (local_std if std else local_variance)(img, size=size, mode=mode)
    # a nodata cell has no value, whatever its neighbours' variance
    result[gaps] = np.nan
    what = "standard deviation" if std else "variance"
    out_dtype = float_dtype_for(np.dtype(profile["dtype"]))
    # the input's nodata value where the output type holds it, else NaN
    out_nodata = np.nan
    if nodata is not None and np.isfinite(nodata) and out_dtype.type(nodata) == nodata:
        out_nodata = float(nodata)
    written = result.astype(out_dtype)
    if not np.isnan(out_nodata):
        written[gaps] = out_nodata
    write_geotiff(output, written, georef=profile.get("georef"), nodata=out_nodata,
                  tags=command_tags(f"localvar size={size} mode={mode} std={std} band={band}",
                                    raster),
                  descriptions=[f"local_{'std' if std else 'variance'}_{size}x{size}"])
    average = float(np.nanmean(result)) if np.isfinite(result).any() else float("nan")
    out.print(f"average local {what} ({size}x{size}): {average:.10g}")
    info(f"wrote {output}", quiet)


def register(app: typer.Typer) -> None:
    app.command("localvar")(localvar_command)
