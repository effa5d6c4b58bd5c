"""Benchmark ``badpix repair`` on a stack of .npy frames.

Prints frames/s for: read + write only (the floor), ``repair_stack`` (neighbors,
median, inpaint), a per-pixel Python loop (timed on a few frames, scaled) and
scipy whole-frame filtering (normalised convolution, timed on a few frames), and
the ratio repair / (read + write).

    python benchmarks/bench_repair.py --frames 100 --size 2048 --bad 0.001
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from badpix.io.open import open_reader  # noqa: E402
from badpix.repair import RepairPlan, repair_stack  # noqa: E402
from badpix.repair.writeback import open_writer  # noqa: E402
from badpix.stack import open_stack  # noqa: E402
from tests.repair._scenes import scipy_normalized  # noqa: E402  (the tests' reference)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results  # noqa: E402, I001


def python_loop(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The per-pixel loop users write (done correctly: edges and bad neighbours skipped)."""
    out = frame.copy()
    h, w = frame.shape
    d = 1 / np.sqrt(2)
    for y, x in zip(*np.nonzero(mask), strict=True):
        total = wsum = 0.0
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = y + dy, x + dx
                if (dy or dx) and 0 <= yy < h and 0 <= xx < w and not mask[yy, xx]:
                    wt = d if dy and dx else 1.0
                    total += wt * float(frame[yy, xx])
                    wsum += wt
        if wsum:
            out[y, x] = round(total / wsum)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--bad", type=float, default=0.001, help="fraction of bad pixels")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    ap.add_argument("--loop-frames", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench_repair_"))
    try:
        rng = np.random.default_rng(0)
        n, s = args.frames, args.size
        src = work / "in"
        src.mkdir()
        base = rng.integers(1000, 3000, (s, s), dtype=np.uint16)
        for i in range(n):
            np.save(src / f"frame_{i:05d}.npy", base + np.uint16(i % 7))
        mask = rng.random((s, s)) < args.bad
        mb = n * s * s * 2 / 1e6
        print(f"{n} frames of {s}x{s} uint16 ({mb:.0f} MB), {int(mask.sum())} bad pixels")

        def floor(dst: Path) -> float:
            t0 = time.perf_counter()
            stack = open_stack(src)
            with open_writer(stack.reader, dst) as wr:
                for start, block in stack.iter_blocks(16):
                    wr.write(start, block)
            return time.perf_counter() - t0

        def fresh(run, *a) -> float:
            # every run writes new files and deletes them after: disk writeback, not
            # overwrite-in-cache, is what both the floor and the repair pay
            dst = work / "out"
            t = run(dst, *a)
            shutil.rmtree(dst)
            return t

        def rep(dst: Path, method: str) -> float:
            t0 = time.perf_counter()
            repair_stack(src, mask, dst, method=method)
            return time.perf_counter() - t0

        fresh(floor)  # warm the page cache
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # interleaved, median of rounds: disk speed drifts
            times.setdefault("read + write only", []).append(fresh(floor))
            for method in ("neighbors", "median", "inpaint"):
                times.setdefault(f"repair {method}", []).append(fresh(rep, method))
        rows = [(k, float(np.median(v))) for k, v in times.items()]
        t_rw = rows[0][1]
        t_plan = time.perf_counter()
        plan = RepairPlan.build(mask)
        t_plan = time.perf_counter() - t_plan
        block = np.repeat(base[None, :, :, None], 16, axis=0)
        t0 = time.perf_counter()
        for _ in range(4):
            plan.apply(block)
        t_apply = (time.perf_counter() - t0) / 64
        reader = open_reader(src)
        frame = np.empty(reader.frame_shape, reader.dtype)
        reader.read_frame(0, frame)
        k = max(1, args.loop_frames)
        t0 = time.perf_counter()
        for _ in range(k):
            python_loop(frame[:, :, 0], mask)
        t_loop = (time.perf_counter() - t0) / k * n + t_rw
        rows.append((f"per-pixel Python loop (scaled from {k}) + I/O", t_loop))
        t0 = time.perf_counter()
        for _ in range(3):
            scipy_normalized(frame[:, :, 0], mask)
        t_scipy = (time.perf_counter() - t0) / 3 * n + t_rw
        rows.append(("scipy whole-frame filtering (scaled from 3) + I/O", t_scipy))
        print(f"plan build (once): {t_plan * 1e3:.1f} ms; neighbors apply in memory: "
              f"{t_apply * 1e3:.2f} ms/frame ({1 / t_apply:.0f} frames/s)")
        res = Results("repair", note="the machine was shared with other jobs: ratios within this run, not absolute times")
        res.table(f"Repair of {n} frames of {s}x{s} uint16 .npy ({int(mask.sum())} bad "
                  f"pixels), median of {args.rounds} rounds; plan {t_plan * 1e3:.1f} ms once",
                  ["approach", "seconds", "frames/s", "x (read+write)"],
                  [(name, t, n / t, t / t_rw) for name, t in rows])
        res.save()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
