"""The scan plan: one pure decision, printable, serialisable, recorded in summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from badpix import open_stack
from badpix.cli import main
from badpix.engine import plan_scan
from badpix.engine.plan import ScanPlan, make_plan
from badpix.errors import ParameterError
from badpix.io.images import ImageFramesReader
from badpix.io.npy import NpyFramesReader

from ._util import write_stack
from .test_local_engine import rgb_photos


def test_policy_comes_from_reader_traits(tmp_path):
    assert ImageFramesReader.is_photo_series and not NpyFramesReader.is_photo_series
    rgb_photos(tmp_path / "p", n=4)
    photo = make_plan(open_stack(tmp_path / "p"))
    assert photo.photo and photo.median == "none" and photo.accumulators == ("moments", "onset")
    assert photo.unit == "frames" and photo.moments_over_frames
    write_stack(tmp_path / "f", 5)
    sensor = make_plan(open_stack(tmp_path / "f"))
    assert not sensor.photo and sensor.unit == "strips" and sensor.accumulators == ("moments",)
    # the same decisions for every executor
    for kw in ({"executor": "dask", "threads": 3}, {"checkpoint_every": 2}):
        assert make_plan(open_stack(tmp_path / "p"), **kw).accumulators == photo.accumulators
        assert make_plan(open_stack(tmp_path / "f"), **kw).collects_median


def test_plan_is_pure_frozen_and_round_trips(tmp_path):
    write_stack(tmp_path / "f", 9)
    stack = open_stack(tmp_path / "f")
    for kw in ({}, {"median": False}, {"executor": "dask", "threads": 2, "frames_per_task": 4},
               {"checkpoint_every": 3}, {"memory_limit": 2000, "available": 10**9}):
        plan = make_plan(stack, **kw)
        assert make_plan(stack, **kw) == plan
        assert ScanPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
        assert plan.n_units >= 1 and str(plan).startswith("executor")
        with pytest.raises(AttributeError):
            plan.unit = "x"  # frozen
    assert make_plan(stack, executor="dask", threads=2, frames_per_task=4).frame_ranges == (
        (0, 4), (4, 8), (8, 9))
    assert make_plan(stack, memory_limit=10, available=10**9).median == "spill"
    with pytest.raises(ParameterError):
        make_plan(stack, executor="gpu")
    with pytest.raises(ParameterError):
        plan_scan(stack, threads=2, out=tmp_path / "o", checkpoint_every=3)


def test_cli_plan_prints_and_writes_nothing_and_summary_records_it(tmp_path, capsys):
    write_stack(tmp_path / "f", 6)
    out = tmp_path / "scan"
    assert main(["scan", str(tmp_path / "f"), "-o", str(out), "--plan"]) == 0
    printed = capsys.readouterr().out
    assert "units         strips" in printed and "median        strips" in printed
    assert not out.exists()
    assert main(["scan", str(tmp_path / "f"), "-o", str(out), "-q", "--format", "npy"]) == 0
    recorded = ScanPlan.from_dict(json.loads((out / "summary.json").read_text())["plan"])
    assert recorded == make_plan(open_stack(tmp_path / "f"))
    assert main(["scan", str(tmp_path / "f"), "-o", str(out), "--plan", "--workers", "2",
                 "--no-median"]) == 0
    printed = capsys.readouterr().out
    assert "dask (2 thread(s))" in printed and "median        none" in printed


def test_checkpointed_scan_records_its_plan(tmp_path):
    from badpix.engine import run_scan

    write_stack(tmp_path / "f", 7)
    r = run_scan(tmp_path / "f", out=tmp_path / "o", checkpoint_every=3)
    assert r.plan.checkpoint_every == 3 and r.plan.median == "state"
    assert np.isfinite(r.bands["ch0"].stats.median).all()


def test_plan_of_a_resume_shows_the_recorded_checkpoints(tmp_path, capsys):
    write_stack(tmp_path / "f", 9)
    out = tmp_path / "scan"
    assert main(["scan", str(tmp_path / "f"), "-o", str(out), "-q", "--format", "npy",
                 "--checkpoint-every", "3"]) == 0
    capsys.readouterr()
    assert main(["scan", str(tmp_path / "f"), "-o", str(out), "--plan", "--resume"]) == 0
    assert "checkpoint    every 3 frames" in capsys.readouterr().out
    assert main(["scan", str(tmp_path / "f"), "-o", str(tmp_path / "none"), "--plan",
                 "--resume"]) == 2  # no state there: a one-line error
