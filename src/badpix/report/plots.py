"""Matplotlib (Agg) figures of a report, returned as PNG bytes.

Images are already downsampled (see :mod:`badpix.report.quicklook`); figures
are sized so one image pixel is one PNG pixel, which keeps max-pooled hot
pixels crisp instead of being resampled away.

>>> import numpy as np
>>> png = image_png(np.zeros((10, 20, 3), np.uint8), (0, 0), (10, 20), 1, "t")
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede the pyplot import
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import LogLocator, NullLocator  # noqa: E402

from .data import Histogram  # noqa: E402

DPI = 100
#: margins in inches: left (tick labels), right, bottom, top (title)
MARGINS = (0.65, 0.2, 0.45, 0.3)
#: images smaller than this (pixels, longest side) are shown enlarged
MIN_SIDE = 400
FONT = {"font.size": 8, "axes.titlesize": 9, "font.family": "sans-serif"}


#: an image figure whose PNG is larger than this is stored as JPEG (photo content barely
#: compresses as PNG: a 640 x 480 photo quicklook is ~0.8 MB, ~60 kB as JPEG)
JPEG_ABOVE = 160_000
JPEG_QUALITY = 85
#: rings drawn on a quicklook at most (the flagged blocks of highest class priority first)
MAX_MARKS = 3000
#: ring diameter in points (matplotlib scatter sizes do not scale with the data)
RING_POINTS = 11.0
#: a class with more marks than this on one quicklook is drawn with small rings
DENSE_MARKS = 300


def _save(fig, photo: bool = False) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    if photo and buf.tell() > JPEG_ABOVE:
        buf = io.BytesIO()
        fig.savefig(buf, format="jpeg", dpi=DPI, pil_kwargs={"quality": JPEG_QUALITY})
    plt.close(fig)
    return buf.getvalue()


def draw_marks(ax, marks: tuple[np.ndarray, np.ndarray, list[str]] | None) -> int:
    """Rings (``rows``, ``cols`` in axis coordinates, one colour each) around flagged pixels.

    A ring keeps its size on screen whatever the image's scale, so one defect
    is visible on a page-wide overview; a dark halo under the coloured ring
    keeps it visible on bright and dark backgrounds alike.
    """
    if marks is None or len(marks[0]) == 0:
        return 0
    rows, cols, colours = marks
    # marks come rarest class first; drawn in reverse so those end on top, and a class
    # with hundreds of marks gets small thin rings so it does not bury the rare ones
    counts: dict[str, int] = {}
    for c in colours:
        counts[c] = counts.get(c, 0) + 1
    dense = np.array([counts[c] > DENSE_MARKS for c in colours])
    size = np.where(dense, (0.55 * RING_POINTS) ** 2, RING_POINTS ** 2)[::-1]
    halo = np.where(dense, 1.2, 2.6)[::-1]
    ax.scatter(cols[::-1], rows[::-1], s=size, facecolors="none", edgecolors="black",
               linewidths=halo, alpha=0.6, zorder=3)
    ax.scatter(cols[::-1], rows[::-1], s=size, facecolors="none", edgecolors=colours[::-1],
               linewidths=halo / 1.9, zorder=4)
    return len(rows)


def image_png(img: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], factor: int,
              title: str, *, cmap: str | None = None, vlim: tuple[float, float] | None = None,
              colorbar: str | None = None,
              marks: tuple[np.ndarray, np.ndarray, list[str]] | None = None) -> bytes:
    """An image (RGB uint8, or 2-D with ``cmap``) with axes in full-frame pixel coordinates.

    ``origin`` is the band's first row/column in the frame, ``shape`` its full
    size and ``factor`` the pooling factor that made ``img``.  ``marks`` are
    rings around defects (:func:`draw_marks`).  Large images (photo content)
    are returned as JPEG, the rest as PNG (the bytes say which).
    """
    h, w = img.shape[:2]
    # small bands are blown up by an integer factor (nearest) to a legible size
    zoom = max(1, MIN_SIDE // max(h, w, 1))
    h, w = h * zoom, w * zoom
    left, right, bottom, top = MARGINS
    if colorbar:
        right += 0.9
    # at least ~1 inch of image height so very thin bands still get readable axes
    img_h_in = max(h / DPI, 0.35)
    img_w_in = w / DPI
    fw, fh = img_w_in + left + right, img_h_in + bottom + top
    r0, c0 = origin
    extent = (c0 - 0.5, c0 + shape[1] - 0.5, r0 + shape[0] - 0.5, r0 - 0.5)
    with plt.rc_context(FONT):
        fig = plt.figure(figsize=(fw, fh), dpi=DPI)
        ax = fig.add_axes((left / fw, bottom / fh, img_w_in / fw, img_h_in / fh))
        kw = {}
        if cmap is not None:
            kw = {"cmap": cmap, "vmin": vlim[0] if vlim else None, "vmax": vlim[1] if vlim else None}
        im = ax.imshow(img, extent=extent, interpolation="nearest", aspect="auto", **kw)
        ax.set_title(title + (f"  (max-pooled {factor}x{factor})" if factor > 1 else ""),
                     loc="left")
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        draw_marks(ax, marks)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        if colorbar:
            cax = fig.add_axes(((left + img_w_in + 0.12) / fw, bottom / fh, 0.12 / fw,
                                img_h_in / fh))
            cb = fig.colorbar(im, cax=cax)
            cb.set_label(colorbar)
        return _save(fig, photo=True)


def histogram_png(hist: Histogram, title: str, xlabel: str, threshold_label: str,
                  flagged: int | None = None, flagged_label: str = "") -> bytes:
    """A log-log histogram with the rule's threshold and the count beyond it."""
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=DPI)
        # fixed margins: constrained layout measures every tick label, ~3x the drawing time;
        # the bottom strip holds the threshold text, outside the data
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.29, top=0.91)
        counts = hist.counts.astype(np.float64)
        if counts.any():
            ax.stairs(counts, hist.edges, fill=True, color="#7a8fa6", edgecolor="#4a5f76")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(0.7, max(2.0, counts.max() * 2.0 if counts.size else 2.0))
        ax.set_xlim(hist.edges[0], hist.edges[-1])
        for axis in (ax.xaxis, ax.yaxis):
            # minor log ticks dominate the drawing time and add little to a quicklook
            axis.set_minor_locator(NullLocator())
            axis.set_major_locator(LogLocator(numticks=8))
        lines = []
        if hist.threshold is not None and hist.threshold > 0:
            ax.axvline(hist.threshold, color="#c0392b", lw=1.5)
            lines.append(f"{threshold_label} = {hist.threshold:.4g}")
            lines.append(f"{hist.beyond:,} pixel(s) {hist.beyond_label}")
        if hist.zeros:
            lines.append(f"{hist.zeros:,} pixel(s) exactly 0 (not on log axis)")
        if flagged is not None:
            lines.append(f"flagged {flagged_label}: {flagged:,}")
        if lines:  # below the x label, never over the bars
            fig.text(0.12, 0.015, "   ".join(lines[:2]) + ("\n" + "   ".join(lines[2:])
                                                            if lines[2:] else ""),
                     ha="left", va="bottom", fontsize=7.5)
        ax.set_title(title, loc="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("pixels")
        ax.grid(True, which="major", alpha=0.3)
        return _save(fig)


def series_png(x: np.ndarray, series: dict[str, np.ndarray], title: str, xlabel: str,
               ylabel: str, marks: dict[str, np.ndarray] | None = None) -> bytes:
    """Line plot of a few series over a shared x axis (background runs).

    ``marks`` draws points (e.g. rejected images) as red crosses.
    """
    with plt.rc_context(FONT):
        fig, ax = plt.subplots(figsize=(10.4, 2.6), dpi=DPI, layout="constrained")
        for label, y in series.items():
            ax.plot(x[: len(y)], y, lw=1.0, label=label, marker="." if len(y) < 200 else None)
        for label, xy in (marks or {}).items():
            if len(xy):
                ax.plot(xy[:, 0], xy[:, 1], "x", color="#c0392b", ms=6, label=label)
        ax.set_title(title, loc="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if len(series) + len(marks or {}) > 1:  # outside the axes: no curve hidden
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
        return _save(fig)
