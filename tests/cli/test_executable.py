"""The installed ``badpix`` executable, run as a user runs it: exit codes and what stderr says.

Every test starts the real entry point (``.venv/bin/badpix`` beside ``sys.executable``)
in a subprocess, so a change in how typer/click raise or print errors shows up here
and not first on a user's terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import typer

from badpix import __version__
from badpix.cli import app

BADPIX = Path(sys.executable).with_name("badpix")
ENV = {**os.environ, "BADPIX_NO_PROGRESS": "1", "COLUMNS": "100"}

pytestmark = pytest.mark.skipif(not BADPIX.is_file(), reason=f"no installed entry point {BADPIX}")


def badpix(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BADPIX), *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout, stdin=subprocess.DEVNULL)


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.list_commands(group.context_class(group, info_name="badpix")))


def assert_usage_error(proc: subprocess.CompletedProcess, needles: tuple[str, ...],
                       command: str) -> None:
    """Exit 2, no traceback, one line naming the problem, then click's help hint."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("badpix: error: "), lines
    assert all(n.lower() in lines[0].lower() for n in needles), (needles, lines)
    assert lines[1] == f"Try '{command} --help' for help.", lines


def test_version():
    proc = badpix("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"badpix {__version__}"
    assert proc.stderr == ""


def test_help_of_every_command():
    names = command_names()
    assert {"scan", "demo", "doctor", "synth", "report"} <= set(names)
    # started together: the two cores overlap the interpreter start-ups
    procs = {name: subprocess.Popen([str(BADPIX), *name.split(), "--help"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=ENV)
             for name in ["", *names]}
    outs = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (name, err)
        assert "Usage: badpix" in out and err == "", (name, err)
        outs[name] = out
    assert all(name in outs[""] for name in names)


def test_unknown_option():
    assert_usage_error(badpix("scan", "x", "--bogus", "1"), ("No such option", "--bogus"),
                       "badpix scan")


def test_unknown_command():
    assert_usage_error(badpix("nosuchcmd"), ("No such command 'nosuchcmd'",), "badpix")


def test_missing_input():
    assert_usage_error(badpix("scan"), ("Missing argument", "input"), "badpix scan")


def test_bad_option_value(tmp_path):
    assert_usage_error(badpix("scan", tmp_path, "-o", tmp_path / "o", "--outlier-k", "abc"),
                       ("Invalid value for '--outlier-k'",), "badpix scan")


def test_library_user_error_is_one_line(tmp_path):
    missing = tmp_path / "nothing-here"
    proc = badpix("scan", missing, "-o", tmp_path / "out")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"badpix: error: {missing}: no such file or folder"]
    assert not (tmp_path / "out").exists()


def test_markup_in_a_message_is_printed_as_is(tmp_path):
    # rich would swallow "[b]" as markup; a file name must come out verbatim
    missing = tmp_path / "frames[b]"
    proc = badpix("scan", missing, "-o", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"badpix: error: {missing}: pattern matches no files"


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory) -> Path:
    """400 frames of 512x512 uint16: a few seconds of scanning on this machine."""
    frames = tmp_path_factory.mktemp("sigint") / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4000, (512, 512), dtype=np.uint16)
    for i in range(400):
        np.save(frames / f"frame_{i:04d}.npy", base + rng.integers(0, 50, (512, 512),
                                                                    dtype=np.uint16))
    return frames


