"""Import the built-in reader modules so they register themselves.

Order matters: later registrations are tried first, so the more specific
readers come last (a GeoTIFF is also a TIFF; ``geotiff`` must win).
"""

# isort: off
from . import npy  # noqa: F401
from . import images  # noqa: F401
from . import tiff  # noqa: F401
from . import hdf5  # noqa: F401
from . import zarrstore  # noqa: F401
from . import netcdf  # noqa: F401
from . import raw  # noqa: F401 - camera RAW/DNG (rawpy is imported only when used)
from . import geotiff  # noqa: F401
# isort: on
