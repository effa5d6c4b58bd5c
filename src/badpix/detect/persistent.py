"""PERSISTENT: a pixel that stands out from its 3×3 neighbourhood in nearly every frame.

Reads the per-pixel fractions that :class:`~badpix.stats.persistence.PersistenceAccumulator`
(or :class:`~badpix.stats.onset.OnsetAccumulator`) left in ``stats.extra``:
``persistence_hot`` / ``persistence_dead`` (fraction of frames in which the
pixel is above / below its same-colour 3×3 median by more than the per-frame
threshold) and, with the onset accumulator, ``onset_frame`` /
``onset_fraction`` (the run from the defect's onset to the last frame).

A pixel is PERSISTENT when it stands out on one side in at least a fraction
``persistence`` of all its frames, or -- with onset information -- in at least
that fraction of the frames since its onset (a pixel that went hot half-way
through the series).  Stars, specular highlights and edges move between
photos and stand out in few frames; that is what separates them from hot
photosites, which a single-statistic rule on the temporal mean cannot do.

Score: the larger of the two fractions (and the onset-run fraction), in
[0, 1] (float32, as the accumulators give them); ``score >= persistence`` iff
flagged (compared in float32: ``float32(k / n) >= float32(persistence)``, which
decides as float64 did unless ``k / n`` and ``persistence`` differ by less than
one part in ten million).  Without persistence data in
``stats.extra`` the rule flags nothing (score 0): it is only on when the scan
ran the accumulator.

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> z = np.zeros((3, 3))
>>> s = BandStats("R", 20, np.dtype("uint16"), z + 20, z, z, z, z)
>>> s.extra.update(persistence_hot=np.where(np.eye(3) > 0, 0.95, 0.1), persistence_dead=z)
>>> mask, score = persistent(s)
>>> np.argwhere(mask).tolist()
[[0, 0], [1, 1], [2, 2]]
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..stats.bandstats import BandStats

__all__ = ["persistent"]


def persistent(stats: BandStats, persistence: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Flag pixels standing out in >= ``persistence`` of their frames (or since their onset).

    Returns ``(mask, score)``, score = stand-out fraction (see the module docstring).
    """
    if not 0 < persistence <= 1:
        raise ParameterError(f"--persistence must be a fraction in (0, 1], got {persistence!r}")
    extra = stats.extra
    if "persistence_hot" not in extra:
        return np.zeros(stats.shape, bool), np.zeros(stats.shape, np.float32)
    # in place: band-size temporaries are fresh memory, slow on small VMs
    score = np.fmax(np.asarray(extra["persistence_hot"], np.float32),
                    np.asarray(extra.get("persistence_dead", 0.0), np.float32))
    if "onset_frame" in extra and "onset_fraction" in extra:
        np.fmax(score, np.asarray(extra["onset_fraction"], np.float32), out=score,
                where=np.asarray(extra["onset_frame"]) >= 0)
    with np.errstate(invalid="ignore"):
        mask = score >= np.float32(persistence)
    return mask, score
