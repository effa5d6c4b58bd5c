"""SIGKILL during a checkpointed scan, then ``--resume`` (issue 19).

The resumed outputs must be byte-identical to an uninterrupted scan's (summary.json
apart from its timings), and what the killed run left (``state/``, temporary names
of the checkpoint being written) must be cleaned up by the resumed run itself.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from ._popen import listing, start
from .harness import shm_badpix

N_FRAMES, SHAPE, EVERY = 160, (384, 384), 10


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    f = tmp_path / "frames"
    f.mkdir()
    rng = np.random.default_rng(4)
    base = rng.integers(0, 4000, SHAPE, dtype=np.uint16)
    for i in range(N_FRAMES):
        a = base + rng.integers(0, 50, SHAPE, dtype=np.uint16)
        a[7, 9] = 65000 if i % 3 else 0  # a flickering pixel and a hot one: a real mask
        a[100, 200] = 60000
        np.save(f / f"frame_{i:04d}.npy", a)
    return f


def _frames_done(manifest: Path) -> int:
    try:
        return sum(s["frames_done"] for s in json.loads(manifest.read_text())["segments"])
    except (OSError, ValueError, KeyError):
        return 0  # not written yet, or being replaced


def _timing_free(summary: dict) -> dict:
    """summary.json without its wall-clock timings (the only part that differs)."""
    assert "timings" in summary, list(summary)
    return {k: v for k, v in summary.items() if k != "timings"}


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and p.name != "summary.json"}


def test_sigkill_then_resume_is_byte_identical(tmp_path, frames):
    shm_before = shm_badpix()
    cmd = ["scan", "frames", "-q", "--checkpoint-every", str(EVERY)]
    full = start(tmp_path, [*cmd, "-o", "full"])
    assert full.wait(timeout=120) == 0, full.stderr.read()
    reference = tmp_path / "full"

    killed = start(tmp_path, [*cmd, "-o", "out"])
    manifest = tmp_path / "out" / "state" / "manifest.json"
    deadline = time.monotonic() + 60
    while killed.poll() is None and time.monotonic() < deadline:
        if _frames_done(manifest) >= 4 * EVERY:  # a few checkpoints committed
            break
        time.sleep(0.002)
    assert killed.poll() is None, "the scan finished before SIGKILL"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    done = _frames_done(manifest)
    assert 0 < done < N_FRAMES, done
    left = listing(tmp_path / "out")
    assert "state/manifest.json" in left and "summary.json" not in left, left

    # what a kill at other moments leaves: the manifest's temporary name (killed in the
    # commit), a half-written generation, a staging folder (killed while publishing)
    state = tmp_path / "out" / "state"
    (state / ".manifest.k1ll3d.tmp.json").write_text("{")
    (state / ".gen-999999.tmp").mkdir()
    (state / ".gen-999999.tmp" / "moments_ch0.npz").write_bytes(b"PK")
    (tmp_path / "out" / ".staging-k1ll3d").mkdir()
    (tmp_path / "out" / ".staging-k1ll3d" / "summary.json").write_text("{")

    resumed = start(tmp_path, [*cmd, "-o", "out", "--resume"])
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "Traceback" not in err, err
    out = tmp_path / "out"
    assert _outputs(out) == _outputs(reference)
    assert set(_outputs(out)) >= {"mask_ch0.tif", "defects.csv", "stats_ch0.tif"}
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((reference / "summary.json").read_text())
    assert _timing_free(a) == _timing_free(b)
    # the resumed run cleaned up after the kill: the same files as the uninterrupted
    # scan (its state/ included), no temporary names, nothing left in TMPDIR
    assert listing(out) == listing(reference), (listing(out), listing(reference))
    assert not [x for x in listing(tmp_path) if Path(x).name.startswith(".")]
    assert os.listdir(tmp_path / "tmp") == []
    assert shm_badpix() <= shm_before
