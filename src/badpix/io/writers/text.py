"""Tables and documents: CSV (a header row, then any iterable of rows) and JSON, atomic.

``_jsonable`` turns numpy scalars and arrays, paths, sets and
:class:`~badpix.io.base.GeoRef` into plain JSON types (non-finite floats become
``null``); HDF5 attributes that HDF5 cannot store natively use it too.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import OutputError
from ..atomic import atomic_path
from ..base import GeoRef

__all__ = ["write_csv", "write_json"]


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]],
              *, overwrite: bool = True) -> Path:
    """Write a CSV file with a header row (rows may be any iterable, e.g. a generator).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> print(write_csv(p, ["a", "b"], [(1, 2.5)]).read_text().strip())
    a,b
    1,2.5
    """
    target = Path(path)
    width = len(header)
    with atomic_path(target, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(list(header))
            for i, row in enumerate(rows):
                row = list(row)
                if len(row) != width:
                    raise OutputError(f"{target}: row {i} has {len(row)} fields, "
                                      f"header has {width}")
                w.writerow(_csv_value(v) for v in row)
    return target


def _csv_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented JSON; numpy scalars/arrays and paths are converted.

    Non-finite floats (NaN, inf) become ``null``: JSON has no NaN and strict
    parsers reject it.

    >>> import numpy as np, tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.json"
    >>> json.loads(write_json(p, {"n": np.int64(3), "x": float("nan")}).read_text())
    {'n': 3, 'x': None}
    """
    target = Path(path)
    try:
        text = json.dumps(_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False)
    except (OutputError, TypeError, ValueError) as exc:
        raise OutputError(f"{target}: cannot write JSON ({exc})") from None
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy, paths, tuples, sets and dataclass-free containers."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, GeoRef):
        return {"crs_wkt": obj.crs_wkt, "transform": _jsonable(obj.transform)}
    raise OutputError(f"cannot write a {type(obj).__name__} as JSON")
