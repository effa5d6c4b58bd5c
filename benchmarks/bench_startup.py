"""Start-up: whole-process times of the CLI next to ``import numpy`` and the scan's own work.

Run:  .venv/bin/python benchmarks/bench_startup.py [--repeat 5] [--src TREE] [--json FILE]

Each row is the median of ``--repeat`` fresh processes: ``python -c "import numpy"``,
``badpix --help``, ``badpix scan --help``, a 5-frame 64x64 scan, the 160-frame
768x1024x3 uint16 .npy sensor stack (``--layout l2-l1-m0``, ~750 MB, written once to
bench-output/startup/) and the "notebook pipeline" on the same files (load every
frame, np.nanmedian/np.nanstd over frames, scipy.ndimage.median_filter, masks
written with rasterio).  The scans' work time is ``summary.json``'s ``timings.total``
of the same runs.  ``--src TREE`` runs another source tree (e.g. a clone of main) by
putting ``TREE/src`` first on PYTHONPATH.  Each badpix process is ``python -m badpix
...``, the executable's own entry point, so a row includes how the process ends (the
interpreter's teardown, which ``badpix.cli.run`` skips).  Figures go to
benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, make_frames  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-output" / "startup"
NOTEBOOK = """
import sys, time
from pathlib import Path
import numpy as np
from scipy.ndimage import median_filter
import rasterio
t0 = time.perf_counter()
folder, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(exist_ok=True)
files = sorted(folder.glob("*.npy"), key=lambda p: int(p.stem.split("_")[-1]))
cube = np.stack([np.load(f) for f in files]).astype(np.float32)
for name, ch, (r0, r1) in (("L2", 0, (0, 100)), ("L1", 1, (349, 419)), ("M0", 2, (668, 768))):
    band = cube[:, r0:r1, :, ch]
    med, std = np.nanmedian(band, axis=0), np.nanstd(band, axis=0)
    resid = med - median_filter(med, size=5)
    mask = ((std == 0) | (np.abs(resid) > 6 * np.nanstd(resid))).astype(np.uint8)
    with rasterio.open(out / f"mask_{name}.tif", "w", driver="GTiff", width=mask.shape[1],
                       height=mask.shape[0], count=1, dtype="uint8") as ds:
        ds.write(mask, 1)
print("work", time.perf_counter() - t0)
"""


def env_for(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "BADPIX_NO_PROGRESS": "1"}
    if src is not None:
        env["PYTHONPATH"] = f"{src / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def row(cmd: list[str], env: dict[str, str], repeat: int, work_of=None) -> dict:
    times, works = [], []
    for _ in range(repeat):
        times.append(timed(cmd, env))
        if work_of is not None:
            works.append(work_of())
    out = {"median_s": statistics.median(times), "runs_s": times}
    if works:
        out["work_median_s"] = statistics.median(works)
    return out


def importtime(code: str, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The ``-X importtime`` entries with the largest cumulative time, top-level first."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    rows = []
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = line.split("|")
            rows.append((name.rstrip(), int(cum) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "llvmlite", "scipy", "typer", "rasterio"):
        out[pkg] = version(pkg)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--src", type=Path, help="source tree to run instead of the installed one")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    args = ap.parse_args()
    env = env_for(args.src)
    tree = args.src or ROOT
    py, rep = sys.executable, args.repeat
    small = make_frames(DATA / "small5", 5, (64, 64))
    sensor = make_frames(DATA / "sensor160", 160, (768, 1024, 3))
    out = DATA / "out"
    cli = [py, "-m", "badpix"]  # what the badpix executable runs (its entry point)

    def work() -> float:
        return json.loads((out / "summary.json").read_text())["timings"]["total"]

    scan_small = [*cli, "scan", str(small), "-o", str(out), "-q"]
    scan_sensor = [*cli, "scan", str(sensor), "-o", str(out), "--layout", "l2-l1-m0", "-q"]
    subprocess.run(scan_sensor, env=env, check=True, capture_output=True)  # numba cache warm
    r = {"import numpy": row([py, "-c", "import numpy"], env, rep),
         "badpix --help": row([*cli, "--help"], env, rep),
         "badpix scan --help": row([*cli, "scan", "--help"], env, rep),
         "scan 5x64x64": row(scan_small, env, rep, work),
         "scan 160x768x1024x3": row(scan_sensor, env, rep, work),
         "notebook 160x768x1024x3": row([py, "-c", NOTEBOOK, str(sensor), str(out / "nb")],
                                        env, rep)}
    sensor_row = r["scan 160x768x1024x3"]
    ratios = {
        "help / import numpy (target <= 2.5)":
            r["badpix --help"]["median_s"] / r["import numpy"]["median_s"],
        "notebook / scan process (target >= 3)":
            r["notebook 160x768x1024x3"]["median_s"] / sensor_row["median_s"],
        "scan process / work (target <= 1.6)": sensor_row["median_s"] / sensor_row["work_median_s"],
    }
    code_scan = (f"from badpix.cli import main; main(['scan', {str(sensor)!r}, '-o', "
                 f"{str(out)!r}, '--layout', 'l2-l1-m0', '-q'])")
    imports = {"badpix --help": importtime("from badpix.cli import main; main(['--help'])", env),
               "scan": importtime(code_scan, env)}
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"# tree {tree} @ {commit}; median of {rep} fresh processes; load avg "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (machine shared)")
    print(f"{'process':<26} {'median s':>9} {'work s':>7}")
    for name, v in r.items():
        w = f"{v['work_median_s']:.3f}" if "work_median_s" in v else ""
        print(f"{name:<26} {v['median_s']:>9.3f} {w:>7}")
    for name, v in ratios.items():
        print(f"{name:<40} {v:.2f}")
    for what, top in imports.items():
        print(f"# -X importtime, largest cumulative, {what}:")
        for name, s in top:
            print(f"  {s * 1000:8.1f} ms  {name}")
    result = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "tree": str(tree), "commit": commit, "repeat": rep,
              "machine": {**machine_info(), "note": "shared, loaded machine"},
              "versions": versions(), "processes": r, "ratios": ratios, "importtime": imports}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()
