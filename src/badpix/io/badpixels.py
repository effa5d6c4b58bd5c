"""dcraw/LibRaw ``.badpixels`` files: one defective pixel per line, ``col row unixtime``.

Coordinates are full-frame, 0-based (``col`` = x, ``row`` = y) in the frames that
were scanned (for raw files: the raw image as dcraw/LibRaw see it).  ``#`` starts
a comment.  dcraw applies a line only to photos taken at or after ``unixtime``,
so the default timestamp 0 means "every photo".  darktable, RawTherapee and
``dcraw -P file`` read the same format.

>>> import numpy as np, tempfile, pathlib
>>> mask = np.zeros((4, 6), bool); mask[1, 5] = mask[3, 0] = True
>>> p = pathlib.Path(tempfile.mkdtemp()) / "camera.badpixels"
>>> write_badpixels(p, mask)
2
>>> print(p.read_text().splitlines()[-2:])
['5 1 0', '0 3 0']
>>> bool((read_badpixels(p, (4, 6)) == mask).all())
True
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, ParameterError
from .atomic import atomic_path


def write_badpixels(path: str | os.PathLike, mask: np.ndarray,
                    timestamp: int | np.ndarray = 0, comment: str | None = None) -> int:
    """Write the nonzero pixels of ``mask`` ((h, w), or (h, w, c) collapsed over channels)
    atomically, sorted by row then column.  Returns the number of lines.

    ``timestamp`` is one Unix time for every pixel, or an ``(h, w)`` array of them
    (e.g. each pixel's onset; NaN or negative -> 0, "always").

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cam.badpixels"
    >>> m = np.zeros((4, 5), bool); m[1, 3] = m[2, 0] = True
    >>> ts = np.full((4, 5), np.nan); ts[2, 0] = 1683356889.0
    >>> write_badpixels(p, m, ts)
    2
    >>> p.read_text().splitlines()[-2:]
    ['3 1 0', '0 2 1683356889']
    """
    m = np.asarray(mask) != 0
    if m.ndim == 3:
        m = m.any(axis=2)
    if m.ndim != 2:
        raise ParameterError(f"{path}: mask must be 2-D or 3-D, not shape {m.shape}")
    rows, cols = np.nonzero(m)
    if np.ndim(timestamp) == 0:
        if timestamp < 0:
            raise ParameterError(f"--timestamp must be >= 0, got {timestamp}")
        stamps = np.full(rows.size, int(timestamp), np.int64)
    else:
        ts = np.asarray(timestamp, np.float64)
        if ts.shape != m.shape:
            raise ParameterError(f"{path}: timestamps are {ts.shape} but the mask is {m.shape}")
        stamps = np.nan_to_num(ts[rows, cols], nan=0.0).clip(0).astype(np.int64)
    header = [f"# {line}" for line in (comment or "").splitlines()]
    header.append(f"# {rows.size} bad pixels of a {m.shape[1]}x{m.shape[0]} frame; "
                  "0-based full-frame coordinates")
    header.append("# col row unixtime")
    body = [f"{c} {r} {t}" for r, c, t in zip(rows.tolist(), cols.tolist(), stamps.tolist(),
                                              strict=True)]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(header + body) + "\n")
    return int(rows.size)


def read_badpixels_coords(path: str | os.PathLike) -> np.ndarray:
    """``(n, 3)`` int64 array of ``(col, row, unixtime)`` from a ``.badpixels`` file."""
    p = Path(path)
    try:
        text = p.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(p, f"cannot read as a text .badpixels file ({exc})") from None
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        data = line.split("#", 1)[0].split()
        if not data:
            continue
        try:
            if len(data) not in (2, 3):
                raise ValueError
            vals = [int(v) for v in data] + ([0] if len(data) == 2 else [])
        except ValueError:
            raise InputError(p, f"line {lineno}: expected 'col row unixtime', got {line.strip()!r}"
                             ) from None
        out.append(vals)
    return np.array(out, np.int64).reshape(-1, 3)


def read_badpixels(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Bool mask of shape ``(rows, cols)`` from a ``.badpixels`` file (all timestamps)."""
    coords = read_badpixels_coords(path)
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), bool)
    if coords.size:
        col, row = coords[:, 0], coords[:, 1]
        outside = (col < 0) | (col >= w) | (row < 0) | (row >= h)
        if outside.any():
            k = int(np.argmax(outside))
            raise InputError(path, f"pixel col {col[k]} row {row[k]} is outside the frames "
                             f"({w} cols x {h} rows); {int(outside.sum())} such lines")
        mask[row, col] = True
    return mask
