"""Precision and recall of the default rules on the synthetic ground truth.

Usage:  .venv/bin/python benchmarks/eval_synth.py [--size 256] [--frames 40] [--seeds 0 1]

For each dtype and seed: ``badpix.synth.make_synthetic`` (moving scene, shot and
read noise, global drift, 40 planted pixels per class at default strength) is
scanned through the real engine (``.npy`` frames on disk, ``badpix.run_scan``)
and scored with ``badpix.evaluate``; the table lands in benchmarks/results/synth.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import badpix
from badpix.evaluate import EVAL_CLASSES, evaluate
from badpix.synth import write_synthetic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results  # noqa: E402


def fmt(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    counts = dict.fromkeys(EVAL_CLASSES, 40)
    print(f"{args.size}x{args.size}, {args.frames} frames, 40 planted pixels per class; "
          "precision / recall")
    print(f"{'dtype':8} {'seed':>4}  " + "  ".join(f"{c:>13}" for c in EVAL_CLASSES))
    rows = []
    for dtype in ("uint16", "uint8", "float32"):
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as d:
                truth = write_synthetic(Path(d) / "frames", "npy", shape=(args.size, args.size),
                                        n_frames=args.frames, dtype=dtype, seed=seed,
                                        counts=counts)
                result = badpix.run_scan(Path(d) / "frames")
                ev = evaluate({n: (b.band, b.flags) for n, b in result.bands.items()}, truth)
            cells = [f"{fmt(ev[c].precision)} / {fmt(ev[c].recall)}" for c in EVAL_CLASSES]
            rows.append([dtype, seed, *cells])
            print(f"{dtype:8} {seed:>4}  " + "  ".join(f"{c:>13}" for c in cells))
    res = Results("synth", note="precision / recall per class; deterministic (seeded)")
    res.table(f"Synthetic truth: {args.size}x{args.size}, {args.frames} .npy frames, "
              "40 planted pixels per class; precision / recall",
              ["dtype", "seed", *EVAL_CLASSES], rows, echo=False)
    res.save()


if __name__ == "__main__":
    main()
