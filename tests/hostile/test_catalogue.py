"""The hostile-input catalogue (issue 19): each case runs the installed ``badpix``.

Every case checks the same aftermath (:mod:`tests.hostile.harness`): the exit
code, one stderr line naming the file, no traceback, no output left, the input's
bytes unchanged, and nothing left in the run's temporary folder or ``/dev/shm``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from . import makers
from .harness import assert_clean_tmp, assert_refused, run_badpix, shm_badpix, tree_digest

pytestmark = pytest.mark.skipif(shutil.which("badpix") is None and not
                                Path(makers.__file__).exists(), reason="badpix not installed")


@pytest.fixture
def case(tmp_path: Path):
    """The case folder; afterwards checks /dev/shm gained no badpix files."""
    before = shm_badpix()
    yield tmp_path
    assert shm_badpix() <= before


def refused(case: Path, inp: Path, *extra: str, name: str | None = None,
            command: str = "scan") -> str:
    digest = tree_digest(inp)
    args = [command, str(inp.relative_to(case)), "-o", "OUT", *extra]
    if command == "localvar":
        args = [command, str(inp.relative_to(case)), "-o", "OUT/var.tif", *extra]
    run = run_badpix(case, args)
    line = assert_refused(run, name or inp.name)
    assert tree_digest(inp) == digest
    return line


# -- the six failures of issue 19 ---------------------------------------------------------

def test_folder_of_huge_npy_headers(case):
    inp = makers.huge_npy_frames(case)
    line = refused(case, inp, name="frame_0.npy")
    assert "GiB" in line


def test_tiff_with_huge_dimensions(case):
    inp = makers.huge_tiff(case)
    refused(case, inp)



def test_full_disk_while_writing(case):
    inp = makers.small_frames(case, shape=(64, 64))
    digest = tree_digest(inp)
    run = run_badpix(case, ["scan", "frames", "-o", "OUT", "-q"], fsize=8 * 1024)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, run.stderr
    assert len(run.lines) == 1, run.stderr
    assert "file size limit" in run.lines[0] or "no space" in run.lines[0], run.lines
    assert "while writing" in run.lines[0], run.lines
    assert not run.out.exists() or not any(run.out.iterdir())
    assert_clean_tmp(run)
    assert tree_digest(inp) == digest



def test_full_disk_keeps_previous_outputs(case):
    makers.small_frames(case, shape=(64, 64))
    first = run_badpix(case, ["scan", "frames", "-o", "OUT", "-q"])
    assert first.returncode == 0, first.stderr
    before = tree_digest(first.out)
    run = run_badpix(case, ["scan", "frames", "-o", "OUT", "-q", "--hot-z", "3"], fsize=8 * 1024)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "while writing" in run.lines[-1]
    assert tree_digest(run.out) == before
    assert sorted(p.name for p in run.out.iterdir()) == sorted(Path(k).name for k in before)
    assert_clean_tmp(run)


def test_truncated_multipage_tiff(case):
    inp = makers.truncated_tiff(case)
    line = refused(case, inp)
    assert "page" in line


def test_truncated_multipage_tiff_skip_bad(case):
    inp = makers.truncated_tiff(case)
    digest = tree_digest(inp)
    run = run_badpix(case, ["scan", inp.name, "-o", "OUT", "-q", "--skip-bad"])
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    # the skipped pages are listed on stderr and in the summary, nothing else is said
    assert run.lines[0].startswith("skipped 1 frame"), run.stderr
    assert all("cut.tif" in ln for ln in run.lines[1:]) and len(run.lines) == 2, run.stderr
    summary = json.loads((run.out / "summary.json").read_text())
    assert "cut.tif[1:]" in json.dumps(summary), summary
    assert tree_digest(inp) == digest
    assert_clean_tmp(run)


def test_truncated_tiff_localvar(case):
    inp = makers.truncated_tiff(case)
    refused(case, inp, command="localvar")


def test_outlier_window_larger_than_frame(case):
    inp = makers.small_frames(case)
    digest = tree_digest(inp)
    run = run_badpix(case, ["scan", "frames", "-o", "OUT", "--outlier-size", "10001"],
                     timeout=60)  # before the fix: still running after minutes
    line = assert_refused(run, "--outlier-size")
    assert tree_digest(inp) == digest
    assert "32" in line


def test_nan_inf_frames_stay_quiet(case):
    makers.nan_inf_frames(case)
    run = run_badpix(case, ["scan", "nan", "-o", "OUT", "-q"])
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and not run.lines, run.stderr
    assert_clean_tmp(run)


@pytest.mark.parametrize("maker", [makers.uint64_frames, makers.uint64_tiff],
                         ids=["npy-frames-strips", "tiff-pages-streamed"])
def test_uint64_near_top_quiet_and_right(case, maker):
    inp, frames = maker(case)
    run = run_badpix(case, ["scan", str(inp.relative_to(case)), "-o", "OUT", "-q"])
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and not run.lines, run.stderr
    import tifffile

    stats = tifffile.imread(run.out / "stats_ch0.tif")  # (h, w, statistic), float32
    exact_mean = np.array([[float(sum(int(v) for v in frames[:, r, c])) / len(frames)
                            for c in range(frames.shape[2])] for r in range(frames.shape[1])])
    np.testing.assert_allclose(_stat(stats, "mean"), exact_mean, rtol=1e-7)
    # float64 of the raw values is 2048 apart here: the spread came out 0 or ~1000
    spread = (np.uint64(2**64 - 1) - frames).astype(np.float64).std(axis=0)
    assert spread.min() > 100
    np.testing.assert_allclose(_stat(stats, "std"), spread, rtol=1e-5)


def _stat(stats: np.ndarray, name: str) -> np.ndarray:
    from badpix.io.scandir import STATS_BANDS

    assert stats.shape[-1] == len(STATS_BANDS), stats.shape
    return stats[..., list(STATS_BANDS).index(name)].astype(np.float64)


# -- refusals the README promises ---------------------------------------------------------

@pytest.mark.parametrize("maker", [makers.object_npy, makers.pickled_npy_stack,
                                   makers.huge_npy_stack, makers.png_bomb, makers.h5_huge_shape,
                                   makers.h5_external_raw, makers.vrt, makers.vrt_as_tif,
                                   makers.zarr_pickle, makers.zarr_huge, makers.looped_tiff,
                                   makers.fuzz_npy_tokenize, makers.fuzz_hdf5_visit,
                                   makers.fuzz_tiff_tag_type],
                         ids=lambda m: m.__name__)
def test_refused(case, maker):
    refused(case, maker(case))


@pytest.mark.parametrize("maker", [makers.h5_external_link, makers.h5_vds_outside],
                         ids=lambda m: m.__name__)
def test_hdf5_pointing_outside(case, maker):
    inp = maker(case)
    outside = tree_digest(case / "elsewhere")
    refused(case, inp)
    assert tree_digest(case / "elsewhere") == outside
