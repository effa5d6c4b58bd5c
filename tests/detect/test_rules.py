"""Detection rules: the sensor team's drifting definition bit for bit, synthetic truth, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from badpix import open_stack
from badpix.detect import classify, lowest_variance, most_extreme, outlier
from badpix.detect.flags import DRIFTING, Flag
from badpix.detect.params import RuleParams
from badpix.errors import ParameterError
from badpix.evaluate import evaluate
from badpix.stats.bandstats import BandStats
from badpix.synth import make_synthetic, write_synthetic

from ._helpers import band_stats, numpy_band_stats

CLASSES = ["stuck", "outlier", "hot", "dead", "noisy"]


def sensor_drifting(frames: np.ndarray) -> np.ndarray:
    """The sensor team's definition, written independently on the in-memory stack."""
    x = frames.astype(np.float64)
    std = np.nanstd(x, axis=0)
    med = np.nanmedian(x, axis=0)
    dev = np.abs(med - ndimage.median_filter(med, size=5, mode="reflect"))
    return (std < 1.0) | (dev > 8.0 * np.nanmean(dev))


def test_stuck_or_outlier_is_exactly_the_sensor_drifting_definition(tmp_path):
    truth = write_synthetic(tmp_path, "npy", shape=(768, 64), channels=3, n_frames=30,
                            dtype="uint16", seed=7, counts={"stuck": 40, "outlier": 40})
    stack = open_stack(tmp_path, layout="l2-l1-m0")
    assert [b.name for b in stack.bands] == ["L2", "L1", "M0"]
    everything = stack.reader.read_all()
    planted_in_bands = 0
    for band in stack.bands:
        frames = np.ascontiguousarray(band.view(everything))
        flags, _ = classify(band_stats(frames, band.name))
        ours = (flags & DRIFTING) != 0
        reference = sensor_drifting(frames)
        np.testing.assert_array_equal(ours, reference, err_msg=band.name)
        inside = [p for p in truth.pixels if p.channel == band.channel
                  and band.rows[0] <= p.row < band.rows[1]]
        planted_in_bands += len(inside)
        for p in inside:  # every planted stuck/offset pixel in the band is found
            assert ours[p.row - band.rows[0], p.col], (band.name, p)
    assert planted_in_bands >= 8


@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float32"])
def test_defaults_reach_095_on_synthetic_truth(dtype):
    s = make_synthetic((256, 256), 40, dtype=dtype, seed=3, counts=dict.fromkeys(CLASSES, 40))
    flags, scores = classify(band_stats(s.frames[..., 0]))
    result = evaluate(flags, s.truth)
    for name in CLASSES:
        assert result[name].precision >= 0.95, (name, result[name])
        assert result[name].recall >= 0.95, (name, result[name])
    # flagged pixels have severity > 1, the rest <= 1
    assert np.all(scores["score"][flags != 0] > 1)
    assert np.nanmax(scores["score"][flags == 0]) <= 1


def test_weak_defects_are_harder():
    s = make_synthetic((128, 128), 30, dtype="uint8", seed=4, strength=0.3,
                       counts={"outlier": 30, "noisy": 30})
    flags, _ = classify(band_stats(s.frames[..., 0]))
    r = evaluate(flags, s.truth)
    assert r["outlier"].recall < 0.9 or r["noisy"].recall < 0.9


def test_nan_statistics_never_flag():
    rng = np.random.default_rng(0)
    x = rng.normal(100, 5, (20, 32, 32))
    x[:, 10:14, 10:14] = np.nan  # pixels without a single valid frame
    x[:, 3, 3] = 100.0  # a real stuck pixel still found next to them
    s = numpy_band_stats(x)
    flags, scores = classify(s)
    assert not flags[10:14, 10:14].any()
    assert np.isnan(scores["score"][10:14, 10:14]).all()
    assert flags[3, 3] & Flag.STUCK


def test_range_rule_isolated_saturated_pixel_vs_saturated_region():
    rng = np.random.default_rng(1)
    x = np.clip(rng.normal(120, 4, (25, 40, 40)), 0, 255).astype(np.uint8)
    x[:, 5, 5] = 255  # saturated alone: hot
    x[:, 20:30, 20:30] = 255  # a saturated part of the scene: not hot
    x[:, 35, 8] = 0  # at the floor: dead
    flags, _ = classify(numpy_band_stats(x))
    assert flags[5, 5] & Flag.HOT and flags[35, 8] & Flag.DEAD
    assert not (flags[22:28, 22:28] & Flag.HOT).any()
    off, _ = classify(numpy_band_stats(x), RuleParams(use_range=False, hot_z=1e9, dead_z=1e9))
    assert not (off[5, 5] & Flag.HOT) and not (off[35, 8] & Flag.DEAD)


