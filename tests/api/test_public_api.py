"""The public surface: dir(badpix), full signatures, runnable examples, py.typed, lazy xarray."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path

import badpix
from badpix._types import RuleKeywords
from badpix.detect.params import RuleParams

ROOT = Path(__file__).resolve().parents[2]
#: public functions whose modules are being reworked in parallel (engine/local.py,
#: io/scandir.py); their docstrings get runnable examples there
EXAMPLES_PENDING = {"scan_stack", "load_scan", "write_scan_dir"}


def _public():
    for name in badpix.__all__:
        obj = getattr(badpix, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield name, obj


def test_dir_lists_the_public_names_only():
    names = dir(badpix)
    assert names == sorted(badpix.__all__)
    for helper in ("Any", "annotations", "importlib", "os", "TYPE_CHECKING"):
        assert helper not in names
    for name in badpix.__all__:
        assert getattr(badpix, name) is not None


def test_no_bare_kwargs_on_the_public_surface():
    for name, obj in _public():
        if not inspect.isfunction(obj):
            continue
        for p in inspect.signature(obj).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                # only the rule parameters, typed field by field
                assert "Unpack[RuleKeywords]" in str(p.annotation), (name, str(p))


def test_rule_keywords_are_the_rule_parameters_and_scan_documents_them():
    # counting_decision (compare=False) is the scan's record of the auto decision, not a keyword
    params = [f for f in fields(RuleParams) if f.compare]
    assert set(RuleKeywords.__annotations__) == {f.name for f in params}
    doc = inspect.getdoc(badpix.scan)
    for f in params:
        assert f"``{f.name}``" in doc, f.name
    scan_params = list(inspect.signature(badpix.scan).parameters)
    assert scan_params == list(inspect.signature(badpix.run_scan).parameters)
    assert {"layout", "dataset", "dims", "skip_bad", "params", "client"} <= set(scan_params)


def test_every_public_function_has_a_numpy_docstring_with_a_running_example():
    for name, obj in _public():
        doc = inspect.getdoc(obj) or ""
        assert doc, name
        if name in EXAMPLES_PENDING:
            continue
        runs = [ln for ln in doc.splitlines() if ln.strip().startswith(">>>")
                and "+SKIP" not in ln]
        assert runs, f"{name}: no example that runs"
        if inspect.isfunction(obj) and len(inspect.signature(obj).parameters) > 2:
            assert "Parameters\n----------" in doc, f"{name}: no Parameters section"


def test_py_typed_is_shipped():
    assert resources.files("badpix").joinpath("py.typed").is_file()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in cfg["tool"]["setuptools"]["package-data"]["badpix"]


def test_import_badpix_does_not_import_xarray_but_badpix_xarray_registers_the_accessor():
    code = ("import sys, badpix; a = 'xarray' in sys.modules; import badpix.xarray, xarray; "
            "print(a, hasattr(xarray.DataArray, 'badpix'), hasattr(xarray.Dataset, 'badpix'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
