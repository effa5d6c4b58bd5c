"""Ground truth of a synthetic stack: what was planted where, and ``truth.json``.

:data:`KIND_FLAGS` gives the flag bits a scan is expected to set on each planted
kind (see the table in :mod:`badpix.synth`); :class:`Truth` holds the planted
pixels and reads and writes them as JSON (:func:`badpix.evaluate.evaluate` scores
a scan against it).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..detect.flags import Flag

__all__ = ["KIND_FLAGS", "PlantedPixel", "Truth"]

#: expected flag bits of every planted kind
KIND_FLAGS: dict[str, int] = {
    "stuck": int(Flag.STUCK),
    "stuck_high": int(Flag.STUCK | Flag.HOT | Flag.OUTLIER),
    "outlier": int(Flag.OUTLIER),
    "hot": int(Flag.HOT | Flag.OUTLIER),
    "dead": int(Flag.DEAD | Flag.OUTLIER),
    "dead_floor": int(Flag.DEAD | Flag.OUTLIER | Flag.STUCK),
    "noisy": int(Flag.NOISY),
    "telegraph": int(Flag.NOISY),
}


@dataclass(frozen=True)
class PlantedPixel:
    """One planted defect: full-frame position, its kind and expected flag bits."""

    row: int
    col: int
    channel: int
    kind: str
    flags: int


@dataclass
class Truth:
    """What was planted where; ``truth.json`` on disk.

    >>> t = Truth((4, 4, 1), 3, "uint8", 0, [PlantedPixel(1, 2, 0, "hot", 6)])
    >>> int(t.mask()[1, 2, 0])
    6
    >>> Truth.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    True
    """

    shape: tuple[int, int, int]
    n_frames: int
    dtype: str
    seed: int | None
    pixels: list[PlantedPixel]
    generator: dict[str, Any] = field(default_factory=dict)

    def mask(self) -> np.ndarray:
        """Expected flag bits as a uint8 ``(rows, cols, channels)`` image."""
        m = np.zeros(self.shape, np.uint8)
        for p in self.pixels:
            m[p.row, p.col, p.channel] |= np.uint8(p.flags)
        return m

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "n_frames": self.n_frames, "dtype": self.dtype,
                "seed": self.seed, "generator": self.generator,
                "flag_bits": {f.name.lower(): int(f) for f in Flag},
                "pixels": [asdict(p) for p in self.pixels]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Truth:
        return cls(tuple(int(v) for v in d["shape"]), int(d["n_frames"]), str(d["dtype"]),
                   d.get("seed"), [PlantedPixel(**p) for p in d["pixels"]],
                   d.get("generator", {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Truth:
        """Read ``truth.json``; raises :class:`~badpix.errors.InputError` when malformed."""
        from ..errors import InputError

        p = Path(path)
        if p.is_dir():
            p = p / "truth.json"
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except FileNotFoundError:
            raise InputError(p, "no such truth file") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(p, f"not a badpix truth file ({exc})") from None
