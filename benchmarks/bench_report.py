"""Time ``badpix report`` for one 4096 x 4096 band (prints seconds per phase).

Builds a scan folder exactly as ``docs/contracts.md`` describes it (statistics
of a synthetic band with a few hundred defects, written with the project's
GeoTIFF writer), then times :func:`badpix.report.write_report` on it.

    python benchmarks/bench_report.py [--size 4096] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results  # noqa: E402


def make_scan(out: Path, size: int, n_defects: int = 400, seed: int = 0) -> None:
    from badpix.io.writers import write_geotiff

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    mean = 1000 + 40 * np.sin(np.linspace(0, 6, size))[None, :] + rng.normal(0, 3, (size, size))
    std = np.abs(rng.normal(5, 0.5, (size, size)))
    median = mean + rng.normal(0, 0.5, (size, size))
    flags = np.zeros((size, size), np.uint8)
    rr, cc = rng.integers(0, size, n_defects), rng.integers(0, size, n_defects)
    kinds = rng.integers(0, 3, n_defects)
    for r, c, k in zip(rr, cc, kinds, strict=True):
        if k == 0:   # hot + outlier
            mean[r, c] += 800
            median[r, c] += 800
            flags[r, c] |= 4 | 2
        elif k == 1:  # stuck
            std[r, c] = 0.0
            flags[r, c] |= 1
        else:         # noisy
            std[r, c] = 60.0
            flags[r, c] |= 16
    write_geotiff(out / "mask_ch0.tif", flags, descriptions=["flags"])
    write_geotiff(out / "stats_ch0.tif",
                  np.stack([mean, std, mean - 3 * std, mean + 3 * std, median]),
                  descriptions=["mean", "std", "min", "max", "median"])
    r, c = np.nonzero(flags)
    with open(out / "defects.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["band", "row", "col", "flags", "classes", "mean", "std", "median", "score"])
        for i, j in zip(r, c, strict=True):
            w.writerow(["ch0", i, j, flags[i, j], "x", mean[i, j], std[i, j], median[i, j],
                        float(abs(mean[i, j] - 1000))])
    counts = {"stuck": int((flags & 1).astype(bool).sum()), "outlier": int((flags & 2 > 0).sum()),
              "hot": int((flags & 4 > 0).sum()), "dead": 0, "noisy": int((flags & 16 > 0).sum()),
              "persistent": 0, "any": int((flags > 0).sum())}
    summary = {"badpix_version": "bench", "input": {"source": "synthetic", "format": "npy",
               "n_frames": 100, "frame_shape": [size, size, 1], "dtype": "uint16", "skipped": []},
               "layout": {"source": "channels", "bands": [
                   {"name": "ch0", "channel": 0, "rows": [0, size], "cols": [0, size]}]},
               "parameters": {"stuck_std": 1.0, "outlier_k": 8.0, "outlier_size": 5},
               "counts": {"ch0": counts}, "timings": {}, "versions": {}, "outputs": []}
    (out / "summary.json").write_text(json.dumps(summary))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--keep", type=Path, default=None, help="build the scan folder here")
    args = ap.parse_args()
    d = args.keep or Path(tempfile.mkdtemp(prefix="bench_report_"))
    t = time.perf_counter()
    make_scan(d, args.size)
    print(f"scan folder {args.size}x{args.size}: built in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    from badpix.report.html import build_report, write_report
    print(f"import report modules: {time.perf_counter() - t:.2f} s")
    build_report(d, top=1)  # warm caches (numba/JIT, fonts) so the timing is the steady state
    t = time.perf_counter()
    path = write_report(d)
    total = time.perf_counter() - t
    page = path.read_text()
    timings = dict(__import__("re").findall(r"<tr><th>report: ([^<]+)</th><td>([^<]+)</td>", page))
    print(f"report for one {args.size}x{args.size} band: {total:.2f} s "
          f"({path.stat().st_size / 1e6:.2f} MB HTML); phases: {timings}")
    res = Results("report", note="the machine was shared with other jobs: ratios within this run, not absolute times")
    res.table(f"HTML report for one {args.size}x{args.size} band",
              ["band", "seconds", "HTML MB", *(f"phase: {k}" for k in timings)],
              [[f"{args.size}x{args.size}", total, path.stat().st_size / 1e6,
                *timings.values()]])
    res.save()
    if args.keep is None:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
