"""COG validation shared by the GeoTIFF tests: rio-cogeo's validator plus GDAL's own view."""

from __future__ import annotations

import warnings

import rasterio
from rasterio.errors import NotGeoreferencedWarning


def assert_cog(path, *, overviews: bool | None = None) -> None:
    """``path`` is a valid Cloud Optimized GeoTIFF: tiled, compressed, COG layout.

    rio-cogeo's ``cog_validate`` (the port of GDAL's validate_cloud_optimized_geotiff:
    IFD order, tile offsets after their IFDs, ghost area) must pass in strict mode
    (warnings count as errors).  ``overviews`` True/False also checks their presence.
    """
    from rio_cogeo.cogeo import cog_validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        valid, errors, warns = cog_validate(str(path), strict=True)
        assert valid, (path, errors, warns)
        with rasterio.open(path) as ds:
            structure = ds.tags(ns="IMAGE_STRUCTURE")
            assert structure.get("LAYOUT") == "COG", structure
            assert structure.get("COMPRESSION") == "DEFLATE", structure
            assert ds.profile["tiled"], ds.profile
            assert ds.block_shapes[0] == (256, 256) or max(ds.shape) <= 256
            levels = ds.overviews(1)
            if overviews is not None:
                assert bool(levels) == overviews, (path, ds.shape, levels)
