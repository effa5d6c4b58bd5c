"""Persistence: in how many frames does a pixel stand out from its 3×3 neighbourhood?

A hot photosite stands out from its neighbours in (nearly) every photo; a star,
a specular highlight or a sharp edge stands out only in the photos where the
scene puts it on that pixel.  :class:`PersistenceAccumulator` counts, per pixel,
the frames in which

* ``x - median3x3 > T_t`` (hot side, ``persistence_hot``), or
* ``median3x3 - x > T_t`` (dead side, ``persistence_dead``),

where ``median3x3`` is the median of the pixel's 3×3 neighbourhood *in its
band* (pixel included; borders replicate the edge like
``scipy.ndimage.median_filter(mode="nearest")``).  On a Bayer band (see
:func:`badpix.io.raw.bayer_layout`) that neighbourhood is the same-colour
photosites at distance 2 in the mosaic.

Threshold (documented default)
------------------------------
``T_t = max(dn, z * sigma_t)`` for frame ``t``, where ``sigma_t = 1.4826 *
median |x - median3x3|`` over a sample grid of the band in that frame (a
robust noise scale that follows each photo's ISO and exposure; for white
noise of std ``s`` it is about ``0.87 s``, so ``T`` is about ``5.2 s``), ``z = 6``
and ``dn = 20`` data units for integer data (the LibRaw users' 20 DN floor;
JPEG noise is smoothed by compression, so the floor decides there) and ``0``
for float data.  An explicit ``persistence_dn`` replaces the rule: ``T_t =
persistence_dn`` in every frame.

Speed
-----
A numba kernel forms the exact 3×3 median from sorted column triples (about
15 min/max per pixel, shared between neighbouring outputs) in the data's own
dtype for 8/16-bit unsigned data, so AVX-512 works on 32-64 pixels at once;
integer data are compared in integers, exactly (the differences are cast back
to the data's width, so numba's 64-bit integer promotion does not shrink the
SIMD lanes to 8).  Band views of interleaved RGB blocks (column stride 3) are
gathered with constant-stride loops.  Rows are split across threads; the
counters are frame-independent, so a block of frames costs one pass over it.
For integer data the per-frame threshold takes the sample residuals in int64
and their median from a histogram (same values as the float64 route, exactly).

Memory: two ``uint32`` counters per pixel (8 bytes), plus one per pixel for
float data (frames where the pixel is finite).

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> frames = rng.integers(90, 110, (10, 8, 8)).astype(np.uint16)
>>> frames[:, 4, 4] += 200          # hot in every frame
>>> frames[3, 2, 2] += 200          # a "star" in one frame
>>> acc = PersistenceAccumulator((8, 8), np.uint16)
>>> acc.update(frames, 0)
>>> out = acc.finalize()
>>> round(float(out["persistence_hot"][4, 4]), 6), round(float(out["persistence_hot"][2, 2]), 6)
(1.0, 0.1)
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# the parameters live in a numba-free module: RuleParams validates them at CLI start-up
from .persistence_params import DEFAULT_DN, PersistenceParams
from .persistence_params import DEFAULT_Z as DEFAULT_Z

__all__ = ["PersistenceAccumulator", "PersistenceParams", "frame_thresholds", "median3x3",
           "persistence_factory", "standout_counts"]

#: noise samples per frame for sigma_t: enough for a 1 % MAD, far fewer than the pixels
SIGMA_SAMPLES = 16384

# ----------------------------------------------------------------------------- kernels

#: rows per parallel work item of the stand-out kernel: its counters (2 x 4 B x rows x
#: width) and padded row buffers stay in L2 while every frame of the block streams through
ROWS_PER_TASK = 16


@njit(cache=True, inline="always")
def _clamp(i, n):  # pragma: no cover - numba
    return 0 if i < 0 else (n - 1 if i >= n else i)


@njit(cache=True, inline="always")
def _med3(a, b, c):  # pragma: no cover - numba
    return max(min(a, b), min(max(a, b), c))


@njit(cache=True)
def _median9_at(fr, r, c, zero, lo_init, hi_init):  # pragma: no cover - numba
    """Median of the 3×3 window of 2-D ``fr`` at (r, c), edges replicated.

    Computed in the type of ``fr[r, c] + zero``: float64 for ``zero = 0.0``, int64
    (exact) for ``zero = np.int64(0)`` and data of up to 4 bytes; ``lo_init`` /
    ``hi_init`` are that type's bottom and top (``-inf`` / ``inf`` for floats).
    """
    h, w = fr.shape
    ru = _clamp(r - 1, h)
    rd = _clamp(r + 1, h)
    lo_max = lo_init
    hi_min = hi_init
    m0 = zero
    m1 = zero
    m2 = zero
    for k in range(3):
        cc = _clamp(c - 1 + k, w)
        a = fr[ru, cc] + zero
        b = fr[r, cc] + zero
        d = fr[rd, cc] + zero
        lo = min(a, min(b, d))
        hi = max(a, max(b, d))
        md = a + b + d - lo - hi
        lo_max = max(lo_max, lo)
        hi_min = min(hi_min, hi)
        if k == 0:
            m0 = md
        elif k == 1:
            m1 = md
        else:
            m2 = md
    return _med3(lo_max, _med3(m0, m1, m2), hi_min)


@njit(parallel=True, cache=True)
def _sample_residuals(frames, step_r, step_c, zero, lo_init, hi_init, out):  # pragma: no cover
    """``|x - median3x3|`` at grid points ``(step_r/2 + i step_r, step_c/2 + j step_c)``.

    In float64 (``out`` float64, ``zero = 0.0``) or, for integer data of up to 4
    bytes, exactly in int64 (``out`` int64, ``zero = np.int64(0)``); see
    :func:`_median9_at`.
    """
    n, h, w = frames.shape
    nr = (h - step_r // 2 + step_r - 1) // step_r
    nc = (w - step_c // 2 + step_c - 1) // step_c
    for f in prange(n):
        fr = frames[f]
        k = 0
        for i in range(nr):
            r = step_r // 2 + i * step_r
            for j in range(nc):
                c = step_c // 2 + j * step_c
                out[f, k] = abs(fr[r, c] + zero - _median9_at(fr, r, c, zero, lo_init, hi_init))
                k += 1


@njit(parallel=True, cache=True)
def _histogram_median(res, nbins, med):  # pragma: no cover - numba
    """Per row of non-negative int64 ``res`` (values below ``nbins``): its median into ``med``.

    The median of the float64 residuals that ``np.median`` would take is the same
    integer order statistic (or the mean of the two middle ones, exact below
    2**53), so thresholds come out bit-identical; the float conversions,
    ``np.median``'s partition and its temporaries are saved.
    """
    n, m = res.shape
    for f in prange(n):
        if m == 0:
            med[f] = np.nan
            continue
        out = res[f]
        hist = np.zeros(nbins, np.int64)
        for q in range(m):
            hist[out[q]] += 1
        lo_rank = (m - 1) // 2
        hi_rank = m // 2
        cum = 0
        a = -1
        b = -1
        for v in range(nbins):
            cum += hist[v]
            if a < 0 and cum > lo_rank:
                a = v
            if cum > hi_rank:
                b = v
                break
        med[f] = (a + b) / 2.0


def _pos_diff(a, b, zero):  # pragma: no cover - replaced by the overload in numba code
    """``a - b`` where ``a > b``, else 0, in the type of ``zero``."""
    return a - b if a > b else zero


@overload(_pos_diff)
def _pos_diff_impl(a, b, zero):  # pragma: no cover - numba typing
    ty = zero
    if isinstance(zero, types.Integer):
        # numba widens integer arithmetic to 64 bits; the explicit cast back to the
        # data's own width (exact: the value is in 0..max) keeps uint8 data in byte lanes
        def impl(a, b, zero):
            return ty(max(a, b) - b)
    else:
        def impl(a, b, zero):  # floats: as written, so that NaN never stands out
            return a - b if a > b else zero
    return impl


@njit(parallel=True, cache=True)
def _standout(flat, sf, sr, sc, n, h, w, thr, hot, dead, valid, bits, ranks,
              proto):  # pragma: no cover - numba
    """Count frames where a pixel is more than ``thr[f]`` above / below its 3×3 median.

    The frames are ``flat[f * sf + r * sr + c * sc]`` (``flat`` 1-D contiguous,
    strides in elements): a band view of an RGB block has ``sc == 3``, and
    constant strides 1-4 get their own copy loops, which LLVM vectorises as
    interleaved loads.  Each task copies its rows (plus a halo, edges
    replicated) into a contiguous padded buffer of ``proto``'s dtype -- the
    data's own dtype for 8/16-bit unsigned data (up to 64 SIMD lanes), float64
    for floats, int64 otherwise -- so the inner loops have no bounds logic.
    The median is formed from sorted column triples (``med3(max of lows, med3 of
    middles, min of highs)``, exact) and the differences are taken only in the
    direction where they are >= 0, in the buffer's own width (``_pos_diff``),
    so unsigned arithmetic never wraps and the loop stays in byte lanes.
    ``valid`` (``(0, 0)`` unless float) counts non-NaN frames.  ``bits``
    (``(groups, h, w)``; 0 groups to skip) gets bit ``ranks[f]``
    (``np.packbits`` order) where frame ``f`` stands out; a row with no
    stand-out leaves the bit store untouched.
    """
    want_bits = bits.shape[0] > 0
    want_valid = valid.shape[0] > 0
    zero = proto[0]  # a zero of the work type (proto is np.zeros(1, work))
    ntask = (h + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(ntask):
        r0 = task * ROWS_PER_TASK
        r1 = min(h, r0 + ROWS_PER_TASK)
        buf = np.empty((r1 - r0 + 2, w + 2), proto.dtype)
        lo = np.empty(w + 2, proto.dtype)
        md = np.empty(w + 2, proto.dtype)
        hi = np.empty(w + 2, proto.dtype)
        either = np.empty(w, np.uint8)
        # block-local uint8 counters (n <= 255 per call): keeps the inner loop in
        # byte lanes; added to the uint32 totals once per call
        hloc = np.zeros((r1 - r0, w), np.uint8)
        dloc = np.zeros((r1 - r0, w), np.uint8)
        for f in range(n):
            t = thr[f]
            for k in range(r1 - r0 + 2):
                start = f * sf + _clamp(r0 - 1 + k, h) * sr
                src = flat[start:start + sc * (w - 1) + 1]
                row = buf[k]
                if sc == 1:
                    for c in range(w):
                        row[c + 1] = src[c]
                elif sc == 3:
                    for c in range(w):
                        row[c + 1] = src[3 * c]
                elif sc == 2:
                    for c in range(w):
                        row[c + 1] = src[2 * c]
                elif sc == 4:
                    for c in range(w):
                        row[c + 1] = src[4 * c]
                else:
                    for c in range(w):
                        row[c + 1] = src[sc * c]
                row[0] = row[1]
                row[w + 1] = row[w]
            byte = ranks[f] >> 3
            bit = np.uint8(1 << (7 - (ranks[f] & 7)))
            for r in range(r0, r1):
                up = buf[r - r0]
                mid = buf[r - r0 + 1]
                dn = buf[r - r0 + 2]
                for c in range(w + 2):
                    a = up[c]
                    b = mid[c]
                    d = dn[c]
                    mn = min(a, b)
                    mx = max(a, b)
                    lo[c] = min(mn, d)
                    hi[c] = max(mx, d)
                    md[c] = max(mn, min(mx, d))
                hrow = hloc[r - r0]
                drow = dloc[r - r0]
                # flags as uint8 0/1 combined with max (not |, which numba widens to
                # int64 and which would make LLVM pick 8 lanes instead of 32-64)
                anyb = np.uint8(0)
                for c in range(w):
                    mxlo = max(lo[c], max(lo[c + 1], lo[c + 2]))
                    mnhi = min(hi[c], min(hi[c + 1], hi[c + 2]))
                    a = md[c]
                    b = md[c + 1]
                    d = md[c + 2]
                    mdmd = max(min(a, b), min(max(a, b), d))
                    med = max(min(mxlo, mdmd), min(max(mxlo, mdmd), mnhi))
                    x = mid[c + 1]
                    is_hot = np.uint8(_pos_diff(x, med, zero) > t)
                    is_dead = np.uint8(_pos_diff(med, x, zero) > t)
                    hrow[c] += is_hot
                    drow[c] += is_dead
                    e = max(is_hot, is_dead)
                    either[c] = e
                    anyb = max(anyb, e)
                if want_valid:
                    vrow = valid[r]
                    for c in range(w):
                        vrow[c] += np.uint32(mid[c + 1] == mid[c + 1])
                if want_bits and anyb != 0:
                    brow = bits[byte, r]
                    for c in range(w):
                        brow[c] = brow[c] | (either[c] * bit)
        for r in range(r0, r1):
            hrow32 = hot[r]
            drow32 = dead[r]
            hl = hloc[r - r0]
            dl = dloc[r - r0]
            for c in range(w):
                hrow32[c] += hl[c]
                drow32[c] += dl[c]


def _flat_view(frames: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """``frames`` (3-D) as a 1-D contiguous read-only array over its span plus its strides in elements.

    Every numpy array lies in one buffer, so the span from its first to its last
    element is readable; arrays with negative or odd strides are copied first.
    """
    isz = frames.itemsize
    if any(s < 0 or s % isz for s in frames.strides):
        frames = np.ascontiguousarray(frames)
    sf, sr, sc = (s // isz for s in frames.strides)
    span = sum((d - 1) * s for d, s in zip(frames.shape, (sf, sr, sc), strict=True)) + 1
    flat = np.lib.stride_tricks.as_strided(frames, shape=(span,), strides=(isz,),
                                           writeable=False)
    return flat, sf, sr, sc


@njit(parallel=True, cache=True)
def _median3x3_kernel(plane, out):  # pragma: no cover - numba
    """3×3 median, edges replicated: sorted column triples, then med(max lo, med mid, min hi)."""
    h, w = plane.shape
    for r in prange(h):
        ru = r - 1 if r > 0 else 0
        rd = r + 1 if r < h - 1 else h - 1
        lo = np.empty(w + 2, plane.dtype)
        md = np.empty(w + 2, plane.dtype)
        hi = np.empty(w + 2, plane.dtype)
        for c in range(w + 2):
            cc = c - 1 if c > 0 else 0
            cc = cc if cc < w else w - 1
            a = plane[ru, cc]
            b = plane[r, cc]
            d = plane[rd, cc]
            if a > b:
                a, b = b, a
            if b > d:
                b, d = d, b
            if a > b:
                a, b = b, a
            lo[c] = a
            md[c] = b
            hi[c] = d
        for c in range(w):
            mxlo = max(lo[c], max(lo[c + 1], lo[c + 2]))
            mnhi = min(hi[c], min(hi[c + 1], hi[c + 2]))
            a, b, d = md[c], md[c + 1], md[c + 2]
            mdmd = max(min(a, b), min(max(a, b), d))
            out[r, c] = max(min(mxlo, mdmd), min(max(mxlo, mdmd), mnhi))


def median3x3(plane: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Exact 3×3 median of a 2-D array, edges as ``scipy.ndimage.median_filter(mode="nearest")``.

    About 50× faster than ``scipy.ndimage.median_filter(size=3)`` (numba,
    sorted column triples; no NaN support: NaN order is undefined).

    >>> import numpy as np
    >>> a = np.arange(16.0).reshape(4, 4); a[1, 1] = 100
    >>> float(median3x3(a)[1, 1])       # of 0 1 2 4 100 6 8 9 10
    6.0
    """
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"median3x3 needs a 2-D array, got {plane.ndim}-D")
    if out is None:
        out = np.empty(plane.shape, plane.dtype)
    _median3x3_kernel(plane, out)
    return out


