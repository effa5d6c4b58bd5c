"""Run the installed ``badpix`` on a hostile input in a subprocess, then check the aftermath.

Every case gets its own folder holding the input (``inp``), the output folder
(``out``) and a private temporary folder (``tmp``, the child's ``TMPDIR``).  The
child runs under an address-space limit so that a missing allocation guard shows up
as a ``MemoryError`` traceback within a second instead of swapping the machine.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: the installed executable beside this interpreter (HOSTILE_BADPIX: another install, e.g. to
#: check that the catalogue fails on an older checkout)
BADPIX = os.environ.get("HOSTILE_BADPIX") or str(Path(sys.executable).with_name("badpix"))

#: address-space limit of the child: numba/LLVM, Dask and rasterio all start under it
#: (checked: a scan of a small stack runs at 4 GiB), and a 1e12-byte allocation fails fast
AS_LIMIT = 4 * 2**30


def tree_digest(path: Path) -> dict[str, str]:
    """SHA-256 of every file under ``path`` (or of ``path`` itself), by relative name."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {os.fspath(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def shm_badpix() -> set[str]:
    """Names in ``/dev/shm`` that badpix (or numba/Dask on its behalf) might leave."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return set()
    try:
        # the catalogue never starts the Dask engine, whose badpix-dask-* stores other
        # test runs on this shared machine create and remove while a case runs
        return {p.name for p in shm.iterdir()
                if "badpix" in p.name.lower() and not p.name.startswith("badpix-dask-")}
    except OSError:
        return set()


@dataclass
class Run:
    """What one run of ``badpix`` did."""

    returncode: int
    stdout: str
    stderr: str
    out: Path
    tmp: Path

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def _limits(as_limit: int | None, fsize: int | None) -> Callable[[], None]:
    def apply() -> None:
        if as_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        # a plain child must not inherit an ignored SIGINT from the test runner
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return apply


def run_badpix(case: Path, args: list[str], *, as_limit: int | None = AS_LIMIT,
               fsize: int | None = None, timeout: float = 120) -> Run:
    """Run ``badpix ARGS`` with cwd ``case``; ``INP``/``OUT`` in ``args`` are expanded."""
    tmp = case / "tmp"
    tmp.mkdir(exist_ok=True)
    out = case / "out"
    env = dict(os.environ, TMPDIR=os.fspath(tmp), BADPIX_NO_PROGRESS="1")
    argv = [BADPIX] + [a.replace("OUT", os.fspath(out)) for a in args]
    proc = subprocess.run(argv, cwd=case, env=env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limits(as_limit, fsize))
    return Run(proc.returncode, proc.stdout, proc.stderr, out, tmp)


def assert_refused(run: Run, names: str | list[str], *, code: int = 2,
                   out_allowed: bool = False) -> str:
    """Exit ``code``, one stderr line that names the file, no traceback, nothing left.

    Returns the message line.
    """
    names = [names] if isinstance(names, str) else names
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == code, (run.returncode, run.stderr)
    assert len(run.lines) == 1, run.stderr
    line = run.lines[0]
    assert line.startswith("badpix:"), line
    assert any(n in line for n in names), (names, line)
    if not out_allowed:
        left = sorted(p.name for p in run.out.rglob("*")) if run.out.exists() else []
        assert not left, left
    assert_clean_tmp(run)
    return line


def assert_clean_tmp(run: Run) -> None:
    """No file left in the run's temporary folder."""
    left = sorted(os.fspath(p.relative_to(run.tmp)) for p in run.tmp.rglob("*"))
    assert not left, left
