"""Scan A/B: two source trees' scans of the same frames, interleaved, so machine load hits both alike.

Run:  .venv/bin/python benchmarks/bench_scan_ab.py OLD_TREE [NEW_TREE] [--repeat 5] [--frames 100]

Each tree's own ``.venv/bin/python`` (so its own installed badpix) runs THIS checkout's
``bench_scan.py --child`` (older trees' copies may lack ``--child``) on one
folder of 2048x2048 uint16 ``.npy`` frames, alternately old, new, old, new ..., for the
frame-streaming path and the default (strips) path.  Printed: the median seconds of
each phase (``summary.json`` timings, plus writing the scan folder and the whole
child) per tree and their ratio new/old.  NEW_TREE defaults to this checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results, make_frames, run_in_tree  # noqa: E402

PHASES = ("stream", "median", "rules", "write", "elapsed")
#: one child script for both trees: the one beside this driver
BENCH_SCAN = Path(__file__).resolve().parent / "bench_scan.py"


def child(tree: Path, mode: str, folder: Path, out: Path) -> dict[str, float]:
    d = run_in_tree(tree, BENCH_SCAN, "--child", mode, str(folder), str(out))
    return {**{k: float(d["phases"].get(k, 0.0)) for k in PHASES[:-1]}, "elapsed": d["elapsed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[1])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    with tempfile.TemporaryDirectory(prefix="badpix-scan-ab-") as tmp:
        folder = Path(tmp) / "frames"
        make_frames(folder, args.frames, (2048, 2048))
        load0 = os.getloadavg()
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.repeat):
            for mode in ("stream", "scan"):
                for name, tree in trees.items():
                    runs.setdefault((mode, name), []).append(
                        child(tree, mode, folder, Path(tmp) / f"out-{name}"))
    rows = []
    for mode, path in (("stream", "streaming"), ("scan", "strips")):
        for k in PHASES:
            old = statistics.median(r[k] for r in runs[(mode, "old")])
            new = statistics.median(r[k] for r in runs[(mode, "new")])
            rows.append([path, k, old, new, new / old if old else None])
    res = Results("scan-ab", note=f"old {trees['old']}, new {trees['new']}; the machine was "
                  "shared with other jobs: ratios within this run, not absolute times")
    res.table(f"Scan A/B, {args.frames} frames 2048x2048 uint16 .npy, median of {args.repeat} "
              f"interleaved runs; load average {load0[0]:.2f} at start, "
              f"{os.getloadavg()[0]:.2f} at end", ["path", "phase", "old s", "new s", "new/old"],
              rows)
    res.save()


if __name__ == "__main__":
    main()