# ----------------------------------------------------------------------------- thresholds

def frame_thresholds(frames: np.ndarray, params: PersistenceParams) -> np.ndarray:
    """Per-frame threshold ``T_t`` (float64, shape ``(n,)``) as documented in the module.

    >>> import numpy as np
    >>> f = np.random.default_rng(0).normal(1000, 10, (2, 64, 64))
    >>> t = frame_thresholds(f, PersistenceParams())
    >>> bool(40 < t[0] < 65)        # 6 x 1.4826 x median |x - med3x3| (about 0.59 sigma)
    True
    """
    n, h, w = frames.shape
    is_int = frames.dtype.kind in "iub"
    if params.persistence_dn is not None:
        return np.full(n, float(params.persistence_dn))
    floor = DEFAULT_DN if is_int else 0.0
    if params.persistence_z == 0 or h * w == 0:
        return np.full(n, floor)
    step = max(1, math.isqrt(max(1, (h * w) // SIGMA_SAMPLES)))
    nr = (h - step // 2 + step - 1) // step
    nc = (w - step // 2 + step - 1) // step
    if is_int and frames.dtype.itemsize <= 4:
        # exact in int64; float64 would hold the same values (|x| < 2**53)
        if frames.dtype.kind == "b":
            frames = frames.view(np.uint8)
        ires = np.empty((n, nr * nc), np.int64)
        _sample_residuals(frames, step, step, np.int64(0), np.int64(-(2 ** 62)),
                          np.int64(2 ** 62), ires)
        if frames.dtype.itemsize <= 2:
            med = np.empty(n, np.float64)
            _histogram_median(ires, 1 << (8 * frames.dtype.itemsize), med)
        else:
            med = np.median(ires.astype(np.float64), 1)
        sigma = 1.4826 * med
    else:
        res = np.empty((n, nr * nc), np.float64)
        _sample_residuals(frames, step, step, 0.0, -np.inf, np.inf, res)
        with np.errstate(invalid="ignore"):
            sigma = (1.4826 * np.nanmedian(res, axis=1) if not is_int
                     else 1.4826 * np.median(res, 1))
    sigma = np.nan_to_num(sigma, nan=0.0)
    return np.maximum(floor, params.persistence_z * sigma)


def standout_counts(frames: np.ndarray, thresholds: np.ndarray, hot: np.ndarray,
                    dead: np.ndarray, valid: np.ndarray | None = None,
                    bits: np.ndarray | None = None, ranks: np.ndarray | None = None) -> None:
    """Add this block's stand-out frames to ``hot``/``dead`` (uint32 ``(h, w)``) in place.

    ``bits``/``ranks``: also set bit ``ranks[f]`` of ``bits`` (``(groups, h, w)``
    uint8, :func:`numpy.packbits` order along axis 0) where frame ``f`` stands
    out on either side.  ``valid`` (float data) counts finite frames per pixel.
    """
    n = frames.shape[0]
    if bits is None:
        bits = np.zeros((0, 1, 1), np.uint8)
        ranks = np.zeros(n, np.int64)
    ranks = np.ascontiguousarray(ranks, dtype=np.int64)
    if n > 255:  # the kernel's block-local counters are uint8
        for s in range(0, n, 255):
            standout_counts(frames[s:s + 255], thresholds[s:s + 255], hot, dead, valid, bits,
                            ranks[s:s + 255])
        return
    kind = frames.dtype.kind
    if kind == "b":
        frames = frames.view(np.uint8)
        kind = "u"
    if kind not in "iu" and valid is None:
        raise ValueError("float frames need a 'valid' counter")
    if frames.size == 0:
        return
    flat = (*_flat_view(frames), *frames.shape)
    if kind in "iu":
        # x - med > T  <=>  x - med > floor(T) for integers: compare in integers, exactly
        if kind == "u" and frames.dtype.itemsize <= 2:
            work = frames.dtype.type  # native lanes; differences are taken where >= 0
            top = np.iinfo(frames.dtype).max
        else:
            work, top = np.int64, np.iinfo(np.int64).max // 4
        thr = np.minimum(np.floor(thresholds), top).astype(work)
        _standout(*flat, thr, hot, dead, np.zeros((0, 0), np.uint32), bits, ranks,
                  np.zeros(1, work))
    else:
        _standout(*flat, np.asarray(thresholds, np.float64), hot, dead, valid, bits, ranks,
                  np.zeros(1, np.float64))


@njit(parallel=True, cache=True)
def _fractions(hot, dead, frames, hot_out, dead_out):  # pragma: no cover - numba
    """``count / frames`` (divided in float64, stored in the outputs' type) where
    ``frames > 0``, else 0: one pass, no temporaries."""
    h, w = hot.shape
    for r in prange(h):
        for c in range(w):
            f = frames[r, c]
            d = np.float64(max(f, 1))
            hot_out[r, c] = np.float64(hot[r, c]) / d if f > 0 else 0.0
            dead_out[r, c] = np.float64(dead[r, c]) / d if f > 0 else 0.0


# ----------------------------------------------------------------------------- accumulator

class PersistenceAccumulator:
    """Per-pixel count of frames in which the pixel stands out (see the module docstring).

    ``finalize()`` returns ``persistence_hot`` / ``persistence_dead`` (fraction
    of the pixel's valid frames, float32) and ``persistence_frames`` (valid
    frames per pixel; a broadcast read-only view for integer data).
    """

    name = "persistence"

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type | str,
                 params: PersistenceParams | None = None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.params = params or PersistenceParams()
        self.hot = np.zeros(self.shape, np.uint32)
        self.dead = np.zeros(self.shape, np.uint32)
        self.is_float = self.dtype.kind == "f"
        self.valid = np.zeros(self.shape, np.uint32) if self.is_float else None
        self.n_frames = 0

    def _check(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.shape[1:] != self.shape:
            raise ValueError(f"{self.name}: frames of shape {frames.shape[1:]}, "
                             f"accumulator has {self.shape}")
        return frames

    def _bits_target(self, n: int, first_index: int):
        return None, None

    def update(self, frames: np.ndarray, first_index: int = 0) -> None:
        """Count the stand-out frames of a block ``(n, h, w)`` (any strides)."""
        frames = self._check(frames)
        n = frames.shape[0]
        if n == 0:
            return
        thr = frame_thresholds(frames, self.params)
        bits, ranks = self._bits_target(n, first_index)
        standout_counts(frames, thr, self.hot, self.dead, self.valid, bits, ranks)
        self.n_frames += n

    def merge(self, other: Self) -> Self:
        """Add the counts of ``other`` (disjoint frames of the same band)."""
        if other.shape != self.shape:
            raise ValueError(f"cannot merge {other.shape} into {self.shape}")
        self.hot += other.hot
        self.dead += other.dead
        if self.valid is not None and other.valid is not None:
            self.valid += other.valid
        self.n_frames += other.n_frames
        return self

    def frames_per_pixel(self) -> np.ndarray:
        if self.valid is not None:
            return self.valid
        return np.broadcast_to(np.uint32(self.n_frames), self.shape)

    def finalize(self) -> dict[str, np.ndarray]:
        frames = self.frames_per_pixel()
        # float32: they are scores (see badpix.detect.persistent); band-size arrays are
        # fresh memory, slow on small VMs
        hot = np.empty(self.shape, np.float32)
        dead = np.empty(self.shape, np.float32)
        _fractions(self.hot, self.dead, np.broadcast_to(frames, self.shape), hot, dead)
        return {"persistence_hot": hot, "persistence_dead": dead, "persistence_frames": frames}

    def state(self) -> dict[str, np.ndarray]:
        st = {"hot": self.hot, "dead": self.dead, "n_frames": np.int64(self.n_frames),
              "dtype": np.array(self.dtype.str), "params": _params_array(self.params)}
        if self.valid is not None:
            st["valid"] = self.valid
        return st

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Self:
        acc = cls(state["hot"].shape, np.dtype(str(state["dtype"])),
                  _params_from_array(state["params"]))
        acc.hot = np.array(state["hot"], np.uint32)
        acc.dead = np.array(state["dead"], np.uint32)
        if "valid" in state:
            acc.valid = np.array(state["valid"], np.uint32)
        acc.n_frames = int(state["n_frames"])
        return acc


def _params_array(p: PersistenceParams) -> np.ndarray:
    """Parameters as float64 (NaN for None): ``.npz`` state without pickles."""
    return np.array([p.persistence, np.nan if p.persistence_dn is None else p.persistence_dn,
                     p.persistence_z, np.nan if p.onset_min_frames is None
                     else p.onset_min_frames], np.float64)


def _params_from_array(a: np.ndarray) -> PersistenceParams:
    a = np.asarray(a, np.float64)
    return PersistenceParams(float(a[0]), None if np.isnan(a[1]) else float(a[1]), float(a[2]),
                             None if np.isnan(a[3]) else int(a[3]))


def persistence_factory(shape: tuple[int, int], dtype: np.dtype, n_frames: int,
                        params: Any) -> PersistenceAccumulator:
    """:class:`~badpix.stats.base.AccumulatorFactory` for ``scan_stack(extra_accumulators=...)``.

    Reads ``persistence``, ``persistence_dn``, ``persistence_z`` from ``params``
    when it has them (defaults otherwise).

    >>> import numpy as np
    >>> persistence_factory((4, 4), np.dtype("uint8"), 10, None).name
    'persistence'
    """
    return PersistenceAccumulator(shape, dtype, PersistenceParams.from_params(params))
