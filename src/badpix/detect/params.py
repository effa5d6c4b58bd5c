"""Every detection parameter in one frozen dataclass, with its documented default.

The defaults of the standard rules were chosen on the synthetic ground truth of
:mod:`badpix.synth` (see :func:`badpix.evaluate.evaluate`): with default
generator strength every class reaches precision and recall >= 0.95.  The
counting-mode defaults were chosen on the LAMBDA photon-counting frames
(``benchmarks/eval_lambda.py``).

>>> p = RuleParams(stuck_std=0.5)
>>> p.stuck_std, p.outlier_k, p.counting, p.mode
(0.5, 8.0, 'auto', 'auto')
>>> RuleParams.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError

if TYPE_CHECKING:
    from .photon import CountingDecision


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
    counting
        ``"auto"`` (default; ``None`` means the same): the scan decides from the
        data (:func:`badpix.detect.photon.looks_like_counting`: integer frames
        whose median sampled frame is more than half zeros) and runs the
        counting rules or the standard ones; ``True`` / ``False`` force them.
        The scan entry points resolve ``"auto"`` once
        (:func:`badpix.detect.photon.resolve_counting`) and record the decision
        in ``counting_decision``; :func:`badpix.detect.classify`, which sees
        statistics and not frames, runs the standard rules unless ``counting``
        is ``True``.
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
    counting: bool | str | None = "auto"
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
    #: how a scan resolved ``counting`` (set by :func:`~badpix.detect.photon.resolve_counting`);
    #: describes the scan, not a rule, so equality ignores it
    counting_decision: CountingDecision | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        c = self.counting
        if c is None or isinstance(c, str) and c.lower() == "auto":
            c = "auto"
        elif isinstance(c, (bool, np.bool_)):
            c = bool(c)
        else:
            raise ParameterError(f"counting must be True, False or 'auto', got {c!r}")
        object.__setattr__(self, "counting", c)
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
        from ..stats.persistence_params import PersistenceParams

        PersistenceParams.from_params(self)
        if self.scale_floor is not None and not self.scale_floor > 0:
            raise ParameterError(f"scale_floor must be > 0, got {self.scale_floor!r}")

    @property
    def mode(self) -> str:
        """``"counting"``, ``"standard"`` or (not resolved yet) ``"auto"``."""
        if self.counting == "auto":
            return "auto"
        return "counting" if self.counting else "standard"

    def to_dict(self) -> dict[str, Any]:
        """All parameters as a JSON-ready dict (recorded in ``summary.json``).

        ``counting_decision`` is not a parameter: ``summary.json`` records it as
        ``rule_set``.
        """
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "counting_decision"}
        d["mode"] = self.mode
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleParams:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ParameterError`."""
        known = {f.name for f in fields(cls)} - {"counting_decision"}
        # the decision describes the scan that wrote the dict: a new scan makes its own
        data = {k: v for k, v in data.items() if k not in ("mode", "counting_decision")}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"unknown rule parameter(s): {', '.join(sorted(unknown))}")
        return cls(**data)
