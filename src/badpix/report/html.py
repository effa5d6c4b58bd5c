"""``report.html``: one self-contained page showing a scan's defects, thresholds and provenance.

Images are embedded as base64 PNGs, sparklines as inline SVG, styles inline;
the page references nothing outside itself, so it opens offline, can be mailed
and prints (``@media print`` rules keep figures and table rows unbroken).

>>> from badpix.report import write_report          # doctest: +SKIP
>>> write_report("scan/")                            # doctest: +SKIP
PosixPath('scan/report.html')
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.flags import CLASSES
from ..io.atomic import atomic_path
from ..io.scandir import ScanDir, load_scan
from . import plots
from .data import (
    BandData,
    Defect,
    load_band,
    read_pixel_series,
    read_stats_at,
    read_top_defects,
    thresholds,
)
from .marks import (
    STUCK_MAX_SCORE,
    constant_score,
    defect_glyph,
    defect_marks,
    power_note,
    ring_caption,
    score_cell,
)
from .quicklook import (
    CLASS_PRIORITY,
    class_colour,
    crop_rgb,
    data_uri,
    hex_colour,
    maxpool,
    orpool,
    overlay,
    png_bytes,
    pool_factor,
    stretch,
    stretch_limits,
)

CSS = """
:root { --fg:#222; --muted:#666; --line:#ddd; --bg:#fff; --head:#f4f5f7; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1rem 1.5rem;
       max-width: 1500px; font-size: 14px; line-height: 1.4; }
