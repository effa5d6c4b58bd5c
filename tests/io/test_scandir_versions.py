"""summary.json's versions read from the metadata headers equal importlib.metadata's."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest

from badpix.io.scandir import _installed_version, software_versions


@pytest.mark.parametrize("pkg", ["numpy", "scipy", "numba", "rasterio", "h5py", "tifffile",
                                 "pillow", "xarray", "dask", "distributed", "typer", "rich"])
def test_header_version_is_importlib_version(pkg):
    try:
        expected = version(pkg)
    except PackageNotFoundError:
        with pytest.raises(PackageNotFoundError):
            _installed_version(pkg)
        return
    assert _installed_version(pkg) == expected


def test_software_versions_lists_the_installed_packages():
    v = software_versions()
    assert v["numpy"] == version("numpy") and v["numba"] == version("numba")
    with pytest.raises(PackageNotFoundError):
        _installed_version("no-such-package-badpix")
