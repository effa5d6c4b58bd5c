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

    NaN and nodata pixels are left out of every window.

    Example: badpix localvar dem.tif -o dem_var3.tif --size 3
    """
    from ..io.geotiff import read_raster
    from ..io.writers import write_geotiff
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
    img = data.astype(np.float64)
    nodata = profile.get("nodata")
    if nodata is not None and not np.isnan(nodata):
        img[data == nodata] = np.nan
    result = (local_std if std else local_variance)(img, size=size, mode=mode)
    what = "standard deviation" if std else "variance"
    write_geotiff(output, result, georef=profile.get("georef"), nodata=np.nan,
                  tags={"badpix_command": f"localvar size={size} mode={mode} std={std}",
                        "badpix_source": str(raster)},
                  descriptions=[f"local_{'std' if std else 'variance'}_{size}x{size}"])
    average = float(np.nanmean(result)) if np.isfinite(result).any() else float("nan")
    out.print(f"average local {what} ({size}x{size}): {average:.10g}")
    info(f"wrote {output}", quiet)


def register(app: typer.Typer) -> None:
    app.command("localvar")(localvar_command)
