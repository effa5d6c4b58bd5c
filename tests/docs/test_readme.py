"""The README stays a short introduction: no run-by-run history, a small picture."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_is_short_and_has_no_run_history():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for word in ("this round", "previous round", "the previous", "TODO"):
        assert word.lower() not in readme.lower(), word
    assert (ROOT / "docs" / "_static" / "readme-quicklook.png").stat().st_size < 200_000
