"""
RT-DC background: dcnum-compatible sparse median
================================================

Real-time deformability cytometry records a channel in which cells flow past; the
background is the median of frames around each frame. badpix computes dcnum
0.31's sparse and rolling median backgrounds identically (``image_bg``,
``bg_off``, the frame-to-image mapping and the cleansing decisions). This
example runs the sparse method on the real ``cytoshot-test-data.rtdc`` from
``../shared/data/dcnum``, as
``badpix background cytoshot-test-data.rtdc -o bg.rtdc --kernel-size 10 --split-time 0.3``
does, and, when dcnum is installed (``pip install badpix[peer]``), checks the
result against it. Without the shared data it uses a synthetic channel.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from badpix.background import background, background_to_file

here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
shared = Path(os.environ.get("BADPIX_SHARED", here.parents[2] / "shared"))
rtdc = shared / "data" / "dcnum" / "cytoshot-test-data.rtdc"
if rtdc.exists():
    import h5py
    import hdf5plugin  # noqa: F401  (RT-DC images are often compressed)

    with h5py.File(rtdc, "r") as f:
        frames = f["events/image"][:]
    source = rtdc
else:  # a synthetic channel with a dark "cell" moving through it
    rng = np.random.default_rng(0)
    channel = np.tile(np.linspace(90, 140, 400, dtype=np.float32), (80, 1))
    frames = np.empty((40, 80, 400), np.uint8)
    for i in range(40):
        img = channel + rng.normal(0, 2, channel.shape)
        img[30:50, 10 * i:10 * i + 20] -= 60
        frames[i] = np.clip(img, 0, 255)
    source = frames

# %%
# ``background`` takes an array, an ``xarray.DataArray``, a Stack or an ``.rtdc``
# path (which brings its frame times); ``background_to_file`` writes an ``.rtdc``
# that ``dcnum.read.HDF5Data`` reads.
times = None if rtdc.exists() else np.arange(len(frames)) * 0.1
result = background(source, method="sparse", kernel_size=10, split_time=0.3, times=times)
print(f"{result.n_frames} frames -> {len(result.images)} background images "
      f"(kept {int(result.kept.sum())} of {len(result.kept)} after cleansing)")
print("bg_off of the first frames:", np.round(result.bg_off[:3], 6))
out = Path(tempfile.mkdtemp(prefix="badpix-bg-")) / "bg.rtdc"
if rtdc.exists():
    background_to_file(rtdc, out, method="sparse", kernel_size=10, split_time=0.3)
    print("wrote", out.name, out.stat().st_size, "bytes")

# %%
# Same numbers as dcnum (the peer the benchmark and the tests compare with):
try:
    import warnings

    from dcnum.read import HDF5Data
except ImportError:
    print("dcnum is not installed: skipping the comparison")
else:
    if rtdc.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with HDF5Data(out) as h:
                same = np.array_equal(h["image_bg"][:], result.per_frame())
        print("image_bg read back by dcnum equals badpix's per-frame background:", same)

# %%
# A frame, its background and the corrected frame ``frame - image_bg - bg_off``.
i = len(frames) // 2
corrected = result.subtract(frames[i:i + 1], start=i)[0]
fig, axes = plt.subplots(3, 1, figsize=(8, 6), constrained_layout=True)
for ax, img, title in ((axes[0], frames[i], f"frame {i}"),
                       (axes[1], result.background_of(i), "sparse median background"),
                       (axes[2], corrected, "frame - background - bg_off")):
    im = ax.imshow(img, cmap="gray", aspect="auto")
    ax.set_title(title)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.02)
plt.show()
