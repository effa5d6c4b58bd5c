"""Counting-mode rules on the LAMBDA 2M photon-counting frames vs the vendor's bad-pixel map.

Reads the 3 modules (5 NeXus parts x 10 frames each, ``entry/instrument/detector/data``)
with h5py, computes per-pixel statistics, runs ``classify`` with
``RuleParams(counting=True)`` and prints per module:

- recall of the vendor's noisy (bit 4), over-responding (bit 3) and dead (bit 1)
  pixels: fraction of them flagged with any bit; "noisy*" is the recall over the
  vendor-noisy pixels that registered at least one count in the 50 frames (a
  pixel that never fires cannot be told apart from an unexposed healthy one);
- flags outside the vendor map (pixel_mask == 0) and their fraction of all flags.

Usage: python benchmarks/eval_lambda.py [DATA_DIR]
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from badpix.detect import classify
from badpix.detect.flags import Flag
from badpix.detect.params import RuleParams
from badpix.stats.bandstats import BandStats

DATA = Path("/work/shared/data/real/lambda_gaas_xray_petra3")
DATASET = "entry/instrument/detector/data"
MASK = "entry/instrument/detector/pixel_mask"


def load_module(data_dir: Path, module: int) -> tuple[np.ndarray, np.ndarray]:
    """``(frames (50, 516, 1554) int16, vendor pixel_mask (516, 1554) uint32)``."""
    files = sorted(glob.glob(str(data_dir / f"*_m{module}_part*.nxs")))
    if not files:
        raise SystemExit(f"no module {module} files in {data_dir}")
    frames, mask = [], None
    for f in files:
        with h5py.File(f, "r") as h:
            frames.append(h[DATASET][...])
            if mask is None:
                mask = h[MASK][0]
    return np.concatenate(frames), mask


def band_stats(frames: np.ndarray, name: str) -> BandStats:
    """BandStats of a module (the library's compute_band_stats when present)."""
    try:
        from badpix.stats import compute_band_stats
    except ImportError:
        x = frames.astype(np.float64)
        return BandStats(name, x.shape[0], frames.dtype, np.full(x.shape[1:], x.shape[0]),
                         x.mean(0), x.var(0), x.min(0), x.max(0), median=None,
                         value_range=(float(x.min()), float(x.max())))
    return compute_band_stats(frames, name, with_median=False)


def evaluate_module(frames: np.ndarray, vendor: np.ndarray, params: RuleParams,
                    name: str = "m") -> dict[str, float]:
    """Recall of vendor classes and flags outside the vendor map for one module."""
    stats = band_stats(frames, name)
    flags, _ = classify(stats, params)
    flagged = flags != 0
    noisy = (vendor & 16) != 0
    fired = noisy & (frames.max(axis=0) > 0)
    out: dict[str, float] = {}
    for key, sel in (("noisy", noisy), ("noisy*", fired), ("over", (vendor & 8) != 0),
                     ("dead", (vendor & 2) != 0)):
        out[f"{key}_n"] = int(sel.sum())
        out[f"recall_{key}"] = float(flagged[sel].mean()) if sel.any() else float("nan")
    outside = flagged & (vendor == 0)
    out["flagged"] = int(flagged.sum())
    out["outside"] = int(outside.sum())
    out["outside_fraction"] = float(outside.sum() / max(1, flagged.sum()))
    for f in (Flag.STUCK, Flag.HOT, Flag.DEAD, Flag.NOISY):
        out[f.name.lower()] = int(np.count_nonzero(flags & f))
    return out


def main(argv: list[str]) -> None:
    data_dir = Path(argv[1]) if len(argv) > 1 else DATA
    params = RuleParams(counting=True)
    print(f"{'module':6} {'noisy':>12} {'noisy*':>12} {'over':>10} {'dead':>10} "
          f"{'flags':>6} {'outside':>8} {'frac':>6}  stuck/hot/dead/noisy  time")
    for m in (1, 2, 3):
        frames, vendor = load_module(data_dir, m)
        t0 = time.perf_counter()
        r = evaluate_module(frames, vendor, params, f"m{m}")
        dt = time.perf_counter() - t0
        print(f"m{m:<5} {r['recall_noisy']:6.3f}/{r['noisy_n']:<5d} "
              f"{r['recall_noisy*']:6.3f}/{r['noisy*_n']:<5d} "
              f"{r['recall_over']:5.2f}/{r['over_n']:<4d} {r['recall_dead']:5.3f}/{r['dead_n']:<4d} "
              f"{r['flagged']:6d} {r['outside']:8d} {r['outside_fraction']:6.3f}  "
              f"{r['stuck']}/{r['hot']}/{r['dead']}/{r['noisy']}  {dt:.2f}s")


if __name__ == "__main__":
    main(sys.argv)
