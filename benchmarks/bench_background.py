"""Benchmark: badpix background vs dcnum 0.31 (or a plain numpy implementation) on real frames.

Builds an N-frame series (default 3000) from the real 80x400 RT-DC frames in
``shared/data/dcnum/cytoshot-test-data.rtdc`` (random order, +-3 grey-level
per-frame offset, 100 frames/s), writes it as ``.rtdc`` and times, in one run:

* sparse median (k=200, split 1 s, cleansing and offset on), file to result;
* rolling median (k=100), file to result.

Against dcnum when it is installed (``pip install badpix[peer]``), else against
``np.partition``.  Results must be identical; the script exits 1 if not.

Usage: python benchmarks/bench_background.py [--frames 3000] [--no-dcnum-rolling]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import Results  # noqa: E402


def build_series(n: int, path: pathlib.Path, seed: int = 0) -> np.ndarray:
    import h5py
    import hdf5plugin

    data = pathlib.Path(os.environ.get("BADPIX_SHARED",
                                pathlib.Path(__file__).resolve().parents[2] / "shared")) / "data" / "dcnum"
    with h5py.File(data / "cytoshot-test-data.rtdc", "r") as h5:
        frames = h5["events/image"][:]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(frames), n)
    off = rng.integers(-3, 4, n).reshape(-1, 1, 1)
    series = np.clip(frames[pick].astype(np.int16) + off, 0, 255).astype(np.uint8)
    with h5py.File(path, "w") as h5:
        h5.attrs["experiment:event count"] = n
        h5.attrs["imaging:frame rate"] = 100.0
        h5.create_dataset("events/image", data=series, chunks=(32, *series.shape[1:]),
                          **hdf5plugin.Zstd(clevel=5))
        h5.create_dataset("events/time", data=np.arange(n) / 100.0)
    return series


def dcnum_run(method: str, src: pathlib.Path, out: pathlib.Path, **kw):
    from dcnum.feat.feat_background.bg_roll_median import BackgroundRollMed
    from dcnum.feat.feat_background.bg_sparse_median import BackgroundSparseMed
    from dcnum.read import HDF5Data

    cls = BackgroundSparseMed if method == "sparse" else BackgroundRollMed
    t0 = time.perf_counter()
    with cls(input_data=src, output_path=out, **kw) as bg:
        bg.process()
    dt = time.perf_counter() - t0
    with HDF5Data(out) as h:
        return dt, h["image_bg"][:], (h["bg_off"][:] if method == "sparse" else None)


def numpy_sparse(series: np.ndarray, times: np.ndarray, k: int = 200, split: float = 1.0):
    """Plain numpy: one np.partition per window, no cleansing (timing baseline only)."""
    t0 = time.perf_counter()
    n = len(series)
    imgs = []
    for ts in np.arange(0, times[-1] - times[0], split):
        s = int(np.argmin(np.abs(ts - times)))
        s = min(s, n - k)
        imgs.append(np.partition(series[s:s + k], k // 2, axis=0)[k // 2])
    return time.perf_counter() - t0, np.array(imgs)


def numpy_rolling(series: np.ndarray, k: int = 100):
    t0 = time.perf_counter()
    n = len(series)
    out = np.empty_like(series)
    for i in range(n - k):
        out[i] = np.partition(series[i:i + k], k // 2, axis=0)[k // 2]
    out[n - k:] = out[n - k - 1]
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--no-dcnum-rolling", action="store_true",
                    help="skip dcnum's rolling median (about 160 s for 3000 frames)")
    args = ap.parse_args()
    from badpix.background import background

    try:
        import dcnum  # noqa: F401

        peer = "dcnum"
    except ImportError:
        peer = "numpy"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_bg_"))
    src = tmp / "series.rtdc"
    series = build_series(args.frames, src)
    n = len(series)
    print(f"series: {n} frames of {series.shape[1:]} uint8 from real RT-DC frames; peer: {peer}")
    # warm up numba (compiled once, cached on disk)
    background(series[:64], method="rolling", kernel_size=8)
    background(series[:64], kernel_size=8, times=np.arange(64) / 10)

    rows = []
    ok = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        r = background(src, method="sparse")
        t_bp = time.perf_counter() - t0
        if peer == "dcnum":
            t_peer, bg, off = dcnum_run("sparse", src, tmp / "dc_sparse.rtdc")
            same = bool(np.array_equal(r.per_frame(), bg)
                        and np.max(np.abs(r.bg_off - off)) <= 1e-12)
        else:
            t_peer, imgs = numpy_sparse(series, np.arange(n) / 100.0)
            same = bool(np.array_equal(r.images, imgs[r.kept]))
        ok &= same
        rows.append(("sparse k=200 s=1", t_bp, t_peer, same))

        t0 = time.perf_counter()
        r = background(src, method="rolling", kernel_size=100)
        t_bp = time.perf_counter() - t0
        if peer == "dcnum" and not args.no_dcnum_rolling:
            t_peer, bg, _ = dcnum_run("rolling", src, tmp / "dc_roll.rtdc", kernel_size=100)
        else:
            t_peer, bg = numpy_rolling(series, 100)
        same = bool(np.array_equal(r.per_frame(), bg))
        ok &= same
        label = "dcnum" if peer == "dcnum" and not args.no_dcnum_rolling else "numpy"
        rows.append((f"rolling k=100 (vs {label})", t_bp, t_peer, same))

    res = Results("background", note="the machine was shared with other jobs: ratios within this run, not absolute times")
    res.table(f"Median backgrounds of {n} frames of {series.shape[1]}x{series.shape[2]} uint8 "
              f"built from real RT-DC frames; peer: {peer}",
              ["method", "badpix frames/s", "peer frames/s", "speed-up", "identical"],
              [(name, n / tb, n / tp, tp / tb, same) for name, tb, tp, same in rows])
    res.save()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
