"""The executable ends without the interpreter's teardown, and skips nothing else.

Each test runs ``badpix.cli.run`` (the ``badpix`` entry point) in a fresh
interpreter.  A witness object whose ``__del__`` writes a file shows whether the
teardown ran; atexit handlers, threads and the standard streams must be served
either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

WITNESS = """
import sys
class Witness:
    def __del__(self, _open=open):  # runs only in the interpreter's teardown
        _open({teardown!r}, "w").write("teardown")
witness = Witness()
"""


def _run(tmp_path, argv, prelude="", env=None):
    teardown = tmp_path / "teardown"
    code = (WITNESS.format(teardown=str(teardown)) + prelude
            + f"\nsys.argv = ['badpix', *{argv!r}]\nfrom badpix.cli import run\nrun()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "BADPIX_NO_PROGRESS": "1", **(env or {})},
                          timeout=300)
    return proc, teardown.exists()


def test_the_teardown_is_skipped_and_the_exit_code_kept(tmp_path):
    proc, torn_down = _run(tmp_path, ["--version"])
    assert proc.returncode == 0 and proc.stdout.startswith("badpix "), proc
    assert not torn_down
    proc, torn_down = _run(tmp_path, ["scan", "--no-such-option"])
    assert proc.returncode == 2 and "badpix: error:" in proc.stderr
    assert not torn_down


def test_badpix_full_exit_restores_the_teardown(tmp_path):
    proc, torn_down = _run(tmp_path, ["--version"], env={"BADPIX_FULL_EXIT": "1"})
    assert proc.returncode == 0 and torn_down


def test_under_coverage_the_interpreter_ends_as_usual(tmp_path):
    # coverage saves its data in an atexit handler older than ours: it must still run
    proc, torn_down = _run(tmp_path, ["--version"],
                           prelude="import types\nsys.modules['coverage'] = types.ModuleType('c')\n")
    assert proc.returncode == 0 and torn_down


def test_atexit_handlers_threads_and_streams_are_served(tmp_path):
    # what a command's libraries do: register atexit handlers, leave a thread running,
    # print more than a pipe buffer
    done = tmp_path / "done"
    prelude = f"""
import atexit, threading, time
import badpix.cli
real_main = badpix.cli.main
def late_thread():
    time.sleep(0.3)
    open({str(done)!r} + ".thread", "w").write("joined")
def main(argv=None):
    threading.Thread(target=late_thread).start()  # non-daemon: the interpreter joins it
    atexit.register(lambda: open({str(done)!r} + ".atexit", "w").write("ran"))
    print("x" * 200_000, end="")
    return real_main(argv)
badpix.cli.main = main
"""
    proc, torn_down = _run(tmp_path, ["--help"], prelude=prelude)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("x" * 200_000) and "Usage" in proc.stdout
    assert (tmp_path / "done.thread").read_text() == "joined"
    assert (tmp_path / "done.atexit").read_text() == "ran"
    assert not torn_down


def test_a_handler_older_than_run_keeps_the_usual_end(tmp_path):
    ran = tmp_path / "old.atexit"
    prelude = f"import atexit\natexit.register(lambda: open({str(ran)!r}, 'w').write('ran'))\n"
    proc, torn_down = _run(tmp_path, ["--version"], prelude=prelude)
    assert proc.returncode == 0 and ran.read_text() == "ran" and torn_down


def test_a_command_that_raises_ends_as_usual(tmp_path):
    prelude = "import badpix.cli\nbadpix.cli.main = lambda argv=None: 1 / 0\n"
    proc, torn_down = _run(tmp_path, ["--version"], prelude=prelude)
    assert proc.returncode == 1 and "ZeroDivisionError" in proc.stderr
    assert torn_down


def test_no_atexit_handler_is_older_than_ours():
    # handlers registered before run() would run after it, i.e. not at all: at present
    # importing badpix.cli (typer, rich) registers none
    code = ("import atexit\nimport badpix.cli\nprint(atexit._ncallbacks())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["0"]


def test_a_scan_through_the_entry_point_writes_every_file(tmp_path):
    for i in range(4):
        np.save(tmp_path / f"f_{i}.npy", np.full((6, 7), i, np.uint16))
    out = tmp_path / "out"
    proc, torn_down = _run(tmp_path, ["scan", str(tmp_path), "-o", str(out), "-q"])
    assert proc.returncode == 0, proc.stderr
    assert not torn_down
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["outputs"]) == sorted(p.name for p in out.iterdir())
