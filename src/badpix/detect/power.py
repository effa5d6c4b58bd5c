"""Statistical power: can a rule separate its class with this many frames?

For each rule, the probability ``p`` that a *good* pixel -- Gaussian noise of
the band's typical standard deviation ``sigma`` around its own level,
independent frames -- passes the rule's threshold with ``n`` frames; over the
band's ``N`` pixels, ``N p`` flags are expected from noise alone.  When that
is one or more, the frame count is too small for the rule at its threshold:
its flags are not evidence of defects.  ``n_min`` is the smallest frame count
that brings ``N p`` below one.

STUCK (``std < stuck_std``)
    ``(n-1) s^2 / sigma^2`` is chi-square with ``n-1`` degrees of freedom, so
    ``p = F_chi2(n-1)((n-1) rho^2)`` with ``rho = stuck_std / sigma``.  It
    falls with ``n`` only while ``rho < 1``; at ``rho >= 1`` the typical pixel
    itself is "stuck" and no frame count helps.
NOISY (robust z of ``std - local median(std)`` above ``noisy_z``)
    The local median of the std is the median ``m`` of the sample-std
    distribution and the robust scale 1.4826 x its MAD about ``m`` (both from
    the chi distribution of ``s / sigma``; roughly ``sigma / sqrt(2(n-1))``).
    The rule fires at ``s > t = m + noisy_z x 1.4826 x MAD``:
    ``p = 1 - F_chi2(n-1)((n-1) t^2 / sigma^2)`` (:func:`noisy_threshold`).
HOT / DEAD (robust z of ``mean - local median(mean)``) and OUTLIER
    (``|median - local median| > outlier_k x mean|dev|``)
    The statistic is normalised by its own spread over the band, and a mean
    (or median) of Gaussian frames is Gaussian for any ``n``: ``p = Phi(-hot_z)``
    and ``p = 2 Phi(-outlier_k sqrt(2/pi))`` (``mean|dev| = sqrt(2/pi)`` of its
    standard deviation).  These do not depend on ``n``: more frames shrink the
    noise and the spread together.  What few frames cannot do for them is
    average out scene content (a cell or a star in one frame); that is not
    noise and not bounded here.

>>> r = rule_power("stuck", 13, 25_600, sigma=1.6, stuck_std=1.0)
>>> r["underpowered"], round(r["expected_false_flags"]), r["n_min"]
(True, 829, 50)
>>> rule_power("stuck", 100, 25_600, sigma=1.6, stuck_std=1.0)["underpowered"]
False
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

# not scipy.special: its import alone (0.15-0.24 s) cost a scan more than its rules
from ..stats.special import chi2_cdf, chi2_isf, chi2_sf, normal_cdf

__all__ = ["band_power", "false_flag_probability", "power_messages", "rule_power"]

#: frame counts searched for ``n_min``
MAX_FRAMES = 1_000_000


def false_flag_probability(rule: str, n: int, *, sigma: float = 1.0, stuck_std: float = 1.0,
                           noisy_z: float = 6.0, hot_z: float = 50.0, dead_z: float = 50.0,
                           outlier_k: float = 8.0) -> float:
    """Probability that a good pixel passes ``rule``'s threshold with ``n`` frames.

    >>> round(false_flag_probability("stuck", 13, sigma=1.6), 4)
    0.0324
    >>> false_flag_probability("hot", 3) < 1e-300
    True
    """
    if rule in ("hot", "dead"):
        return normal_cdf(-(hot_z if rule == "hot" else dead_z))
    if rule == "outlier":
        return 2 * normal_cdf(-outlier_k * math.sqrt(2 / math.pi))
    if n < 2:
        return 1.0  # one frame has no std: the std rules cannot tell anything apart
    dof = n - 1
    if rule == "stuck":
        if not sigma > 0:
            return 1.0
        return chi2_cdf(dof, dof * (stuck_std / sigma) ** 2)
    if rule == "noisy":
        return chi2_sf(dof, dof * noisy_threshold(dof, noisy_z) ** 2)
    raise ValueError(f"no power bound for rule {rule!r}")


@functools.lru_cache(maxsize=4096)  # a pure function; n_min's search asks it again per band
def noisy_threshold(dof: int, noisy_z: float) -> float:
    """The sample std (in units of sigma) at which NOISY fires on a good pixel.

    The local median of the std is the median of ``s`` (``s / sigma`` is a
    chi with ``dof`` degrees of freedom, over ``sqrt(dof)``), and the robust
    scale is 1.4826 x the MAD of ``s`` about it; both from the chi quantiles.

    >>> round(noisy_threshold(12, 6.0), 3)
    2.188
    """
    def s_cdf(x: float) -> float:  # P(s / sigma <= x)
        return chi2_cdf(dof, dof * max(x, 0.0) ** 2)

    med = math.sqrt(chi2_isf(dof, 0.5) / dof)
    # the MAD: P(|s - med| <= d) = 1/2, increasing in d; bisection to 1e-12
    lo, hi = 1e-9, 10.0
    while hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if s_cdf(med + mid) - s_cdf(med - mid) < 0.5 else (lo, mid)
    mad = 0.5 * (lo + hi)
    return med + noisy_z * 1.4826 * mad


def _n_min(rule: str, n_pixels: int, kw: dict[str, float]) -> int | None:
    """Smallest n with ``n_pixels x p(n) < 1`` (p falls with n), ``None`` if none does."""
    def ok(n: int) -> bool:
        return n_pixels * false_flag_probability(rule, n, **kw) < 1

    hi = 2
    while not ok(hi):
        hi *= 2
        if hi > MAX_FRAMES:
            return None
    lo = max(2, hi // 2)
    if ok(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def rule_power(rule: str, n: int, n_pixels: int, **kw: float) -> dict[str, Any]:
    """``p``, expected false flags, ``underpowered`` and ``n_min`` of one rule on one band."""
    p = false_flag_probability(rule, n, **kw)
    expected = n_pixels * p
    out: dict[str, Any] = {"p_false": p, "expected_false_flags": expected,
                           "underpowered": bool(expected >= 1)}
    if rule in ("stuck", "noisy"):
        out["n_min"] = _n_min(rule, n_pixels, kw)
    return out


def band_power(stats, params) -> dict[str, dict[str, Any]]:
    """:func:`rule_power` of the rules that ran on one band (``BandStats``, ``RuleParams``).

    ``sigma`` is the median temporal std of the band (defects are few).
    """
    std = np.asarray(stats.std, np.float64)
    finite = std[np.isfinite(std)]
    sigma = float(np.median(finite)) if finite.size else float("nan")
    n_pixels = int(finite.size)
    n = int(stats.n_frames)
    if params.counting:
        return {}  # Poisson tests carry their own alpha (counting_alpha)
    kw = {"sigma": sigma, "stuck_std": params.stuck_std, "noisy_z": params.noisy_z,
          "hot_z": params.hot_z, "dead_z": params.dead_z, "outlier_k": params.outlier_k}
    rules = ["stuck", "hot", "dead", "noisy"] + (["outlier"] if stats.median is not None else [])
    out = {r: rule_power(r, n, n_pixels, **kw) for r in rules}
    out["stuck"]["sigma"] = sigma
    return out


def power_messages(power: dict[str, dict[str, dict[str, Any]]], n_frames: int) -> list[str]:
    """One line per band and rule whose frame count is too small (for the terminal/report).

    >>> power_messages({"ch0": {"stuck": {"underpowered": True, "expected_false_flags": 82.7,
    ...                 "n_min": 37, "sigma": 1.6}}}, 13)[0].split(":")[0]
    'ch0 STUCK'
    """
    lines = []
    for band, rules in power.items():
        for rule, r in rules.items():
            if not r.get("underpowered"):
                continue
            need = r.get("n_min")
            how = (f"needs >= {need} frames" if need else
                   "no frame count helps at this threshold (typical std "
                   f"{r.get('sigma', float('nan')):.3g} is at or below it)")
            lines.append(f"{band} {rule.upper()}: {n_frames} frames are too few - about "
                         f"{r['expected_false_flags']:,.0f} good pixels pass the threshold by "
                         f"noise alone; {how}")
    return lines
