"""badpix.stats.special against scipy.special (and mpmath values where scipy is off)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as sp

from badpix.stats.special import (
    chi2_cdf,
    chi2_isf,
    chi2_sf,
    gammainc_lower,
    gammainc_upper,
    normal_cdf,
)

RTOL = 1e-10
DOFS = [1, 2, 3, 4, 5, 7, 9, 12, 15, 19, 20, 21, 30, 50, 99, 159, 200, 500, 511, 512, 513,
        1000, 5000, 10**4, 10**5, 2 * 10**5, 5 * 10**5, 10**6]

# P(chi2(dof) <= x) from mpmath 1.4 (40 digits, gammainc(dof/2, 0, x/2, regularized=True))
# where scipy 1.17's chdtr is off by up to 1e-8: dof > 5e5, 4.4-6.6 sd below the mean
MPMATH_CDF = [
    (1000000, 990100.505, 1.0876276626695128e-12),
    (1000000, 991514.719, 8.906855921225184e-10),
    (1000000, 992928.932, 2.7023009170181557e-07),
    (1000000, 993636.039, 3.255009656114398e-06),
    (1000000, 994343.146, 3.073498614276397e-05),
    (500000, 493000.0, 1.0160105284802256e-12),
    (500000, 494000.0, 8.534145837574694e-10),
    (500000, 495000.0, 2.636580927797585e-07),
    (500000, 495500.0, 3.1972962329539126e-06),
    (500000, 496000.0, 3.0352995802339744e-05),
    (200000, 195572.811, 8.864457343790752e-13),
    (200000, 196837.722, 2.510048641097188e-07),
]


def _scipy_is_off(dof: float, x: float) -> bool:
    """The region where scipy's chdtr disagrees with mpmath by more than RTOL."""
    return dof > 5e5 and -7 < (x - dof) / math.sqrt(2 * dof) < -4


def _close(mine: float, ref: float) -> bool:
    if ref <= 1e-300:
        return mine <= 1e-290
    return abs(mine - ref) <= RTOL * ref


def _grid(dof: int) -> np.ndarray:
    sd = math.sqrt(2 * dof)
    xs = np.concatenate([dof + sd * np.linspace(-40, 40, 161),  # the centre and both tails
                         dof * np.geomspace(1e-6, 1e3, 46),  # far tails
                         [dof - 1, dof + 1, dof + 2, dof + 2 + 1e-9, 1e-300, 1e-12]])
    return xs[xs > 0]


@pytest.mark.parametrize("dof", DOFS)
def test_chi2_cdf_and_sf_match_scipy(dof):
    bad = []
    for x in _grid(dof):
        x = float(x)
        if not _scipy_is_off(dof, x) and not _close(chi2_cdf(dof, x), float(sp.chdtr(dof, x))):
            bad.append(("cdf", x, chi2_cdf(dof, x), float(sp.chdtr(dof, x))))
        if not _close(chi2_sf(dof, x), float(sp.chdtrc(dof, x))):
            bad.append(("sf", x, chi2_sf(dof, x), float(sp.chdtrc(dof, x))))
    assert not bad, bad[:5]


@pytest.mark.parametrize("dof,x,ref", MPMATH_CDF)
def test_chi2_cdf_matches_mpmath_where_scipy_is_off(dof, x, ref):
    assert chi2_cdf(dof, x) == pytest.approx(ref, rel=RTOL)
    assert chi2_sf(dof, x) == pytest.approx(1 - ref, rel=RTOL)


@pytest.mark.parametrize("dof", DOFS)
def test_chi2_isf_matches_scipy(dof):
    ys = np.concatenate([np.geomspace(1e-300, 0.5, 40), 1 - np.geomspace(1e-15, 0.5, 30)])
    bad = [(y, chi2_isf(dof, y), float(sp.chdtri(dof, y))) for y in map(float, ys)
           if not _close(chi2_isf(dof, y), float(sp.chdtri(dof, y)))]
    assert not bad, bad[:5]
    assert chi2_isf(dof, 0.5) == pytest.approx(float(sp.chdtri(dof, 0.5)), rel=1e-13)


def test_normal_cdf_matches_scipy():
    for z in np.linspace(-38.0, 9.0, 4701):
        assert _close(normal_cdf(z), float(sp.ndtr(z))), z
    assert normal_cdf(-50.0) == float(sp.ndtr(-50.0)) == 0.0  # HOT/DEAD at 50: no false flag


def test_gamma_functions_match_scipy_for_fractional_a():
    for a in (0.1, 0.5, 1.5, 9.99, 10.0, 10.01, 255.9, 256.0, 1e4 + 0.25):
        for x in (1e-8, 0.3 * a, a - 1, a, a + 0.5, a + 1, 2 * a + 3, 10 * a + 40):
            if x > 0:
                assert _close(gammainc_lower(a, x), float(sp.gammainc(a, x))), (a, x)
                assert _close(gammainc_upper(a, x), float(sp.gammaincc(a, x))), (a, x)


def test_edges():
    assert chi2_cdf(3, 0.0) == 0.0 and chi2_sf(3, 0.0) == 1.0
    assert chi2_cdf(3, -1.0) == 0.0 and chi2_sf(3, -1.0) == 1.0
    assert chi2_cdf(3, math.inf) == 1.0 and chi2_sf(3, math.inf) == 0.0
    assert math.isnan(chi2_cdf(3, math.nan)) and math.isnan(chi2_sf(0, 1.0))
    assert math.isnan(chi2_cdf(-1, 1.0))
    assert chi2_isf(4, 1.0) == 0.0 and chi2_isf(4, 0.0) == math.inf
    assert math.isnan(chi2_isf(4, 1.5)) and math.isnan(chi2_isf(0, 0.5))
    assert chi2_sf(1, 1e6) == 0.0  # below the smallest double, as scipy


@settings(max_examples=300, deadline=None)
@given(dof=st.integers(1, 10**6), k=st.floats(-30, 60))
def test_cdf_and_sf_match_scipy_anywhere(dof, k):
    x = dof + k * math.sqrt(2 * dof)
    if x <= 0:
        x = dof * 1e-3
    p, q = chi2_cdf(dof, x), chi2_sf(dof, x)
    assert abs(p + q - 1) <= 4e-16
    if not _scipy_is_off(dof, x):
        assert _close(p, float(sp.chdtr(dof, x))), (dof, x)
    assert _close(q, float(sp.chdtrc(dof, x))), (dof, x)


@settings(max_examples=200, deadline=None)
@given(dof=st.integers(1, 10**6), y=st.floats(1e-250, 1 - 1e-12))
def test_isf_inverts_sf(dof, y):
    x = chi2_isf(dof, y)
    assert _close(x, float(sp.chdtri(dof, y))), (dof, y)
    # sf(isf(y)) = y up to the condition of the problem at x (density x / tail)
    assert chi2_sf(dof, x) == pytest.approx(y, rel=1e-9 * max(1.0, x / dof))


@settings(max_examples=200, deadline=None)
@given(dof=st.integers(1, 10**5), x=st.floats(1e-6, 1e6), dx=st.floats(1e-6, 10.0))
def test_cdf_is_monotone(dof, x, dx):
    assert chi2_cdf(dof, x) <= chi2_cdf(dof, x + dx)
    assert chi2_sf(dof, x) >= chi2_sf(dof, x + dx)
