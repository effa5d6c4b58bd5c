"""Smooth synthetic scenes with known truth, planted defects, and the naive baseline."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def scene(rng: np.random.Generator, shape: tuple[int, int], n: int = 1) -> np.ndarray:
    """``(n, h, w)`` float64 smooth frames: blurred noise + gradient, values ~ 500..3500."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w))
    for k in range(n):
        noise = ndimage.gaussian_filter(rng.normal(size=(h, w)), 2.5, mode="reflect")
        noise /= noise.std()
        out[k] = 2000 + 300 * noise + 600 * (xx / w) - 400 * (yy / h) + 200 * np.sin(xx / 9.0 + k)
    return out


def plant(rng: np.random.Generator, shape: tuple[int, int], n_single: int = 60,
          n_clusters: int = 4, n_edge: int = 30) -> dict[str, np.ndarray]:
    """Masks of singles (interior), 3x3 clusters + a dead column, and edge/corner pixels."""
    h, w = shape
    singles = np.zeros(shape, bool)
    ys = rng.integers(3, h - 3, n_single)
    xs = rng.integers(3, w - 3, n_single)
    singles[ys, xs] = True
    clusters = np.zeros(shape, bool)
    for _ in range(n_clusters):
        y, x = rng.integers(5, h - 8), rng.integers(5, w - 8)
        clusters[y:y + 3, x:x + 3] = True
    clusters[:, w // 3] = True  # a dead column
    edges = np.zeros(shape, bool)
    edges[[0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]] = True
    k = n_edge // 4
    edges[0, rng.integers(1, w - 1, k)] = True
    edges[h - 1, rng.integers(1, w - 1, k)] = True
    edges[rng.integers(1, h - 1, k), 0] = True
    edges[rng.integers(1, h - 1, k), w - 1] = True
    # a few edge pixels with a bad neighbour too, as real sensors have
    edges[0, 5:7] = True
    singles &= ~clusters & ~edges
    return {"singles": singles, "clusters": clusters & ~edges, "edges": edges}


def naive_loop(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The user loop of the issue: weighted 8-neighbour mean (1, 1/sqrt(2)) over all
    neighbours, bad ones included; a neighbour outside the image stops the loop, so
    edge pixels stay unrepaired."""
    out = frame.astype(np.float64).copy()
    h, w = frame.shape
    d = 1 / np.sqrt(2)
    for y, x in zip(*np.nonzero(mask), strict=True):
        total = wsum = 0.0
        complete = True
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == dx == 0:
                    continue
                yy, xx = y + dy, x + dx
                if not (0 <= yy < h and 0 <= xx < w):
                    complete = False
                    break
                wt = d if dy and dx else 1.0
                total += wt * frame[yy, xx]
                wsum += wt
            if not complete:
                break
        if complete:
            out[y, x] = total / wsum
    return out


def scipy_normalized(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whole-frame scipy filtering: normalised convolution over valid 8-neighbours."""
    d = 1 / np.sqrt(2)
    kernel = np.array([[d, 1, d], [1, 0, 1], [d, 1, d]])
    valid = (~mask).astype(np.float64)
    num = ndimage.convolve(frame * valid, kernel, mode="constant")
    den = ndimage.convolve(valid, kernel, mode="constant")
    out = frame.astype(np.float64).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        fixed = np.where(den > 0, num / den, frame)  # no valid neighbour: left as it was
    out[mask] = fixed[mask]
    return out
