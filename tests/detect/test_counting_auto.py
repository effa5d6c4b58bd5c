"""``counting="auto"`` (the default): the rule set is decided from the frames, once per scan.

Real data: LAMBDA (photon-counting) must get the counting rules by itself, with the
flags of a forced ``--counting`` scan bit for bit; every other shared data set and
the synthetic stacks must get the standard rules.
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path

import numpy as np
import pytest

import badpix
from badpix import open_stack
from badpix.cli import main
from badpix.detect import classify
from badpix.detect.params import RuleParams
from badpix.detect.photon import (
    COUNTING_ZERO_FRACTION,
    decide_counting,
    looks_like_counting,
    resolve_counting,
    sample_indices,
)
from badpix.engine import scan_stack
from badpix.errors import ParameterError
from badpix.io.scandir import load_scan
from badpix.synth import make_synthetic, write_synthetic

from ..conftest import DATA
from ._helpers import numpy_band_stats

REAL = DATA / "real"
LAMBDA = REAL / "lambda_gaas_xray_petra3"
LAMBDA_DATASET = "entry/instrument/detector/data"

#: every shared data set that is not photon-counting: (label, source, dataset)
OTHER_SETS = [
    ("k11 imaging", REAL / "httomo_diamond_tomo_darks_flats/k11_diad/k11-18014-imaging.h5",
     "entry/detector/detector"),
    ("i12 darks", REAL / "httomo_diamond_tomo_darks_flats/i12/dark_field.h5",
     "1-NoProcessPlugin-tomo/data"),
    ("tooth projections", REAL / "tomopy_tooth/tooth.h5", "exchange/data"),
    ("tooth darks", REAL / "tomopy_tooth/tooth.h5", "exchange/data_dark"),
    ("tooth flats", REAL / "tomopy_tooth/tooth.h5", "exchange/data_white"),
    *[(p.split("/")[-1], p, None) for p in sorted(glob.glob(str(DATA / "dcnum" / "*.rtdc")))],
]

needs_lambda = pytest.mark.skipif(not LAMBDA.is_dir(), reason="LAMBDA data not available")


@needs_lambda
@pytest.mark.parametrize("module", [1, 2, 3])
def test_default_cli_scan_of_lambda_equals_forced_counting_scan(module, tmp_path, capsys):
    pattern = str(LAMBDA / f"*_m{module}_part*.nxs")
    out = tmp_path / "scan"
    assert main(["scan", pattern, "--dataset", LAMBDA_DATASET, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "rules: photon-counting (auto: 9" in err  # "98.7 % of pixels are zero ..."
    summary = json.loads((out / "summary.json").read_text())
    rs = summary["rule_set"]
    assert rs["rule_set"] == "photon-counting" and rs["auto"] and rs["counting"]
    assert rs["zero_fraction"] > 0.98 and rs["sampled_frames"] == 5
    assert summary["parameters"]["counting"] is True
    forced = badpix.run_scan(sorted(glob.glob(pattern)), dataset=LAMBDA_DATASET, counting=True)
    flags = next(iter(forced.bands.values())).flags
    assert flags.any()
    np.testing.assert_array_equal(load_scan(out).mask("ch0"), flags)
    assert forced.rule_set()["auto"] is False


def test_cli_flags_still_force_either_rule_set(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):  # counting-like data: auto would pick the counting rules
        np.save(tmp_path / f"f{i}.npy", rng.poisson(0.05, (30, 30)).astype(np.int16))
    for flag, name in (("--counting", "photon-counting"), ("--no-counting", "standard")):
        out = tmp_path / flag
        assert main(["scan", str(tmp_path), "-o", str(out), "-q", flag]) == 0
        rs = json.loads((out / "summary.json").read_text())["rule_set"]
        assert rs["rule_set"] == name and rs["auto"] is False and rs["zero_fraction"] is None
        assert rs["reason"].startswith("forced: " + flag)


@pytest.mark.parametrize(("label", "source", "dataset"), OTHER_SETS, ids=[s[0] for s in OTHER_SETS])
def test_other_shared_data_sets_are_not_counting(label, source, dataset):
    if not Path(source).exists():
        pytest.skip(f"{label} not available")
    import hdf5plugin  # noqa: F401 - the .rtdc files are Zstandard-compressed

    d = looks_like_counting(open_stack(source, dataset=dataset))
    assert d.counting is False, (label, d)
    assert d.sampled_frames == 5 and d.zero_fraction < 0.01  # measured: <= 0.0002
    assert d.auto and "auto:" in d.reason


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("scene", ["moving", "static", "flat"])
def test_synthetic_stacks_are_not_counting(dtype, scene):
    s = make_synthetic((48, 40), n_frames=12, channels=2, dtype=dtype, seed=3, scene=scene)
    d = looks_like_counting(s.frames)
    assert d.counting is False and d.zero_fraction < 0.05, d


def test_demo_stack_scans_with_the_standard_rules(tmp_path):
    """The demo's sample (3-channel uint16 .npy, l2-l1-m0 layout), scanned as the demo does."""
    write_synthetic(tmp_path / "f", "npy", shape=(768, 24), n_frames=8, channels=3,
                    dtype="uint16", seed=0)
    result = scan_stack(open_stack(tmp_path / "f", layout="l2-l1-m0"))
    assert result.params.counting is False
    rs = result.rule_set()
    assert rs["rule_set"] == "standard" and rs["auto"] and rs["zero_fraction"] < 0.01


