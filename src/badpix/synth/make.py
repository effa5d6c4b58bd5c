"""The generator of synthetic stacks: a smooth moving scene, drift, noise and planted defects.

:func:`make_synthetic` is described in :mod:`badpix.synth` (what each kind of
defect does and how its offset is scaled to the rules' robust units).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..detect.params import RuleParams
from ..errors import ParameterError
from .truth import KIND_FLAGS, PlantedPixel, Truth

__all__ = ["SyntheticStack", "make_synthetic"]

#: defect classes of ``counts`` and how each splits into kinds (fractions)
CLASS_KINDS: dict[str, dict[str, float]] = {
    "stuck": {"stuck": 0.8, "stuck_high": 0.2},
    "outlier": {"outlier": 1.0},
    "hot": {"hot": 1.0},
    "dead": {"dead": 0.7, "dead_floor": 0.3},
    "noisy": {"noisy": 1.0},
}

#: (full scale, read noise, shot variance per data unit) per dtype
NOISE: dict[str, tuple[float, float, float]] = {
    "uint8": (255.0, 1.5, 0.05),
    "uint16": (65535.0, 10.0, 1.0),
    "float32": (4095.0, 2.0, 0.25),
}


@dataclass
class SyntheticStack:
    """Frames ``(n, rows, cols, channels)`` and the truth of what was planted."""

    frames: np.ndarray
    truth: Truth

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Frames one by one, ``(rows, cols)`` for one channel else ``(rows, cols, channels)``."""
        for f in self.frames:
            yield f[..., 0] if f.shape[-1] == 1 else f


