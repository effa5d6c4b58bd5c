"""Rules for photon-counting detectors (``RuleParams(counting=True)``, ``--counting``).

In photon-counting frames (e.g. Medipix/LAMBDA) most healthy pixels count 0 in
every frame, so "std < 1" would call nearly everything stuck and MAD-based
neighbourhood scales are 0.  Counts of a healthy pixel are Poisson, which
gives the reference instead:

- **reference rate** ``ref`` = max(local median of the mean counts per frame
  over ``counting_size`` x ``counting_size`` valid neighbours, the band's
  background rate); the background rate is the mean rate of the valid pixels
  at or below the band's 99th percentile of mean (a trimmed mean: immune to
  the hot 1 %).
- **HOT**: the pixel's total counts ``K`` are improbable for a Poisson pixel
  of rate ``ref``: ``P(X >= K | n ref) < counting_alpha``, and
  ``mean > counting_hot_ratio x ref`` and ``mean >= counting_min_rate``.
- **NOISY**: over-dispersed counts.  Poisson counts have variance = mean
  (Fano factor 1); a pixel firing in bursts, or a readout fault, has Fano
  factor ``var/mean`` far above 1.  NOISY when Fano > ``counting_fano``, the
  chi-square dispersion test ``n var / mean ~ chi2(n-1)`` gives p <
  ``counting_alpha`` and ``mean >= counting_min_rate``.  This needs no
  neighbourhood, so it also finds blocks of hot columns whose local median is
  as hot as they are.
- **STUCK**: the same non-zero value in every frame (``min == max > 0``).
- **DEAD**: zero counts in every frame where ``P(0) = exp(-n ref)`` is below
  ``counting_dead_alpha`` (the neighbourhood makes zero improbable).  Under
  sparse illumination no pixel can be called dead: that needs a flat field.
- **OUTLIER** is not evaluated (a median of sparse counts is 0).
- **Gap pixels** (any negative value, LAMBDA gaps read -1) are not pixels:
  they are never flagged and are left out of every neighbourhood.

Scores are ``-log10(p)`` of the rule's test (capped at 300), so ``score``
(severity = score / ``-log10(alpha)``) ranks HOT/NOISY/DEAD together.

Which rules run (``counting="auto"``, the default) is decided from the frames
by :func:`looks_like_counting`, once per scan (:func:`resolve_counting`): the
counting rules when the data are integers and the median of
:data:`COUNTING_SAMPLE_FRAMES` evenly spaced frames has more than
:data:`COUNTING_ZERO_FRACTION` of its pixels at exactly 0.  Measured on the
shared real data: LAMBDA frames are 98.1-99.3 % zeros (every one of the 150
frames), every other data set at most 0.02 %; see
``docs/guide/photon-counting.md`` (``python benchmarks/counting_decision.py``).

>>> import numpy as np
>>> from badpix.stats.bandstats import BandStats
>>> rng = np.random.default_rng(0)
>>> x = rng.poisson(0.05, (50, 20, 20)).astype(float)
>>> x[:, 5, 5] = rng.poisson(40, 50); x[:, 9, 9] = 7; x[:, 0, :] = -1
>>> x[::2, 14, 3] = 300; x[1::2, 14, 3] = 0
>>> s = BandStats("m", 50, np.dtype("int16"), np.full((20, 20), 50), x.mean(0), x.var(0),
...               x.min(0), x.max(0))
>>> flags, _ = classify_counting(s)
>>> [(int(r), int(c), int(flags[r, c])) for r, c in np.argwhere(flags)]
[(5, 5, 4), (9, 9, 5), (14, 3, 20)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..stats.bandstats import BandStats
from .flags import Flag
from .params import RuleParams
from .stuck import MAX_SCORE

#: -log10(p) cap (p underflows to 0 for gross defects)
MAX_LOG_P = 300.0


def _neglog10(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.minimum(-np.log10(np.clip(p, 0.0, 1.0)), MAX_LOG_P)


def valid_pixels(stats: BandStats) -> np.ndarray:
    """Pixels that are real pixels: some frames, no negative value (gaps read -1)."""
    with np.errstate(invalid="ignore"):
        return (stats.count > 0) & (stats.min >= 0) & np.isfinite(stats.mean)


def background_rate(stats: BandStats, valid: np.ndarray | None = None) -> float:
    """Trimmed mean counts per frame: valid pixels at or below the band's 99th percentile."""
    valid = valid_pixels(stats) if valid is None else valid
    m = stats.mean[valid]
    if m.size == 0:
        return 0.0
    return float(m[m <= np.percentile(m, 99)].mean())


def reference_rate(stats: BandStats, size: int = 5, valid: np.ndarray | None = None
                   ) -> np.ndarray:
    """max(local median of valid neighbours' mean, background rate), counts per frame."""
    from .outlier import local_median  # numba kernels: resolve_counting does not need them

    valid = valid_pixels(stats) if valid is None else valid
    masked = np.where(valid, stats.mean, np.nan)
    ref = local_median(masked, size)
    return np.fmax(ref, background_rate(stats, valid))


