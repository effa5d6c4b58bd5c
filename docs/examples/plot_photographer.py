"""
Photographer: a hot pixel that appears, its onset, and its repair
=================================================================

Hundreds of photos from one camera, each a different scene: a pixel that stays
bright in the same place in most of them is a sensor defect, a star or a
highlight is not. This example writes a JPEG series with EXIF capture dates in
which one pixel turns hot half-way, scans it as
``badpix scan 'photos/*.jpg' -o scan/`` does, plots the timeline of defects
(``badpix timeline scan/``), repairs the photos
(``badpix repair 'photos/*.jpg' --mask scan/ --classes hot,persistent -o fixed/``)
and shows why the dcraw/LibRaw list (``badpix export-badpixels``) is refused for JPEGs.
Camera RAW files work the same way, with the CFA planes R, G1, G2, B as bands, and
their scans export ``.badpixels``.
"""

import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import badpix
from badpix.cli.timeline import timeline
from badpix.io.scandir import write_scan_dir
from badpix.repair import repair_stack

quick = os.environ.get("BADPIX_EXAMPLES_QUICK") == "1"
n, h, w = (16, 96, 128) if quick else (30, 160, 240)
work = Path(tempfile.mkdtemp(prefix="badpix-photo-"))
photos = work / "photos"
photos.mkdir()
rng = np.random.default_rng(1)
yy, xx = np.mgrid[0:h, 0:w]
HOT = (40, 70)  # (row, col): turns hot from the middle photo on
start = datetime(2024, 5, 1, 9, 0, 0)
for i in range(n):
    # every photo another scene: smooth gradients and a few bright "stars" that move
    scene = 60 + 50 * np.sin(xx / rng.uniform(15, 40) + i) * np.cos(yy / rng.uniform(15, 40))
    img = np.repeat(scene[:, :, None], 3, axis=2) + rng.normal(0, 2, (h, w, 3))
    for _ in range(6):
        img[rng.integers(0, h), rng.integers(0, w)] = 250
    if i >= n // 2:
        img[HOT] = 255
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = (start + timedelta(days=i)).strftime("%Y:%m:%d %H:%M:%S")
    # shuffled file names: the capture date, not the name, gives the order
    name = f"IMG_{rng.integers(1000, 9999)}_{i}.jpg"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
        photos / name, quality=95, exif=exif)

# %%
# Scan: photo series run the PERSISTENT rule and onset detection, and skip the
# temporal median and OUTLIER (a pixel's median over different scenes is scene
# content, not the sensor).
result = badpix.run_scan(sorted(photos.glob("*.jpg")))
print("rules that ran:", result.rules())
scan = work / "scan"
write_scan_dir(result, scan)
for row in result.defects()[:6]:
    print({k: row[k] for k in ("band", "row", "col", "classes", "onset_frame", "onset_time")})

# %%
# The timeline: how many defects existed at each capture date.
rows, undated = timeline(scan)
fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
ax.step([r.when for r in rows], [r.total for r in rows], where="post")
ax.set_ylabel("defects present")
ax.set_title("badpix timeline: the hot pixel appears half-way")
fig.autofmt_xdate()
plt.show()

# %%
# Repair the flagged pixels in every photo, in the photos' own format (JPEG with
# the input's quantisation tables and EXIF kept), and compare a crop.
fixed = work / "fixed"
repair_stack(photos, scan, fixed, classes="hot,persistent")
last = max(photos.glob("*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
before = np.asarray(Image.open(last))
after = np.asarray(Image.open(fixed / last.name))
r, c = HOT
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), constrained_layout=True)
for ax, img, title in ((axes[0], before, "before"), (axes[1], after, "after repair")):
    ax.imshow(img[r - 12:r + 13, c - 12:c + 13], interpolation="nearest")
    ax.set_title(f"{title}: {last.name}")
    ax.axis("off")
plt.show()

# %%
# The dcraw/LibRaw ``.badpixels`` list holds ``col row unixtime`` per pixel in
# *raw mosaic* coordinates, the unixtime being the pixel's onset (0 for a defect
# present from the first photo), so dcraw fixes it only in photos taken after.
# JPEG pixels are not raw mosaic pixels, so badpix refuses to export from this
# scan (exit 2, one line); scan the camera's RAW files to get a list dcraw can use.
done = subprocess.run([sys.executable, "-m", "badpix", "export-badpixels", str(scan), "-o",
                       str(work / "camera.badpixels"), "--classes", "hot,persistent"],
                      capture_output=True, text=True)
print(done.returncode, done.stderr.strip())
assert done.returncode == 2 and not (work / "camera.badpixels").exists()
