"""The stand-out test of the persistence statistic: per-frame thresholds and counts.

:func:`frame_thresholds` gives ``T_t`` of each frame (defined in
:mod:`badpix.stats.persistence`) and :func:`standout_counts` adds, per pixel, the
frames where ``x - median3x3 > T_t`` (hot) or ``median3x3 - x > T_t`` (dead).

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
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .median3x3 import _clamp, _median9_at
from .persistence_params import DEFAULT_DN, PersistenceParams

__all__ = ["frame_thresholds", "standout_counts"]

# ----------------------------------------------------------------------------- thresholds

#: noise samples per frame for sigma_t: enough for a 1 % MAD, far fewer than the pixels
SIGMA_SAMPLES = 16384


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


def frame_thresholds(frames: np.ndarray, params: PersistenceParams) -> np.ndarray:
    """Per-frame threshold ``T_t`` (float64, ``(n,)``), defined in :mod:`~badpix.stats.persistence`.

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


# ----------------------------------------------------------------------------- counts

#: rows per parallel work item of the stand-out kernel: its counters (2 x 4 B x rows x
#: width) and padded row buffers stay in L2 while every frame of the block streams through
ROWS_PER_TASK = 16


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
