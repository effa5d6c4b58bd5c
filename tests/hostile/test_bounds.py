"""Option values bounded by the data (issue 19): one line naming the option and the bound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from . import makers
from .harness import assert_refused, run_badpix, shm_badpix, tree_digest


@pytest.fixture
def case(tmp_path: Path):
    before = shm_badpix()
    yield tmp_path
    assert shm_badpix() <= before


def _refused(case: Path, inp: Path, args: list[str], option: str) -> str:
    digest = tree_digest(inp)
    run = run_badpix(case, args, timeout=60)
    line = assert_refused(run, option)
    assert tree_digest(inp) == digest
    return line


@pytest.mark.parametrize("limit", ["1000", "3KB"])
def test_memory_limit_below_two_frames(case, limit):
    # 32 x 32 uint16: one frame is 2048 bytes, the two blocks in flight 4096
    inp = makers.small_frames(case)
    line = _refused(case, inp, ["scan", "frames", "-o", "OUT", "--memory-limit", limit],
                    "--memory-limit")
    assert "two frames" in line and "4096 bytes" in line, line


def test_memory_limit_of_two_frames_runs(case):
    makers.small_frames(case)
    run = run_badpix(case, ["scan", "frames", "-o", "OUT", "-q", "--memory-limit", "4096"])
    assert run.returncode == 0, run.stderr
    assert (run.out / "summary.json").is_file()


@pytest.mark.parametrize("size", ["35", "10001"])
def test_outlier_size_beyond_the_band(case, size):
    inp = makers.small_frames(case, shape=(24, 32))
    line = _refused(case, inp, ["scan", "frames", "-o", "OUT", "--outlier-size", size],
                    f"--outlier-size {size}")
    assert "24 x 32" in line and "at most 31" in line, line


def test_localvar_size_beyond_the_raster(case):
    import tifffile

    inp = case / "img.tif"
    tifffile.imwrite(inp, np.random.default_rng(0).integers(0, 100, (20, 30), np.uint16))
    line = _refused(case, inp, ["localvar", "img.tif", "-o", "OUT/var.tif", "--size", "99"],
                    "--size 99")
    assert "img.tif" in line and "at most 30" in line, line
    ok = run_badpix(case, ["localvar", "img.tif", "-o", "OUT/var.tif", "--size", "30", "-q"])
    assert ok.returncode == 0 and (ok.out / "var.tif").is_file(), ok.stderr
