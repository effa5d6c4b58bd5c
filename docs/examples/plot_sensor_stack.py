"""
Sensor stack with band layouts
==============================

A remote-sensing sensor writes frames of 768 rows by W columns by 3 channels, and
each spectral band is a range of rows of one channel (the ``l2-l1-m0`` preset).
This example writes a synthetic stack with planted defects as ``.npy`` frames,
scans it as ``badpix scan frames/ -o scan/ --layout l2-l1-m0`` does, draws each
band's quicklook with the defects overlaid and checks the scan against the
planted truth.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import badpix
from badpix.evaluate import evaluate
from badpix.report.quicklook import CLASS_COLOURS, overlay, stretch
from badpix.synth import write_synthetic

quick = os.environ.get("BADPIX_EXAMPLES_QUICK") == "1"
work = Path(tempfile.mkdtemp(prefix="badpix-sensor-"))
frames = work / "frames"
truth = write_synthetic(frames, "npy", shape=(768, 64 if quick else 160), channels=3,
                        n_frames=20 if quick else 40, dtype="uint16", seed=0)

# %%
# Scan with the band layout
# -------------------------
# ``layout`` takes a preset name or a TOML file; the result holds per band the
# temporal statistics, the flag image and the scores.
result = badpix.run_scan(frames, layout="l2-l1-m0")
for name, band in result.bands.items():
    print(name, band.band.rows, band.flags.shape, "flagged:", int((band.flags != 0).sum()))

# %%
# The sensor team's drifting-pixel mask is exactly ``(flags & 3) != 0``
# (STUCK or OUTLIER):
ds = result.to_dataset()
drifting = (ds.flags_L2 & 3) != 0
print("drifting pixels in L2:", int(drifting.sum()))

# %%
# Quicklooks: the temporal mean of each band, contrast-stretched, with every
# flagged pixel painted in its class colour (as in ``report.html``).
fig, axes = plt.subplots(1, 3, figsize=(10, 5), constrained_layout=True)
for ax, (name, band) in zip(axes, result.bands.items(), strict=True):
    ax.imshow(overlay(stretch(band.stats.mean), band.flags, grow=1), aspect="auto",
              interpolation="nearest")
    ax.set_title(f"{name}: rows {band.band.rows[0]}-{band.band.rows[1] - 1}, "
                 f"channel {band.band.channel}")
    ax.set_xlabel("column")
axes[0].set_ylabel("row within the band")
handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(c) / 255) for c in CLASS_COLOURS.values()]
fig.legend(handles, list(CLASS_COLOURS), loc="outside lower center", ncol=6, frameon=False)
plt.show()

# %%
# Precision and recall against the planted truth (what ``badpix evaluate`` prints;
# the bands cover only part of the frame, so only planted pixels inside them count).
ev = evaluate({n: (b.band, b.flags) for n, b in result.bands.items()}, truth)
for cls, score in ev.items():
    print(f"{cls:8s} planted {score.planted:3d}  flagged {score.flagged:3d}  "
          f"precision {score.precision:.3f}  recall {score.recall:.3f}")
