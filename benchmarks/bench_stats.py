"""Benchmark of badpix.stats: streaming moments, exact temporal median, local filters.

Run ``.venv/bin/python benchmarks/bench_stats.py [--quick]``.  Every time is the
median of 3 runs after one warm-up (numba compilation excluded); ratios are
taken against baselines measured in the same run.

* moments: ``MomentAccumulator`` over in-memory frames in blocks of 16 (the
  ``Stack.iter_blocks`` default), end to end (allocation, updates, finalize)
  and, in parentheses, the steady-state ``update`` alone; against (a) the per-frame float64
  Welford loop in numpy (timed on a few frames, scaled per frame) and (b)
  ``np.std(stack, axis=0)`` (timed on a subset of frames, scaled per frame).
* peak memory of streaming moments for two frame counts (RSS sampled).
* temporal median vs ``np.median(axis=0)``, with an equality check; also the
  ``MedianCollector`` spill path.
* local variance vs ``generic_filter(np.var)`` (on 512x512, scaled per pixel),
  local median vs ``scipy.ndimage.median_filter``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PeakRSS, Results, median_time, section  # noqa: E402

from badpix.stats import (  # noqa: E402
    MedianCollector,
    MomentAccumulator,
    local_median,
    local_variance,
    temporal_median,
)

REPEAT = 3
BLOCK = 16


def welford_numpy(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classic per-frame float64 Welford loop (the baseline)."""
    mean = np.zeros(frames.shape[1:])
    m2 = np.zeros(frames.shape[1:])
    for n, frame in enumerate(frames, start=1):
        x = frame.astype(np.float64)
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return mean, m2 / len(frames)


def stream_moments(frames: np.ndarray, block: int = BLOCK) -> dict:
    acc = MomentAccumulator(frames.shape[1:], frames.dtype)
    for s in range(0, frames.shape[0], block):
        acc.update(frames[s:s + block])
    return acc.finalize()


