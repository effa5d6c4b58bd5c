"""Quicklook images: max-pool downsampling, contrast stretch, defect overlays, crops.

Everything here is plain numpy (plus Pillow for PNG encoding) so a report for a
4096 x 4096 band stays at a few seconds: matplotlib only draws the axes around
the already-small images.

>>> import numpy as np
>>> a = np.zeros((8, 8)); a[5, 2] = 9.0
>>> maxpool(a, 4)                  # the single hot pixel survives the downsampling
array([[0., 0.],
       [9., 0.]])
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

from ..detect.flags import CLASSES

#: display colour (RGB) of each defect class; chosen to stay distinct on a grey image
#: and for the common colour-vision deficiencies (Okabe-Ito palette)
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "stuck": (0, 114, 178),       # blue
    "outlier": (230, 159, 0),     # orange
    "hot": (213, 94, 0),          # vermillion
    "dead": (86, 180, 233),       # sky blue
    "noisy": (204, 121, 167),     # reddish purple
    "persistent": (0, 158, 115),  # bluish green
}
#: a pixel in several classes is drawn in the first of these it belongs to
#: (the rarer, more specific classes win over the broad ones)
CLASS_PRIORITY = ("hot", "dead", "stuck", "noisy", "persistent", "outlier")

#: longest side of a band quicklook in pixels (fits a laptop screen in two columns)
QUICKLOOK_SIDE = 720


def class_colour(name: str) -> tuple[int, int, int]:
    """Display colour of a class (grey for unknown names)."""
    return CLASS_COLOURS.get(name, (128, 128, 128))


def hex_colour(name: str) -> str:
    """``#rrggbb`` of a class colour, for HTML and matplotlib."""
    return "#{:02x}{:02x}{:02x}".format(*class_colour(name))


def pool_factor(shape: tuple[int, int], side: int = QUICKLOOK_SIDE) -> int:
    """Smallest integer factor that brings the longest side to ``side`` pixels or less.

    >>> pool_factor((4096, 4096)), pool_factor((70, 640))
    (6, 1)
    """
    return max(1, math.ceil(max(shape) / side))


def _pool(a: np.ndarray, factor: int, ufunc: np.ufunc) -> np.ndarray:
    """Reduce ``factor x factor`` blocks with ``ufunc``; ragged edge blocks are just smaller.

    ``reduceat`` needs no padded copy and no contiguous input, which keeps a
    4096 x 4096 band at one pass per axis.
    """
    h, w = a.shape
    cols = np.arange(0, w, factor)
    rows = np.arange(0, h, factor)
    return ufunc.reduceat(ufunc.reduceat(a, cols, axis=1), rows, axis=0)


def maxpool(a: np.ndarray, factor: int) -> np.ndarray:
    """Downsample by the maximum of each ``factor x factor`` block, ignoring NaN.

    A single hot pixel stays visible at any zoom; an all-NaN block stays NaN.

    >>> maxpool(np.array([[1.0, np.nan], [np.nan, np.nan]]), 2)
    array([[1.]])
    """
    a = np.asarray(a)
    if factor <= 1:
        return a
    # fmax ignores NaN unless both are NaN, so no all-NaN warnings (nanmax would warn)
    return _pool(a, factor, np.fmax)


def orpool(flags: np.ndarray, factor: int) -> np.ndarray:
    """Downsample a flag image by OR-ing each block: every class in a block stays visible.

    >>> f = np.zeros((4, 4), np.uint8); f[0, 0] = 1; f[1, 1] = 4
    >>> orpool(f, 2)
    array([[5, 0],
           [0, 0]], dtype=uint8)
    """
    flags = np.asarray(flags)
    if factor <= 1:
        return flags
    return _pool(flags, factor, np.bitwise_or)