def test_jpeg_series_is_a_photo_series_and_never_read(tmp_path):
    write_synthetic(tmp_path / "j", "jpeg", shape=(32, 32), n_frames=4, channels=3, dtype="uint8")
    d = looks_like_counting(open_stack(tmp_path / "j"))
    assert not d.counting and math.isnan(d.zero_fraction) and "photo series" in d.reason


def test_sparse_poisson_counts_are_counting_and_the_threshold_is_strict():
    rng = np.random.default_rng(1)
    assert looks_like_counting(rng.poisson(0.3, (9, 40, 40)).astype(np.uint16)).counting
    # exactly half zeros is not "most"
    assert not decide_counting("uint16", [COUNTING_ZERO_FRACTION] * 3).counting
    assert decide_counting("int32", [0.4, 0.6, 0.7]).counting  # the median frame decides
    assert not decide_counting("int32", [0.4, 0.45, 0.9]).counting
    assert not decide_counting("float64", [1.0]).counting  # counts come as integers
    assert not decide_counting("uint8", []).counting
    assert sample_indices(1).tolist() == [0] and sample_indices(0).size == 0


def test_undecodable_sampled_frames_are_left_out(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(6):
        np.save(tmp_path / f"f{i}.npy", rng.poisson(0.1, (20, 20)).astype(np.int16))
    data = (tmp_path / "f5.npy").read_bytes()
    (tmp_path / "f5.npy").write_bytes(data[:200])  # the last sampled frame: truncated
    stack = open_stack(tmp_path, skip_bad=True)
    d = looks_like_counting(stack)
    assert d.counting and d.sampled_frames == 4


def test_params_counting_values():
    assert RuleParams().counting == "auto" and RuleParams(counting=None).counting == "auto"
    assert RuleParams(counting=np.bool_(True)).counting is True
    for bad in (1, "yes", 0.5):
        with pytest.raises(ParameterError, match="counting"):
            RuleParams(counting=bad)
    p = RuleParams(counting=False)
    assert RuleParams.from_dict(p.to_dict()) == p and "counting_decision" not in p.to_dict()


def test_classify_on_statistics_alone_runs_standard_rules_unless_forced():
    rng = np.random.default_rng(3)
    s = numpy_band_stats(rng.poisson(0.05, (30, 20, 20)).astype(np.int16))
    auto_flags, auto_scores = classify(s)
    std_flags, _ = classify(s, RuleParams(counting=False))
    np.testing.assert_array_equal(auto_flags, std_flags)
    assert "outlier" in auto_scores  # a standard rule


def test_resolution_happens_once_and_is_kept(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(8):
        np.save(tmp_path / f"f{i}.npy", rng.poisson(0.05, (24, 24)).astype(np.int16))
    stack = open_stack(tmp_path)
    p = resolve_counting(stack, RuleParams())
    assert p.counting is True and p.counting_decision.auto
    assert resolve_counting(stack, p) is p  # nothing read again
    result = scan_stack(stack, p)
    assert result.params.counting_decision is p.counting_decision


def test_checkpointed_scan_resolves_auto_like_the_local_engine(tmp_path):
    from badpix.engine import scan_stack

    rng = np.random.default_rng(5)
    frames = rng.poisson(0.05, (12, 24, 24)).astype(np.int16)
    frames[:, 5, 5] = rng.poisson(30, 12)  # hot
    for i, f in enumerate(frames):
        np.save(tmp_path / f"f{i:02d}.npy", f)
    stack = open_stack(tmp_path)
    ck = scan_stack(stack, out=tmp_path / "out", checkpoint_every=4)
    forced = scan_stack(stack, RuleParams(counting=True))
    assert ck.params.counting is True and ck.rule_set()["auto"]
    np.testing.assert_array_equal(ck.bands["ch0"].flags, forced.bands["ch0"].flags)
    assert ck.bands["ch0"].flags[5, 5]


def test_dask_engine_resolves_auto_like_the_local_engine(tmp_path):
    pytest.importorskip("distributed")
    from badpix.cluster import dask_client

    rng = np.random.default_rng(6)
    frames = rng.poisson(0.05, (10, 32, 20)).astype(np.int16)
    frames[:, 7, 3] = rng.poisson(40, 10)  # hot
    for i, f in enumerate(frames):
        np.save(tmp_path / f"f{i:02d}.npy", f)
    stack = open_stack(tmp_path)
    with dask_client(workers=1) as client:
        dk = scan_stack(stack, None, client=client)
    forced = scan_stack(stack, RuleParams(counting=True))
    assert dk.params.counting is True and dk.rule_set()["auto"]
    np.testing.assert_array_equal(dk.bands["ch0"].flags, forced.bands["ch0"].flags)
    assert dk.bands["ch0"].flags[7, 3]


def test_terminal_summary_and_report_say_which_rules_ran_and_why(tmp_path, capsys):
    rng = np.random.default_rng(7)
    for i in range(6):
        np.save(tmp_path / f"f{i}.npy", rng.poisson(0.05, (30, 30)).astype(np.int16))
    out = tmp_path / "scan"
    assert main(["scan", str(tmp_path), "-o", str(out), "--report"]) == 0
    line = next(ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("rules:"))
    rs = json.loads((out / "summary.json").read_text())["rule_set"]
    assert line == f"rules: photon-counting ({rs['reason']})"
    assert rs["reason"].startswith("auto: 9") and "of pixels are zero" in rs["reason"]
    html = (out / "report.html").read_text()
    assert f"photon-counting ({rs['reason']})" in html
