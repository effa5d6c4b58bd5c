"""
GIS: local variance of a raster and filling its gaps
====================================================

``badpix localvar dem.tif -o dem_var3.tif --size 3`` writes the local variance
over a k x k window, keeping the CRS and geotransform, and prints the average;
``badpix fill dem_with_gaps.tif -o dem_filled.tif`` fills NaN/nodata gaps
smoothly (a harmonic fill from their edges). This example makes a synthetic DEM
GeoTIFF with rasterio, cuts holes into it, and runs both, in Python and through
the command line.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import rasterio
from rasterio.transform import from_origin

import badpix
from badpix.repair import fill_array

quick = os.environ.get("BADPIX_EXAMPLES_QUICK") == "1"
size = 128 if quick else 256
rng = np.random.default_rng(3)
y, x = np.mgrid[0:size, 0:size] / size
dem = (400 + 120 * np.sin(3 * x) * np.cos(2 * y) + 40 * np.exp(-((x - .6)**2 + (y - .4)**2) / .01)
       + rng.normal(0, 1.5, (size, size))).astype(np.float32)
dem[size // 2:, size // 3] += 25  # a cliff: high local variance along it
work = Path(tempfile.mkdtemp(prefix="badpix-gis-"))
profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32",
           "crs": "EPSG:32633", "transform": from_origin(500000, 6000000, 10, 10),
           "nodata": -9999.0}
with rasterio.open(work / "dem.tif", "w", **profile) as dst:
    dst.write(dem, 1)

# %%
# Local variance in Python: NaN-aware, scipy.ndimage edge modes, equal to
# ``generic_filter(img, np.var, size=k)`` to 1e-9 relative.
var3 = badpix.local_variance(dem, size=3)
std5 = badpix.local_std(dem, size=5)
print(f"average local variance (3x3): {np.nanmean(var3):.3f}")

# %%
# The same through the command line, which keeps the georeferencing:
subprocess.run([sys.executable, "-m", "badpix", "localvar", str(work / "dem.tif"), "-o",
                str(work / "dem_var3.tif"), "--size", "3"], check=True)
with rasterio.open(work / "dem_var3.tif") as src:
    print(src.crs, src.transform.a, src.dtypes)
    assert np.allclose(src.read(1), var3, rtol=1e-6, equal_nan=True)

# %%
# Gaps: nodata holes filled from their edges (``fill_array`` in Python,
# ``badpix fill`` for a file, which keeps CRS, transform, nodata and tags).
holes = dem.copy()
for _ in range(6):
    r, c = rng.integers(10, size - 30, 2)
    holes[r:r + rng.integers(4, 20), c:c + rng.integers(4, 20)] = np.nan
filled = fill_array(holes)
with rasterio.open(work / "dem_gaps.tif", "w", **profile) as dst:
    dst.write(np.where(np.isnan(holes), -9999.0, holes).astype(np.float32), 1)
subprocess.run([sys.executable, "-m", "badpix", "fill", str(work / "dem_gaps.tif"), "-o",
                str(work / "dem_filled.tif")], check=True)
gap = np.isnan(holes)
print(f"gap pixels: {int(gap.sum())}, RMSE of the fill against the true DEM: "
      f"{np.sqrt(np.mean((filled[gap] - dem[gap]) ** 2)):.2f} m")

fig, axes = plt.subplots(2, 2, figsize=(9, 8), constrained_layout=True)
for ax, img, title, cmap in ((axes[0, 0], dem, "DEM (m)", "terrain"),
                             (axes[0, 1], np.log10(var3 + 1e-3), "log10 local variance 3x3",
                              "magma"),
                             (axes[1, 0], holes, "DEM with nodata gaps", "terrain"),
                             (axes[1, 1], filled, "harmonic fill", "terrain")):
    im = ax.imshow(img, cmap=cmap)
    ax.set_title(title)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.show()
