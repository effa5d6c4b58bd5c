"""Parameters of the persistence statistic, importable without numba.

``RuleParams`` validates them whenever it is built (``badpix scan --help`` builds
one for its defaults), so they must not pull in the kernels of
:mod:`badpix.stats.persistence`, which re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError

__all__ = ["DEFAULT_DN", "DEFAULT_Z", "PersistenceParams"]

#: robust z of the default threshold
DEFAULT_Z = 6.0
#: integer-data floor of the default threshold, data units
DEFAULT_DN = 20.0


@dataclass(frozen=True)
class PersistenceParams:
    """Parameters of the persistence statistic and rule.

    persistence
        PERSISTENT: fraction of frames (0-1] in which a pixel must stand out (0.9).
    persistence_dn
        Fixed threshold in data units; ``None`` (default) for
        ``max(20 DN, z * sigma_t)`` per frame (``0`` instead of 20 for floats).
    persistence_z
        Robust z of the per-frame noise term (6).
    onset_min_frames
        Onset: the defective run from the onset to the last frame must be at
        least this long; ``None`` for ``max(3, ceil(n_frames / 10))``.

    >>> PersistenceParams.from_params(None).persistence
    0.9
    """

    persistence: float = 0.9
    persistence_dn: float | None = None
    persistence_z: float = DEFAULT_Z
    onset_min_frames: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.persistence, (int, float)) and 0 < self.persistence <= 1):
            raise ParameterError(f"persistence must be a fraction in (0, 1], got "
                                 f"{self.persistence!r}")
        if self.persistence_dn is not None and not self.persistence_dn >= 0:
            raise ParameterError(f"persistence_dn must be >= 0, got {self.persistence_dn!r}")
        if not (isinstance(self.persistence_z, (int, float)) and self.persistence_z >= 0):
            raise ParameterError(f"persistence_z must be >= 0, got {self.persistence_z!r}")
        if self.onset_min_frames is not None and not (
                isinstance(self.onset_min_frames, int) and self.onset_min_frames >= 1):
            raise ParameterError(f"onset_min_frames must be an integer >= 1, got "
                                 f"{self.onset_min_frames!r}")

    @classmethod
    def from_params(cls, params: Any) -> PersistenceParams:
        """Take the fields from any object that has them (e.g. ``RuleParams``), else defaults."""
        if isinstance(params, cls):
            return params
        if isinstance(params, dict):
            return cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})
        return cls(**{k: getattr(params, k) for k in cls.__dataclass_fields__
                      if params is not None and hasattr(params, k)})
