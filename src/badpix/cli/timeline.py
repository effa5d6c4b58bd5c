"""``badpix timeline``: how many defects existed at each capture date of a photo series.

Reads a scan folder written with onset detection: ``defects.csv`` columns
``onset_frame`` (0-based index of the onset frame in capture order, -1 when none) and
``onset_time`` (ISO 8601 UTC, e.g. ``2023-05-06T07:08:09Z``, empty when the
frame has no date), and ``summary.json`` ``onset.frame_times`` (every frame's
capture time in the same format, stack order) when present.  Pixels that are
listed once per band in ``defects.csv`` count once per (row, col).

Example::

    badpix timeline scan/            # table on stdout, scan/timeline.png
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from ..errors import InputError
from ..io.atomic import atomic_path
from ..timefmt import format_time, parse_time
from ._common import out

ORDER = 70

#: ``defects.csv`` columns this command reads (written when the scan ran the onset accumulator)
ONSET_COLUMNS = ("onset_frame", "onset_time")


@dataclass
class TimelineRow:
    """Defects that existed at one date (or frame, without dates)."""

    label: str
    when: datetime | None
    frame: int | None
    new: int
    total: int


def timeline(scan_dir: str | Path, by: str = "day") -> tuple[list[TimelineRow], int]:
    """Cumulative defect counts per capture date of a scan folder.

    Parameters
    ----------
    scan_dir
        Folder written by ``badpix scan`` with onset detection.
    by
        ``"day"`` (one row per calendar day, UTC wall clock), ``"frame"`` (one
        row per distinct capture time or frame).

    Returns
    -------
    rows, undated
        Rows in time order; ``undated`` counts defective pixels without onset.
    """
    d = Path(scan_dir)
    csv_path = d / "defects.csv"
    if not csv_path.is_file():
        raise InputError(d, "not a badpix scan folder (no defects.csv)")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ONSET_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(csv_path, f"has no {', '.join(missing)} column(s): scan again "
                             "with onset detection (photo series)")
        pixels: dict[tuple[int, int], tuple[int, datetime | None]] = {}
        undated_pixels: set[tuple[int, int]] = set()
        for row in reader:
            key = (int(row["row"]), int(row["col"]))
            try:
                frame = int(float(row["onset_frame"] or -1))
            except ValueError:
                frame = -1
            if frame < 0:
                undated_pixels.add(key)
                continue
            when = parse_time(row["onset_time"])
            old = pixels.get(key)
            if old is None or (when is not None and (old[1] is None or when < old[1])):
                pixels[key] = (frame, when)
    undated = len(undated_pixels - set(pixels))
    frame_times: list[datetime | None] = []
    summary = d / "summary.json"
    if summary.is_file():
        try:
            data = json.loads(summary.read_text())
            frame_times = [parse_time(t) for t in (data.get("onset") or {}).get("frame_times")
                           or []]
        except (json.JSONDecodeError, AttributeError, TypeError):
            frame_times = []
    dated = all(w is not None for _, w in pixels.values())
    if dated and (pixels or any(frame_times)):
        keys = {w for _, w in pixels.values()} | {t for t in frame_times if t is not None}

        def bucket(w: datetime):
            return w.date() if by == "day" else w

        buckets = sorted({bucket(w) for w in keys})
        new = {b: 0 for b in buckets}
        for _, w in pixels.values():
            new[bucket(w)] += 1
        rows, total = [], 0
        for b in buckets:
            total += new[b]
            when = (datetime(b.year, b.month, b.day, tzinfo=UTC) if by == "day" else b)
            label = b.isoformat() if by == "day" else format_time(b.timestamp())
            rows.append(TimelineRow(label, when, None, new[b], total))
        return rows, undated
    # no dates: by onset frame (capture order, which is file order without dates)
    frames = sorted({f for f, _ in pixels.values()} | set(range(len(frame_times))))
    new_f = {f: 0 for f in frames}
    for f, _ in pixels.values():
        new_f[f] += 1
    rows, total = [], 0
    for f in frames:
        total += new_f[f]
        rows.append(TimelineRow(f"frame {f}", None, f, new_f[f], total))
    return rows, undated


def plot_timeline(rows: list[TimelineRow], path: str | Path, title: str = "") -> Path:
    """Step plot of the cumulative defect count, written atomically as PNG (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    dated = rows and all(r.when is not None for r in rows)
    xs = [r.when for r in rows] if dated else [r.frame for r in rows]
    ax.step(xs, [r.total for r in rows], where="post", color="tab:red")
    ax.plot(xs, [r.total for r in rows], "o", color="tab:red", markersize=3)
    ax.set_ylabel("defective pixels")
    ax.set_xlabel("capture date (UTC wall clock)" if dated else "frame (file order)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "defects present at each date")
    ax.grid(alpha=0.3)
    if dated:
        fig.autofmt_xdate()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def timeline_command(
    scan_dir: Path = typer.Argument(..., help="Scan output folder (with onset columns)."),
    by: str = typer.Option("day", "--by", help="Rows per 'day' or per 'frame' (capture time)."),
    plot: Path = typer.Option(None, "--plot",
                              help="PNG to write (default SCAN_DIR/timeline.png)."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Print the table only."),
) -> None:
    """Print how many defects existed at each capture date and plot it (timeline.png).

    Example: badpix timeline scan/
    """
    from rich.table import Table

    from ..errors import ParameterError

    if by not in ("day", "frame"):
        raise ParameterError(f"--by must be 'day' or 'frame', got {by!r}")
    rows, undated = timeline(scan_dir, by)
    table = Table(title=f"Defects over time: {scan_dir}")
    table.add_column("date" if rows and rows[0].when is not None else "frame")
    table.add_column("new", justify="right")
    table.add_column("total", justify="right")
    for r in rows:
        table.add_row(r.label, str(r.new), str(r.total))
    out.print(table)
    if undated:
        out.print(f"{undated} further defective pixel(s) have no onset (not persistent).")
    if not no_plot and rows:
        target = plot if plot is not None else Path(scan_dir) / "timeline.png"
        plot_timeline(rows, target)
        from ..io.scandir import record_output

        record_output(scan_dir, target)  # the next scan into the folder removes it
        out.print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    app.command("timeline", epilog="Example:\n\n  badpix timeline scan/")(timeline_command)
