"""Checkpointed local scans: SIGKILL + --resume and --add give the uninterrupted outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from badpix import open_stack
from badpix.cli import main
from badpix.engine import run_scan, scan_stack
from badpix.errors import InputError, ParameterError
from badpix.stats.store import FrameStore, tiled_median

from ._util import assert_same_results, write_stack

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]

KILLER = textwrap.dedent("""
    import os, signal, sys
    from badpix import open_stack
    from badpix.detect.params import RuleParams
    from badpix.engine import run_scan

    frames, out, every, when, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    seen = [0]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def progress(n):
        seen[0] += n
        if when == "between" and seen[0] >= at:
            die()

    def on_checkpoint(done):
        if when == "checkpoint" and done == at:
            die()

    run_scan(open_stack(frames), params=RuleParams(), out=out, checkpoint_every=every,
             progress=progress, on_checkpoint=on_checkpoint)
    sys.exit(3)  # not killed: the test is wrong
""")


def _cli(*args: str) -> None:
    assert main(["scan", *map(str, args), "-q", "--format", "npy"]) == 0


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and p.name != "summary.json"}


def _kill_run(frames: Path, out: Path, every: int, when: str, at: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(frames), str(out), str(every), when,
                           str(at)], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -9, proc.stderr


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ck") / "frames"
    write_stack(d, 45, shape=(30, 26, 2), seed=7)
    return d


@pytest.fixture(scope="module")
def reference(frames, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "scan"
    _cli(frames, "-o", out, "--checkpoint-every", 10)
    return out


def test_checkpointed_scan_equals_streaming_scan(frames, tmp_path):
    plain = scan_stack(open_stack(frames))
    ck = run_scan(open_stack(frames), out=tmp_path / "o", checkpoint_every=4)
    assert_same_results(plain, ck, exact=True)
    assert (tmp_path / "o" / "state" / "manifest.json").is_file()


@pytest.mark.parametrize("when,at", [("checkpoint", 20), ("between", 25), ("between", 3)])
def test_sigkill_then_resume_gives_identical_outputs(frames, reference, tmp_path, when, at):
    out = tmp_path / "scan"
    _kill_run(frames, out, 10, when, at)
    assert not (out / "summary.json").exists()
    _cli(frames, "-o", out, "--resume")
    assert _outputs(out) == _outputs(reference)


def test_resume_float_is_bit_identical(tmp_path):
    d = tmp_path / "f"
    write_stack(d, 23, dtype=np.float32, seed=8, nan_fraction=0.02)
    ref = run_scan(open_stack(d), out=tmp_path / "ref", checkpoint_every=5)
    _kill_run(d, tmp_path / "k", 5, "between", 12)
    got = run_scan(open_stack(d), out=tmp_path / "k", resume=True)
    assert_same_results(ref, got, exact=True)


def test_resume_refuses_changed_input(frames, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(frames, d)
    _kill_run(d, tmp_path / "scan", 10, "checkpoint", 10)
    np.save(d / "frame_00040.npy", np.zeros((30, 26, 2), np.uint16))
    with pytest.raises(InputError, match="cannot resume"):
        run_scan(open_stack(d), out=tmp_path / "scan", resume=True)


def test_add_merges_without_reading_old_frames(tmp_path):
    write_stack(tmp_path / "all", 31, shape=(30, 26, 2), seed=9)
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    for p in sorted((tmp_path / "all").glob("*.npy")):
        shutil.copy(p, old if int(p.stem.split("_")[1]) < 19 else new)
    out = tmp_path / "scan"
    _cli(old, "-o", out, "--checkpoint-every", 8)
    shutil.rmtree(old)  # --add must not need the old frames
    _cli(new, "-o", out, "--add")
    whole = scan_stack(open_stack(tmp_path / "all"))
    got = run_scan(open_stack(new), out=out, resume=True)  # finished: re-finalize only
    assert_same_results(whole, got, exact=True)
    from badpix.io.scandir import load_scan

    scan = load_scan(out)
    assert scan.summary["input"]["n_frames"] == 31
    np.testing.assert_array_equal(scan.mask("ch0"), whole.bands["ch0"].flags)
    with pytest.raises(ParameterError, match="already part"):
        run_scan(open_stack(new), out=out, add=True)


def test_add_needs_state(frames, tmp_path):
    with pytest.raises(InputError, match="no scan state"):
        run_scan(open_stack(frames), out=tmp_path / "none", add=True)


@pytest.mark.parametrize("budget", [10**9, 2000, 300])
def test_tiled_median_matches_numpy(tmp_path, budget):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 60000, (9, 13, 150), dtype=np.uint16)
    st = FrameStore(tmp_path / "s.raw", (13, 150), np.uint16, create=True)
    st.write(0, x[:4])
    st.write(4, x[4:])
    slots = np.array([0, 1, 2, 4, 5, 7, 8])  # holes are skipped
    got = tiled_median(st, slots, budget)
    st.close()
    np.testing.assert_array_equal(got, np.median(x[slots], axis=0))


def test_photo_scan_without_median_can_be_refinalized_with_it(tmp_path):
    from .test_local_engine import rgb_photos

    frames = rgb_photos(tmp_path / "p", n=8)
    local = scan_stack(open_stack(tmp_path / "p"), extra_accumulators=[])
    out = tmp_path / "scan"
    plain = run_scan(open_stack(tmp_path / "p"), out=out, checkpoint_every=3)
    assert all(br.stats.median is None for br in plain.bands.values())
    for name in local.bands:
        np.testing.assert_array_equal(plain.bands[name].flags, local.bands[name].flags)
    # the frames were stored anyway: the finished scan is re-finalized with the median
    again = run_scan(open_stack(tmp_path / "p"), out=out, resume=True, median=True)
    for name, br in again.bands.items():
        np.testing.assert_array_equal(br.stats.median,
                                      np.median(frames[..., "RGB".index(name)], axis=0))
        assert "outlier" in br.scores
