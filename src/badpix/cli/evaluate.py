"""``badpix evaluate``: precision/recall of a scan folder against a synthetic truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.table import Table

from ._common import out

ORDER = 60


def _fmt(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3f}"


def evaluate_command(
    scan_dir: Path = typer.Argument(..., help="Scan output folder (summary.json, mask_<band>.*)."),
    truth: Path = typer.Option(..., "--truth", "-t", help="truth.json written by badpix synth."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per-class precision and recall of a scan against planted defects.

    recall_C = planted pixels expected to carry C that are flagged C / planted with C;
    precision_C = flagged C that are expected to carry C / flagged C.

    Example: badpix evaluate scan/ --truth syn/truth.json
    """
    from ..evaluate import evaluate

    result = evaluate(scan_dir, truth)
    if as_json:
        clean = {k: {f: (None if isinstance(v, float) and math.isnan(v) else v)
                     for f, v in d.items()} for k, d in result.to_dict().items()}
        out.print_json(json.dumps(clean))
        return
    out.print(evaluation_table(result, f"{scan_dir} vs {truth}"))


def evaluation_table(result, title: str) -> Table:
    """A rich table of per-class planted/flagged/correct counts, precision and recall."""
    table = Table(title=title)
    for col in ("class", "planted", "flagged", "correct", "precision", "recall"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, s in result.items():
        table.add_row(name, str(s.planted), str(s.flagged), str(s.true_positive),
                      _fmt(s.precision), _fmt(s.recall))
    return table


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
