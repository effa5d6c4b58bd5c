"""Defect markers of a report: rings on the quicklooks, readable STUCK scores.

A defect is one pixel; on a page-wide overview of a photo that is one screen
pixel, which nobody finds.  Rings drawn by matplotlib keep their size on
screen whatever the image's scale (:func:`badpix.report.plots.draw_marks`).
"""

from __future__ import annotations

import numpy as np

from ..detect.flags import CLASSES
from ..detect.stuck import MAX_SCORE as STUCK_MAX_SCORE
from .data import Defect
from .quicklook import CLASS_PRIORITY, hex_colour, orpool, range_svg, sparkline_svg

__all__ = ["STUCK_MAX_SCORE", "constant_score", "defect_glyph", "defect_marks", "power_note",
           "ring_caption", "score_cell"]

#: stacks up to this many frames get every value in their sparkline; longer ones an envelope
SPARK_VALUES = 200
SPARK_BINS = 100


def defect_marks(flags: np.ndarray, factor: int, origin: tuple[int, int],
                 limit: int = 3000) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ring positions (axis coordinates of a quicklook) and colours of the flagged pixels.

    One ring per flagged pooled block, at the block's centre, in the colour of
    its highest-priority class; at most ``limit`` rings, the rarer classes
    first (a band with thousands of NOISY pixels still shows its HOT ones).

    >>> f = np.zeros((8, 8), np.uint8); f[5, 2] = 4
    >>> rows, cols, colours = defect_marks(f, 4, (100, 0))
    >>> rows.tolist(), cols.tolist(), colours
    ([105.5], [1.5], ['#d55e00'])
    """
    pooled = orpool(flags, factor)
    out_r: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    colours: list[str] = []
    taken = np.zeros(pooled.shape, bool)
    left = limit
    for name in CLASS_PRIORITY:
        if left <= 0:
            break
        m = ((pooled & np.uint8(CLASSES[name])) != 0) & ~taken
        i, j = np.nonzero(m)
        i, j = i[:left], j[:left]
        taken[i, j] = True
        centre = (factor - 1) / 2
        out_r.append(origin[0] + i * factor + centre)
        out_c.append(origin[1] + j * factor + centre)
        colours += [hex_colour(name)] * len(i)
        left -= len(i)
    if not out_r:
        return np.zeros(0), np.zeros(0), []
    return np.concatenate(out_r).astype(np.float64), np.concatenate(out_c).astype(np.float64), colours


def ring_caption(n_marks: int, flagged_blocks: int, factor: int) -> str:
    """The caption sentence on the rings of a quicklook.

    >>> ring_caption(3, 3, 1)
    ' Rings mark the 3 flagged pixels.'
    """
    if not n_marks:
        return ""
    what = "blocks" if factor > 1 else "pixels"
    more = (f" (the first {n_marks:,} of {flagged_blocks:,}, rarer classes first)"
            if n_marks < flagged_blocks else "")
    return f" Rings mark the {n_marks:,} flagged {what}{more}."


def constant_score(std: np.ndarray, stuck_std: float) -> float | None:
    """The finite STUCK score shown for a pixel of std 0: ``stuck_std`` over the smallest
    non-zero std in the band (the finest std the data resolve), ``None`` if none is.

    The rule stores ``1e6`` for std 0 (a sentinel that sorts first); as a number
    on a page it reads as a measurement, which it is not.

    >>> constant_score(np.array([0.0, 0.25, 3.0]), 1.0)
    4.0
    """
    pos = std[np.isfinite(std) & (std > 0)]
    return float(stuck_std / pos.min()) if pos.size else None


def score_cell(d: Defect, constant: float | None) -> str:
    if d.score >= STUCK_MAX_SCORE and "stuck" in d.classes:
        shown = f"{constant:.4g}" if constant is not None else "max"
        return (f'<td class="num" title="std 0: constant in every frame">≥ {shown}'
                "<sup>†</sup></td>")
    return f'<td class="num">{_fmt(d.score)}</td>'


def _fmt(v: float) -> str:
    f = float(v)
    if not np.isfinite(f):
        return "–" if np.isnan(f) else "∞"
    return f"{f:.4g}"


def defect_glyph(series: np.ndarray | None, d: Defect, reference: tuple[float, float] | None,
               at: dict[str, float], colour: str) -> tuple[str, str]:
    """(svg, caption) of one defect's time series, or of its min/mean/max without frames."""
    if series is not None and series.size:
        n = series.size
        if n <= SPARK_VALUES:
            return sparkline_svg(series, colour=colour), f"{n} values"
        edges = np.linspace(0, n, SPARK_BINS + 1).astype(int)
        chunks = [series[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
        with np.errstate(invalid="ignore"):
            lo = np.array([np.nanmin(c) if np.isfinite(c).any() else np.nan for c in chunks])
            hi = np.array([np.nanmax(c) if np.isfinite(c).any() else np.nan for c in chunks])
            mid = np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in chunks])
        return (sparkline_svg(mid, lo=lo, hi=hi, colour=colour),
                f"{n} frames in {len(chunks)} bins: min–max (grey), mean (line)")
    return (range_svg(at.get("min", np.nan), d.mean, at.get("max", np.nan), d.median,
                      reference=reference, colour=colour),
            "min–max, mean (dot), median (red)")


def power_note(summary: dict) -> str:
    """A warning box listing the rules whose frame count is too small (summary ``power``).

    >>> power_note({"power_warnings": ["ch0 STUCK: 13 frames are too few"]}).count("<li>")
    1
    >>> power_note({})
    ''
    """
    import html

    lines = summary.get("power_warnings") or []
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines)
    return ('<div class="note" id="power"><b>Statistical power.</b> With this many frames '
            "some rules cannot tell defects from noise at their thresholds; their counts "
            f"below include pixels flagged by chance:<ul>{items}</ul></div>")
