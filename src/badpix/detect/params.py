"""Every detection parameter in one frozen dataclass, with its documented default.

The defaults of the standard rules were chosen on the synthetic ground truth of
:mod:`badpix.synth` (see :func:`badpix.evaluate.evaluate`): with default
generator strength every class reaches precision and recall >= 0.95.  The
counting-mode defaults were chosen on the LAMBDA photon-counting frames
(``benchmarks/eval_lambda.py``).

>>> p = RuleParams(stuck_std=0.5)
>>> p.stuck_std, p.outlier_k, p.counting
(0.5, 8.0, False)
>>> RuleParams.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ParameterError


@dataclass(frozen=True)
class RuleParams:
    """Parameters of the detection rules.

    >>> RuleParams(hot_z=30).hot_z, RuleParams().noisy_z
    (30, 6.0)

    Standard rules (integer or float frames with a noise floor)
    -----------------------------------------------------------
    stuck_std
        STUCK: temporal std below this, in data units (sensor team: 1.0).
    outlier_k, outlier_size
        OUTLIER: ``|median - local_median(median, outlier_size)|`` above
        ``outlier_k`` times the band's mean absolute deviation (sensor team: 8, 5).
    size
        Neighbourhood (square side, odd) of the HOT/DEAD/NOISY local medians.
    hot_z, dead_z
        HOT/DEAD: robust z of ``mean - local_median(mean)`` above ``hot_z`` /
        below ``-dead_z``.  The robust scale is 1.4826 x MAD of that deviation
        over the band.  25 sits between the synthetic "drifting" offsets
        (13-20 robust sigmas, OUTLIER only) and the hot/dead ones (>= 50).
    noisy_z
        NOISY: robust z of ``std - local_median(std)`` above this.
    scale_floor
        Lower bound of the robust scales (data units).  ``None``: the
        quantisation noise of a temporal mean, ``1/sqrt(12 n)``, for integer
        data; ``1e-7 x`` the value span for floats.
    use_range
        HOT also when the pixel sits at the top of an integer dtype's range in
        every frame (``min == range top``) while its neighbourhood does not;
        DEAD when it sits at the bottom in every frame (``max == range bottom``)
        while its neighbourhood does not.

    Photon-counting mode (``counting=True``, see :mod:`badpix.detect.photon`)
    -------------------------------------------------------------------------
    counting_size
        Neighbourhood of the reference rate (local median of the mean counts).
    counting_alpha
        HOT: Poisson tail probability of the pixel's total counts given the
        reference rate must be below this.
    counting_hot_ratio, counting_min_rate
        HOT also needs ``mean > counting_hot_ratio x reference`` and
        ``mean >= counting_min_rate`` counts per frame.
    counting_fano
        NOISY: variance/mean (Fano factor, 1 for Poisson) above this, with a
        chi-square dispersion test below ``counting_alpha`` and
        ``mean >= counting_min_rate``.
    counting_dead_alpha
        DEAD: zero counts in all frames while ``P(0) = exp(-n x reference)``
        is below this.

    Persistence (photo series; needs the persistence accumulator in the scan)
    -------------------------------------------------------------------------
    persistence, persistence_dn, persistence_z, onset_min_frames
        PERSISTENT: the pixel stands out from its 3x3 neighbourhood median by more
        than ``max(20 DN, persistence_z x per-frame noise)`` (or ``persistence_dn``)
        in at least a fraction ``persistence`` of frames (or of the frames since
        its onset); see :mod:`badpix.stats.persistence` and :mod:`badpix.stats.onset`.
    """

    stuck_std: float = 1.0
    outlier_k: float = 8.0
    outlier_size: int = 5
    size: int = 5
    hot_z: float = 50.0
    dead_z: float = 50.0
    noisy_z: float = 6.0
    scale_floor: float | None = None
    use_range: bool = True
    counting: bool = False
    counting_size: int = 5
    counting_alpha: float = 1e-9
    counting_hot_ratio: float = 10.0
    counting_min_rate: float = 1.0
    counting_fano: float = 5.0
    counting_dead_alpha: float = 1e-6
    persistence: float = 0.9
    persistence_dn: float | None = None
    persistence_z: float = 6.0
    onset_min_frames: int | None = None

    def __post_init__(self) -> None:
        for name in ("outlier_size", "size", "counting_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 3 or v % 2 == 0:
                raise ParameterError(f"{name} must be an odd integer >= 3, got {v!r}")
        for name in ("stuck_std", "outlier_k", "hot_z", "dead_z", "noisy_z",
                     "counting_hot_ratio", "counting_min_rate", "counting_fano"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v) or v < 0:
                raise ParameterError(f"{name} must be a number >= 0, got {v!r}")
        for name in ("counting_alpha", "counting_dead_alpha"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ParameterError(f"{name} must be a probability in (0, 1), got {v!r}")
        # the persistence parameters are validated where they are defined
        from ..stats.persistence import PersistenceParams

        PersistenceParams.from_params(self)
        if self.scale_floor is not None and not self.scale_floor > 0:
            raise ParameterError(f"scale_floor must be > 0, got {self.scale_floor!r}")

    @property
    def mode(self) -> str:
        """``"counting"`` or ``"standard"``."""
        return "counting" if self.counting else "standard"

    def to_dict(self) -> dict[str, Any]:
        """All parameters as a JSON-ready dict (recorded in ``summary.json``)."""
        d = asdict(self)
        d["mode"] = self.mode
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleParams:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ParameterError`."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k != "mode"}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"unknown rule parameter(s): {', '.join(sorted(unknown))}")
        return cls(**data)
