"""
Photon-counting detector: Poisson rules on real LAMBDA frames
=============================================================

On a photon-counting detector (Medipix, LAMBDA, Eiger) most healthy pixels read
0 in most frames, so "temporal std below 1" would call most of them stuck.
badpix recognises such data (integer frames, most values exactly zero) and
switches to Poisson rules by itself; ``--counting`` (``RuleParams(counting=True)``)
forces them. This example scans one module of the real LAMBDA 2M (GaAs) frames in
``../shared/data/real/lambda_gaas_xray_petra3`` (five NeXus part files of ten
frames, read as one stack) as
``badpix scan 'lambda/*_m1_part*.nxs' -d entry/instrument/detector/data -o scan/``
does, and compares the flags with the detector vendor's own bad-pixel map. Without
the shared data it falls back to a synthetic Poisson stack; the script passes
``counting=True`` so that stack gets the same rules whatever its count rate.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import badpix
from badpix.detect.flags import Flag

quick = os.environ.get("BADPIX_EXAMPLES_QUICK") == "1"
here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
shared = Path(os.environ.get("BADPIX_SHARED", here.parents[2] / "shared"))
data = shared / "data" / "real" / "lambda_gaas_xray_petra3"
parts = sorted(data.glob("*_m1_part*.nxs"))[: 2 if quick else None]
DATASET = "entry/instrument/detector/data"

if parts:
    import h5py

    source = [str(p) for p in parts]
    with h5py.File(parts[0], "r") as f:
        vendor = f["entry/instrument/detector/pixel_mask"][0]
else:  # synthetic: a Poisson stack with a few hot and noisy pixels
    rng = np.random.default_rng(0)
    rate = np.full((256, 256), 0.05)
    rate[rng.integers(0, 256, 10), rng.integers(0, 256, 10)] = 20.0  # hot pixels
    frames = rng.poisson(rate, (50, 256, 256)).astype(np.uint16)
    frames[::2, 100, 40:60] = 500  # a telegraph-noisy run of pixels
    vendor = np.zeros((256, 256), np.uint32)
    source = Path(os.environ.get("TMPDIR", "/tmp")) / "badpix-counting.npy"
    np.save(source, frames)

result = badpix.run_scan(source, dataset=DATASET if parts else None, counting=True)
band = next(iter(result.bands.values()))
print(result.input.description)
print("flags per class:", {f.name.lower(): int(np.count_nonzero(band.flags & f))
                           for f in (Flag.STUCK, Flag.HOT, Flag.DEAD, Flag.NOISY)})

# %%
# The vendor map marks noisy pixels with bit 16. A pixel that never registered a
# count in these frames cannot be told from a healthy unexposed one.
noisy_vendor = (vendor & 16) != 0
fired = noisy_vendor & (band.stats.max > 0)
flagged = band.flags != 0
print(f"vendor-noisy pixels: {int(noisy_vendor.sum())}, of which ever fired: {int(fired.sum())}")
if fired.any():
    print(f"recall over those that fired: {flagged[fired].mean():.3f}")
outside = flagged & (vendor == 0)
print(f"flags outside the vendor map: {int(outside.sum())} of {int(flagged.sum())}")

# %%
# Mean counts per frame (log scale) and the flags, and the distribution of the
# Fano factor var/mean that the NOISY rule tests (threshold 5 by default).
fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
mean = band.stats.mean
axes[0].imshow(np.log10(np.maximum(mean, 1e-3)), cmap="gray", interpolation="nearest")
ys, xs = np.nonzero(flagged)
axes[0].scatter(xs, ys, s=4, c="#d55e00", label="flagged")
axes[0].set_title("log10 mean counts/frame, flags in orange")
axes[0].legend(loc="upper right")
ok = mean > 0
fano = band.stats.var[ok] / mean[ok]
axes[1].hist(fano, bins=np.logspace(-2, 4, 80), color="#0072b2")
axes[1].axvline(result.params.counting_fano, color="k", ls="--", label="Fano threshold")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].set_xlabel("var / mean (pixels with at least one count)")
axes[1].set_ylabel("pixels")
axes[1].legend()
plt.show()
