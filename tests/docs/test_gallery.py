"""Every gallery example runs (quick mode), so the docs' examples cannot rot.

Each script in ``docs/examples/plot_*.py`` runs in its own interpreter, as a user
would run it, with ``BADPIX_EXAMPLES_QUICK=1`` (smaller data) and matplotlib's
non-interactive backend; it must exit 0 and draw at least one figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("plot_*.py"))

# count the figures a script draws: plt.show() is a no-op under agg, so wrap it
_RUNNER = """
import runpy, sys
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
shown = []
plt.show = lambda *a, **k: shown.append(len(plt.get_fignums())) or plt.close("all")
runpy.run_path(sys.argv[1], run_name="__main__")
print(f"FIGURES {sum(shown)}")
"""


def test_there_are_at_least_six_examples():
    assert len(EXAMPLES) >= 6, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    env = {**os.environ, "BADPIX_EXAMPLES_QUICK": "1", "MPLBACKEND": "agg",
           "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    figures = int(proc.stdout.rsplit("FIGURES ", 1)[1].split()[0])
    assert figures >= 1, f"{script.name} drew no figure"
