"""Sphinx directives of the badpix docs: benchmark result tables and CLI help.

``.. benchmark-results::`` renders every ``benchmarks/results/*.json`` (written by
``benchmarks/_common.Results``) as a section: the command, date, machine, versions,
note and each table.  ``.. cli-help::`` prints ``badpix --help`` and the help of
every registered command, captured when the docs are built, so the reference
cannot drift from the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        text = f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
    else:
        text = str(v)
    # list-table cells are RST: keep user text literal where it could be markup
    return text.replace("|", "\\|").replace("*", "\\*") or " "


def _table_rst(title: str, headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for row in [headers, *rows]:
        cells = list(row) + [""] * (len(headers) - len(row))
        lines.append(f"   * - {_cell(cells[0])}")
        lines += [f"     - {_cell(c)}" for c in cells[1:len(headers)]]
    return lines + [""]


def normalise_tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """``tables`` (a list), or a single ``table``: rows as lists or as dicts."""
    tables = data.get("tables")
    if tables is None and "table" in data:
        t = data["table"]
        if isinstance(t, dict) and "rows" not in t:  # {column: value} is one row
            t = [t]
        tables = [t] if isinstance(t, dict) else [{"rows": t}]
    out = []
    for t in tables or []:
        rows = t.get("rows", [])
        headers = t.get("headers")
        if rows and isinstance(rows[0], dict):
            headers = headers or list(rows[0])
            rows = [[r.get(h) for h in headers] for r in rows]
        out.append({"title": t.get("title", ""), "headers": list(headers or []),
                    "rows": rows})
    return out


#: commands of result files that do not record their own (``benchmarks/bench_startup.py``)
DEFAULT_COMMANDS = {
    "startup": "python benchmarks/bench_startup.py",
    "startup-main": "python benchmarks/bench_startup.py --src /path/to/clone-of-main "
                    "--json benchmarks/results/startup-main.json",
    "startup-ab": "python benchmarks/bench_startup_ab.py OLD_TREE [NEW_TREE] [--repeat 8]",
}


def _singular(word: str) -> str:
    return word[:-2] if word.endswith("sses") else word[:-1] if word.endswith("s") else word


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """``{"old": {"wall_s": 1}}`` -> ``{"old wall_s": 1}`` (one level; lists stay)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update({f"{k} {k2}": v2 for k2, v2 in v.items()})
        else:
            out[k] = v
    return out


def _mapping_tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Tables from a file that stores results as mappings instead of ``tables``.

    ``{name: {column: value}}`` (e.g. ``processes``) becomes one row per name,
    ``{name: value}`` (e.g. ``ratios``) a two-column table; lists of runs are left out
    (their median is a column already).
    """
    out = []
    for key, value in data.items():
        if key in ("machine", "versions") or not isinstance(value, dict) or not value:
            continue
        items = list(value.items())
        if all(isinstance(v, dict) for _, v in items):
            items = [(name, _flatten(v)) for name, v in items]
            headers: list[str] = []
            for _, v in items:
                headers += [h for h, c in v.items() if h not in headers
                            and not isinstance(c, (list, dict))]
            rows = [[name] + [v.get(h) for h in headers] for name, v in items]
            out.append({"title": key, "headers": [_singular(key), *headers],
                        "rows": rows})
        elif all(isinstance(v, (int, float, str, bool)) or v is None for _, v in items):
            out.append({"title": key, "headers": [_singular(key), "value"],
                        "rows": [list(kv) for kv in items]})
    return out


def results_rst(path: Path) -> list[str]:
    """The reStructuredText of one result file."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):  # a bare table (list of rows) is a table too
        data = {"table": data}
    name = data.get("name", path.stem)
    lines = [name, "-" * max(3, len(name)), ""]
    command = data.get("command") or DEFAULT_COMMANDS.get(path.stem)
    if command:
        lines += [".. code-block:: bash", "", f"   {command}", ""]
    machine = data.get("machine") or {k: data[k] for k in ("cpus", "load_avg_1min") if k in data}
    mtext = ", ".join(f"{k} {_cell(v) if isinstance(v, float) else v}"
                      for k, v in machine.items() if k != "platform")
    versions = data.get("versions") or {}
    vtext = ", ".join(f"{k} {v}" for k, v in versions.items())
    lines += [".. container:: bench-meta", ""]
    tree = " ".join(str(data[k]) for k in ("tree", "commit") if data.get(k))
    for label, value in (("Date", data.get("date")), ("Machine", mtext), ("Tree", tree),
                         ("Versions", vtext), ("Note", data.get("note")),
                         ("File", f"``benchmarks/results/{path.name}``")):
        if value:
            lines += [f"   :{label}: {value}"]
    lines.append("")
    tables = normalise_tables(data)
    if not tables:
        tables = _mapping_tables(data)
    for t in tables:
        if t["headers"]:
            lines += _table_rst(t["title"], t["headers"], t["rows"])
    return lines