def _scene(rng: np.random.Generator, h: int, w: int, n: int, scene: str) -> np.ndarray:
    """Smooth scene ``(n, h, w)`` float32 with values in [0, 1] (0.5 for ``"flat"``)."""
    if scene == "flat":
        return np.full((n, h, w), 0.5, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gy, gx = rng.uniform(-0.3, 0.3, 2)
    base = (gy * (yy / h - 0.5) + gx * (xx / w - 0.5)).astype(np.float32)
    scale = float(np.sqrt(h * w))
    k = 6
    amp = rng.uniform(-0.6, 1.0, k)
    sig = rng.uniform(0.15, 0.35, k) * scale
    cy, cx = rng.uniform(0, h, k), rng.uniform(0, w, k)
    # blobs move by at most a quarter of their width over the whole stack: smooth in time
    speed = 0.0 if scene == "static" else 1.0
    vy, vx = (rng.uniform(-1, 1, (2, k)) * sig / 4 * speed / max(1, n - 1))
    out = np.empty((n, h, w), np.float32)
    for t in range(n):
        f = base.copy()
        for j in range(k):
            d2 = (yy - cy[j] - vy[j] * t) ** 2 + (xx - cx[j] - vx[j] * t) ** 2
            f += amp[j] * np.exp(-d2 / (2 * sig[j] ** 2))
        out[t] = f
    lo, hi = float(out.min()), float(out.max())
    return ((out - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def _max_gradient(scene: np.ndarray) -> float:
    """Largest pixel-to-pixel step of a scene ``(n, h, w)`` (its own units)."""
    g = 0.0
    for axis in (1, 2):
        g = max(g, float(np.abs(np.diff(scene, axis=axis)).max()))
    return max(g, 1e-9)


def _robust(dev: np.ndarray) -> float:
    d = dev[np.isfinite(dev)]
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def _scales(x: np.ndarray, size: int) -> tuple[float, float, float]:
    """(s_mean, s_median, s_std) of one channel's clean noisy stack ``(n, h, w)``."""
    x = x.astype(np.float64)
    mean, med, std = x.mean(0), np.median(x, 0), x.std(0)

    def dev(img):
        return img - ndimage.median_filter(img, size=size, mode="reflect")

    return _robust(dev(mean)), float(np.mean(np.abs(dev(med)))), _robust(dev(std))


def _sensor_scale(x: np.ndarray, size: int) -> float:
    """The band's mean ``|median - local_median(median)|`` (the sensor team's unit)."""
    med = np.median(x.astype(np.float64), axis=0)
    return float(np.mean(np.abs(med - ndimage.median_filter(med, size=size, mode="reflect"))))


def _positions(rng: np.random.Generator, h: int, w: int, c: int, n: int) -> np.ndarray:
    """``n`` distinct (row, col, channel), at least 3 pixels apart in row or column."""
    cells = [(r, q) for r in range(1, h - 1, 3) for q in range(1, w - 1, 3)]
    if n > len(cells):
        raise ParameterError(f"cannot plant {n} defects in a {h}x{w} frame "
                             f"(at most {len(cells)}, one per 3x3 cell)")
    pick = rng.choice(len(cells), size=n, replace=False)
    rows = np.array([cells[i][0] for i in pick], int)
    cols = np.array([cells[i][1] for i in pick], int)
    return np.stack([rows, cols, rng.integers(0, c, n)], axis=1)


def make_synthetic(
    shape: tuple[int, int] = (256, 256),
    n_frames: int = 40,
    channels: int = 1,
    dtype: str | np.dtype = "uint16",
    seed: int | None = 0,
    scene: str = "moving",
    drift: bool = True,
    defect_fraction: float = 2e-4,
    counts: dict[str, int] | None = None,
    strength: float = 1.0,
    telegraph: float = 0.0,
    params: RuleParams | None = None,
) -> SyntheticStack:
    """Make a synthetic stack with planted defects.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of a frame.
    n_frames, channels, dtype
        Stack size and sample type (``uint8``, ``uint16`` or ``float32``).
    seed
        Seed of :func:`numpy.random.default_rng`; same seed, same stack.
    scene
        ``"moving"`` (drifting smooth blobs), ``"static"`` or ``"flat"``.
    drift
        Global per-frame gain (+/-2 %) and offset (+/-0.3 % of full scale) drift.
    defect_fraction
        Fraction of pixels (per channel) planted with each class, when ``counts``
        does not name it.
    counts
        Pixels per class: ``{"stuck": 10, "hot": 5}``; classes not named get 0
        (when ``counts`` is given).  Classes: stuck, outlier, hot, dead, noisy.
    strength
        Multiplies every planted offset / extra noise (1 = separable at default
        thresholds, see the module docstring).
    telegraph
        Fraction of the noisy pixels that get a two-level (random telegraph)
        jump instead of Gaussian noise.  Their median can sit on either level,
        so they may also trip OUTLIER.
    params
        Thresholds the offsets are scaled to (default :class:`RuleParams`).

    Examples
    --------
    >>> s = make_synthetic((24, 20), n_frames=8, channels=3, dtype="float32", seed=2)
    >>> s.frames.shape, sorted({p.kind for p in s.truth.pixels}) == sorted(
    ...     ["stuck", "outlier", "hot", "dead", "noisy"])
    ((8, 24, 20, 3), True)
    """
    dt = np.dtype(dtype)
    if dt.name not in NOISE:
        raise ParameterError(f"dtype must be one of {', '.join(NOISE)}, got {dt.name}")
    if scene not in ("moving", "static", "flat"):
        raise ParameterError(f"scene must be moving, static or flat, got {scene!r}")
    h, w = (int(v) for v in shape)
    if h < 8 or w < 8 or n_frames < 3 or channels < 1:
        raise ParameterError("need frames of at least 8x8 pixels, 3 frames and 1 channel")
    params = params or RuleParams()
    fs, read, shot = NOISE[dt.name]
    rng = np.random.default_rng(seed)

    # clean signal (n, h, w, c) in data units
    # The scene spans at most 45 % of full scale around 35 %, and is kept smooth on
    # the noise scale: its steepest step is a quarter of the noise of a temporal mean.
    # A steeper scene makes a 5x5 median pick the pixel itself (deviation 0) and the
    # robust scales collapse - real on sharp scenes, but not what this truth measures.
    level = 0.35 * fs
    noise_of_mean = np.sqrt(read**2 + shot * level) / np.sqrt(n_frames)
    scenes = []
    for _ in range(channels):
        sc = _scene(rng, h, w, n_frames, scene)
        span = min(0.45 * fs, 0.25 * noise_of_mean / _max_gradient(sc))
        scenes.append(level + span * (sc - np.float32(sc.mean())))
    clean = np.stack(scenes, axis=-1).astype(np.float32)
    if drift:
        t = np.arange(n_frames)
        gain = 1 + 0.02 * np.sin(2 * np.pi * t / max(n_frames, 2) + rng.uniform(0, 6.28))
        offset = 0.003 * fs * np.sin(2 * np.pi * t / max(n_frames, 2) * 0.7 + rng.uniform(0, 6.28))
        clean = clean * gain[:, None, None, None].astype(np.float32) + np.float32(1) * offset[
            :, None, None, None].astype(np.float32)
    sigma = np.sqrt(read**2 + shot * np.clip(clean, 0, None)).astype(np.float32)
    frames = clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32)

    # robust units of the clean noisy stack, per channel
    quant = _quantize(frames, dt, fs)
    units = [_scales(quant[..., ch], params.size) for ch in range(channels)]

    # how many of each class
    classes = list(CLASS_KINDS)
    if counts is None:
        per = max(1, round(defect_fraction * h * w * channels))
        counts = {k: per for k in classes}
    unknown = set(counts) - set(classes)
    if unknown:
        raise ParameterError(f"unknown defect class(es) {sorted(unknown)}; known: {classes}")
    kinds: list[str] = []
    for cls in classes:
        n_cls = int(counts.get(cls, 0))
        split = CLASS_KINDS[cls]
        names = list(split)
        sizes = [int(round(n_cls * split[k])) for k in names[:-1]]
        sizes.append(n_cls - sum(sizes))
        for k, m in zip(names, sizes, strict=True):
            if k == "noisy" and telegraph > 0:
                n_tel = int(round(m * telegraph))
                kinds += ["telegraph"] * n_tel
                m -= n_tel
            kinds += [k] * m
    pos = _positions(rng, h, w, channels, len(kinds))

    # Outliers go in last: the sensor team's OUTLIER threshold (k x the band's mean
    # |deviation|) is not robust, so it is measured on the stack with every other
    # defect already planted, and outlier offsets are set to 1.3-1.8 x that.
    order = sorted(range(len(kinds)), key=lambda i: kinds[i] == "outlier")
    planted: dict[int, PlantedPixel] = {}
    sensor_scale: list[float] | None = None
    separable = True
    for i in order:
        (r, c, ch), kind = pos[i], kinds[i]
        s_mean, _s_median, s_std = units[ch]
        series = frames[:, r, c, ch]  # a view: edits go into the stack
        cl = clean[:, r, c, ch]
        if kind == "stuck":
            series[:] = np.round(cl.mean()) if dt.kind in "ui" else cl.mean()
        elif kind == "stuck_high":
            series[:] = fs
        elif kind == "dead_floor":
            series[:] = 0
        elif kind == "dead":
            black = 0.02 * fs
            series[:] = (black + 0.05 * (cl - black)
                         + read * rng.standard_normal(n_frames).astype(np.float32))
        elif kind == "outlier":
            if sensor_scale is None:
                q = _quantize(frames, dt, fs)
                sensor_scale = [_sensor_scale(q[..., k], params.outlier_size)
                                for k in range(channels)]
            mag = strength * rng.uniform(1.3, 1.8) * params.outlier_k * sensor_scale[ch]
            cap = 0.7 * params.hot_z * s_mean
            if mag > cap:
                separable = False
            series += np.float32(rng.choice([-1.0, 1.0]) * mag)
        elif kind == "hot":
            mag = strength * rng.uniform(1.5, 3.0) * params.hot_z * s_mean
            # keep clear of the top so the offset is not eaten by clipping
            series += np.float32(min(mag, 0.97 * fs - float(series.max())))
        elif kind == "noisy":
            sd = float(np.std(series))
            rise = strength * rng.uniform(2.0, 3.0) * params.noisy_z * s_std
            series += (np.sqrt((sd + rise) ** 2 - sd**2)
                       * rng.standard_normal(n_frames)).astype(np.float32)
        elif kind == "telegraph":
            sd = float(np.std(series))
            rise = strength * rng.uniform(2.0, 3.0) * params.noisy_z * s_std
            state = np.cumsum(rng.random(n_frames) < 0.3) % 2  # flips in 30 % of frames
            series += np.float32(2 * (sd + rise)) * (state - 0.5).astype(np.float32)
        planted[i] = PlantedPixel(int(r), int(c), int(ch), kind, KIND_FLAGS[kind])
    pixels = [planted[i] for i in range(len(kinds))]

    out = _quantize(frames, dt, fs)
    generator = {"scene": scene, "drift": drift, "strength": strength, "telegraph": telegraph,
                 "defect_fraction": defect_fraction, "counts": dict(counts),
                 "read_noise": read, "shot_gain": shot, "full_scale": fs,
                 "units": [{"s_mean": u[0], "s_median": u[1], "s_std": u[2]} for u in units],
                 "sensor_scale": sensor_scale, "separable": separable,
                 "params": params.to_dict()}
    truth = Truth((h, w, channels), n_frames, dt.name, seed, pixels, generator)
    return SyntheticStack(out, truth)


def _quantize(frames: np.ndarray, dt: np.dtype, fs: float) -> np.ndarray:
    if dt.kind in "ui":
        return np.clip(np.rint(frames), 0, fs).astype(dt)
    return frames.astype(dt)
