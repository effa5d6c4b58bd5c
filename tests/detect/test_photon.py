"""Counting-mode rules on real LAMBDA photon-counting frames vs the vendor's bad-pixel map."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from badpix.detect import classify
from badpix.detect.flags import Flag
from badpix.detect.params import RuleParams

DATA = Path("/work/shared/data/real/lambda_gaas_xray_petra3")
BENCH = Path(__file__).parents[2] / "benchmarks" / "eval_lambda.py"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="LAMBDA data not available")


def _bench():
    spec = importlib.util.spec_from_file_location("eval_lambda", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counting_rules_on_module_1_match_the_vendor_map():
    bench = _bench()
    frames, vendor = bench.load_module(DATA, 1)
    r = bench.evaluate_module(frames, vendor, RuleParams(counting=True), "m1")
    # measured: noisy recall 0.935 (0.987 of the 8429 that fired), 2 of 8329 flags outside
    assert r["noisy_n"] == 8901 and r["noisy*_n"] == 8429
    assert 0.93 <= r["recall_noisy"] <= 0.94
    assert r["recall_noisy*"] >= 0.98
    assert r["outside_fraction"] <= 0.001
    assert 8250 <= r["flagged"] <= 8400
    assert r["stuck"] == 14  # the 14 constant non-zero pixels, all in the vendor map


def test_standard_rules_are_useless_on_counting_data():
    """Why counting mode exists: std < 1 calls most healthy pixels stuck."""
    bench = _bench()
    frames, _ = bench.load_module(DATA, 1)
    stats = bench.band_stats(frames[:, :128, :256], "crop")
    stats.median = np.median(frames[:, :128, :256], axis=0).astype(np.float64)
    flags, _ = classify(stats)
    assert np.mean((flags & Flag.STUCK) != 0) > 0.5
    counting, _ = classify(stats, RuleParams(counting=True))
    assert np.mean(counting != 0) < 0.01


def test_gap_pixels_are_never_flagged():
    bench = _bench()
    frames, vendor = bench.load_module(DATA, 3)
    flags, scores = classify(bench.band_stats(frames, "m3"), RuleParams(counting=True))
    gap = (vendor & 1) != 0
    assert gap.sum() == 5160 and not flags[gap].any()
    assert np.isnan(scores["score"][gap]).all()