def _sample(a: np.ndarray, max_values: int = 1_000_000) -> np.ndarray:
    """Finite values of a strided subsample (percentiles of 1M values are plenty)."""
    step = max(1, int(math.sqrt(a.size / max_values)))
    s = a[::step, ::step] if a.ndim == 2 else a.ravel()[::step * step]
    s = s[np.isfinite(s)]
    return s


def stretch_limits(a: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> tuple[float, float]:
    """Percentile limits of the finite values (``(0, 1)`` when there are none).

    >>> stretch_limits(np.arange(101.0), 0, 100)
    (0.0, 100.0)
    """
    s = _sample(a)
    if s.size == 0:
        return 0.0, 1.0
    vlo, vhi = (float(v) for v in np.percentile(s, [lo, hi]))
    if vhi <= vlo:
        vlo, vhi = float(s.min()), float(s.max())
    if vhi <= vlo:
        vhi = vlo + 1.0
    return vlo, vhi


def percentile_stretch(a: np.ndarray, lo: float = 0.5, hi: float = 99.5,
                       limits: tuple[float, float] | None = None) -> np.ndarray:
    """Map the ``lo``..``hi`` percentile range to 0..1 (float32, clipped, NaN -> 0).

    >>> percentile_stretch(np.array([[0.0, 5.0, 10.0]]), 0, 100)
    array([[0. , 0.5, 1. ]], dtype=float32)
    """
    vlo, vhi = limits if limits is not None else stretch_limits(a, lo, hi)
    out = (np.asarray(a, np.float32) - np.float32(vlo)) / np.float32(vhi - vlo)
    np.clip(out, 0, 1, out=out)
    np.nan_to_num(out, copy=False, nan=0.0)
    return out


def histeq_stretch(a: np.ndarray, levels: int = 1024) -> np.ndarray:
    """Histogram equalisation: each value -> its quantile among the finite values (0..1).

    >>> histeq_stretch(np.array([[1.0, 10.0, 1000.0]])).round(2)
    array([[0. , 0.5, 1. ]], dtype=float32)
    """
    s = _sample(a)
    if s.size == 0:
        return np.zeros(np.shape(a), np.float32)
    q = np.quantile(s, np.linspace(0, 1, levels))
    # ties (flat regions) would make np.interp jump; keep the unique quantile points
    q, first = np.unique(q, return_index=True)
    if q.size == 1:
        return np.where(np.isfinite(a), 0.5, 0.0).astype(np.float32)
    y = first / (levels - 1)
    out = np.interp(np.asarray(a, np.float64), q, y).astype(np.float32)
    out[~np.isfinite(a)] = 0.0
    return out


def stretch(a: np.ndarray, method: str = "percentile") -> np.ndarray:
    """``"percentile"`` (0.5-99.5 %) or ``"histeq"`` stretch to 0..1."""
    if method == "histeq":
        return histeq_stretch(a)
    if method == "percentile":
        return percentile_stretch(a)
    from ..errors import ParameterError

    raise ParameterError(f"stretch must be 'percentile' or 'histeq', not {method!r}")


def class_masks(flags: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean image per class present in ``flags`` (classes with no pixel are left out)."""
    present = int(np.bitwise_or.reduce(flags, axis=None)) if flags.size else 0
    return {name: (flags & np.uint8(bit)) != 0 for name, bit in CLASSES.items() if present & bit}


def overlay(grey: np.ndarray, flags: np.ndarray, grow: int = 1) -> np.ndarray:
    """An RGB uint8 image: ``grey`` (0..1) with flagged pixels painted in their class colour.

    ``grow`` dilates each marked pixel by that many pixels on every side so a
    single defect is still a visible dot when the browser scales the image.

    >>> g = np.zeros((5, 5), np.float32); f = np.zeros((5, 5), np.uint8); f[2, 2] = 4
    >>> rgb = overlay(g, f, grow=1)
    >>> rgb.shape, rgb[1, 1].tolist(), rgb[0, 0].tolist()
    ((5, 5, 3), [213, 94, 0], [0, 0, 0])
    """
    from scipy import ndimage

    v = (np.clip(grey, 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(v[:, :, None], 3, axis=2)
    masks = class_masks(flags)
    # paint the lowest-priority class first so higher-priority colours end on top
    for name in reversed(CLASS_PRIORITY):
        if name not in masks:
            continue
        m = masks[name]
        if grow > 0:
            m = ndimage.binary_dilation(m, structure=np.ones((3, 3), bool), iterations=grow)
        rgb[m] = class_colour(name)
    for name, m in masks.items():  # classes not in the priority list (future bits)
        if name not in CLASS_PRIORITY:
            rgb[m] = class_colour(name)
    return rgb


def crop(a: np.ndarray, row: int, col: int, half: int = 7) -> np.ndarray:
    """The ``(2*half+1)`` square around ``(row, col)``, NaN-padded at the band edges.

    >>> crop(np.arange(9.0).reshape(3, 3), 0, 0, half=1)
    array([[nan, nan, nan],
           [nan,  0.,  1.],
           [nan,  3.,  4.]])
    """
    n = 2 * half + 1
    out = np.full((n, n), np.nan)
    h, w = a.shape
    r0, r1 = max(0, row - half), min(h, row + half + 1)
    c0, c1 = max(0, col - half), min(w, col + half + 1)
    out[r0 - (row - half):r1 - (row - half), c0 - (col - half):c1 - (col - half)] = a[r0:r1, c0:c1]
    return out


def crop_rgb(a: np.ndarray, row: int, col: int, colour: tuple[int, int, int],
             half: int = 7, zoom: int = 5) -> np.ndarray:
    """A zoomed RGB crop around a pixel, stretched on its neighbours, centre outlined.

    The stretch leaves the centre pixel out so a hot pixel does not turn its
    neighbourhood black; it saturates instead, which is what one wants to see.
    """
    c = crop(a, row, col, half)
    ring = c.copy()
    ring[half, half] = np.nan
    finite = ring[np.isfinite(ring)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            lo, hi = lo - 1.0, hi + 1.0
    else:
        lo, hi = 0.0, 1.0
    grey = percentile_stretch(c, limits=(lo, hi))
    v = (grey * 255).astype(np.uint8)
    rgb = np.repeat(v[:, :, None], 3, axis=2)
    rgb[~np.isfinite(c)] = (255, 255, 255)  # outside the band
    big = np.repeat(np.repeat(rgb, zoom, axis=0), zoom, axis=1)
    s, e = half * zoom - 1, (half + 1) * zoom  # one pixel outside the centre pixel
    big[s, s:e + 1] = colour
    big[e, s:e + 1] = colour
    big[s:e + 1, s] = colour
    big[s:e + 1, e] = colour
    return big


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an RGB (or grey) uint8 array as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def data_uri(image: bytes) -> str:
    """``data:image/png;base64,...`` (or ``image/jpeg`` for JPEG bytes) for an ``<img src>``.

    >>> data_uri(bytes([0xFF, 0xD8, 0xFF, 0xE0])).startswith("data:image/jpeg")
    True
    """
    mime = "image/jpeg" if image[:3] == b"\xff\xd8\xff" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(image).decode("ascii")



def sparkline_svg(values: np.ndarray | None = None, *, lo: np.ndarray | None = None,
                  hi: np.ndarray | None = None, reference: float | None = None,
                  width: int = 160, height: int = 36, colour: str = "#333") -> str:
    """An inline SVG sparkline: a polyline of ``values``, optionally a ``lo``..``hi`` envelope.

    ``reference`` draws a dashed horizontal line (e.g. the band's typical level).

    >>> sparkline_svg(np.array([1.0, 3.0, 2.0])).startswith("<svg")
    True
    """
    parts = [v for v in (values, lo, hi) if v is not None]
    if not parts:
        return ""
    allv = np.concatenate([np.asarray(p, np.float64).ravel() for p in parts]
                          + ([np.array([reference])] if reference is not None else []))
    allv = allv[np.isfinite(allv)]
    if allv.size == 0:
        return f'<svg class="spark" width="{width}" height="{height}"></svg>'
    vmin, vmax = float(allv.min()), float(allv.max())
    if vmax <= vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    n = max(len(p) for p in parts)
    pad = 2.0

    def xy(seq: np.ndarray) -> list[tuple[float, float]]:
        seq = np.asarray(seq, np.float64)
        xs = np.linspace(pad, width - pad, len(seq)) if len(seq) > 1 else np.array([width / 2])
        ys = height - pad - (seq - vmin) / (vmax - vmin) * (height - 2 * pad)
        return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if np.isfinite(y)]

    def pts(p: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in p)

    out = [f'<svg class="spark" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">']
    if lo is not None and hi is not None:
        upper, lower = xy(hi), xy(lo)
        out.append(f'<polygon points="{pts(upper + lower[::-1])}" fill="#bbb" stroke="none"/>')
    if reference is not None and np.isfinite(reference):
        y = height - pad - (reference - vmin) / (vmax - vmin) * (height - 2 * pad)
        out.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#888" '
                   'stroke-dasharray="3,2" stroke-width="1"/>')
    if values is not None:
        p = xy(values)
        if n == 1 or len(p) == 1:
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colour}"/>' for x, y in p)
        else:
            out.append(f'<polyline points="{pts(p)}" fill="none" stroke="{colour}" '
                       'stroke-width="1.2"/>')
    out.append("</svg>")
    return "".join(out)


def range_svg(vmin: float, vmean: float, vmax: float, vmedian: float | None = None,
              reference: tuple[float, float] | None = None, width: int = 160,
              height: int = 20, colour: str = "#333") -> str:
    """A one-line glyph of a pixel's min..max range with its mean (dot) and median (tick).

    Used instead of a time series when the frames are not at hand.
    ``reference`` is a ``(lo, hi)`` range drawn underneath for context (the
    band's typical min..max), which both scales the axis and shows how the
    pixel differs from its peers.

    >>> range_svg(0.0, 1.0, 2.0).startswith("<svg")
    True
    """
    vals = [v for v in (vmin, vmean, vmax, vmedian) if v is not None and np.isfinite(v)]
    if reference is not None:
        vals += [v for v in reference if np.isfinite(v)]
    if not vals:
        return f'<svg class="spark" width="{width}" height="{height}"></svg>'
    lo, hi = min(vals), max(vals)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 4.0

    def x(v: float) -> float:
        return pad + (v - lo) / (hi - lo) * (width - 2 * pad)

    mid = height / 2
    out = [f'<svg class="spark" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">']
    if reference is not None and all(np.isfinite(reference)):
        out.append(f'<rect x="{x(reference[0]):.1f}" y="{mid - 5:.1f}" '
                   f'width="{max(1.0, x(reference[1]) - x(reference[0])):.1f}" height="10" '
                   'fill="#e4e4e4"/>')
    if np.isfinite(vmin) and np.isfinite(vmax):
        out.append(f'<line x1="{x(vmin):.1f}" x2="{x(vmax):.1f}" y1="{mid}" y2="{mid}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        for v in (vmin, vmax):
            out.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{mid - 4}" y2="{mid + 4}" '
                       f'stroke="{colour}" stroke-width="1.5"/>')
    if vmedian is not None and np.isfinite(vmedian):
        out.append(f'<line x1="{x(vmedian):.1f}" x2="{x(vmedian):.1f}" y1="{mid - 6}" '
                   f'y2="{mid + 6}" stroke="#c00" stroke-width="1.5"/>')
    if np.isfinite(vmean):
        out.append(f'<circle cx="{x(vmean):.1f}" cy="{mid}" r="3.5" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)
