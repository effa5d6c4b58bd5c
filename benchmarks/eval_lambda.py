"""Counting-mode rules on the LAMBDA 2M photon-counting frames vs the vendor's bad-pixel map.

Reads the 3 modules (5 NeXus parts x 10 frames each, ``entry/instrument/detector/data``)
with h5py, computes per-pixel statistics, runs ``classify`` with
``RuleParams(counting=True)`` and prints per module:

- recall of the vendor's noisy (bit 4), over-responding (bit 3) and dead (bit 1)
  pixels: fraction of them flagged with any bit; "noisy*" is the recall over the
  vendor-noisy pixels that registered at least one count in the 50 frames (a
  pixel that never fires cannot be told apart from an unexposed healthy one);
- flags outside the vendor map (pixel_mask == 0) and their fraction of all flags.

Usage: python benchmarks/eval_lambda.py [DATA_DIR]   (default: ../shared/data/real/lambda_gaas_xray_petra3)
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import h5py
import numpy as np

import badpix
from badpix.detect.flags import Flag
from badpix.detect.params import RuleParams

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/real/lambda_gaas_xray_petra3"
DATASET = "entry/instrument/detector/data"
MASK = "entry/instrument/detector/pixel_mask"


def module_parts(data_dir: Path, module: int) -> list[str]:
    files = sorted(glob.glob(str(data_dir / f"*_m{module}_part*.nxs")))
    if not files:
        raise SystemExit(f"no module {module} files in {data_dir}")
    return files


def vendor_mask(part: str) -> np.ndarray:
    """The detector's own bad-pixel map (identical in every part of a module)."""
    with h5py.File(part, "r") as h:
        return h[MASK][0]


def evaluate_module(flags: np.ndarray, max_counts: np.ndarray,
                    vendor: np.ndarray) -> dict[str, float]:
    """Recall of vendor classes and flags outside the vendor map for one module."""
    flagged = flags != 0
    noisy = (vendor & 16) != 0
    fired = noisy & (max_counts > 0)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", nargs="?", type=Path, default=DATA)
    args = ap.parse_args()
    params = RuleParams(counting=True)
    rows = []
    print(f"{'module':6} {'noisy':>12} {'noisy*':>12} {'over':>10} {'dead':>10} "
          f"{'flags':>6} {'outside':>8} {'frac':>6}  stuck/hot/dead/noisy  time")
    for m in (1, 2, 3):
        parts = module_parts(args.data_dir, m)
        t0 = time.perf_counter()
        # the real reader path: the five NeXus parts as one 50-frame stack
        result = badpix.run_scan(parts, dataset=DATASET, params=params)
        band = next(iter(result.bands.values()))
        r = evaluate_module(band.flags, band.stats.max, vendor_mask(parts[0]))
        dt = time.perf_counter() - t0
        print(f"m{m:<5} {r['recall_noisy']:6.3f}/{r['noisy_n']:<5d} "
              f"{r['recall_noisy*']:6.3f}/{r['noisy*_n']:<5d} "
              f"{r['recall_over']:5.2f}/{r['over_n']:<4d} {r['recall_dead']:5.3f}/{r['dead_n']:<4d} "
              f"{r['flagged']:6d} {r['outside']:8d} {r['outside_fraction']:6.3f}  "
              f"{r['stuck']}/{r['hot']}/{r['dead']}/{r['noisy']}  {dt:.2f}s")
        rows.append([f"m{m}", f"{r['recall_noisy']:.3f} (of {r['noisy_n']})",
                     f"{r['recall_noisy*']:.3f} (of {r['noisy*_n']})",
                     f"{r['recall_over']:.2f} (of {r['over_n']})",
                     f"{r['recall_dead']:.3f} (of {r['dead_n']})", r["flagged"], r["outside"],
                     r["outside_fraction"], f"{r['stuck']}/{r['hot']}/{r['dead']}/{r['noisy']}"])
    res = Results("lambda", note="recall against the vendor bad-pixel map; deterministic")
    res.table("LAMBDA 2M GaAs, --counting rules, 50 frames per module",
              ["module", "vendor noisy recall", "of those that ever fired", "over-responding",
               "dead", "flags", "outside vendor map", "fraction outside",
               "stuck/hot/dead/noisy"], rows, echo=False)
    res.save()


if __name__ == "__main__":
    main()
