"""``badpix show``: a compact terminal summary of a scan folder (rich tables).

Reads only ``summary.json`` and the head of ``defects.csv``, so it is instant
even for huge scans and works over ssh where no browser is at hand.

>>> from rich.console import Console                   # doctest: +SKIP
>>> print_summary(load_scan("scan/"), Console())        # doctest: +SKIP
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..detect.flags import CLASSES
from ..io.scandir import ScanDir
from .data import read_top_defects
from .quicklook import hex_colour


def summary_renderables(scan: ScanDir, top: int = 5) -> Group:
    """Input line, counts per band and class, top defects per band, parameters, timings."""
    s = scan.summary
    inp = s.get("input") or {}
    shape = "×".join(str(v) for v in inp.get("frame_shape", []))
    head = Text.assemble(
        ("badpix scan ", "bold"), (str(scan.path), "bold cyan"), "\n",
        f"{inp.get('n_frames', '?')} frames {shape} {inp.get('dtype', '')} "
        f"from {inp.get('source', '?')} ({inp.get('format', '?')})")
    skipped = inp.get("skipped") or []
    if skipped:
        head.append(f"\n{len(skipped)} frame(s) skipped", style="yellow")

    counts = s.get("counts") or {}
    classes = list(CLASSES)
    t = Table(title="defects per class", title_justify="left", box=None, pad_edge=False)
    t.add_column("band", style="bold")
    for c in classes:
        t.add_column(Text(c, style=f"bold {hex_colour(c)}"), justify="right")
    t.add_column("any", justify="right", style="bold")
    for b in scan.bands:
        c = counts.get(b.name) or {}
        t.add_row(b.name, *[f"{c[k]:,}" if k in c else "–" for k in classes],
                  f"{c['any']:,}" if "any" in c else "–")

    parts = [head, t]
    if top > 0:
        defects, totals = read_top_defects(scan.path / "defects.csv", top)
        for b in scan.bands:
            lst = defects.get(b.name) or []
            if not lst:
                continue
            d = Table(title=f"{b.name}: top {len(lst)} of {totals.get(b.name, 0):,}",
                      title_justify="left", box=None, pad_edge=False)
            for col in ("row", "col", "classes", "score", "mean", "std"):
                d.add_column(col, justify="left" if col == "classes" else "right")
            for x in lst:
                d.add_row(str(x.row), str(x.col), ",".join(x.classes), f"{x.score:.4g}",
                          f"{x.mean:.4g}", f"{x.std:.4g}")
            parts.append(d)
    params = s.get("parameters") or {}
    if params:
        parts.append(Text("parameters: ", style="bold").append(
            ", ".join(f"{k}={v}" for k, v in params.items()), style=""))
    timings = s.get("timings") or {}
    if timings:
        parts.append(Text("timings: ", style="bold").append(
            ", ".join(f"{k} {float(v):.2f}s" for k, v in timings.items()), style=""))
    return Group(*parts)


def print_summary(scan: ScanDir, console: Console, top: int = 5) -> None:
    """Print :func:`summary_renderables` to ``console``."""
    console.print(summary_renderables(scan, top))
