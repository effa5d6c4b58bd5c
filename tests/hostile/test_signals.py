"""SIGINT and SIGTERM in the middle of a scan, a repair and a background run (issue 19).

Each run gets its own case folder (cwd, ``TMPDIR``) and is signalled once it is
seen working: the scan and the background run after their first line of chatter
(the stack was opened, the kernels load next), the repair once its first repaired
file exists under a temporary name in the output folder.  Afterwards: exit 130/143,
one line, no traceback, no output, no staging folder or temporary file anywhere,
nothing in ``TMPDIR`` and no new badpix files in ``/dev/shm``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ._popen import listing, start
from .harness import shm_badpix

N_FRAMES, SHAPE = 300, (512, 512)
MESSAGES = {signal.SIGINT: "badpix: interrupted", signal.SIGTERM: "badpix: terminated"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Path:
    """300 frames of 512 x 512 uint16 and a mask: seconds of work for every command."""
    root = tmp_path_factory.mktemp("signals")
    frames = root / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4000, SHAPE, dtype=np.uint16)
    for i in range(N_FRAMES):
        np.save(frames / f"frame_{i:04d}.npy", base + rng.integers(0, 50, SHAPE, np.uint16))
    mask = np.zeros(SHAPE, np.uint8)
    mask[rng.integers(0, SHAPE[0], 500), rng.integers(0, SHAPE[1], 500)] = 1
    np.save(root / "mask.npy", mask)
    return root


def _fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())]


def _wait_for_line(p: subprocess.Popen, prefix: str, delay: float) -> None:
    first = p.stderr.readline()
    assert first.startswith(prefix), first
    time.sleep(delay)


def _wait_for_files(p: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 60
    while p.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and any(out.iterdir()):
            return
        time.sleep(0.005)


COMMANDS = {
    "scan": (["scan", "IN/frames", "-o", "out"], "npy-frames: "),
    "repair": (["repair", "IN/frames", "-m", "IN/mask.npy", "-o", "out"], None),
    "background": (["background", "IN/frames", "-o", "out/bg.h5", "-m", "rolling",
                    "-k", "50"], "npy-frames: "),
    # a folder output is staged (StagedDir) rather than one temporary file
    "background-folder": (["background", "IN/frames", "-o", "out/bg", "-m", "rolling",
                           "-k", "50"], "npy-frames: "),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_signal_mid_work(tmp_path, stack, command, sig):
    shm_before = shm_badpix()
    inputs = _fingerprint(stack / "frames")
    args, prefix = COMMANDS[command]
    args = [a.replace("IN", str(stack)) for a in args]
    p = start(tmp_path, args)
    if prefix is None:
        _wait_for_files(p, tmp_path / "out")
    else:
        _wait_for_line(p, prefix, 0.3)
    assert p.poll() is None, f"{command} finished before the signal"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, (p.returncode, err)
    lines = err.strip().splitlines()
    assert lines[-1] == MESSAGES[sig], err  # the run's own chatter may precede it
    assert err.count("badpix: ") == 1 and "Traceback" not in err and "Exception" not in err, err
    # no output, no staging folder, no temporary file: the case holds out/ (maybe) and tmp/
    left = [x for x in listing(tmp_path) if x not in ("out", "tmp")]
    assert left == [], left
    assert _fingerprint(stack / "frames") == inputs
    assert shm_badpix() <= shm_before


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_sigint_while_kernels_load(tmp_path, stack, delay):
    """Right after its first line the scan loads its numba kernels (llvmlite callbacks)."""
    p = start(tmp_path, ["scan", str(stack / "frames"), "-o", "out"])
    _wait_for_line(p, "npy-frames: ", delay)
    assert p.poll() is None, "the scan finished before the signal"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, (p.returncode, err)
    assert err.strip().splitlines()[-1] == "badpix: interrupted", err
    assert "Traceback" not in err and "Exception" not in err, err
    assert [x for x in listing(tmp_path) if x not in ("out", "tmp")] == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_starting_up(tmp_path, stack, sig):
    """While the executable still imports (typer, numpy: ~0.2 s) the CLI's handler is not
    in place; before the fix SIGINT gave a KeyboardInterrupt traceback of whatever module
    was loading (exit -2) and SIGTERM a silent -15.

    The sign: Python's import-time report (``PYTHONPROFILEIMPORTTIME``) of
    ``badpix.errors``, the first module after the package's start-up line.
    """
    p = start(tmp_path, ["scan", str(stack / "frames"), "-o", "out", "-q"],
              PYTHONPROFILEIMPORTTIME="1")
    for line in p.stderr:
        if line.split("|")[-1].strip() == "badpix.errors":
            break
    assert p.poll() is None
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, (p.returncode, err[-2000:])
    lines = [ln for ln in err.splitlines() if not ln.startswith("import time:")]
    assert lines == [MESSAGES[sig]], err[-2000:]
    assert "badpix.cli" not in err  # signalled before the CLI was even imported
    assert [x for x in listing(tmp_path) if x not in ("out", "tmp")] == []
