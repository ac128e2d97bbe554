"""The shared truncation and soft-clip formulas on the NumPy namespace, against mpmath."""

import warnings

import mpmath as mp
import numpy as np
import pytest

from ppl_reparam.math import special, truncated
from tests import truncated_reference as ref
from tests.backends import numpy_xp as xp

INF = float("inf")


@pytest.fixture(autouse=True)
def _quiet():
    # where() evaluates both branches; the discarded one may divide by zero.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_log_ndtr_is_accurate_in_both_tails():
    xs = np.array([-45.0, -38.0, -20.5, -8.0, -1.5, -1.0, -0.2, 0.0, 1.0, 5.0, 9.0])
    got = special.log_ndtr(xp, xs)
    with mp.workdps(40):
        want = np.array([float(mp.log(mp.ncdf(x))) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_ndtr_inverse_roundtrips_down_to_the_smallest_log_probability(dtype):
    log_p = np.array([-1e5, -2000.0, -708.0, -100.0, -88.0, -3.0, -0.7, -1e-3, -1e-15], dtype)
    x = special.log_ndtr_inverse(xp, log_p)
    assert x.dtype == np.dtype(dtype)
    with mp.workdps(40):
        back = np.array([float(mp.log(mp.ncdf(float(v)))) for v in x])
    rtol = 1e-13 if dtype == "float64" else 2e-6
    # The quantile of log p is exact to the precision log p itself carries.
    np.testing.assert_allclose(back, log_p.astype(float), rtol=rtol)


def test_tanh_sinh_rule_integrates_the_uniform_exactly():
    assert abs(sum(truncated._TS_WEIGHTS) - 1.0) < 1e-13


@pytest.mark.parametrize("family", ["Logistic", "Gumbel"])
def test_quadrature_moments_match_mpmath(family):
    fam = truncated.FAMILIES[family]
    intervals = [(-1.0, 2.0), (0.0, INF), (-INF, -2.0), (12.0, 13.0)]
    a = np.array([i[0] for i in intervals])
    b = np.array([i[1] for i in intervals])
    mean, var, ent = truncated.standard_moments(xp, fam, a, b)
    want = np.array([ref.moments(family, lo, hi) for lo, hi in intervals])
    np.testing.assert_allclose(mean, want[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, want[:, 1], rtol=1e-10)
    np.testing.assert_allclose(ent, want[:, 2], rtol=1e-9, atol=1e-10)


def test_partials_are_implicit_derivatives_of_the_cdf_equation():
    """dx/dlow and dx/dhigh against a finite difference of the formula's own draw."""
    u, loc, scale, low, high = 0.37, 0.2, 1.3, 1.0, 4.0
    x = truncated.sample(xp, truncated.NORMAL, u, loc, scale, low, high)
    _, d_loc, d_scale, d_low, d_high = truncated.sample_partials(
        xp, truncated.NORMAL, u, x, loc, scale, low, high
    )
    h = 1e-6

    def fd(i):
        args = [loc, scale, low, high]
        up, down = list(args), list(args)
        up[i] += h
        down[i] -= h
        draw = truncated.sample
        return (draw(xp, truncated.NORMAL, u, *up) - draw(xp, truncated.NORMAL, u, *down)) / (2 * h)

    np.testing.assert_allclose(
        [d_loc, d_scale, d_low, d_high], [fd(i) for i in range(4)], rtol=1e-7
    )
