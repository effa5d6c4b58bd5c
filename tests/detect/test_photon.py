"""Counting-mode rules on real LAMBDA photon-counting frames vs the vendor's bad-pixel map.

The frames go through the real reader path (five NeXus parts as one stack) and the
local engine, as ``badpix scan 'part*.nxs' --dataset ... --counting`` does.
"""

from __future__ import annotations

import glob

import h5py
import numpy as np
import pytest

import badpix
from badpix.detect.flags import Flag
from badpix.detect.params import RuleParams

from ..conftest import DATA

LAMBDA = DATA / "real" / "lambda_gaas_xray_petra3"
DATASET = "entry/instrument/detector/data"

pytestmark = pytest.mark.skipif(not LAMBDA.is_dir(), reason="LAMBDA data not available")


def parts(module: int) -> list[str]:
    return sorted(glob.glob(str(LAMBDA / f"*_m{module}_part*.nxs")))


def vendor_mask(module: int) -> np.ndarray:
    with h5py.File(parts(module)[0], "r") as h:
        return h["entry/instrument/detector/pixel_mask"][0]


def scan_module(module: int, **params):
    result = badpix.run_scan(parts(module), dataset=DATASET, **params)
    return next(iter(result.bands.values()))


def test_counting_rules_on_module_1_match_the_vendor_map():
    band = scan_module(1, counting=True)
    assert band.stats.n_frames == 50
    vendor = vendor_mask(1)
    flagged = band.flags != 0
    noisy = (vendor & 16) != 0
    fired = noisy & (band.stats.max > 0)
    # measured: noisy recall 0.935 (0.987 of the 8429 that fired), 2 of 8329 flags outside
    assert noisy.sum() == 8901 and fired.sum() == 8429
    assert 0.93 <= flagged[noisy].mean() <= 0.94
    assert flagged[fired].mean() >= 0.98
    assert (flagged & (vendor == 0)).sum() / flagged.sum() <= 0.001
    assert 8250 <= flagged.sum() <= 8400
    assert np.count_nonzero(band.flags & Flag.STUCK) == 14  # constant non-zero, all in the map


def test_standard_rules_are_useless_on_counting_data():
    """Why counting mode exists: std < 1 calls most healthy pixels stuck."""
    standard = scan_module(1, counting=False)
    assert np.mean((standard.flags & Flag.STUCK) != 0) > 0.5
    counting = scan_module(1, params=RuleParams(counting=True))
    # 8329 flags = 1.04 % of the module, all but 2 in the vendor map (test above)
    assert np.mean(counting.flags != 0) < 0.011


def test_gap_pixels_are_never_flagged():
    band = scan_module(3, counting=True)
    gap = (vendor_mask(3) & 1) != 0
    assert gap.sum() == 5160 and not band.flags[gap].any()
    assert np.isnan(band.scores["score"][gap]).all()