def test_outlier_needs_the_median():
    x = np.random.default_rng(2).normal(0, 1, (5, 8, 8))
    x[:, 3, 3] += 40  # hot: flagged by HOT (and OUTLIER when the median is there)
    s = numpy_band_stats(x, with_median=False)
    with pytest.raises(ParameterError, match="median"):
        outlier(s)
    # classify runs every rule it has the statistics for: no OUTLIER without a median
    flags, scores = classify(s)
    assert "outlier" not in scores and not (flags & Flag.OUTLIER).any()
    assert flags[3, 3] & Flag.HOT
    with_median, scores_m = classify(numpy_band_stats(x))
    assert "outlier" in scores_m and with_median[3, 3] & Flag.OUTLIER
    assert np.array_equal(flags, with_median & ~np.uint8(Flag.OUTLIER))


def test_rankings():
    rng = np.random.default_rng(5)
    x = rng.normal(50, 3, (30, 16, 16))
    x[:, 2, 7] = 50.0
    x[:, 9, 1] = 50 + rng.normal(0, 0.2, 30)
    s = numpy_band_stats(x)
    low = lowest_variance(s, 2)
    assert [(r, c) for r, c, _ in low] == [(2, 7), (9, 1)] and low[0][2] == 0.0
    _, scores = classify(s)
    top = most_extreme(scores, 1)
    assert (top[0][0], top[0][1]) == (2, 7)
    assert most_extreme(scores["score"], 0) == []


def test_params_validation_and_roundtrip():
    p = RuleParams(hot_z=30.0, counting=True)
    assert RuleParams.from_dict(p.to_dict()) == p and p.to_dict()["mode"] == "counting"
    for bad in ({"outlier_size": 4}, {"stuck_std": -1.0}, {"counting_alpha": 0.0},
                {"size": True}, {"scale_floor": 0.0}):
        with pytest.raises(ParameterError):
            RuleParams(**bad)
    with pytest.raises(ParameterError, match="unknown"):
        RuleParams.from_dict({"nope": 1})


def test_flat_band_does_not_divide_by_zero():
    x = np.full((10, 12, 12), 7, np.uint16)
    x[:, 4, 4] = 19
    s = BandStats("flat", 10, np.dtype(np.uint16), np.full((12, 12), 10), x.mean(0).astype(float),
                  x.var(0).astype(float), x.min(0).astype(float), x.max(0).astype(float),
                  median=np.median(x, 0).astype(float), value_range=(0.0, 65535.0))
    flags, _ = classify(s, RuleParams(stuck_std=0.0))
    assert [tuple(v) for v in np.argwhere(flags)] == [(4, 4)]
    assert flags[4, 4] == Flag.OUTLIER | Flag.HOT


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001, 4096])
def test_robust_scale_matches_numpy_median(n):
    from badpix.detect.outlier import robust_scale

    rng = np.random.default_rng(n)
    dev = np.round(rng.normal(size=n) * 4) / 8  # ties and signed zeros
    dev[rng.random(n) < 0.1] = np.nan
    dev[:: 17] = np.inf
    finite = dev[np.isfinite(dev)]
    keep = dev.copy()
    centre, scale = robust_scale(dev, 1e-3)
    assert np.array_equal(dev, keep, equal_nan=True)  # the input is left alone
    if finite.size:
        want = float(np.median(finite))
        assert centre == want and np.signbit(centre) == np.signbit(want)
        assert scale == max(1.4826 * float(np.median(np.abs(finite - want))), 1e-3)


def test_range_rule_many_pinned_pixels_uses_the_full_filter():
    """More than 1/8 of the band pinned: the whole-image local median path."""
    frames = np.full((6, 16, 16), 100, np.uint8)
    frames[:, :, :8] = 255  # half the band saturated: a saturated region, not hot pixels
    frames[:, 3, 12] = 255  # an isolated saturated pixel
    flags, _ = classify(band_stats(frames))
    assert flags[3, 12] & Flag.HOT
    assert not (flags[:, :6] & Flag.HOT).any()