def _interrupt_scan(frames: Path, out: Path, delay: float, env: dict) -> None:
    p = subprocess.Popen([str(BADPIX), "scan", str(frames), "-o", str(out), "--format", "npy"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = p.stderr.readline()  # the stack's description: the scan has started
    assert first.startswith("npy-frames: "), first
    time.sleep(delay)
    assert p.poll() is None, "the scan finished before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=120)
    assert p.returncode == 130, (delay, p.returncode, rest)
    # the scan's own chatter (e.g. which rule set runs) may precede it
    assert rest.strip().splitlines()[-1] == "badpix: interrupted", (delay, rest)
    assert rest.count("badpix: interrupted") == 1
    assert "Traceback" not in rest and "Exception" not in rest, rest
    hidden = [q for q in out.parent.rglob("*") if q.name.startswith(".")]
    assert hidden == [], hidden  # no staging folder or temp file anywhere
    assert not out.exists() or list(out.iterdir()) == [], (delay, list(out.iterdir()))
    assert len(list(frames.iterdir())) == 400


def test_sigint_mid_scan_exits_130_and_leaves_nothing(tmp_path, big_stack):
    _interrupt_scan(big_stack, tmp_path / "out", 0.2, ENV)


# sends SIGINT from inside llvmlite's ctypes callback ("object compiled", numba caching a
# kernel): a KeyboardInterrupt raised there used to be printed as "Exception ignored ..."
# and dropped, and the scan ran on to the end and wrote its outputs
_SIGINT_IN_LLVMLITE = """
import os, signal, sys
from llvmlite.binding import executionengine as ee
find = ee.ExecutionEngine._find_module_ptr
sent = []
def find_and_interrupt(self, ptr):
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
    return find(self, ptr)
ee.ExecutionEngine._find_module_ptr = find_and_interrupt
from badpix.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigint_inside_a_numba_compile_callback(tmp_path, big_stack):
    env = {**ENV, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # empty: the kernels compile
    out = tmp_path / "run" / "out"
    proc = subprocess.run([sys.executable, "-c", _SIGINT_IN_LLVMLITE, "scan", str(big_stack),
                           "-o", str(out), "-q", "--format", "npy"], capture_output=True,
                          text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "badpix: interrupted", proc.stderr  # -q: nothing else
    assert not out.exists() or list(out.iterdir()) == []


def _run_without(module: str, *args) -> subprocess.CompletedProcess:
    """Run ``badpix.cli.main`` with ``module`` unimportable, as if it were not installed."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from badpix.cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=ENV, timeout=120, stdin=subprocess.DEVNULL)


def test_missing_rawpy_names_the_files_and_the_package(tmp_path):
    pytest.importorskip("pidng")
    from ..photo._photo_synth import write_dng

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        write_dng(photos / f"IMG_{i:04d}.dng", rng.integers(100, 900, (32, 48)).astype(np.uint16))
    proc = _run_without("rawpy", "scan", photos, "-o", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"badpix: error: {photos}: 3 .dng files found: camera RAW needs rawpy "
        "(pip install rawpy)"]
    # and with rawpy importable the same folder scans (RAW is in the default install)
    ok = badpix("scan", photos, "-o", tmp_path / "out", "-q", "--format", "npy")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "summary.json").is_file()


def test_missing_h5py_names_the_file_and_the_package(tmp_path):
    f = tmp_path / "run.h5"
    with h5py.File(f, "w") as h:
        h["events/image"] = np.zeros((4, 8, 8), np.uint16)
    proc = _run_without("h5py", "scan", f, "-o", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"badpix: error: {f}: 1 .h5 file found: HDF5 needs h5py (pip install h5py)"]


def test_doctor_reports_versions_numba_and_readers():
    import numba
    import numpy

    proc = badpix("doctor")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    for needle in (f"badpix              {__version__}", f"numpy               {numpy.__version__}",
                   f"numba               {numba.__version__}", "GDAL ", "HDF5 ", "LibRaw ",
                   "threading layer", "kernel cache"):
        assert needle in text, (needle, text)
    layer = next(line for line in text.splitlines() if "threading layer" in line).split()[-1]
    assert layer in {"tbb", "omp", "workqueue"}, text
    assert "(writable)" in text  # the test venv's cache folder is ours
    assert "camera RAW: available" in text and "HDF5: available" in text


def test_doctor_names_a_missing_reader_package():
    proc = _run_without("rawpy", "doctor")
    assert proc.returncode == 0, proc.stderr
    assert "camera RAW: missing: pip install rawpy" in proc.stdout
    assert "rawpy               not installed" not in proc.stdout  # the wheel is there ...
    assert "(LibRaw cannot be loaded)" in proc.stdout  # ... but cannot be imported


def test_doctor_warm_times_the_kernels():
    proc = badpix("doctor", "--warm", timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    warmed = lines[lines.index("kernels warmed") + 1:]
    assert [line.split()[0] for line in warmed] == ["uint16", "float32", "8-bit", "total"]
    assert all(line.endswith(" s") and float(line.split()[-2]) >= 0 for line in warmed)


def test_closed_pipe_is_quiet():
    # `badpix doctor | head -0`: stdout is gone before the first line is written
    p = subprocess.Popen([str(BADPIX), "doctor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=120)
    p.stderr.close()
    assert err == ""
    assert p.returncode in (0, 1)  # typer exits 1 on EPIPE, as click does
