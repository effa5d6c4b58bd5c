"""The few special functions the statistical-power bounds need, in plain Python.

Why not ``scipy.special``: importing it costs 0.15-0.24 s (its array-API
support layer imports ``scipy._lib._array_api`` and its compatibility shims) in
a ``badpix scan`` process whose own work on a 160-frame sensor stack is about
0.44 s, and :mod:`badpix.detect.power` is the only scan-path user.  These
functions are what it used: the chi-square CDF and survival function
(``chdtr``/``chdtrc``), the chi-square quantile of the survival function
(``chdtri``) and the normal CDF (``ndtr``).  ``tests/stats/test_special.py``
compares them with ``scipy.special`` (relative error <= 1e-10 wherever the value
is above 1e-300, degrees of freedom 1 to 10**6).

Method (Numerical Recipes ``gser``/``gcf``; the prefactor as in Cephes
``igam_fac``): the regularized incomplete gamma functions ``P(a, x)`` and
``Q(a, x) = 1 - P(a, x)`` by the power series for ``x < a + 1`` and by the
modified-Lentz continued fraction otherwise, each computing the smaller of
the two directly (the other is one minus it, without cancellation).  The
common factor ``x**a exp(-x) / Gamma(a)`` is taken in logarithms; for
``a >= 10`` through Stirling's series and ``log1p(t) - t`` with
``x = a (1 + t)``, so that no two large terms cancel (``a log x - x`` and
``log Gamma(a)`` are each about 10**7 at ``a = 10**6``: subtracting them
directly would leave only 1e-9 relative accuracy).  The normal tail is
``math.erfc``; the quantile is Newton's method on the logarithm of the smaller
tail, kept inside a bracket by bisection.  For ``a >= 256`` the series is one
NumPy product and is used up to ``x = a + 3 sqrt(a)``, where it takes fewer
steps than the fraction.

>>> round(chi2_cdf(12, 12 * (1.0 / 1.6) ** 2), 4)  # STUCK at 13 frames, sigma 1.6
0.0324
>>> round(chi2_isf(1, 0.05), 4)  # the 95 % point of chi-square(1)
3.8415
>>> normal_cdf(0.0)
0.5
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["chi2_cdf", "chi2_isf", "chi2_sf", "gammainc_lower", "gammainc_upper", "normal_cdf"]

_EPS = 2.220446049250313e-16
_TINY = 1e-300  # Lentz's guard against a zero denominator
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
#: at or above this ``a`` the prefactor goes through Stirling's series (error < 1e-16 there)
_STIRLING_FROM = 10.0
_MAX_TERMS = 1_000_000  # series/fraction steps; ~10 sqrt(a) are used, 10**4 at a = 10**6
#: from this ``a`` on the series is summed with NumPy (above 150 terms)
_VECTOR_FROM = 256.0


def _log1pmx(t: float) -> float:
    """``log(1 + t) - t`` without cancellation for small ``t`` (``t > -1``)."""
    if abs(t) >= 0.25:
        return math.log1p(t) - t
    # -t^2/2 + t^3/3 - t^4/4 + ...: 0.25**k / k < 1e-17 by k = 26
    term, total, k = t, 0.0, 1
    while True:
        term *= -t
        k += 1
        step = term / k
        total += step
        if abs(step) <= _EPS * abs(total):
            return total


def _stirling_correction(a: float) -> float:
    """``log Gamma(a) - ((a - 1/2) log a - a + log(2 pi)/2)`` for ``a >= 10``."""
    r = 1.0 / a
    r2 = r * r
    return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (
        1 / 1188 - r2 * (691 / 360360 - r2 / 156))))))


def _log_factor(a: float, x: float) -> float:
    """``log(x**a exp(-x) / Gamma(a))`` for ``a > 0``, ``x > 0``."""
    if a < _STIRLING_FROM:
        return a * math.log(x) - x - math.lgamma(a)
    # a log x - x - log Gamma(a) = log(a)/2 - log(2 pi)/2 + a (log(x/a) - x/a + 1) - correction
    if x < 0.5 * a:  # far below the mean: no cancellation (and 1 + t would round)
        core = a * math.log(x / a) + (a - x)
    else:
        core = a * _log1pmx((x - a) / a)
    return 0.5 * math.log(a) - _HALF_LOG_2PI + core - _stirling_correction(a)


def _series_p(a: float, x: float, log_fac: float) -> float:
    """``P(a, x)`` by its power series ``sum_n x**n / ((a+1)...(a+n))``, times the factor.

    The terms fall slowly when ``x`` is near ``a`` (about ``9 sqrt(a)`` of them
    matter): from ``a >= 256`` on they are summed as one NumPy product.
    """
    if a >= _VECTOR_FROM:
        n = int(max(x - a, 0.0) + 9.0 * math.sqrt(a)) + 64
        while True:
            terms = np.cumprod(x / (a + np.arange(1.0, n + 1.0)))
            if terms[-1] < _EPS * terms[0] or n >= _MAX_TERMS:
                return (1.0 + float(terms.sum())) / a * math.exp(log_fac)
            n *= 2
    ap, term = a, 1.0 / a
    total = term
    for _ in range(_MAX_TERMS):
        ap += 1.0
        term *= x / ap
        total += term
        if term < total * _EPS:
            break
    return total * math.exp(log_fac)


def _fraction_q(a: float, x: float, log_fac: float) -> float:
    """``Q(a, x)`` by its continued fraction, modified Lentz (``x >= a + 1``)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS:
            break
    return h * math.exp(log_fac)


