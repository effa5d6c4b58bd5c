"""Band layouts: named regions (row range, column range, channel) of a frame.

A layout is a small TOML file::

    [bands.L2]
    channel = 0
    rows = [0, 100]        # half-open like Python slices: rows 0..99
    # cols = [0, 640]      # optional, default all columns
    # row_step = 2         # optional, default 1: every 2nd row (a Bayer colour plane)
    # col_step = 2

Built-in presets live in ``badpix/presets/<name>.toml`` (``l2-l1-m0`` ships).
Without a layout every channel is one band named after the reader's channel
names (``R``, ``G``, ``B`` for colour images, ``ch0``... otherwise).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import LayoutError


@dataclass(frozen=True)
class Band:
    """A named rectangle of one channel; ``rows``/``cols`` are half-open ranges.

    ``row_step``/``col_step`` (default 1) take every n-th row/column, like the
    step of a Python slice: a Bayer colour plane is a band with steps 2, so
    every spatial rule compares a pixel only with same-colour neighbours
    (distance 2 in the mosaic) without knowing about colour filters.  Band
    pixel ``(i, j)`` is frame pixel ``(rows[0] + i * row_step, cols[0] + j * col_step)``.

    >>> b = Band("L1", channel=1, rows=(349, 419), cols=(0, 640))
    >>> b.shape
    (70, 640)
    >>> g2 = Band("G2", channel=0, rows=(1, 5), cols=(0, 7), row_step=2, col_step=2)
    >>> g2.shape, g2.position(1, 3)
    ((2, 4), (3, 6))
    """

    name: str
    channel: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    row_step: int = 1
    col_step: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return (_count(self.rows, self.row_step), _count(self.cols, self.col_step))

    @property
    def strided(self) -> bool:
        """True when the band skips rows or columns."""
        return self.row_step != 1 or self.col_step != 1

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of this band in a frame."""
        return (slice(self.rows[0], self.rows[1], self.row_step),
                slice(self.cols[0], self.cols[1], self.col_step))

    def index_of(self, row, col):
        """Band pixel ``(i, j)`` of frame pixel(s) ``(row, col)``; inverse of :meth:`position`."""
        return ((row - self.rows[0]) // self.row_step, (col - self.cols[0]) // self.col_step)

    def to_dict(self) -> dict:
        """JSON-ready description (``summary.json``); steps only when not 1."""
        d = {"name": self.name, "channel": self.channel, "rows": list(self.rows),
             "cols": list(self.cols)}
        if self.strided:
            d.update(row_step=self.row_step, col_step=self.col_step)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Band:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["name"]), int(d["channel"]), tuple(int(v) for v in d["rows"]),
                   tuple(int(v) for v in d["cols"]), int(d.get("row_step", 1)),
                   int(d.get("col_step", 1)))

    def view(self, frames: np.ndarray) -> np.ndarray:
        """This band of a block of frames ``(n, rows, cols, channels)`` -> ``(n, h, w)``."""
        rs, cs = self.slices()
        return frames[:, rs, cs, self.channel]

    def view_frame(self, frame: np.ndarray) -> np.ndarray:
        """This band of one frame ``(rows, cols, channels)`` -> ``(h, w)``."""
        rs, cs = self.slices()
        return frame[rs, cs, self.channel]

    def position(self, i, j):
        """Frame coordinates ``(row, col)`` of band pixel(s) ``(i, j)`` (ints or arrays)."""
        return (self.rows[0] + i * self.row_step, self.cols[0] + j * self.col_step)

    def row_coords(self) -> np.ndarray:
        """Frame row of every band row."""
        return np.arange(self.rows[0], self.rows[1], self.row_step)

    def col_coords(self) -> np.ndarray:
        """Frame column of every band column."""
        return np.arange(self.cols[0], self.cols[1], self.col_step)


