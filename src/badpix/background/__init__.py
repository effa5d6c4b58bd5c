"""Median background images for image stacks, matching dcnum 0.31 (RT-DC / imaging flow cytometry).

Two methods, both bit-identical to dcnum:

* :func:`sparse_median_background` - one median image every ``split_time``
  seconds, cleansing of images with cells, per-frame offset ``bg_off``;
* :func:`rolling_median_background` - the median of the ``k`` frames starting
  at each frame, with a streaming histogram kernel.

:func:`background` takes arrays, ``xarray.DataArray``, stacks and paths;
:func:`background_to_file` writes ``.rtdc`` files that dcnum/dclab read, or a
folder of TIFF/NPY images plus a CSV index.

>>> import numpy as np
>>> frames = np.random.default_rng(0).integers(0, 255, (20, 40, 6), dtype=np.uint8)
>>> r = background(frames, method="sparse", kernel_size=5, times=np.arange(20) * 0.25)
>>> r.images.shape, r.bg_off.shape
((4, 40, 6), (20,))
"""

from .api import METHODS, background, background_to_file
from .output import write_folder
from .result import BackgroundResult
from .rolling import rolling_median_background
from .rtdc import dcnum_ppid, write_rtdc
from .sparse import BackgroundWarning, sparse_median_background
from .timing import frame_times

__all__ = [
    "METHODS",
    "BackgroundResult",
    "BackgroundWarning",
    "background",
    "background_to_file",
    "dcnum_ppid",
    "frame_times",
    "rolling_median_background",
    "sparse_median_background",
    "write_folder",
    "write_rtdc",
]
