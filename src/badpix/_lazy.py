"""Module-level ``__getattr__`` (PEP 562) for names that load their module on first use.

One helper for :mod:`badpix`, :mod:`badpix.detect` and :mod:`badpix.stats`, whose
public names live in modules that import numba, scipy or xarray: ``badpix --help``
and ``badpix scan --help`` must not pay for them.

>>> import types, sys
>>> mod = types.ModuleType("demo_pkg"); sys.modules["demo_pkg"] = mod
>>> mod.__getattr__ = lazy_getattr("demo_pkg", {"sqrt": "math"})
>>> mod.sqrt(4.0), "sqrt" in vars(mod)        # imported once, then a plain attribute
(2.0, True)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``names`` maps a public name to its module.

    Module names may be absolute or relative to ``package`` (``".flags"``).  The value is
    stored in the package's namespace, so each name is looked up once.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(names[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
