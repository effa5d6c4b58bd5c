"""Photo series: JPEG scan throughput against decode-only throughput of the same files.

Run:  .venv/bin/python benchmarks/bench_photo.py [--frames 16] [--size 2736x3648] [--quick]
      [--repeat 3] [--keep /tmp/bp16]

Prints, in one run on the same files (medians of ``--repeat`` runs, ratios
taken inside the run):

- decode-only: ``Stack.iter_blocks`` over every frame -- the same decode path a
  scan uses (same reader, same decode threads, same buffers, libjpeg-turbo via
  ``imagecodecs`` straight into the block buffer), touching nothing else;
- Pillow decode-only (the old path), for reference: the same iteration with
  the ``imagecodecs`` fast path switched off (Pillow decode, ``np.asarray``, copy);
- scan: ``scan_stack`` (moments and the standard rules; photo scans leave the
  exact median and OUTLIER out unless asked), alone, with ``median=True``, with
  the persistence accumulator, and with the onset accumulator (the default for
  photo input).  Two ratios to decode-only: the streaming pass
  (``result.timings["stream"]``: decode + accumulators, what grows with the
  frame count) and the whole scan;
- the per-frame photo accumulator kernels alone on decoded frames (ms/frame,
  all colour bands): thresholds, persistence, onset;
- the ceiling: CPU time per frame on one thread (``time.process_time``, numba
  set to one thread) of decoding (``d``) and of each pipeline's accumulators
  (``s``).  A scan of ``N`` frames needs at least ``N (d + s)`` CPU seconds, so on
  ``C`` cores it takes at least ``N (d + s) / C`` and reaches at most
  ``T_decode C / (N (d + s))`` of decode-only throughput (``T_decode``: the
  decode-only time measured above), however well decoding and statistics overlap;
- precision/recall of the persistence rule vs the single-statistic rules on
  the synthetic moving-stars series of ``tests/photo``.

With ``--processes K`` every pipeline also runs ``K`` times in a fresh child process
each, as ``badpix scan`` runs (medians; times measured inside the child, without the
interpreter's start; peak RSS: ``VmHWM``), decode-only, the standard scan and
the photo default in turn, with ``--idle`` seconds of quiet before each child.  Within
one process a scan reuses the pages the previous scan freed a moment before; a
process of its own gets fresh pages, which are slow on these VMs (see the README),
so only this table shows what a result's memory costs a user.

Choosing ``--frames``: the streaming ratio does not depend on it, but the
whole-scan ratio does, because median finalisation, onset change points and
the rules are a fixed cost per scan: with 16 frames they weigh like a few
frames of decoding, with 100+ frames they fade.  Use ``--frames 16`` (the
default) for quick A/B comparisons of the streaming pass and ``--frames 64``
or more when quoting the whole-scan ratio.  The machine should be otherwise
idle (``uptime`` is printed): decode threads and numba threads share the cores.

Target (issue "badpix for photographers"): scan >= 85 % of decode-only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Results, median_time  # noqa: E402


def make_jpegs(folder: Path, n: int, shape: tuple[int, int], quality: int = 95) -> None:
    """A panning textured scene with noise, EXIF dates one day apart, like a photo series."""
    import piexif
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        p = folder / f"IMG_{i:04d}.jpg"
        if p.exists():
            continue
        scene = 110 + 60 * np.sin((yy + 7 * i) / 37.0) * np.cos((xx + 11 * i) / 53.0)
        rgb = scene[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
        rgb += rng.normal(0, 3, (h, w, 3)).astype(np.float32)
        rgb[h // 3, w // 4] = 255  # a hot pixel
        date = time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(1.6e9 + 86400 * i)).encode()
        exif = piexif.dump({"Exif": {piexif.ExifIFD.DateTimeOriginal: date}})
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(p, quality=quality,
                                                                    exif=exif)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", default="2736x3648", help="ROWSxCOLS (default 10 MP)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="8 frames of 1024x1536, 1 repeat")
    ap.add_argument("--keep", type=Path, help="folder to keep the JPEGs in")
    ap.add_argument("--processes", type=int, default=0,
                    help="also run each pipeline this many times in fresh processes")
    ap.add_argument("--idle", type=float, default=0.0,
                    help="seconds of quiet before each fresh process (with --processes)")
    ap.add_argument("--child", nargs=2, metavar=("PIPELINE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    if args.quick:
        args.frames, args.size, args.repeat = 8, "1024x1536", 1
    shape = tuple(int(v) for v in args.size.lower().split("x"))

    from badpix import open_stack
    from badpix.engine import scan_stack
    from badpix.io import images
    from badpix.stats.onset import OnsetAccumulator, make_onset_factory
    from badpix.stats.persistence import (
        PersistenceAccumulator,
        PersistenceParams,
        persistence_factory,
    )
    from badpix.stats.standout import frame_thresholds

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_photo_"))
    t0 = time.perf_counter()
    make_jpegs(folder, args.frames, shape)
    print(f"{args.frames} JPEGs of {shape[0]}x{shape[1]} RGB in {folder} "
          f"(made in {time.perf_counter() - t0:.1f} s)")

    def decode_only() -> None:
        stack = open_stack(folder)
        for _ in stack.iter_blocks(8):
            pass

    def pillow_decode_only() -> None:
        with mock.patch.object(images, "_fast_decode", lambda *a, **k: False):
            decode_only()

    streams: dict[str, list[float]] = {}

    def scan(factories, key: str = "", median: bool | None = None) -> None:
        stack = open_stack(folder)
        result = scan_stack(stack, extra_accumulators=factories, median=median)
        # the streaming pass (decode + accumulators) is what grows with the frame count;
        # median finalisation and rules are a fixed cost per scan
        streams.setdefault(key, []).append(result.timings["stream"])

    times = open_stack(folder).reader.frame_times()
    # warm up numba caches and the page cache outside the timed runs
    decode_only()
    scan([make_onset_factory(times)])

    n = args.frames
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    rows = [("decode only", median_time(decode_only, args.repeat), None),
            ("Pillow decode (old path)", median_time(pillow_decode_only, args.repeat), None)]
    rows.append(("scan (standard rules)", median_time(lambda: scan([], "std"), args.repeat),
                 "std"))
    rows.append(("scan (standard) --median",
                 median_time(lambda: scan([], "med", median=True), args.repeat), "med"))
    rows.append(("scan + persistence",
                 median_time(lambda: scan([persistence_factory], "pers"), args.repeat), "pers"))
    rows.append(("scan + onset",
                 median_time(lambda: scan([make_onset_factory(times)], "onset"), args.repeat),
                 "onset"))
    base = rows[0][1]
    print(f"\n{'pipeline':<26}{'total s':>8}{'frames/s':>10}{'of decode':>11}"
          f"{'stream s':>10}{'stream fr/s':>12}{'of decode':>11}")
    for name, t, key in rows:
        line = f"{name:<26}{t:8.2f}{n / t:10.2f}{base / t:10.0%}"
        if key is not None:
            st = statistics.median(streams[key][-args.repeat:])
            line += f"{st:10.2f}{n / st:12.2f}{base / st:10.0%}"
        print(line)
    print("(of decode: decode-only time / this time; 'stream' is the streaming pass only)")
    res = Results("photo", note="the machine was shared with other jobs: ratios within this "
                  "run, not absolute times")
    table = []
    for name, t, key in rows:
        st = statistics.median(streams[key][-args.repeat:]) if key is not None else None
        table.append([name, t, n / t, base / t, st, None if st is None else n / st,
                      None if st is None else base / st])
    res.table(f"{n} JPEGs of {shape[0]}x{shape[1]} RGB (quality 95), one process, median of "
              f"{args.repeat}", ["pipeline", "total s", "frames/s", "of decode-only",
                                 "stream s", "stream frames/s", "stream of decode-only"],
              table, echo=False)

    # the per-frame photo accumulator kernels alone, all colour bands of decoded frames
    stack = open_stack(folder)
    block = next(iter(stack.iter_blocks(min(8, n))))[1].copy()
    bands = [(b, b.view(block)) for b in stack.bands]
    params = PersistenceParams()
    pers = [PersistenceAccumulator(b.shape, stack.dtype) for b, _ in bands]
    onset = [OnsetAccumulator(b.shape, stack.dtype, len(block), times=None) for b, _ in bands]

    def thresholds() -> None:
        for _, v in bands:
            frame_thresholds(v, params)

    def kernel(accs) -> None:
        for acc, (_, v) in zip(accs, bands, strict=True):
            acc.update(v, 0)

    kernel(pers)
    kernel(onset)
    print(f"\nper-frame kernels alone ({len(bands)} bands of "
          f"{bands[0][0].shape[0]}x{bands[0][0].shape[1]}, {len(block)} frames a block):")
    kernels = []
    for name, fn in (("thresholds (frame_thresholds)", thresholds),
                     ("persistence update", lambda: kernel(pers)),
                     ("onset update (+ bit store)", lambda: kernel(onset))):
        t = median_time(fn, args.repeat)
        print(f"  {name:<32}{1e3 * t / len(block):7.1f} ms/frame")
        kernels.append([name, 1e3 * t / len(block)])
    res.table(f"Per-frame photo kernels alone ({len(bands)} bands of "
              f"{bands[0][0].shape[0]}x{bands[0][0].shape[1]})", ["kernel", "ms/frame"], kernels,
              echo=False)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpu_ceiling(stack, block, {"persistence": lambda: kernel(pers),
                               "onset": lambda: kernel(onset)}, args.repeat, base, n)

    if args.processes:
        fresh_processes(folder, n, args.processes, args.idle)

    from tests.photo.test_persistence_precision import run

    print("\nmoving stars series (30 frames 160x160, 25 hot pixels, 30 stars/frame):")
    print(f"{'rule':<24}{'precision':>10}{'recall':>8}")
    stars = []
    for name, (prec, rec) in run(Path(tempfile.mkdtemp())).items():
        print(f"{name:<24}{prec:10.3f}{rec:8.3f}")
        stars.append([name, prec, rec])
    res.table("Moving-stars series (30 frames 160x160, 25 hot pixels, 30 stars per frame)",
              ["rule", "precision", "recall"], stars, echo=False)
    res.save()


PIPELINES = {"decode": "decode only", "std": "scan (standard rules)",
             "onset": "scan + onset (photo default)"}


def _child(pipeline: str, folder: str) -> None:
    """One pipeline, once, in this process; prints its times and peak RSS as JSON."""
    import json

    from badpix import open_stack
    from badpix.engine import scan_stack

    stack = open_stack(folder)
    t0 = time.perf_counter()
    if pipeline == "decode":
        for _ in stack.iter_blocks(8):
            pass
        total = stream = time.perf_counter() - t0
    else:
        result = scan_stack(stack, extra_accumulators=[] if pipeline == "std" else None)
        total, stream = result.timings["total"], result.timings["stream"]
    # VmHWM: this process image's peak (getrusage's maxrss keeps the parent's across exec)
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()
    print(json.dumps({"total": total, "stream": stream, "peak": int(status[0]) * 1024}))


def fresh_processes(folder: Path, n: int, repeat: int, idle: float) -> None:
    """Each pipeline in fresh child processes, in turn; print medians and ratios."""
    import json
    import subprocess

    runs: dict[str, list[dict]] = {k: [] for k in PIPELINES}
    for _ in range(repeat):
        for kind in PIPELINES:
            time.sleep(idle)
            out = subprocess.run([sys.executable, __file__, "--child", kind, str(folder)],
                                 check=True, capture_output=True, text=True).stdout
            runs[kind].append(json.loads(out.strip().splitlines()[-1]))
    med = {k: {q: statistics.median(r[q] for r in v) for q in ("total", "stream", "peak")}
           for k, v in runs.items()}
    base = med["decode"]["total"]
    print(f"\none fresh process per run ({repeat} runs each, {idle:g} s idle before each; "
          f"load average now {os.getloadavg()[0]:.2f}):")
    print(f"{'pipeline':<30}{'total s':>8}{'of decode':>11}{'stream s':>10}{'of decode':>11}"
          f"{'peak RSS':>10}")
    for kind, name in PIPELINES.items():
        m = med[kind]
        print(f"{name:<30}{m['total']:8.2f}{base / m['total']:10.0%}{m['stream']:10.2f}"
              f"{base / m['stream']:10.0%}{m['peak'] / 2**30:8.2f} GiB")
    print(f"  ({n} frames; totals per run: " + "; ".join(
        f"{k} " + " ".join(f"{r['total']:.2f}" for r in v) for k, v in runs.items()) + ")")


def cpu_ceiling(stack, block: np.ndarray, updates: dict, repeat: int, decode_time: float,
                frames: int) -> None:
    """Print one-thread CPU per frame of decoding and of the accumulators, and the bound.

    ``updates``: the ``"persistence"`` and ``"onset"`` updates of every band on ``block``.
    """
    import numba

    from badpix.stats.moments import MomentAccumulator

    def cpu_per_frame(fn, frames: int) -> float:
        fn()  # warm: compiled kernels loaded, buffers touched
        runs = []
        for _ in range(repeat):
            t0 = time.process_time()
            fn()
            runs.append(time.process_time() - t0)
        return statistics.median(runs) / frames

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        n = len(block)
        buf = np.empty_like(block[0])

        def decode() -> None:
            for i in range(n):
                stack.reader.read_frame(i, buf)

        flat = block.reshape(n, block.shape[1], -1)
        moments = MomentAccumulator(flat.shape[1:], block.dtype)
        d = cpu_per_frame(decode, n)
        m = cpu_per_frame(lambda: moments.update(flat), n)
        p = cpu_per_frame(updates["persistence"], n)
        o = cpu_per_frame(updates["onset"], n)
    finally:
        numba.set_num_threads(threads)
    cores = os.cpu_count() or 1
    budget = decode_time * cores / frames  # CPU s per frame the decode-only time allows
    print(f"\nceiling: CPU per frame on one thread: decode {1e3 * d:.1f} ms, moments "
          f"{1e3 * m:.1f} ms, persistence {1e3 * p:.1f} ms, onset {1e3 * o:.1f} ms; "
          f"decode-only kept {d * frames / decode_time:.2f} of {cores} cores busy")
    print(f"  to reach 85 % of decode-only the statistics may cost at most "
          f"{1e3 * (budget / 0.85 - d):.1f} ms of CPU per frame")
    for name, stats_cpu in (("scan (standard rules)", m), ("scan + persistence", m + p),
                            ("scan + onset (photo default)", m + o)):
        print(f"  {name:<30} stats {1e3 * stats_cpu:5.1f} ms/frame: at most "
              f"{min(1.0, budget / (d + stats_cpu)):.0%} of decode-only")


if __name__ == "__main__":
    main()
