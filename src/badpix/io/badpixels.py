"""dcraw/LibRaw ``.badpixels`` files: one defective pixel per line, ``col row unixtime``.

Coordinates are full-frame, 0-based (``col`` = x, ``row`` = y) in the frames that
were scanned.  dcraw/LibRaw apply them to the raw sensor mosaic, so only scans
of raw mosaics (camera RAW/DNG, or single-channel sensor frames) give a file
they can trust: :func:`mosaic_problem` says why any other scan does not.
``#`` starts a comment.  dcraw applies a line only to photos taken at or
after ``unixtime``, so the default timestamp 0 means "every photo".
darktable, RawTherapee and ``dcraw -P file`` read the same format.

Times: dcraw turns a photo's EXIF ``DateTimeOriginal`` (a clock time without
zone) into Unix time with the local time zone of the machine running dcraw.
:func:`clock_timestamps` turns onset times, which badpix keeps as that clock
time read as UTC, into the Unix times dcraw computes in a given zone.

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
from typing import Any

import numpy as np

from ..errors import InputError, ParameterError
from .atomic import atomic_path

#: reader formats whose frames are sensor pixels (a mosaic or one plane per channel)
RAW_FORMATS = ("raw",)
#: formats of processed photos: demosaicked, resampled, in display coordinates
PHOTO_FORMATS = ("image",)


def mosaic_problem(input_format: str | None, channels: int) -> str | None:
    """Why a scan's coordinates are not raw mosaic coordinates, or ``None`` if they are.

    Camera raw files are mosaics.  JPEG/PNG photos (format ``image``) and
    frames with several channels (RGB TIFFs) were demosaicked: a defect at
    (row, col) there is not photosite (row, col) of the raw file, and the
    sizes differ (raw files carry margins).  Single-channel frames of other
    formats (TIFF, HDF5, .npy) are taken to be sensor frames.

    >>> mosaic_problem("raw", 1) is None, mosaic_problem("tiff", 1) is None
    (True, True)
    >>> mosaic_problem("image", 3)
    'the scanned frames are image photos (3 channels), not a raw mosaic'
    """
    if input_format in RAW_FORMATS:
        return None
    if input_format in PHOTO_FORMATS or channels > 1:
        return (f"the scanned frames are {input_format or 'unknown-format'} photos "
                f"({channels} channel{'s' if channels != 1 else ''}), not a raw mosaic")
    return None


def clock_timestamps(utc_clock: np.ndarray, tz: str | None) -> np.ndarray:
    """Unix times of clock times that were read as UTC, re-read in time zone ``tz``.

    ``tz`` is an IANA name (``Europe/Berlin``, honouring daylight saving time
    on each date), ``UTC``, or a fixed offset ``+02:00``; ``None`` keeps UTC.
    NaN stays NaN.

    >>> clock_timestamps(np.array([1704110400.0]), "+01:00").tolist()   # 12:00 at +01:00
    [1704106800.0]
    >>> clock_timestamps(np.array([1719835200.0]), "Europe/Berlin").tolist()  # summer: +02:00
    [1719828000.0]
    """
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    t = np.asarray(utc_clock, np.float64)
    if tz is None or tz.upper() in ("UTC", "Z"):
        return t.copy()
    zone: Any
    text = tz.strip()
    if text[:1] in "+-" and ":" in text:
        try:
            h, m = text[1:].split(":")
            sign = -1 if text[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(h), minutes=int(m)))
        except ValueError:
            raise ParameterError(f"--tz: {tz!r} is not an offset like +02:00") from None
    else:
        try:
            zone = ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ParameterError(f"--tz: unknown time zone {tz!r} (use e.g. Europe/Berlin "
                                 "or +02:00)") from None
    out = np.full(t.shape, np.nan)
    flat, res = t.ravel(), out.ravel()
    for i in np.flatnonzero(np.isfinite(flat)):
        clock = datetime.fromtimestamp(float(flat[i]), UTC).replace(tzinfo=zone)
        res[i] = clock.timestamp()
    return out


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
