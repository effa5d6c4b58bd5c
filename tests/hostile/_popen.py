"""Start the installed ``badpix`` without waiting, as :func:`harness.run_badpix` runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .harness import AS_LIMIT, BADPIX, _limits


def start(case: Path, args: list[str], **env_extra: str) -> subprocess.Popen:
    """``badpix ARGS`` in ``case`` with its own ``TMPDIR`` (``case/tmp``) and address limit."""
    tmp = case / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=os.fspath(tmp), BADPIX_NO_PROGRESS="1", **env_extra)
    return subprocess.Popen([BADPIX, *args], cwd=case, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=_limits(AS_LIMIT, None))


def listing(folder: Path) -> list[str]:
    """Every path under ``folder`` (hidden ones too), relative, sorted."""
    return sorted(os.fspath(p.relative_to(folder)) for p in folder.rglob("*"))
