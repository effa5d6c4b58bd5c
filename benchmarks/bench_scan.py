"""End-to-end scan of .npy frames on disk: scan time vs read-only time, and peak memory.

Run:  .venv/bin/python benchmarks/bench_scan.py [--quick] [--keep DIR]

Prints, in one run, for a folder of 2048x2048 uint16 frames on disk:
- read-only throughput (stream every block, touch nothing else),
- full scan throughput (moments + exact median + rules + outputs),
- the ratio scan/read, and the peak RSS of the scan process for two frame
  counts (it should not grow with the number of frames while the median
  fits its budget... and with --memory-limit it stays bounded regardless).
Each configuration runs in a fresh subprocess so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results, make_frames  # noqa: E402


def _stack_block_frames() -> Callable[[Any], int]:
    """``stack_block_frames`` wherever this tree keeps it (bench_scan_ab.py runs this child
    with an older tree's venv): engine.plan, engine.partition, or engine.local (ef9dcfa)."""
    import importlib

    for name in ("badpix.engine.plan", "badpix.engine.partition", "badpix.engine.local"):
        try:
            return importlib.import_module(name).stack_block_frames
        except ModuleNotFoundError as e:
            if e.name != name:  # a module that exists but fails to import: say so
                raise
        except AttributeError:
            pass
    raise ImportError("stack_block_frames not found in badpix.engine.{plan,partition,local}")


def child(mode: str, folder: str, out: str, memory_limit: str | None) -> None:
    # badpix comes from the running venv's (editable) install, never from this file's tree:
    # sys.path only gains benchmarks/ (for _common), which holds no badpix
    import badpix
    from badpix import open_stack
    from badpix.cli.scan import parse_size
    from badpix.engine import scan_stack
    from badpix.io.scandir import write_scan_dir

    stack = open_stack(folder)
    t0 = time.perf_counter()
    if mode == "read":
        total = 0
        for _, block in stack.iter_blocks(8):
            total += int(block[0, 0, 0, 0])
        phases = {}
    else:
        # "stream": the frame-streaming path (block_frames given), the baseline of "scan"
        # (strips when the format reads rows, see badpix.engine.units)
        block = _stack_block_frames()(stack) if mode == "stream" else None
        result = scan_stack(stack, memory_limit=parse_size(memory_limit), block_frames=block)
        t1 = time.perf_counter()
        write_scan_dir(result, out)
        phases = {**result.timings, "write": time.perf_counter() - t1}
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"elapsed": elapsed, "peak_rss": rss, "frames": stack.n_frames,
                      "badpix": badpix.__file__,
                      "bytes": stack.n_frames * stack.frame_nbytes, "phases": phases}))


def run_child(mode: str, folder: Path, out: Path, memory_limit: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(folder), str(out)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


NOTE = "the machine was shared with other jobs: ratios within this run, not absolute times"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small frames, one repeat")
    ap.add_argument("--keep", type=Path, help="keep the generated frames here")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--memory-limit", default=None)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.memory_limit)
        return
    shape = (512, 512) if args.quick else (2048, 2048)
    counts = (20, 40) if args.quick else (100, 200)
    repeats = 1 if args.quick else 3
    root = args.keep or Path(tempfile.mkdtemp(prefix="badpix-bench-"))
    try:
        print(f"frames {shape[0]}x{shape[1]} uint16 .npy on disk (page cache warm), "
              f"median of {repeats} runs; 'pass' = read + moments + median collection (strips: "
              "+ the median itself); path: strips (the default here) or frame streaming")
        print(f"{'frames':>6} {'GB':>5} {'limit':>7} {'path':>9} {'read GB/s':>9} {'pass GB/s':>9} "
              f"{'pass/read':>9} {'median s':>8} {'rules s':>7} {'write s':>7} {'total s':>7} "
              f"{'peak RSS':>9}")
        limit = "64MiB" if args.quick else "256MiB"
        rows = []
        for n in counts:
            folder = root / f"n{n}"
            make_frames(folder, n, shape)
            reads = [run_child("read", folder, root / "out") for _ in range(repeats)]
            tr = median_of(reads, "elapsed")
            gb = reads[0]["bytes"] / 1e9
            for mem, mode in ((None, "stream"), (None, "scan"), (limit, "stream"),
                              (limit, "scan")):
                scans = [run_child(mode, folder, root / "out", mem) for _ in range(repeats)]
                ph = {k: float(np.median([r["phases"].get(k, 0.0) for r in scans]))
                      for k in ("stream", "median", "rules", "write")}
                total = median_of(scans, "elapsed")
                path = "strips" if mode == "scan" else "streaming"
                print(f"{n:>6} {gb:>5.2f} {mem or 'auto':>7} {path:>9} {gb / tr:>9.2f} "
                      f"{gb / ph['stream']:>9.2f} {ph['stream'] / tr:>9.1f} {ph['median']:>8.2f} "
                      f"{ph['rules']:>7.2f} {ph['write']:>7.2f} {total:>7.2f} "
                      f"{median_of(scans, 'peak_rss') / 2**20:>5.0f} MiB")
                rows.append([n, gb, mem or "auto", path, gb / tr, gb / ph["stream"],
                             ph["median"], ph["rules"], ph["write"], total,
                             round(median_of(scans, "peak_rss") / 2**20)])
        res = Results("scan", note=NOTE)
        res.table(f"badpix scan of {shape[0]}x{shape[1]} uint16 .npy frames in a fresh process, "
                  f"median of {repeats}", ["frames", "GB", "median budget", "path",
                                           "read-only GB/s", "pass GB/s", "median s", "rules s",
                                           "write s", "total s", "peak RSS MiB"], rows, echo=False)
        res.save()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