def _count(span: tuple[int, int], step: int) -> int:
    return max(0, -(-(span[1] - span[0]) // step))


@dataclass(frozen=True)
class Layout:
    """An ordered set of bands, possibly with open-ended column ranges until bound.

    >>> lay = load_layout("l2-l1-m0").bind((768, 64, 3))
    >>> [(b.name, b.shape) for b in lay.bands][:2]
    [('L2', (100, 64)), ('L1', (70, 64))]
    """

    bands: tuple[Band, ...]
    source: str = "channels"

    def bind(self, frame_shape: tuple[int, int, int]) -> Layout:
        """Resolve open ranges against ``frame_shape`` and check every band fits."""
        rows, cols, channels = frame_shape
        bound = []
        for b in self.bands:
            r = (b.rows[0], rows if b.rows[1] < 0 else b.rows[1])
            c = (b.cols[0], cols if b.cols[1] < 0 else b.cols[1])
            problems = []
            if not 0 <= b.channel < channels:
                problems.append(f"channel {b.channel} (frames have {channels})")
            if not (0 <= r[0] < r[1] <= rows):
                problems.append(f"rows [{r[0]}, {r[1]}) (frames have {rows} rows)")
            if not (0 <= c[0] < c[1] <= cols):
                problems.append(f"cols [{c[0]}, {c[1]}) (frames have {cols} columns)")
            if problems:
                raise LayoutError(f"layout {self.source}: band {b.name!r} is outside the frame: "
                                  + "; ".join(problems))
            if b.row_step < 1 or b.col_step < 1:
                raise LayoutError(f"layout {self.source}: band {b.name!r} has a step below 1 "
                                  f"(row_step={b.row_step}, col_step={b.col_step})")
            bound.append(Band(b.name, b.channel, r, c, b.row_step, b.col_step))
        return Layout(tuple(bound), self.source)

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bands]

    def __getitem__(self, name: str) -> Band:
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(name)

    def __iter__(self):
        return iter(self.bands)

    def __len__(self) -> int:
        return len(self.bands)


def channel_layout(channel_names: tuple[str, ...]) -> Layout:
    """One band per channel, covering the whole frame."""
    return Layout(tuple(Band(n, i, (0, -1), (0, -1)) for i, n in enumerate(channel_names)),
                  "channels")


def preset_names() -> list[str]:
    """Names of the built-in layouts."""
    return sorted(p.name[:-5] for p in resources.files("badpix.presets").iterdir()
                  if p.name.endswith(".toml"))


def parse_layout(data: dict, source: str) -> Layout:
    """Build a layout from parsed TOML (``{"bands": {name: {...}}}``)."""
    bands_table = data.get("bands")
    if not isinstance(bands_table, dict) or not bands_table:
        raise LayoutError(f"layout {source}: needs a [bands.NAME] table")
    bands = []
    for name, spec in bands_table.items():
        if not isinstance(spec, dict):
            raise LayoutError(f"layout {source}: band {name!r} must be a table")
        unknown = set(spec) - {"channel", "rows", "cols", "row_step", "col_step"}
        if unknown:
            raise LayoutError(f"layout {source}: band {name!r} has unknown keys {sorted(unknown)}")
        try:
            channel = int(spec.get("channel", 0))
            rows = _range(spec.get("rows"))
            cols = _range(spec.get("cols"))
            row_step = _step(spec.get("row_step", 1), "row_step")
            col_step = _step(spec.get("col_step", 1), "col_step")
        except (TypeError, ValueError) as exc:
            raise LayoutError(f"layout {source}: band {name!r}: {exc}") from None
        bands.append(Band(str(name), channel, rows, cols, row_step, col_step))
    return Layout(tuple(bands), source)


def _step(value, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def _range(value) -> tuple[int, int]:
    if value is None:
        return (0, -1)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ValueError(f"range must be two integers [start, stop], got {value!r}")
    start, stop = value
    if start < 0 or stop <= start:
        raise ValueError(f"range [{start}, {stop}) is empty or negative")
    return (start, stop)


def load_layout(spec: str | os.PathLike) -> Layout:
    """Load a layout from a preset name or a TOML file path.

    >>> [b.name for b in load_layout("l2-l1-m0")]
    ['L2', 'L1', 'M0']
    """
    text = os.fspath(spec)
    if text in preset_names():
        raw = resources.files("badpix.presets").joinpath(f"{text}.toml").read_text()
        return parse_layout(tomllib.loads(raw), f"preset {text!r}")
    path = Path(text)
    if not path.is_file():
        raise LayoutError(f"layout {text!r} is neither a preset ({', '.join(preset_names())}) "
                          "nor a file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path}: not valid TOML ({exc})") from None
    return parse_layout(data, str(path))