def make_frames(dtype, n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        out = np.empty((n, h, w), dtype)
        for i in range(n):  # frame by frame: no float64 temporary of the whole stack
            out[i] = rng.normal(1000.0, 20.0, (h, w))
        return out
    hi = 4096 if np.dtype(dtype).itemsize > 1 else 256
    return rng.integers(0, hi, (n, h, w), dtype=dtype)


def bench_moments(rows: list, dtype, n: int, h: int, w: int, n_base: int, n_std: int,
                  label: str, view_channels: int = 0) -> None:
    with section(f"moments {label}"):
        if view_channels:
            block = make_frames(dtype, n, h, w * view_channels).reshape(n, h, w, view_channels)
            frames = block[..., 1]  # strided band view, as Band.view gives
        else:
            frames = make_frames(dtype, n, h, w)
        nbytes = n * h * w * frames.dtype.itemsize
        stream_moments(frames[:2])  # compile for this dtype/layout
        t = median_time(lambda: stream_moments(frames), REPEAT)  # end to end
        warm = MomentAccumulator(frames.shape[1:], frames.dtype).update(frames[:2])

        def updates() -> None:  # steady state: state arrays exist and are paged in
            for s in range(0, n, BLOCK):
                warm.update(frames[s:s + BLOCK])

        tu = median_time(updates, REPEAT)
        tw = median_time(lambda: welford_numpy(frames[:n_base]), REPEAT, warmup=1) * n / n_base
        sub = np.ascontiguousarray(frames[:n_std])
        ts = median_time(lambda: np.std(sub, axis=0), REPEAT) * n / n_std
        ref_var = np.var(sub.astype(np.float64), axis=0)
        mine = MomentAccumulator(sub.shape[1:], sub.dtype).update(sub).finalize()["var"]
        err = float(np.max(np.abs(mine - ref_var) / np.maximum(ref_var, 1e-300)))
        gb = nbytes / 1e9
        rows.append([f"moments {label}", f"{t:.3g} s", f"{gb / t:.2f} ({gb / tu:.2f}) GB/s",
                     f"Welford loop {gb / tw:.3f} GB/s", f"{tw / t:.0f}x ({tw / tu:.0f}x)",
                     f"np.std {gb / ts:.2f} GB/s", f"{ts / t:.1f}x ({ts / tu:.1f}x)",
                     f"var rel.err {err:.1e}"])
        gc.collect()


def bench_memory(rows: list, h: int, w: int, counts: tuple[int, int]) -> None:
    """Streaming moments over many frames from one reused 32-frame pool: RSS must not grow."""
    with section("moments peak memory"):
        pool = make_frames(np.uint16, 32, h, w, seed=1)
        stream_moments(pool[:2])
        peaks = []
        for n in counts:
            gc.collect()
            with PeakRSS() as p:
                acc = MomentAccumulator((h, w), np.uint16)
                for s in range(0, n, BLOCK):
                    k = min(BLOCK, n - s)
                    acc.update(pool[s % 32:s % 32 + k])
                res = acc.finalize()
            assert acc.n_frames == n
            del acc, res
            peaks.append(max(p.peak, p.traced))
        state = h * w * (4 + 8 + 2 + 2)  # compact sums + min/max (totals only after 65k frames)
        results = h * w * 8 * 6  # count, mean, var, std, min, max
        rows.append([f"moments peak RSS, uint16 {h}x{w}", "",
                     f"+{peaks[0] / 2**20:.0f} MiB ({counts[0]} fr.)", "", "",
                     f"+{peaks[1] / 2**20:.0f} MiB ({counts[1]} fr.)", "",
                     f"state {state / 2**20:.0f} MiB + results {results / 2**20:.0f} MiB"])


def bench_median(rows: list, dtype, n: int, h: int, w: int, label: str) -> None:
    with section(f"median {label}"):
        x = make_frames(dtype, n, h, w, seed=2)
        temporal_median(x[:, :2])
        t = median_time(lambda: temporal_median(x), REPEAT)
        tn = median_time(lambda: np.median(x, axis=0), REPEAT)
        equal = np.array_equal(temporal_median(x), np.median(x.astype(np.float64), axis=0))
        with PeakRSS() as p:
            temporal_median(x)
        with PeakRSS() as pn:
            np.median(x, axis=0)
        rows.append([f"median {label}", f"{t:.3g} s", f"+{p.peak / 2**20:.0f} MiB",
                     f"np.median {tn:.3g} s", f"{tn / t:.1f}x",
                     f"np.median +{pn.peak / 2**20:.0f} MiB", "", f"equal={equal}"])
        # the scan's collector, forced to spill to disk (tiles of 1/8 of the band)
        with tempfile.TemporaryDirectory() as tmp:
            def spill() -> np.ndarray:
                mc = MedianCollector((h, w), x.dtype, n, memory_limit=x.nbytes // 8,
                                     workdir=tmp)
                for s in range(0, n, BLOCK):
                    mc.update(x[s:s + BLOCK])
                return mc.finalize()

            ts = median_time(spill, REPEAT)
            with PeakRSS() as ps:
                same = np.array_equal(spill(), temporal_median(x))
            left = list(Path(tmp).iterdir())
        rows.append([f"median {label} collector, spilled", f"{ts:.3g} s",
                     f"+{ps.peak / 2**20:.0f} MiB",
                     f"limit {x.nbytes / 8 / 2**20:.0f} of {x.nbytes / 2**20:.0f} MiB", "", "", "",
                     f"equal={same}, temp files left {len(left)}"])
        gc.collect()


def bench_spatial(rows: list, side: int, gside: int) -> None:
    rng = np.random.default_rng(3)
    img = rng.normal(30000, 50, (side, side)).astype(np.uint16)
    small = img[:gside, :gside]
    with section("local variance"):
        local_variance(small, 3)
        t = median_time(lambda: local_variance(img, 3), REPEAT)
        tg = median_time(lambda: ndi.generic_filter(small.astype(np.float64), np.var, size=3),
                         1) * (side * side) / (gside * gside)
        ref = ndi.generic_filter(small.astype(np.float64), np.var, size=3)
        err = float(np.max(np.abs(local_variance(small, 3) - ref) / ref))
        rows.append([f"local variance 3x3 {side}^2", f"{t:.3g} s", "",
                     f"generic_filter {tg:.3g} s (from {gside}^2)", f"{tg / t:.0f}x",
                     "", "", f"rel.err {err:.1e}"])
    with section("local median"):
        for size in (3, 5):
            local_median(small, size)
            t = median_time(lambda s=size: local_median(img, s), REPEAT)
            ts = median_time(lambda s=size: ndi.median_filter(img, s), REPEAT)
            equal = np.array_equal(local_median(img, size), ndi.median_filter(img, size))
            rows.append([f"local median {size}x{size} {side}^2", f"{t:.3g} s", "",
                         f"median_filter {ts:.3g} s", f"{ts / t:.0f}x", "", "",
                         f"equal={equal}"])


NOTE = "the machine was shared with other jobs: ratios within this run, not absolute times"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = ap.parse_args(argv)
    print(f"# load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"numba threads {numba.get_num_threads()}", flush=True)
    rows: list = []
    if args.quick:
        bench_moments(rows, np.uint16, 48, 512, 512, 4, 16, "uint16 48x512^2")
        bench_moments(rows, np.uint8, 48, 512, 512, 4, 16, "uint8 48x512^2")
        bench_moments(rows, np.float32, 48, 512, 512, 4, 16, "float32 48x512^2")
        bench_memory(rows, 512, 512, (64, 256))
        bench_median(rows, np.uint16, 40, 256, 256, "uint16 40x256^2")
        bench_spatial(rows, 512, 128)
    else:
        bench_moments(rows, np.uint16, 200, 2048, 2048, 6, 50, "uint16 200x2048^2")
        bench_moments(rows, np.uint8, 200, 2048, 2048, 6, 50, "uint8 200x2048^2")
        bench_moments(rows, np.uint8, 64, 2000, 3000, 4, 16, "uint8 RGB band 64x2000x3000",
                      view_channels=3)
        bench_moments(rows, np.float32, 100, 2048, 2048, 6, 25, "float32 100x2048^2")
        bench_memory(rows, 2048, 2048, (64, 512))
        bench_median(rows, np.uint16, 200, 1024, 1024, "uint16 200x1024^2")
        bench_median(rows, np.uint8, 64, 1024, 1024, "uint8 64x1024^2")
        bench_spatial(rows, 2048, 512)
    print()
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    res = Results("stats", note=NOTE)
    res.table("Streaming statistics and spatial filters, in memory",
              ["case", "time", "rate / peak mem", "baseline", "speed-up", "baseline 2",
               "speed-up 2", "check"], rows)
    res.save()


if __name__ == "__main__":
    main()