class BenchmarkResults(Directive):
    """Render every JSON file of ``benchmarks/results`` (sorted by name)."""

    option_spec = {"dir": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        folder = Path(self.options.get("dir", RESULTS))
        env = self.state.document.settings.env
        files = sorted(folder.glob("*.json"))
        lines: list[str] = []
        for f in files:
            env.note_dependency(str(f))
            try:
                lines += results_rst(f)
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise self.error(f"{f}: not a benchmark result file ({exc})") from None
        if not files:
            lines = ["No result files in ``benchmarks/results/`` yet: run "
                     "``python benchmarks/run_all.py --quick``.", ""]
        container = nodes.section() if files else nodes.paragraph()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=str(folder)), self.content_offset,
                                container, match_titles=True)
        return container.children


def cli_help(args: list[str]) -> str:
    """``badpix ARGS --help`` as plain text, 100 columns, no colour."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb",
           "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "badpix", *args, "--help"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"badpix {' '.join(args)} --help failed: {proc.stderr.strip()}")
    return "\n".join(line.rstrip() for line in proc.stdout.strip("\n").splitlines())


def cli_commands() -> list[str]:
    """Names of the registered commands, in the order ``badpix --help`` lists them."""
    import re

    try:
        import typer.main

        from badpix.cli import app

        return list(typer.main.get_command(app).commands)
    except (ImportError, AttributeError):
        # the "Commands" panel of the top-level help: "│ name   description"
        text = cli_help([]).split("Commands", 1)[-1]
        return re.findall(r"^│ ([a-z][a-z0-9-]*)\s", text, flags=re.M)


class CliHelp(Directive):
    """``.. cli-help::`` (every command) or ``.. cli-help:: scan`` (one)."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        commands = self.arguments or cli_commands()
        lines: list[str] = []
        if not self.arguments:
            lines += ["badpix", "------", "", ".. code-block:: text", ""]
            lines += ["   " + s for s in cli_help([]).splitlines()] + [""]
        for cmd in commands:
            if not self.arguments:
                title = f"badpix {cmd}"
                lines += [title, "-" * len(title), ""]
            lines += [".. code-block:: text", ""]
            lines += ["   " + s for s in cli_help([cmd]).splitlines()] + [""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="badpix --help"), self.content_offset,
                                container, match_titles=True)
        return container.children


#: the gallery's order: one per user first, then the cross-cutting ones
EXAMPLE_ORDER = ["plot_sensor_stack.py", "plot_photographer.py", "plot_photon_counting.py",
                 "plot_rtdc_background.py", "plot_gis_local_variance.py",
                 "plot_dask_cluster.py", "plot_repair_before_after.py"]


class ExampleOrder:
    """sphinx-gallery sort key (``within_subsection_order``): :data:`EXAMPLE_ORDER`, then by name."""

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        return (EXAMPLE_ORDER.index(name) if name in EXAMPLE_ORDER else len(EXAMPLE_ORDER), name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def setup(app) -> dict[str, Any]:
    app.add_directive("benchmark-results", BenchmarkResults)
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "version": "1"}