h1 { font-size: 1.5rem; margin: .2rem 0 .4rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 .5rem; padding-top: .6rem; border-top: 2px solid #333; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: .3rem 0 .8rem; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 2px 7px; vertical-align: middle; }
th { background: var(--head); text-align: left; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.kv th { width: 11rem; }
.grid { display: flex; flex-wrap: wrap; gap: .8rem 1.2rem; align-items: flex-start; }
.grid > div { min-width: 0; }
.cols { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; image-rendering: pixelated; }
figcaption { font-size: 12px; color: var(--muted); max-width: 32rem; }
img.crop { image-rendering: pixelated; display: block; }
.chip { display: inline-block; padding: 0 5px; border-radius: 3px; color: #fff; font-size: 11px;
        margin: 1px 2px 1px 0; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
          vertical-align: -1px; margin-right: 4px; -webkit-print-color-adjust: exact;
          print-color-adjust: exact; }
.legend span { margin-right: 1rem; white-space: nowrap; }
.note { background: #fff8e1; border-left: 4px solid #f0c040; padding: .3rem .6rem; }
svg.spark { display: block; }
@media (max-width: 900px) { body { padding: .5rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-before: page; page-break-before: always; }
  h2.first { break-before: auto; page-break-before: auto; }
  figure, tr, .legend { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if not np.isfinite(f):
        return "–" if np.isnan(f) else ("∞" if f > 0 else "−∞")
    return f"{f:.{digits}g}"


def _img(png: bytes, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" alt="{_e(alt)}" src="{data_uri(png)}">'


def _chips(classes: list[str]) -> str:
    return "".join(f'<span class="chip" style="background:{hex_colour(c)}">{_e(c)}</span>'
                   for c in classes)


def _kv_table(rows: list[tuple[str, Any]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><span class="swatch" style="background:{hex_colour(c)}"></span>{_e(c)}</span>'
        for c in CLASSES) + "</div>"


def _counts_table(scan: ScanDir, band_counts: dict[str, dict[str, int]]) -> str:
    """Bands x classes from summary.json (mask counts where the summary has none)."""
    summary_counts = scan.summary.get("counts") or {}
    classes = list(CLASSES)
    extra = sorted({k for c in summary_counts.values() if isinstance(c, dict) for k in c}
                   - set(classes) - {"any"})
    cols = classes + extra + ["any"]
    head = "<tr><th>band</th>" + "".join(
        f'<th class="num"><span class="swatch" style="background:{hex_colour(c)}"></span>'
        f"{_e(c)}</th>" if c in CLASSES else f'<th class="num">{_e(c)}</th>' for c in cols) + "</tr>"
    rows = []
    for b in scan.bands:
        c = summary_counts.get(b.name)
        if not isinstance(c, dict):
            c = band_counts.get(b.name, {})
        rows.append(f'<tr data-band="{_e(b.name)}"><th>{_e(b.name)}</th>' + "".join(
            f'<td class="num" data-class="{_e(k)}">{_num(c[k]) if k in c else "–"}</td>'
            for k in cols) + "</tr>")
    return f'<table class="counts"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _defects_table(bd: BandData, defects: list[Defect], total: int,
                   series: np.ndarray | None, stats_path: Path,
                   stuck_std: float = 1.0) -> str:
    if not defects:
        return '<p class="muted">No defects in this band.</p>'
    constant = constant_score(bd.std, stuck_std)
    pixels = [bd.band.index_of(d.row, d.col) for d in defects]
    at = read_stats_at(stats_path, ("min", "max"), pixels)
    reference = None
    if series is None:
        lo, hi = stretch_limits(bd.mean, 1, 99)
        reference = (lo, hi)
    rows = []
    for k, d in enumerate(defects):
        r, c = pixels[k]
        main = next((n for n in CLASS_PRIORITY if n in d.classes),
                    d.classes[0] if d.classes else "")
        inside = 0 <= r < bd.shape[0] and 0 <= c < bd.shape[1]
        crop = (_img(png_bytes(crop_rgb(bd.mean, r, c, class_colour(main))),
                     f"mean image around row {d.row}, col {d.col}", "crop") if inside else "")
        s = series[:, k] if series is not None and inside else None
        svg, cap = defect_glyph(s, d, reference, {n: at[n][k] for n in at}, hex_colour(main))
        rows.append(
            f'<tr class="defect" data-row="{d.row}" data-col="{d.col}">'
            f'<td class="num">{k + 1}</td><td class="num">{d.row}</td><td class="num">{d.col}</td>'
            f"<td>{_chips(d.classes)}</td>{score_cell(d, constant)}"
            f'<td class="num">{_num(d.mean)}</td><td class="num">{_num(d.std)}</td>'
            f'<td class="num">{_num(d.median)}</td>'
            f'<td class="num">{_num(at["min"][k])} / {_num(at["max"][k])}</td>'
            f"<td>{crop}</td><td title=\"{_e(cap)}\">{svg}</td></tr>")
    head = ("<tr><th>#</th><th>row</th><th>col</th><th>classes</th><th>score</th><th>mean</th>"
            "<th>std</th><th>median</th><th>min / max</th><th>mean image (15×15)</th>"
            f"<th>{'time series' if series is not None else 'value range'}</th></tr>")
    note = (f"<p class=\"muted\">Top {len(defects)} of {total:,} defects by score "
            "(severity: rule statistic ÷ threshold; &gt; 1 is flagged). Rows/cols are full-frame. "
            + ("† std 0, constant in every frame: at least <code>stuck_std</code> ÷ the band's "
               f"smallest non-zero std ({_num(constant)}). "
               if any(d.score >= STUCK_MAX_SCORE for d in defects) else "")
            + ("Sparklines: each pixel's values over the frames."
               if series is not None else
               "Without the frames: the pixel's min–max bar, mean dot and median tick over the "
               "grey 1–99 % range of the band's pixel means; pass the frames "
               "(<code>--frames</code>) for time series.") + "</p>")
    return f'{note}<table class="defects"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _band_section(scan: ScanDir, name: str, params: dict[str, Any], defects: list[Defect],
                  total: int, series: np.ndarray | None, stretch_method: str, first: bool
                  ) -> tuple[str, dict[str, int], float]:
    t0 = time.perf_counter()
    bd = load_band(scan, name, params)
    factor = pool_factor(bd.shape)
    grey = stretch(maxpool(bd.mean, factor), stretch_method)
    # markers grow with the pooling so one defect stays a visible dot on screen
    rgb = overlay(grey, orpool(bd.flags, factor), grow=1 if factor > 1 else 0)
    # a ring around every flagged pixel (block): one pixel of a 640 x 480 photo is one
    # screen pixel, invisible at the page's scale; the ring keeps its size on screen
    marks = defect_marks(bd.flags, factor, bd.origin, plots.MAX_MARKS)
    quick = plots.image_png(rgb, bd.origin, bd.shape, factor, f"{name}: temporal mean",
                            marks=marks)
    std_small = maxpool(bd.std, factor)
    std_png = plots.image_png(std_small, bd.origin, bd.shape, factor, f"{name}: temporal std",
                              cmap="magma", vlim=stretch_limits(std_small, 0.5, 99.5),
                              colorbar="std (data units)", marks=marks)
    ring_note = ring_caption(len(marks[0]), int(np.count_nonzero(orpool(bd.flags, factor))),
                             factor)
    figs = [
        f"<figure>{_img(quick, f'{name} temporal mean with defects')}<figcaption>Temporal mean, "
        f"{'histogram-equalised' if stretch_method == 'histeq' else '0.5–99.5 % stretch'}; "
        "defects in their class colour"
        + (f" (max-pooled {factor}×{factor}: a block shows its brightest pixel and every class "
           "in it)" if factor > 1 else "") + f".{ring_note}</figcaption>{_legend()}</figure>",
        f"<figure>{_img(std_png, f'{name} temporal std')}<figcaption>Temporal standard "
        "deviation (0.5–99.5 % colour range"
        + (f", max-pooled {factor}×{factor}" if factor > 1 else "")
        + f").{ring_note}</figcaption></figure>",
    ]
    hstd = plots.histogram_png(bd.std_hist, f"{name}: temporal std", "temporal std (data units)",
                               "stuck_std", bd.mask_counts.get("stuck"), "stuck")
    hists = [f"<figure>{_img(hstd, f'{name} std histogram')}<figcaption>STUCK: std below "
             f"<code>stuck_std</code>.</figcaption></figure>"]
    if bd.dev_hist is not None:
        hdev = plots.histogram_png(
            bd.dev_hist, f"{name}: |median − local median({params['outlier_size']}×"
            f"{params['outlier_size']})|", "|deviation| (data units)",
            f"outlier_k × mean|dev| = {params['outlier_k']:g} × {bd.outlier_scale:.3g}",
            bd.mask_counts.get("outlier"), "outlier")
        hists.append(f"<figure>{_img(hdev, f'{name} deviation histogram')}<figcaption>OUTLIER: "
                     "the temporal median's distance from its local median above "
                     "<code>outlier_k</code> times the band's mean distance.</figcaption>"
                     "</figure>")
    else:
        hists.append('<p class="muted">No temporal median in the statistics (photo scans '
                     "leave it out unless run with <code>--median</code>): OUTLIER did not "
                     "run.</p>")
    if params["counting"]:
        hists.append('<p class="note">Photon-counting mode: HOT/DEAD/NOISY use Poisson tests, '
                     "not these thresholds.</p>")
    table = _defects_table(bd, defects, total, series, scan.path / f"stats_{name}.tif",
                           float(params.get("stuck_std", 1.0)))
    r0, c0 = bd.origin
    section = (
        f'<section class="band" id="band-{_e(name)}"><h2{" class=first" if first else ""}>'
        f"Band {_e(name)}</h2><p class=\"muted\">{bd.shape[0]}×{bd.shape[1]} pixels, frame "
        f"rows {r0}–{r0 + bd.shape[0] - 1}, cols {c0}–{c0 + bd.shape[1] - 1}.</p>"
        f'<div class="grid">{"".join(f"<div>{f}</div>" for f in figs)}</div>'
        f'<h3>Thresholds</h3><div class="grid">{"".join(f"<div>{h}</div>" for h in hists)}</div>'
        f"<h3>Top defects</h3>{table}</section>")
    return section, bd.mask_counts, time.perf_counter() - t0


def _header(scan: ScanDir) -> str:
    s = scan.summary
    inp = s.get("input") or {}
    rows = [("scan folder", _e(scan.path)),
            ("input", _e(inp.get("source", "?"))),
            ("format", _e(inp.get("format", "?"))),
            ("frames", _num(inp.get("n_frames", "?"))),
            ("frame shape", _e(" × ".join(str(v) for v in inp.get("frame_shape", [])))),
            ("dtype", _e(inp.get("dtype", "?")))]
    if inp.get("description"):
        rows.append(("description", _e(inp["description"])))
    layout = s.get("layout") or {}
    rows.append(("layout", _e(layout.get("source", "?")) + " — "
                 + ", ".join(_e(b.name) for b in scan.bands)))
    rule_set = s.get("rule_set")
    if isinstance(rule_set, dict):  # which rules ran and why (photon-counting or standard)
        rows.append(("rules", _e(f"{rule_set.get('rule_set', '?')} ({rule_set.get('reason', '')})")))
    if s.get("mask_format"):
        rows.append(("mask format", _e(s["mask_format"])))
    skipped = inp.get("skipped") or []
    if skipped:
        items = "".join(f"<li>{_e(k.get('label', '?'))}: {_e(k.get('reason', '?'))}</li>"
                        for k in skipped[:50])
        more = f"<li>… {len(skipped) - 50} more</li>" if len(skipped) > 50 else ""
        rows.append((f"skipped frames ({len(skipped)})", f"<ul>{items}{more}</ul>"))
    return _kv_table(rows)


def _provenance(scan: ScanDir, report_seconds: dict[str, float]) -> str:
    s = scan.summary
    params = s.get("parameters") or {}
    ptab = (_kv_table([(k, _e(v)) for k, v in params.items()]) if params
            else '<p class="muted">No parameters recorded.</p>')
    timings = s.get("timings") or {}
    ttab = _kv_table([(k, f"{_num(v)} s") for k, v in timings.items()]
                     + [(f"report: {k}", f"{v:.2f} s") for k, v in report_seconds.items()])
    versions = s.get("versions") or {}
    if "badpix_version" in s and "badpix" not in versions:
        versions = {"badpix": s["badpix_version"], **versions}
    vtab = (_kv_table([(k, _e(v)) for k, v in versions.items()]) if versions
            else '<p class="muted">No versions recorded.</p>')
    return ('<section id="provenance"><h2>Parameters, timings, versions</h2><div class="cols">'
            f"<div><h3>Parameters</h3>{ptab}</div><div><h3>Timings</h3>{ttab}</div>"
            f"<div><h3>Software</h3>{vtab}</div></div></section>")


def _pixels_by_band(scan: ScanDir, top: dict[str, list[Defect]]) -> dict[str, list[tuple[int, int]]]:
    out = {}
    for b in scan.bands:
        out[b.name] = [b.index_of(d.row, d.col) for d in top.get(b.name, [])]
    return out


def build_report(scan_dir: str | os.PathLike, stack=None, *, top: int = 20,
                 stretch_method: str = "percentile") -> str:
    """The report page of a scan folder as an HTML string (see :func:`write_report`)."""
    t_start = time.perf_counter()
    scan = load_scan(scan_dir)
    params = thresholds(scan.summary.get("parameters"))
    top_defects, totals = read_top_defects(scan.path / "defects.csv", top)
    timings: dict[str, float] = {}
    series: dict[str, np.ndarray] = {}
    if stack is not None:
        t = time.perf_counter()
        series = read_pixel_series(stack, _pixels_by_band(scan, top_defects))
        timings["time series"] = time.perf_counter() - t
    sections = []
    band_counts: dict[str, dict[str, int]] = {}
    for b in scan.bands:
        sec, counts, secs = _band_section(scan, b.name, params, top_defects.get(b.name, []),
                                          totals.get(b.name, 0), series.get(b.name),
                                          stretch_method, first=False)
        sections.append(sec)
        band_counts[b.name] = counts
        timings[f"band {b.name}"] = secs
    background = ""
    from .background import background_section

    bg = background_section(scan.path)
    if bg:
        background = bg
    timings["total"] = time.perf_counter() - t_start
    n_frames = (scan.summary.get("input") or {}).get("n_frames", "?")
    title = f"badpix report — {scan.path.name or scan.path}"
    toc = " · ".join(f'<a href="#band-{_e(b.name)}">{_e(b.name)}</a>' for b in scan.bands)
    body = (
        f"<header><h1>{_e(title)}</h1><p class=\"muted\">{_num(n_frames)} frames · "
        f"{len(scan.bands)} band(s): {toc} · generated {time.strftime('%Y-%m-%d %H:%M')}</p>"
        f"</header><section id=\"overview\"><h2 class=\"first\">Overview</h2>"
        f"<div class=\"cols\"><div><h3>Input</h3>{_header(scan)}</div><div><h3>Defects per "
        f"class</h3>{_counts_table(scan, band_counts)}{_legend()}</div></div>"
        f"{power_note(scan.summary)}</section>"
        + "".join(sections) + background + _provenance(scan, timings))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def write_report(scan_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                 stack=None, *, top: int = 20, stretch_method: str = "percentile") -> Path:
    """Write the self-contained HTML report of a scan folder; returns its path.

    Parameters
    ----------
    scan_dir
        A folder written by ``badpix scan`` (see ``docs/contracts.md``).
    out
        Output file (default ``scan_dir/report.html``); written atomically.
    stack
        The scanned :class:`~badpix.stack.Stack`, optional: the top defects'
        time series are read from it (one pass over the frames, only those
        pixels kept).  Without it their min/mean/max from ``stats_<band>.tif``
        are drawn instead.
    top
        Defects listed per band.
    stretch_method
        ``"percentile"`` (0.5-99.5 %) or ``"histeq"`` for the mean quicklook.

    Examples
    --------
    >>> from badpix.report import write_report       # doctest: +SKIP
    >>> write_report("scan/", top=10)                 # doctest: +SKIP
    PosixPath('scan/report.html')
    """
    page = build_report(scan_dir, stack, top=top, stretch_method=stretch_method)
    target = Path(out) if out is not None else Path(scan_dir) / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    from ..io.scandir import record_output

    record_output(scan_dir, target)  # the next scan into the folder removes it
    return target
