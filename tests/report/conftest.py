"""Scan folders built by hand exactly as docs/contracts.md describes them.

The frames are real ``.npy`` files (so ``badpix report --frames`` can read them
back); statistics are computed with numpy and classified by the real rules.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from badpix.detect import RuleParams, classify
from badpix.detect.flags import CLASSES, flag_names
from badpix.io.writers import write_geotiff
from badpix.stats.bandstats import BandStats

N_FRAMES = 30
FRAME_SHAPE = (40, 48, 2)
#: name, channel, rows, cols
BANDS = [("A", 0, (0, 40), (0, 48)), ("B", 1, (10, 30), (8, 40))]


def make_frames(rng: np.random.Generator) -> np.ndarray:
    frames = rng.normal(1000, 5, (N_FRAMES, *FRAME_SHAPE)).round().astype(np.uint16)
    frames[:, 5, 7, 0] = 1000            # A: stuck
    frames[:, 20, 30, 0] += 600          # A: hot
    frames[:, 13, 12, 1] = 10            # B band (3, 4): dead (and stuck)
    frames[:, 20, 28, 1] = (1000 + rng.normal(0, 80, N_FRAMES)).astype(np.uint16)  # B (10, 20): noisy
    return frames


def write_tif(path: Path, data: np.ndarray, descriptions: list[str]) -> None:
    """A GeoTIFF through the project's rasterio writer (plain pixel grid, named bands)."""
    write_geotiff(path, data, descriptions=descriptions)


def write_scan(out: Path, frames: np.ndarray, params: dict | None = None,
               drop_params: bool = False) -> dict:
    """Statistics, masks, defects.csv and summary.json of ``frames`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    p = RuleParams(**(params or {}))
    counts, defects = {}, []
    for name, ch, rows, cols in BANDS:
        x = frames[:, rows[0]:rows[1], cols[0]:cols[1], ch].astype(np.float64)
        s = BandStats(name, len(x), np.dtype(frames.dtype), np.full(x.shape[1:], len(x)),
                      x.mean(0), x.var(0), x.min(0), x.max(0), median=np.median(x, 0),
                      value_range=(0.0, 65535.0))
        flags, scores = classify(s, p)
        write_tif(out / f"mask_{name}.tif", flags, ["flags"])
        write_tif(out / f"stats_{name}.tif",
                  np.stack([s.mean, s.std, s.min, s.max, s.median]),
                  ["mean", "std", "min", "max", "median"])
        c = {k: int(np.count_nonzero(flags & bit)) for k, bit in CLASSES.items()}
        c["any"] = int(np.count_nonzero(flags))
        counts[name] = c
        rr, cc = np.nonzero(flags)
        score = scores["score"]
        for i in np.argsort(-score[rr, cc], kind="stable"):
            r, q = int(rr[i]), int(cc[i])
            defects.append([name, r + rows[0], q + cols[0], int(flags[r, q]),
                            ";".join(flag_names(int(flags[r, q]))), s.mean[r, q], s.std[r, q],
                            s.median[r, q], score[r, q]])
    with open(out / "defects.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["band", "row", "col", "flags", "classes", "mean", "std", "median", "score"])
        w.writerows(defects)
    summary = {
        "badpix_version": "0.1.0",
        "input": {"source": "frames/", "format": "npy", "n_frames": len(frames),
                  "frame_shape": list(frames.shape[1:]), "dtype": "uint16",
                  "skipped": [{"label": "frame_99.npy", "reason": "truncated"}]},
        "layout": {"source": "test", "bands": [
            {"name": n, "channel": ch, "rows": list(r), "cols": list(c)} for n, ch, r, c in BANDS]},
        "parameters": {} if drop_params else p.to_dict(),
        "counts": counts,
        "timings": {"stream": 0.5, "total": 0.7},
        "versions": {"badpix": "0.1.0", "numpy": np.__version__},
        "outputs": sorted(x.name for x in out.iterdir()) + ["summary.json"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


@pytest.fixture(scope="session")
def scan_case(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(scan folder, frames folder, summary)."""
    root = tmp_path_factory.mktemp("scan_case")
    frames = make_frames(np.random.default_rng(7))
    fdir = root / "frames"
    fdir.mkdir()
    for i, f in enumerate(frames):
        np.save(fdir / f"frame_{i:03d}.npy", f)
    summary = write_scan(root / "scan", frames)
    return root / "scan", fdir, summary
