"""Start-up A/B: two source trees' processes interleaved, so machine load hits both alike.

Run:  .venv/bin/python benchmarks/bench_startup_ab.py OLD_TREE [NEW_TREE] [--repeat 8]

``bench_startup.py`` times its rows one after another, so on a shared machine a
burst of load lands on one row of one run; here every repeat runs the old tree's
process and then the new tree's (``TREE/src`` first on PYTHONPATH; NEW_TREE
defaults to this checkout), for ``badpix scan --help`` and the 160-frame sensor
stack that ``bench_startup.py`` writes to bench-output/startup/ (run it once
first); each process is ``python -m badpix ...``, the executable's entry point.
Reported: median wall and CPU (user+sys) seconds per process, and the
scan's own ``summary.json`` work time.  Figures go to
benchmarks/results/startup-ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENSOR = ROOT / "bench-output" / "startup" / "sensor160"


def timed(cmd: list[str], tree: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process running ``cmd`` on ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path, nargs="?", default=ROOT)
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" /
                    "startup-ab.json")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "badpix"]  # the executable's entry point
    out = ROOT / "bench-output" / "startup" / "ab"
    rows = {"badpix scan --help": [*cli, "scan", "--help"],
            "scan 160x768x1024x3": [*cli, "scan", str(SENSOR), "-o", str(out), "--layout",
                                    "l2-l1-m0", "-q"]}
    trees = {"old": args.old, "new": args.new}
    for tree in trees.values():  # numba caches of each tree warm, outside the figures
        timed(rows["scan 160x768x1024x3"], tree)
    samples = {(r, t): [] for r in rows for t in trees}
    for _ in range(args.repeat):
        for r, cmd in rows.items():
            for t, tree in trees.items():
                wall, cpu = timed(cmd, tree)
                work = (json.loads((out / "summary.json").read_text())["timings"]["total"]
                        if "-o" in cmd else None)
                samples[r, t].append((wall, cpu, work))
    result = {"trees": {t: str(p) for t, p in trees.items()}, "repeat": args.repeat,
              "load_avg_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
              "note": "shared, loaded machine; old and new interleaved per repeat", "rows": {}}
    print(f"# median of {args.repeat} interleaved fresh processes; load avg "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (machine shared)")
    print(f"{'process':<22} {'tree':<4} {'wall s':>7} {'cpu s':>7} {'work s':>7}")
    for (r, t), s in samples.items():
        med = {k: statistics.median(v) for k, v in
               zip(("wall_s", "cpu_s", "work_s"), zip(*s, strict=True), strict=True)
               if None not in v}
        result["rows"].setdefault(r, {})[t] = med
        work = f"{med['work_s']:.3f}" if "work_s" in med else ""
        print(f"{r:<22} {t:<4} {med['wall_s']:>7.3f} {med['cpu_s']:>7.3f} {work:>7}")
    args.json.write_text(json.dumps(result, indent=1))
    print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
