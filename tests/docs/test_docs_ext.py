"""The docs' benchmark renderer reads every result file (needs the docs extra)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
pytest.importorskip("docutils")
import badpix_docs  # noqa: E402


def test_results_files_render():
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert files
    for f in files:
        text = "\n".join(badpix_docs.results_rst(f))
        data = json.loads(f.read_text())
        assert data.get("command", "") in text, f.name
        assert ".. list-table::" in text, f.name


def test_other_table_shapes(tmp_path):
    # a single "table" given as a list of row dicts (another script's natural output)
    p = tmp_path / "startup.json"
    p.write_text(json.dumps({"name": "startup", "command": "python benchmarks/bench_startup.py",
                             "table": [{"command": "badpix --help", "seconds": 0.25},
                                       {"command": "badpix --version", "seconds": 0.125}]}))
    text = "\n".join(badpix_docs.results_rst(p))
    assert "* - command" in text and "- badpix --version" in text and "- 0.125" in text
    assert re.search(r"^startup\n-+$", text, flags=re.M)


def test_bare_list_and_single_row(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([["x", 1], ["y", 2]]))
    assert "a\n-" in "\n".join(badpix_docs.results_rst(p))      # metadata-free: no crash
    q = tmp_path / "b.json"
    q.write_text(json.dumps({"table": {"median s": 0.5, "command": "badpix --help"}}))
    text = "\n".join(badpix_docs.results_rst(q))
    assert "* - median s" in text and "- 0.5" in text


def test_cell_escapes_markup():
    assert badpix_docs._cell("a|b*c") == "a\\|b\\*c"
    assert badpix_docs._cell(None) == "–" and badpix_docs._cell(True) == "yes"
