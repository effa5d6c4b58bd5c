"""Repair plans: which pixel takes which neighbours with which weights, built once per mask.

A :class:`RepairPlan` is computed from a bad-pixel mask alone and then applied to
any number of frames as one vectorised gather per group of pixels, so repairing
a stack costs little more than reading and writing it.

Neighbour rule (methods ``neighbors`` and ``median``)
-----------------------------------------------------
For a bad pixel, the candidates at radius ``r`` are the pixels at Chebyshev
(chessboard) distance ``r`` (``2r - 1`` or ``2r`` with a Bayer ``cfa``, same
colour only).  Candidates outside the image or flagged in the mask are
skipped.  The first radius ``r = 1, 2, ...`` with at least one valid candidate
is used: ``neighbors`` takes their mean weighted by ``1 / distance`` (1 for
orthogonal, 1/sqrt(2) for diagonal neighbours at radius 1), ``median`` their
plain median.  A pixel whose channel (or CFA colour) has no valid pixel at all
is left unchanged and counted in :attr:`RepairPlan.n_unrepairable`.

NaN input
---------
NaN neighbours are invalid for that frame only: they are left out of the mean
or median.  When every planned neighbour of a pixel is NaN in a frame, that
frame is repaired with a plan built from ``mask | isnan(frame)`` (the growth
rule then reaches further).  Only masked pixels are ever written: NaN pixels
that are not in the mask stay NaN (use :func:`badpix.repair.fill_gaps` for them).

Output dtype is the input dtype; integer results are rounded to nearest
(ties to even) and clipped to the dtype's range.

>>> import numpy as np
>>> frame = np.arange(16, dtype=np.uint16).reshape(4, 4)
>>> mask = np.zeros((4, 4), bool); mask[0, 0] = True
>>> plan = RepairPlan.build(mask)
>>> int(plan.apply(frame.copy())[0, 0])   # (1 + 4 + 5/sqrt(2)) / (2 + 1/sqrt(2))
3
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import ParameterError

METHODS = ("neighbors", "median", "inpaint")
CFA_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_COLOUR = {"R": 0, "G": 1, "B": 2}


def cfa_colours(pattern: str, shape: tuple[int, int]) -> np.ndarray:
    """Colour index (0=R, 1=G, 2=B) of every pixel of a Bayer mosaic.

    >>> cfa_colours("RGGB", (2, 4)).tolist()
    [[0, 1, 0, 1], [1, 2, 1, 2]]
    """
    pattern = check_cfa(pattern)
    tile = np.array([[_COLOUR[pattern[0]], _COLOUR[pattern[1]]],
                     [_COLOUR[pattern[2]], _COLOUR[pattern[3]]]], np.int8)
    h, w = shape
    return np.tile(tile, ((h + 1) // 2, (w + 1) // 2))[:h, :w]


def check_cfa(cfa: str | None) -> str | None:
    """Normalise a ``--cfa`` value; ``None`` means no colour filter array."""
    if cfa is None:
        return None
    up = cfa.strip().upper()
    if up not in CFA_PATTERNS:
        raise ParameterError(f"--cfa: unknown Bayer pattern {cfa!r}; known: {', '.join(CFA_PATTERNS)}")
    return up


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ParameterError(f"--method: unknown repair method {method!r}; known: {', '.join(METHODS)}")
    return method


@dataclass
class _Bucket:
    """Targets that all have exactly ``k`` neighbours: gathered as one ``(n, m, k)`` block."""

    targets: np.ndarray  # (m,) flat indices into a frame
    sources: np.ndarray  # (m, k) flat indices of the neighbours
    weights: np.ndarray  # (m, k) float64


def _ring(r: int, step: int) -> np.ndarray:
    """Offsets (dy, dx) whose Chebyshev distance lies in ``(step*(r-1), step*r]``."""
    hi = step * r
    lo = step * (r - 1)
    d = np.arange(-hi, hi + 1)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    cheb = np.maximum(np.abs(dy), np.abs(dx))
    keep = (cheb > lo) & (cheb <= hi)
    return np.stack([dy[keep], dx[keep]], axis=1)


def _plan_channel(bad: np.ndarray, colours: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour lists of the bad pixels of one 2-D plane.

    Returns ``(targets, tgt_of_entry, src_of_entry, weight_of_entry, unrepairable)``
    where targets/sources are flat ``y * w + x`` indices.
    """
    h, w = bad.shape
    ys, xs = np.nonzero(bad)
    n = ys.size
    empty = np.empty(0, np.int64)
    if n == 0:
        return empty, empty, empty, np.empty(0), empty
    valid = ~bad
    if not valid.any():
        return empty, empty, empty, np.empty(0), ys.astype(np.int64) * w + xs
    step = 1 if colours is None else 2
    # The chessboard distance to the nearest valid pixel of any colour is where
    # the ring search can start: every ring closer than that holds no valid pixel.
    dist = ndimage.distance_transform_cdt(bad, metric="chessboard")[ys, xs]
    radius = np.maximum(1, -(-dist // step)).astype(np.int64)
    max_radius = max(h, w) // step + 2
    pending = np.arange(n)
    tgt_parts, src_parts, w_parts, lost = [], [], [], []
    while pending.size:
        r = int(radius[pending].min())
        here = pending[radius[pending] == r]
        rest = pending[radius[pending] != r]
        if r > max_radius:  # no valid pixel of this colour anywhere
            lost.append(here)
            pending = rest
            continue
        off = _ring(r, step)
        yy = ys[here, None] + off[None, :, 0]
        xx = xs[here, None] + off[None, :, 1]
        ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        yc = np.clip(yy, 0, h - 1)
        xc = np.clip(xx, 0, w - 1)
        ok &= valid[yc, xc]
        if colours is not None:
            ok &= colours[yc, xc] == colours[ys[here], xs[here]][:, None]
        found = ok.any(axis=1)
        rows, cols = np.nonzero(ok)
        tgt_parts.append(here[rows])
        src_parts.append(yc[rows, cols].astype(np.int64) * w + xc[rows, cols])
        dist_e = np.hypot(off[cols, 0], off[cols, 1])
        w_parts.append(1.0 / dist_e)
        radius[here[~found]] += 1
        pending = np.concatenate([rest, here[~found]])
    targets = ys.astype(np.int64) * w + xs
    lost_idx = np.concatenate(lost) if lost else empty
    return (targets, np.concatenate(tgt_parts), np.concatenate(src_parts),
            np.concatenate(w_parts), targets[lost_idx])


def _buckets(tgt: np.ndarray, src: np.ndarray, wts: np.ndarray) -> list[_Bucket]:
    """Group neighbour entries (target, source, weight) by their target's neighbour count."""
    order = np.argsort(tgt, kind="stable")
    tgt, src, wts = tgt[order], src[order], wts[order]
    ids, starts, counts = np.unique(tgt, return_index=True, return_counts=True)
    out = []
    for k in np.unique(counts):
        sel = counts == k
        idx = starts[sel][:, None] + np.arange(k)[None, :]
        out.append(_Bucket(ids[sel], src[idx], wts[idx]))
    return out


def _as_mask(mask: np.ndarray, frame_shape: tuple[int, int, int] | None) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[:, :, None]
    if mask.ndim != 3:
        raise ParameterError(f"mask must be 2-D (h, w) or 3-D (h, w, c), not shape {mask.shape}")
    mask = mask != 0
    if frame_shape is not None:
        h, w, c = frame_shape
        if mask.shape[:2] != (h, w) or mask.shape[2] not in (1, c):
            raise ParameterError(f"mask shape {mask.shape} does not match the frames' {frame_shape}")
        if mask.shape[2] != c:
            mask = np.broadcast_to(mask, (h, w, c))
    return np.ascontiguousarray(mask)


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iub":
        if dtype.kind == "b":
            return values >= 0.5
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


@dataclass
class RepairPlan:
    """How to repair every flagged pixel of frames shaped ``frame_shape``.

    Build with :meth:`build`; apply with :meth:`apply` to one frame ``(h, w[, c])``
    or a block ``(n, h, w[, c])`` (repaired in place, also returned).

    >>> import numpy as np
    >>> mask = np.zeros((5, 5), bool); mask[:, 2] = True          # a dead column
    >>> frames = np.tile(np.arange(5.0), (3, 5, 1)); frames[:, :, 2] = 99
    >>> RepairPlan.build(mask).apply(frames)[0, 0].tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """

    frame_shape: tuple[int, int, int]
    method: str
    cfa: str | None
    mask: np.ndarray  # bool (h, w, c)
    targets: np.ndarray  # flat indices of the pixels that will be repaired
    unrepairable: np.ndarray  # flat indices of flagged pixels left unchanged
    buckets: list[_Bucket] = field(default_factory=list)
    harmonic: object | None = None  # badpix.repair.inpaint.HarmonicSolver

    @property
    def n_repaired(self) -> int:
        return int(self.targets.size)

    @property
    def n_unrepairable(self) -> int:
        return int(self.unrepairable.size)

    @classmethod
    def build(cls, mask: np.ndarray, method: str = "neighbors", cfa: str | None = None,
              frame_shape: tuple[int, int, int] | None = None) -> RepairPlan:
        """Plan the repair of the nonzero pixels of ``mask`` ((h, w) or (h, w, c)).

        A 2-D mask applies to every channel of the frames.  ``cfa`` (``RGGB``,
        ``BGGR``, ``GRBG``, ``GBRG``) restricts neighbours to the same Bayer colour;
        it needs single-channel (raw mosaic) frames.
        """
        method = check_method(method)
        cfa = check_cfa(cfa)
        m = _as_mask(mask, frame_shape)
        h, w, c = m.shape
        if frame_shape is None:
            frame_shape = (h, w, c)
        if cfa is not None and c != 1:
            raise ParameterError(f"--cfa {cfa}: Bayer data has one channel, frames have {c}")
        if method == "inpaint":
            from .inpaint import HarmonicSolver

            solver = HarmonicSolver.build(m, cfa)
            return cls(tuple(frame_shape), method, cfa, m, solver.targets, solver.unrepairable,
                       [], solver)
        colours = None if cfa is None else cfa_colours(cfa, (h, w))
        all_t, all_tgt, all_src, all_w, all_lost = [], [], [], [], []
        for ch in range(c):
            targets, tgt, src, wts, lost = _plan_channel(m[:, :, ch], colours)
            # flat index of (y, x, ch) in a C-ordered (h, w, c) frame
            all_t.append(targets * c + ch)
            all_tgt.append(targets[tgt] * c + ch if tgt.size else tgt)
            all_src.append(src * c + ch)
            all_w.append(wts)
            all_lost.append(lost * c + ch)
        targets_all = np.concatenate(all_t)
        lost = np.concatenate(all_lost)
        tgt_flat = np.concatenate(all_tgt)
        buckets = (_buckets(tgt_flat, np.concatenate(all_src), np.concatenate(all_w))
                   if tgt_flat.size else [])
        repaired = np.setdiff1d(targets_all, lost)
        return cls(tuple(frame_shape), method, cfa, m, repaired, lost, buckets, None)

    # -- applying -------------------------------------------------------------------
    def apply(self, frames: np.ndarray) -> np.ndarray:
        """Repair ``frames`` in place and return them.

        ``frames`` is one frame ``(h, w)``/``(h, w, c)`` or a block
        ``(n, h, w)``/``(n, h, w, c)`` of any real dtype.
        """
        h, w, c = self.frame_shape
        per_frame = h * w * c
        n = frames.size // per_frame if per_frame else 0
        if frames.size != n * per_frame or not _shape_ok(frames.shape, self.frame_shape):
            raise ParameterError(f"frames of shape {frames.shape} do not match the plan's "
                                 f"frame shape {self.frame_shape}")
        if n == 0 or self.targets.size == 0:
            return frames
        work = frames if frames.flags.c_contiguous else np.ascontiguousarray(frames)
        flat = work.reshape(n, per_frame)
        values = self._compute(flat)
        bad_frames = np.empty(0, np.int64)
        if values is not None and flat.dtype.kind == "f":
            bad_frames = np.nonzero(np.isnan(values[1]).any(axis=1))[0]
        if values is not None:
            tgt, vals = values
            flat[:, tgt] = _to_dtype(vals, flat.dtype)
        for j in bad_frames:
            self._repair_nan_frame(flat[j])
        if work is not frames:
            frames[...] = work
        return frames

    def _compute(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """New values ``(targets, (n, m) float64)`` for every planned pixel."""
        if self.harmonic is not None:
            return self.harmonic.targets, self.harmonic.solve(flat)
        tgts, vals = [], []
        is_float = flat.dtype.kind == "f"
        for b in self.buckets:
            v = flat[:, b.sources].astype(np.float64)  # (n, m, k): the one gather
            nan = np.isnan(v) if is_float else None
            has_nan = nan is not None and nan.any()
            if self.method == "median":
                if has_nan:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
                        r = np.nanmedian(v, axis=-1)
                else:
                    r = np.median(v, axis=-1)
            else:
                wts = b.weights[None]
                if has_nan:
                    wts = np.where(nan, 0.0, wts)
                    v = np.where(nan, 0.0, v)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        r = (v * wts).sum(-1) / wts.sum(-1)
                else:
                    r = (v * wts).sum(-1) / b.weights.sum(-1)
            tgts.append(b.targets)
            vals.append(r)
        if not tgts:
            return None
        return np.concatenate(tgts), np.concatenate(vals, axis=1)

    def _repair_nan_frame(self, frame_flat: np.ndarray) -> None:
        # Every planned neighbour of some pixel is NaN in this frame: re-plan with the
        # NaN pixels as bad too, and write only the pixels this plan owns.
        h, w, c = self.frame_shape
        frame = frame_flat.reshape(h, w, c)
        nan_mask = self.mask | np.isnan(frame)
        sub = RepairPlan.build(nan_mask, self.method, self.cfa, self.frame_shape)
        if sub.targets.size == 0:
            return
        tmp = frame_flat.copy()[None]
        res = sub._compute(tmp)
        if res is None:
            return
        tgt, vals = res
        keep = np.isin(tgt, self.targets) & np.isnan(frame_flat[tgt])
        frame_flat[tgt[keep]] = vals[0, keep].astype(frame_flat.dtype)


def _shape_ok(shape: tuple[int, ...], frame_shape: tuple[int, int, int]) -> bool:
    h, w, c = frame_shape
    if c == 1 and shape[-2:] == (h, w) and len(shape) in (2, 3):
        return True
    return shape[-3:] == (h, w, c) and len(shape) in (3, 4)
