"""Start-up stays lazy: what ``import badpix`` and ``badpix --help`` load (no timing).

Each check runs in a fresh interpreter and reads ``sys.modules``; the heavy
libraries must load only when a command or a reader that needs them runs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("h5py", "rasterio", "zarr", "dask", "distributed", "xarray", "matplotlib")


def _loaded(code: str) -> set[str]:
    """Top-level packages and ``badpix.*`` modules imported by ``code`` in a new process."""
    probe = (f"{code}\nimport sys, json\n"
             "print(json.dumps(sorted(m for m in sys.modules if '.' not in m "
             "or m.startswith('badpix.'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_badpix_loads_no_heavy_library():
    loaded = _loaded("import badpix")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not loaded & {"numba", "scipy", "typer", "rich"}


@pytest.mark.parametrize("argv", [["--help"], ["scan", "--help"]])
def test_cli_help_loads_no_heavy_library(argv):
    loaded = _loaded("import contextlib, io\nfrom badpix.cli import main\n"
                     f"with contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    # neither needs a kernel: `scan --help` reads RuleParams' defaults, not the rules
    assert not loaded & {"numba", "scipy", "llvmlite"}, sorted(loaded & {"numba", "scipy"})
    if argv == ["--help"]:  # no command module at all, and not even numpy (~80 ms)
        assert "numpy" not in loaded
        machinery = {"badpix.cli._common", "badpix.cli._exit"}  # no command modules
        commands = {m for m in loaded if m.startswith("badpix.cli.") and m not in machinery}
        assert not commands, sorted(commands)


def test_lazy_detect_names_are_the_functions():
    # `classify`, `noisy`, `outlier`, `stuck` are both submodules and functions: the
    # lazy package must keep meaning the functions after the submodules are imported
    code = ("import badpix.detect.classify, badpix.detect.noisy, badpix.engine\n"
            "import badpix.detect as d, badpix.stats as s\n"
            "print(sorted(n for n in d.__all__ if not callable(getattr(d, n)) "
            "and n not in ('CLASSES', 'DRIFTING')), "
            "type(d.classify).__name__, type(d.stuck).__name__, s.temporal_median.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "function", "function", "badpix.stats.median"], out


def test_opening_npy_frames_imports_only_the_npy_reader(tmp_path):
    for i in range(3):
        np.save(tmp_path / f"f_{i}.npy", np.zeros((4, 5), np.uint16))
    loaded = _loaded(f"import badpix\nbadpix.open_stack({str(tmp_path)!r})")
    readers = {m for m in loaded if m.startswith("badpix.io.")} - {
        "badpix.io.base", "badpix.io.memory", "badpix.io.open", "badpix.io.registry"}
    assert readers == {"badpix.io.npy"}
    assert not loaded & {*HEAVY, "tifffile", "PIL", "imagecodecs", "rawpy"}


def test_reader_base_imports_no_reader():
    # the io circle (base -> registry -> readers -> base) is gone: base imports neither
    import ast
    import inspect

    import badpix.io.base

    tree = ast.parse(inspect.getsource(badpix.io.base))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    # ..memory is the allocation guard, not a reader
    assert imported <= {"__future__", "abc", "collections.abc", "dataclasses", "pathlib",
                        "typing", "errors", "memory"}, imported


def test_reader_table_matches_the_reader_classes():
    from badpix.io.registry import ENTRIES

    for entry in ENTRIES:
        cls = entry.load()
        assert cls.format_name == entry.format_name, entry
        assert set(cls.suffixes) <= set(entry.suffixes), entry  # npy-stack claims .npy by probe


def test_command_table_matches_the_command_modules():
    import importlib
    import inspect

    import typer

    from badpix.cli import COMMANDS, _installed

    table = {name: (module, help) for name, module, help in COMMANDS if _installed(module)}
    seen = {}
    for module in {m for m, _ in table.values()}:
        sub = typer.Typer()
        importlib.import_module(f"badpix.cli.{module}").register(sub)
        for name, cmd in typer.main.get_group(sub).commands.items():
            first = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0].strip()
            seen[name] = (module, first)
    assert seen == table


def test_a_folder_of_camera_raw_files_is_found_without_importing_the_raw_reader(tmp_path):
    # the raw reader used to be registered only once something imported badpix.io.raw
    (tmp_path / "IMG_0001.dng").write_bytes(b"not decoded here")
    code = ("from badpix.io import resolve_inputs\n"
            f"print([p.name for p in resolve_inputs({str(tmp_path)!r})])")
    loaded = _loaded(code)
    assert "badpix.io.raw" not in loaded and "rawpy" not in loaded
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "['IMG_0001.dng']"


def test_cli_scan_skips_numba_blas_probe_and_kernels_need_no_blas(tmp_path):
    # badpix scan refreshes numba's CPU target with scipy.linalg hidden (0.15-0.3 s); that
    # is sound only while no badpix kernel uses np.cov/np.corrcoef/np.dot/np.linalg
    import ast
    from pathlib import Path

    import badpix

    for path in Path(badpix.__file__).parent.rglob("*.py"):
        text = path.read_text()
        if "numba" not in text:
            continue
        names = {n.attr for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute)}
        assert not names & {"cov", "corrcoef", "dot", "vdot", "linalg", "matmul"}, path
    for i in range(4):
        np.save(tmp_path / f"f_{i}.npy", np.full((6, 7), i, np.uint16))
    code = (f"from badpix.cli import main\nmain(['scan', {str(tmp_path)!r}, '-o', "
            f"{str(tmp_path / 'out')!r}, '-q'])\nimport sys, numba.np.arraymath as a\n"
            "print('scipy.linalg' in sys.modules, a._HAVE_BLAS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["False", "False"], out


def test_cli_scan_of_npy_frames_loads_no_scipy_special(tmp_path):
    # the power bounds use badpix.stats.special: scipy.special's import (0.15-0.24 s, with
    # scipy's array-API layer) cost a scan more than its rules; a quiet scan draws no bar
    # (rich.progress) nor table (rich.table); on Linux /proc/meminfo needs no psutil
    for i in range(4):
        np.save(tmp_path / f"f_{i}.npy", np.full((6, 7), i, np.uint16))
    names = ["scipy.special", "scipy._lib._array_api", "rich.progress", "rich.table"]
    if sys.platform.startswith("linux"):
        names.append("psutil")
    code = (f"from badpix.cli import main\nmain(['scan', {str(tmp_path)!r}, '-o', "
            f"{str(tmp_path / 'out')!r}, '-q'])\nimport sys, json\n"
            f"print(json.dumps([m for m in {names!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["power"]["ch0"]["stuck"]["underpowered"]  # 4 frames: still computed


def test_cli_help_loads_no_click_package_with_a_vendoring_typer():
    import typer

    if not hasattr(typer, "_click"):
        pytest.skip("this typer raises click's own exceptions: click is needed")
    loaded = _loaded("import contextlib, io\nfrom badpix.cli import main\n"
                     "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])")
    assert "click" not in loaded
