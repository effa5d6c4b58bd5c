"""Phase display: the engine reports median and rules per band; the cold numba cache is detected."""

from __future__ import annotations

import io
import sys

import numpy as np
from rich.console import Console
from rich.progress import Progress

from badpix import open_stack
from badpix.cli import _common
from badpix.engine import scan_stack


def test_local_engine_reports_median_and_rules_per_band(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "s.npy", rng.normal(100, 3, (6, 20, 24, 2)).astype(np.float32))
    calls = []
    scan_stack(open_stack(tmp_path / "s.npy"), phase=lambda name, done: calls.append((name, done)))
    assert calls[:4] == [("median", False), ("median", True),
                         ("statistics", False), ("statistics", True)]
    assert sorted(calls[4:]) == [("rules ch0", False), ("rules ch0", True),
                                 ("rules ch1", False), ("rules ch1", True)]


def test_phases_show_reading_bar_then_a_task_per_phase():
    buf = io.StringIO()
    with Progress(console=Console(file=buf, force_terminal=True, width=100)) as progress:
        phases = _common.Phases(progress, progress.add_task("scan: reading", total=4))
        phases.after_reading = "median and rules"  # an engine without phase callbacks
        phases.advance(4)
        with phases.step("writing"):
            names = [t.description for t in progress.tasks]
        done = {t.description: t.finished for t in progress.tasks}
    assert names == ["scan: reading", "median and rules", "writing"]
    assert all(done.values())
    assert "writing" in buf.getvalue()


def test_kernels_cold_until_compiled(tmp_path, monkeypatch):
    (tmp_path / "cold_kernel_mod.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_common, "HOT_KERNELS", (("cold_kernel_mod", "twice"),))
    try:
        assert _common.kernels_cold()
        assert sys.modules["cold_kernel_mod"].twice(3) == 6  # compiles and writes the cache
        assert not _common.kernels_cold()
    finally:
        sys.modules.pop("cold_kernel_mod", None)