def _total_counts(stats: BandStats) -> np.ndarray:
    return np.rint(np.nan_to_num(stats.mean) * stats.count)


def counting_hot(stats: BandStats, counting_size: int = 5, counting_alpha: float = 1e-9,
                 counting_hot_ratio: float = 10.0, counting_min_rate: float = 1.0,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """HOT: counts far above the neighbourhood's Poisson expectation. ``(mask, -log10 p)``."""
    from scipy import special  # here, not at import: resolve_counting runs at scan start

    valid = valid_pixels(stats)
    ref = reference_rate(stats, counting_size, valid)
    k = _total_counts(stats)
    mu = stats.count * ref
    p = np.where(k >= 1, special.pdtrc(np.maximum(k - 1, 0), mu), 1.0)  # P(X >= k)
    score = np.where(valid, _neglog10(p), np.nan)
    with np.errstate(invalid="ignore"):
        mask = (valid & (p < counting_alpha) & (stats.mean > counting_hot_ratio * ref)
                & (stats.mean >= counting_min_rate))
    return mask, score


def counting_noisy(stats: BandStats, counting_alpha: float = 1e-9, counting_fano: float = 5.0,
                   counting_min_rate: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """NOISY: over-dispersed counts (Fano factor and chi-square test). ``(mask, -log10 p)``."""
    from scipy import special

    valid = valid_pixels(stats)
    n = stats.count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fano = np.where(stats.mean > 0, stats.var / stats.mean, 0.0)
        p = np.where((stats.mean > 0) & (n > 1),
                     special.chdtrc(np.maximum(n - 1, 1), n * fano), 1.0)
        mask = (valid & (fano > counting_fano) & (p < counting_alpha)
                & (stats.mean >= counting_min_rate))
    return mask, np.where(valid, _neglog10(p), np.nan)


def counting_stuck(stats: BandStats) -> tuple[np.ndarray, np.ndarray]:
    """STUCK: the same non-zero count in every frame. ``(mask, score)``."""
    valid = valid_pixels(stats)
    with np.errstate(invalid="ignore"):
        mask = valid & (stats.min == stats.max) & (stats.max > 0) & (stats.count > 1)
    return mask, np.where(mask, MAX_SCORE, np.where(valid, 0.0, np.nan))


def counting_dead(stats: BandStats, counting_size: int = 5, counting_dead_alpha: float = 1e-6,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """DEAD: no count at all where the neighbourhood makes that improbable. ``(mask, -log10 P0)``."""
    valid = valid_pixels(stats)
    ref = reference_rate(stats, counting_size, valid)
    mu = stats.count * ref
    log_p0 = -mu / np.log(10.0)  # log10 exp(-mu)
    zero = valid & (stats.max == 0)
    mask = zero & (log_p0 < np.log10(counting_dead_alpha))
    return mask, np.where(zero, np.minimum(-log_p0, MAX_LOG_P), np.where(valid, 0.0, np.nan))


def classify_counting(stats: BandStats, params: RuleParams = RuleParams(counting=True)  # noqa: B008
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All counting-mode rules; same outputs as :func:`badpix.detect.classify`."""
    from .flags import pack

    p = params
    la = -np.log10(p.counting_alpha)
    results = {
        "stuck": (Flag.STUCK, counting_stuck(stats), 1.0),
        "hot": (Flag.HOT, counting_hot(stats, p.counting_size, p.counting_alpha,
                                       p.counting_hot_ratio, p.counting_min_rate), la),
        "dead": (Flag.DEAD, counting_dead(stats, p.counting_size, p.counting_dead_alpha),
                 -np.log10(p.counting_dead_alpha)),
        "noisy": (Flag.NOISY, counting_noisy(stats, p.counting_alpha, p.counting_fano,
                                             p.counting_min_rate), la),
    }
    return pack(stats.shape, results)


# ----------------------------------------------------------------- is it counting data?

#: frames :func:`looks_like_counting` reads, evenly spaced from the first to the last
COUNTING_SAMPLE_FRAMES = 5
#: counting rules when the median sampled frame has more than this fraction of zeros
COUNTING_ZERO_FRACTION = 0.5
#: reader formats that are never photon-counting detector frames (a night-sky photo
#: can be mostly black, and the photo rules, PERSISTENT and onset, are the right ones)
PHOTO_FORMATS = ("image", "raw")


@dataclass(frozen=True)
class CountingDecision:
    """Which rule set a scan runs and why (``summary.json`` ``parameters.counting_decision``).

    ``zero_fraction`` is the median over the sampled frames of each frame's
    fraction of pixels equal to 0 (NaN when not measured: forced, photos).
    """

    counting: bool
    zero_fraction: float
    reason: str
    auto: bool = True
    sampled_frames: int = 0

    @property
    def rule_set(self) -> str:
        """``"photon-counting"`` or ``"standard"``."""
        return "photon-counting" if self.counting else "standard"

    def describe(self) -> str:
        """One line for the terminal and the report.

        >>> decide_counting(np.dtype("int16"), [0.97, 0.98, 0.96]).describe()
        'rules: photon-counting (auto: 97.0 % of pixels are zero in the median sampled frame)'
        """
        return f"rules: {self.rule_set} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        zf = self.zero_fraction
        return {"rule_set": self.rule_set, "counting": self.counting, "auto": self.auto,
                "zero_fraction": None if math.isnan(zf) else round(float(zf), 6),
                "sampled_frames": self.sampled_frames, "threshold": COUNTING_ZERO_FRACTION,
                "reason": self.reason}


def zero_fraction(frame: np.ndarray) -> float:
    """Fraction of the values of ``frame`` that are exactly 0 (every channel; gaps count).

    >>> zero_fraction(np.array([[0, 0], [3, -1]]))
    0.5
    """
    a = np.asarray(frame)
    return float(np.count_nonzero(a == 0)) / max(1, a.size)


def decide_counting(dtype: np.dtype | str, fractions, threshold: float = COUNTING_ZERO_FRACTION
                    ) -> CountingDecision:
    """The decision from the dtype and the sampled frames' zero fractions (pure).

    Counting when the dtype is integer and the median fraction exceeds ``threshold``.

    >>> decide_counting("uint16", [0.0, 0.001]).counting
    False
    >>> d = decide_counting("float32", [0.99]); d.counting, d.reason
    (False, 'auto: float32 data, the counting rules need integer counts (99.0 % zeros)')
    """
    dtype = np.dtype(dtype)
    f = np.asarray(list(fractions), np.float64)
    if f.size == 0:
        return CountingDecision(False, math.nan, "auto: no frame could be sampled")
    zf = float(np.median(f))
    pct = f"{100 * zf:.1f} %"
    if dtype.kind not in "iu":
        return CountingDecision(False, zf, f"auto: {dtype.name} data, the counting rules need "
                                f"integer counts ({pct} zeros)", sampled_frames=f.size)
    counting = zf > threshold
    need = "" if counting else f"; counting needs more than {100 * threshold:g} %"
    return CountingDecision(counting, zf, f"auto: {pct} of pixels are zero in the median "
                            f"sampled frame{need}", sampled_frames=f.size)


def sample_indices(n_frames: int, k: int = COUNTING_SAMPLE_FRAMES) -> np.ndarray:
    """Up to ``k`` frame indices evenly spaced from the first frame to the last.

    >>> sample_indices(50).tolist(), sample_indices(2).tolist()
    ([0, 12, 24, 37, 49], [0, 1])
    """
    if n_frames <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.rint(np.linspace(0, n_frames - 1, min(k, n_frames))).astype(np.int64))


def looks_like_counting(source: Any, k: int = COUNTING_SAMPLE_FRAMES,
                        threshold: float = COUNTING_ZERO_FRACTION) -> CountingDecision:
    """Whether ``source`` (a :class:`~badpix.stack.Stack` or frames ``(n, ...)``) is counting data.

    Reads :func:`sample_indices` frames (a frame that fails to decode is left
    out of the sample) and applies :func:`decide_counting`.  Photo series (JPEG,
    PNG, camera RAW readers) are never counting data and are not read.

    >>> rng = np.random.default_rng(0)
    >>> looks_like_counting(rng.poisson(0.02, (10, 64, 64)).astype(np.int16)).counting
    True
    >>> looks_like_counting(rng.poisson(90, (10, 64, 64)).astype(np.uint16)).counting
    False
    """
    reader = getattr(source, "reader", None)
    if reader is None:  # an array of frames
        frames = np.asarray(source)
        idx = sample_indices(frames.shape[0], k)
        return decide_counting(frames.dtype, (zero_fraction(frames[i]) for i in idx), threshold)
    from ..errors import DecodeError

    if reader.format_name in PHOTO_FORMATS:
        return CountingDecision(False, math.nan, f"auto: photo series ({reader.format_name} "
                                "files), never photon-counting")
    buf = np.empty(reader.frame_shape, reader.dtype)
    fractions = []
    for i in sample_indices(reader.n_frames, k):
        try:
            reader.read_frame(int(i), buf)
        except DecodeError:
            continue  # the scan reports (or stops at) it; the sample just has one frame less
        fractions.append(zero_fraction(buf))
    return decide_counting(reader.dtype, fractions, threshold)


def resolve_counting(stack: Any, params: RuleParams | None = None) -> RuleParams:
    """``params`` with ``counting`` a bool and ``counting_decision`` set: once per scan.

    Every engine calls this at its entry, so the local, Dask and checkpointed
    paths classify with the same resolved value.  Already resolved parameters
    are returned as they are (nothing is read twice).

    >>> p = resolve_counting(None, RuleParams(counting=True))
    >>> p.counting, p.counting_decision.describe()
    (True, 'rules: photon-counting (forced: --counting / counting=True)')
    """
    params = params or RuleParams()
    if params.counting_decision is not None and params.counting is params.counting_decision.counting:
        return params
    if isinstance(params.counting, bool):
        flag = "--counting / counting=True" if params.counting else "--no-counting / counting=False"
        decision = CountingDecision(params.counting, math.nan, f"forced: {flag}", auto=False)
    else:
        decision = looks_like_counting(stack)
    return replace(params, counting=decision.counting, counting_decision=decision)