def _gammainc_pair(a: float, x: float) -> tuple[float, float]:
    """``(P(a, x), Q(a, x))``; NaN for ``a <= 0``, ``x < 0`` or NaN input."""
    if not (a > 0 and x >= 0):  # also NaN
        return math.nan, math.nan
    if x == 0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    log_fac = _log_factor(a, x)
    # the series where P is the smaller one or, for large a, up to 3 sqrt(a) above the
    # mean (Q >= 1e-3 there: 1 - P keeps 13 digits), where it is cheaper than the fraction
    if x < a + 1.0 or (a >= _VECTOR_FROM and x < a + 3.0 * math.sqrt(a)):
        p = _series_p(a, x, log_fac) if log_fac > -745.2 else 0.0
        return p, 1.0 - p
    q = _fraction_q(a, x, log_fac) if log_fac > -745.2 else 0.0
    return 1.0 - q, q


def gammainc_lower(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)`` (``scipy.special.gammainc``).

    >>> round(gammainc_lower(1.0, 1.0), 12) == round(1 - math.exp(-1), 12)
    True
    """
    return _gammainc_pair(float(a), float(x))[0]


def gammainc_upper(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x) = 1 - P(a, x)`` (``gammaincc``).

    >>> round(gammainc_upper(1.0, 30.0) / math.exp(-30.0), 12)
    1.0
    """
    return _gammainc_pair(float(a), float(x))[1]


def chi2_cdf(dof: float, x: float) -> float:
    """``P(chi2(dof) <= x)`` (``scipy.special.chdtr``); 0 for ``x <= 0``.

    >>> chi2_cdf(2, 0.0), round(chi2_cdf(2, 2.0), 12) == round(1 - math.exp(-1), 12)
    (0.0, True)
    """
    x = float(x)
    return 0.0 if x <= 0 and dof > 0 else _gammainc_pair(0.5 * dof, 0.5 * x)[0]


def chi2_sf(dof: float, x: float) -> float:
    """``P(chi2(dof) > x)`` (``scipy.special.chdtrc``); 1 for ``x <= 0``.

    >>> chi2_sf(4, -1.0), round(chi2_sf(2, 40.0) / math.exp(-20.0), 12)
    (1.0, 1.0)
    """
    x = float(x)
    return 1.0 if x <= 0 and dof > 0 else _gammainc_pair(0.5 * dof, 0.5 * x)[1]


def normal_cdf(z: float) -> float:
    """Standard normal CDF ``Phi(z)`` (``scipy.special.ndtr``), accurate in the lower tail.

    >>> round(normal_cdf(-1.959963984540054), 12)
    0.025
    """
    return 0.5 * math.erfc(-float(z) * _SQRT1_2)


def _normal_isf_rough(y: float) -> float:
    """``z`` with ``P(N > z) ~ y`` to about 5e-4 (Abramowitz & Stegun 26.2.23): a start."""
    p = min(y, 1.0 - y)
    t = math.sqrt(-2.0 * math.log(p))
    z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    return z if y <= 0.5 else -z


def chi2_isf(dof: float, y: float) -> float:
    """``x`` with ``P(chi2(dof) > x) = y`` (``scipy.special.chdtri``), ``0 < y < 1``.

    >>> round(chi2_isf(12, 0.5), 6)  # the median of chi-square(12)
    11.340322
    """
    y = float(y)
    if not (dof > 0 and 0.0 <= y <= 1.0):
        return math.nan
    if y == 0.0:
        return math.inf
    if y == 1.0:
        return 0.0
    a = 0.5 * dof
    upper = y <= 0.5  # solve for the smaller tail: Q(a, u) = y, or P(a, u) = 1 - y (exact)
    log_target = math.log(y if upper else 1.0 - y)
    # Wilson-Hilferty start: chi2/dof ~ (1 - 2/(9 dof) + z sqrt(2/(9 dof)))**3
    v = 2.0 / (9.0 * dof)
    u = 0.5 * dof * max(1.0 - v + _normal_isf_rough(y) * math.sqrt(v), 0.05) ** 3
    lo, hi = 0.0, math.inf
    for _ in range(200):
        p, q = _gammainc_pair(a, u)
        tail = q if upper else p
        if tail > 0.0:
            g = math.log(tail) - log_target  # > 0: the tail is too big
        else:
            g = -math.inf
        if g == 0.0:
            break
        # Q falls and P rises with u: move the bracket on the side u lies
        if (g > 0) == upper:
            lo = u
        else:
            hi = u
        step = None
        if tail > 0.0:
            dens = math.exp(_log_factor(a, u)) / u  # dP/du
            slope = (-dens if upper else dens) / tail  # d log(tail) / du
            if slope != 0.0:
                step = g / slope
        new = u - step if step is not None else math.nan
        if not (lo < new < hi):  # Newton left the bracket: bisect (or grow when unbounded)
            new = 2.0 * u if math.isinf(hi) else 0.5 * (lo + hi)
        if abs(new - u) <= 4 * _EPS * u:
            u = new
            break
        u = new
    return 2.0 * u
