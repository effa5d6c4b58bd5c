"""Write errors on real file systems (issue 19): a 1 MiB tmpfs fills up, a remounted-ro one.

Needs root and ``mount`` (skipped otherwise).  ``chmod 555`` would not stop root, so
the read-only case remounts the tmpfs read-only instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .harness import assert_clean_tmp, run_badpix, shm_badpix, tree_digest


def _mount(args: list[str]) -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def disk(tmp_path: Path):
    """A 1 MiB tmpfs at ``tmp_path/disk``; ``tmp_path`` is the case folder."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", os.fspath(mnt)]):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    before = shm_badpix()
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", os.fspath(mnt)], capture_output=True)
    assert shm_badpix() <= before


def _frames(case: Path, shape: tuple[int, int] = (64, 64)) -> Path:
    f = case / "frames"
    f.mkdir()
    rng = np.random.default_rng(5)
    for i in range(6):
        np.save(f / f"frame_{i}.npy", rng.integers(100, 200, shape, dtype=np.uint16))
    return f


def _scan(case: Path, out: Path, *extra: str):
    return run_badpix(case, ["scan", "frames", "-o", os.fspath(out), "-q", *extra])


def _check_refused(run, out: Path, before: dict[str, str], cause: str) -> str:
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert len(run.lines) == 1, run.stderr
    line = run.lines[0]
    assert line.startswith(f"badpix: error: {out}: {cause} while "), line
    # previous outputs intact, no staging folder or temp file left beside them
    assert tree_digest(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert_clean_tmp(run)
    return line


def test_no_space_left_keeps_previous_outputs(tmp_path, disk):
    inp = _frames(tmp_path)
    digest = tree_digest(inp)
    out = disk / "out"
    first = _scan(tmp_path, out)
    assert first.returncode == 0, first.stderr
    before = tree_digest(out)
    # fill the disk but for a few KiB: the next scan's outputs cannot fit
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(disk / "filler", max(0, os.path.getsize(disk / "filler") - 8192))
    run = _scan(tmp_path, out, "--hot-z", "3")
    os.unlink(disk / "filler")
    line = _check_refused(run, out, before, "no space left on device")
    assert " while writing " in line and line.endswith((".tif", ".csv", ".json")), line
    assert tree_digest(inp) == digest


def test_no_space_for_a_first_run_leaves_nothing(tmp_path, disk):
    _frames(tmp_path, shape=(512, 512))  # stats alone are 5 MiB of float32: cannot fit
    out = disk / "out"
    run = _scan(tmp_path, out)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2 and len(run.lines) == 1, run.stderr
    assert run.lines[0].startswith(f"badpix: error: {out}: no space left on device while "
                                   "writing "), run.lines
    assert sorted(p.name for p in disk.iterdir()) in ([], ["out"])
    assert not out.exists() or not any(out.iterdir())
    assert_clean_tmp(run)


def test_read_only_file_system_keeps_previous_outputs(tmp_path, disk):
    _frames(tmp_path)
    out = disk / "out"
    first = _scan(tmp_path, out)
    assert first.returncode == 0, first.stderr
    before = tree_digest(out)
    if not _mount(["-o", "remount,ro", os.fspath(disk)]):
        pytest.skip("cannot remount the tmpfs read-only")
    run = _scan(tmp_path, out, "--hot-z", "3")
    line = _check_refused(run, out, before, "read-only file system")
    assert line.endswith("while creating the staging folder"), line
