"""Run every benchmark in one go and print their tables (``make bench``).

Usage:  .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]

``--quick`` uses each script's small configuration where it has one (minutes
instead of an hour).  Every script writes its tables to
``benchmarks/results/<name>.json``, which the docs' Performance page renders.  Each script
prints ratios against a baseline measured in the same run, so the numbers stay
meaningful on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: script -> (full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "bench_stats.py": ([], ["--quick"]),
    "bench_scan.py": ([], ["--quick"]),
    "eval_lambda.py": ([], []),
    "eval_synth.py": ([], ["--size", "128", "--seeds", "0"]),
    "bench_repair.py": (["--frames", "60", "--size", "2048"], ["--frames", "8", "--size", "512"]),
    "bench_background.py": ([], ["--frames", "600", "--no-dcnum-rolling"]),
    "bench_photo.py": ([], ["--quick"]),
    "bench_report.py": ([], ["--size", "1024"]),
    "bench_scale.py": ([], ["--size-gb", "0.5", "--scale-gb", "0.25", "--repeats", "1"]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small configurations")
    ap.add_argument("--only", nargs="*", default=None, help="script names (e.g. bench_stats)")
    args = ap.parse_args()
    failed = []
    for script, (full, quick) in BENCHMARKS.items():
        if args.only and script.removesuffix(".py") not in args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        env = dict(os.environ)
        if args.quick:
            env["BADPIX_BENCH_NOTE"] = "quick configuration (run_all.py --quick)"
        if subprocess.run(cmd, env=env).returncode != 0:
            failed.append(script)
        print(f"=== {script}: {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
