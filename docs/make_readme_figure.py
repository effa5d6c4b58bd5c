"""Make ``docs/_static/readme-quicklook.png``: a scan's quicklook with the defects overlaid.

Usage:  .venv/bin/python docs/make_readme_figure.py [OUT.png]

A synthetic uint16 stack (``badpix synth``, seed 0, 40 frames of 256 x 256 with
planted defects of every class) is scanned with the default rules; the figure is
the report's quicklook of the temporal mean (contrast-stretched, each flagged
pixel painted in its class colour) beside the temporal std with the same overlay.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import badpix  # noqa: E402
from badpix.report.quicklook import CLASS_COLOURS, overlay, stretch  # noqa: E402
from badpix.synth import write_synthetic  # noqa: E402

OUT = Path(__file__).resolve().parent / "_static" / "readme-quicklook.png"


def main(out: Path = OUT) -> Path:
    with tempfile.TemporaryDirectory() as d:
        write_synthetic(Path(d) / "frames", "npy", shape=(256, 256), n_frames=40,
                        dtype="uint16", seed=0)
        result = badpix.run_scan(Path(d) / "frames")
    band = next(iter(result.bands.values()))
    counts = result.counts()[band.band.name]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3), dpi=100, constrained_layout=True)
    for ax, img, title in ((axes[0], band.stats.mean, "temporal mean"),
                           (axes[1], band.stats.std, "temporal std")):
        ax.imshow(overlay(stretch(img), band.flags, grow=1), interpolation="nearest")
        ax.set_title(f"{title}, defects overlaid", fontsize=10)
        ax.axis("off")
    labels = [f"{k} ({counts.get(k, 0)})" for k in CLASS_COLOURS if k != "persistent"]
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.array(CLASS_COLOURS[k]) / 255)
               for k in CLASS_COLOURS if k != "persistent"]
    fig.legend(handles, labels, loc="lower center", ncol=5, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, -0.07))
    fig.suptitle("badpix scan of a synthetic stack (40 frames, 256 x 256 uint16)", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    # a 256-colour palette keeps the picture under 200 KB for the repository
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB); counts {counts}")
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
