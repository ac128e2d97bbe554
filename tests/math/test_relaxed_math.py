"""The shared relaxed formulas on NumPy: the binary and the two-category densities agree
in log space far beyond where the simplex point rounds, and the guarded logs are finite
at the boundary."""

import mpmath
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats

from ppl_reparam.math import relaxed as _r
from tests.backends import numpy_xp as xp


@pytest.mark.parametrize("tau", [1.0, 0.5, 0.1, 0.05, 0.01])
def test_binary_density_is_the_two_category_density_in_log_space(tau):
    # z up to 1e4: x = sigmoid(z) is exactly 0 or 1 in float64, log space is not.
    z = np.array([-1e4, -300.0, -20.0, -1.0, 0.0, 0.3, 5.0, 40.0, 700.0, 1e4])
    logit = 0.8
    log_x = np.stack([-np.logaddexp(0, -z), -np.logaddexp(0, z)], -1)  # log sigmoid(+-z)
    two = _r.log_prob(xp, log_x, np.array([logit, 0.0]), np.array([tau]))
    binary = _r.binary_log_prob(xp, z, logit, tau)
    np.testing.assert_allclose(binary, two, rtol=1e-12, atol=1e-9)
    # and the logit itself is Logistic(logit / tau, 1 / tau)
    expected = scipy.stats.logistic.logpdf(z, loc=logit / tau, scale=1 / tau)
    np.testing.assert_allclose(_r.logit_log_prob(xp, z, logit, tau), expected, rtol=1e-12)


def test_guarded_logs_are_finite_at_the_boundary():
    x = np.array([0.0, 1e-320, 0.5, 1.0])
    assert np.all(np.isfinite(_r.safe_log(xp, x)))
    assert np.all(np.isfinite(_r.safe_logit(xp, x)))
    np.testing.assert_allclose(_r.safe_logit(xp, np.array([0.25, 0.5])), [np.log(1 / 3), 0.0])


def test_noise_transforms_are_finite_over_the_whole_uniform_range():
    for dtype in [np.float32, np.float64]:
        info = np.finfo(dtype)
        u = np.array([info.tiny, 1e-30, 0.5, 1 - info.eps], dtype=dtype)
        assert np.all(np.isfinite(_r.gumbel(xp, u))) and np.all(np.isfinite(_r.logistic(xp, u)))


def test_categorical_mass_is_the_log_mass_at_vertices_and_linear_between():
    logits = np.array([0.3, -2.0, 5.0, 1.0])
    log_pi = sps.log_softmax(logits)
    with np.errstate(divide="ignore"):
        vertices = np.log(np.eye(4))  # log of one-hot vectors: 0 and -inf
    np.testing.assert_allclose(_r.categorical_mass(xp, vertices, logits), log_pi, rtol=1e-14)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(
        _r.categorical_mass(xp, np.log(x), logits), np.dot(x, log_pi), rtol=1e-14
    )


@pytest.mark.parametrize("logit", [-1e3, -30.0, 0.0, 0.7, 30.0, 1e3])
def test_binary_mass_matches_mpmath_and_is_finite_for_huge_logits(logit):
    z = np.array([-1e4, -20.0, -1.0, 0.0, 0.3, 5.0, 1e4])
    binary = _r.binary_mass(xp, z, logit)
    assert np.all(np.isfinite(binary))
    with mpmath.workdps(50):
        l = mpmath.mpf(logit)
        log_p, log_1mp = -mpmath.log1p(mpmath.exp(-l)), -mpmath.log1p(mpmath.exp(l))
        for zi, got in zip(z, binary, strict=True):
            x = 1 / (1 + mpmath.exp(-mpmath.mpf(zi)))
            assert got == pytest.approx(float(x * log_p + (1 - x) * log_1mp), rel=1e-13)


def test_exp_concrete_kl_ignores_temperature_but_the_categorical_mass_kl_tends_to_the_discrete():
    # Why relax(density="categorical") exists. For one noise draw g, the ExpConcrete
    # log-ratio log q(y) - log p(y) at y = log_softmax((a + g) / tau) does not depend on
    # tau at all, so the relaxed KL never approaches the categorical KL; the categorical
    # mass, extended linearly to the relaxed point, does approach it as tau -> 0.
    a = np.log(np.array([0.7, 0.2, 0.1]))
    b = np.log(np.array([0.25, 0.25, 0.5]))
    discrete_kl = float(np.sum(np.exp(a) * (a - b)))  # 0.515
    g = -np.log(-np.log(np.random.default_rng(0).uniform(size=(200_000, 3))))
    ratios = {}
    for tau in [1.0, 0.1, 0.01, 0.001]:
        y = _r.log_sample(xp, g, a, np.array([tau]))
        t = np.array([tau])
        ratios[tau] = _r.exp_log_prob(xp, y, a, t) - _r.exp_log_prob(xp, y, b, t)
    for tau in [0.1, 0.01, 0.001]:
        np.testing.assert_allclose(ratios[tau], ratios[1.0], rtol=1e-9, atol=1e-9)
    concrete_kl = ratios[1.0].mean()
    assert abs(concrete_kl - 1.2238) < 0.01  # more than twice the categorical KL
    # the categorical-mass log-ratio at tau = 0.001 is that of the Gumbel-max category
    y = _r.log_sample(xp, g, a, np.array([1e-3]))
    mass_ratio = _r.categorical_mass(xp, y, a) - _r.categorical_mass(xp, y, b)
    at_argmax = (a - b)[np.argmax(a + g, -1)]
    assert np.mean(np.abs(mass_ratio - at_argmax)) < 1e-3
    se = at_argmax.std() / np.sqrt(len(g))
    assert abs(at_argmax.mean() - discrete_kl) < 4 * se


def test_simplex_point_is_exp_of_the_log_value_summing_to_one_within_three_ulp():
    # log-space draws computed in float32, K = 1000: exp alone sums to 1 within 4.3 ulp
    rng = np.random.default_rng(16)
    logits = 2.0 * rng.standard_normal(1000).astype(np.float32)
    g = rng.gumbel(size=(2000, 1000)).astype(np.float32)
    y = sps.log_softmax((logits + g) / np.float32(0.8), axis=-1)
    x = _r.simplex_point(xp, y)
    eps = np.finfo(np.float32).eps
    assert y.dtype == x.dtype == np.float32
    assert np.abs(x.astype(float).sum(-1) - 1).max() <= 3 * eps
    np.testing.assert_allclose(x, np.exp(y.astype(float)), rtol=8 * eps, atol=0)


def test_probs_to_logits_is_the_logit():
    p = np.array([1e-300, 1e-8, 0.3, 0.5, 1 - 1e-8])
    np.testing.assert_allclose(_r.probs_to_logits(xp, p), sps.logit(p), rtol=1e-8)
