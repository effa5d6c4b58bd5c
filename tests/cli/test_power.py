"""Statistical power: the bounds match simulated good pixels; summary, terminal and report say so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from badpix.cli import main
from badpix.detect.noisy import noisy
from badpix.detect.power import false_flag_probability, rule_power
from badpix.detect.stuck import stuck
from badpix.stats.bandstats import BandStats


def _gaussian_stats(n: int, sigma: float, shape=(300, 300), seed=0) -> BandStats:
    f = np.random.default_rng(seed).normal(100, sigma, (n, *shape))
    return BandStats("b", n, np.dtype("float64"), np.full(shape, n), f.mean(0),
                     f.var(0, ddof=1), f.min(0), f.max(0))


@pytest.mark.parametrize("n", [5, 13])
def test_stuck_bound_equals_the_rule_on_gaussian_pixels(n):
    st = _gaussian_stats(n, 1.6)
    observed = stuck(st, 1.0)[0].mean()
    assert observed == pytest.approx(false_flag_probability("stuck", n, sigma=1.6), rel=0.08)


def test_noisy_bound_is_the_right_order_on_gaussian_pixels():
    st = _gaussian_stats(9, 1.6)
    observed = noisy(st, 3.0)[0].mean()
    expected = false_flag_probability("noisy", 9, noisy_z=3.0)
    assert expected / 3 < observed < expected * 3


def test_n_min_is_the_smallest_sufficient_frame_count():
    r = rule_power("stuck", 13, 25_600, sigma=1.6, stuck_std=1.0)
    n = r["n_min"]
    assert 25_600 * false_flag_probability("stuck", n, sigma=1.6) < 1
    assert 25_600 * false_flag_probability("stuck", n - 1, sigma=1.6) >= 1
    assert rule_power("stuck", 13, 100, sigma=0.9, stuck_std=1.0)["n_min"] is None


def _frames(path, n, sigma=1.6):
    rng = np.random.default_rng(1)
    np.save(path, np.rint(rng.normal(200, sigma, (n, 80, 96))).astype(np.uint16))
    return path


def test_too_few_frames_are_reported_in_summary_terminal_and_report(tmp_path, capsys):
    src = _frames(tmp_path / "few.npy", 13)
    out = tmp_path / "scan"
    assert main(["scan", str(src), "-o", str(out), "--report"]) == 0
    err = capsys.readouterr().err
    assert "statistical power:" in err and "STUCK" in err and "needs >=" in err
    summary = json.loads((out / "summary.json").read_text())
    stuck_power = summary["power"]["ch0"]["stuck"]
    assert stuck_power["underpowered"] and stuck_power["n_min"] > 13
    assert not summary["power"]["ch0"]["hot"]["underpowered"]
    assert len(summary["power_warnings"]) == 1
    page = (out / "report.html").read_text()
    assert 'id="power"' in page and "ch0 STUCK: 13 frames are too few" in page


def test_enough_frames_say_nothing(tmp_path, capsys):
    src = _frames(tmp_path / "many.npy", 120)
    out = tmp_path / "scan"
    assert main(["scan", str(src), "-o", str(out)]) == 0
    assert "statistical power" not in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["power_warnings"] == []
