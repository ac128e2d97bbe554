"""Relaxed categorical and Bernoulli densities in both backends against closed forms:
Maddison et al.'s ExpConcrete and Concrete densities (mpmath), the logistic density for
two categories, and numerical integration for three."""

import functools

import numpy as np
import pytest
import scipy.special as sps

from tests import relaxed_reference as ref
from tests.relaxed_reference import BINARY, TEMPERATURES, draw_with_log_prob, grid_logits


def _log_simplex_points(k: int, tau: float, dtype: str, seed: int) -> tuple:
    """Logits and log-space points: typical draws at ``tau`` and spread-out points."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal(k)
    draws = sps.log_softmax((logits + rng.gumbel(size=(3, k))) / tau, axis=-1)
    spread = sps.log_softmax(3.0 * rng.standard_normal((3, k)), axis=-1)
    # The references see exactly the inputs the dtype represents.
    cast = lambda a: np.asarray(a, dtype=dtype).astype(float)  # noqa: E731
    return cast(logits), cast(np.concatenate([draws, spread])), float(np.asarray(tau, dtype))


@functools.cache
def _closed_forms(k: int, tau: float, dtype: str, seed: int) -> tuple:
    """The points and their mpmath log densities, computed once for both backends."""
    logits, y, tau_d = _log_simplex_points(k, tau, dtype, seed)
    x = np.asarray(np.exp(y[3:]), dtype=dtype)  # the spread points: no component underflows
    log_x = np.log(x.astype(float))
    exp_concrete = [ref.exp_concrete_log_pdf(row, logits, tau_d) for row in y]
    concrete = [ref.concrete_log_pdf(row, logits, tau_d) for row in log_x]
    return logits, y, tau_d, x, log_x, exp_concrete, concrete


@pytest.mark.parametrize("k", [3, 10, 1000])
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_exp_log_prob_matches_closed_form(backend, dtype, tau, k):
    logits, y, tau_d, _, _, expected, _ = _closed_forms(k, tau, dtype, seed=k)
    d = backend.dist.ExpRelaxedOneHotCategorical(
        backend.array(tau, dtype), logits=backend.array(logits, dtype)
    )
    actual = backend.numpy(d.log_prob(backend.array(y, dtype)))
    # Rounding error is eps times the size of the terms summed (K times the largest).
    terms = np.abs(logits - tau_d * y)
    scale = 1.0 + terms.sum(-1) + k * terms.max(-1)
    assert np.max(np.abs(actual - expected) / scale) < 4 * np.finfo(dtype).eps


@pytest.mark.parametrize("k", [3, 10, 1000])
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_simplex_log_prob_of_a_given_point_matches_closed_form(backend, dtype, tau, k):
    logits, _, tau_d, x, log_x, _, expected = _closed_forms(k, tau, dtype, seed=k)
    d = backend.dist.RelaxedOneHotCategorical(
        backend.array(tau, dtype), logits=backend.array(logits, dtype)
    )
    actual = backend.numpy(d.log_prob(backend.array(x, dtype)))
    terms = np.abs(logits - tau_d * log_x) + np.abs(log_x)
    scale = 1.0 + terms.sum(-1) + k * terms.max(-1)
    assert np.max(np.abs(actual - expected) / scale) < 4 * np.finfo(dtype).eps


@pytest.mark.parametrize(
    "name", ["RelaxedOneHotCategorical", "RelaxedOneHotCategoricalStraightThrough"]
)
def test_log_prob_of_own_draw_is_exact_where_float32_underflows(backend, dtype, name):
    k, tau, seed = 1000, 0.01, 5
    logits = grid_logits(k)[1]
    args = (backend.array(tau, dtype),)
    d = getattr(backend.dist, name)(*args, logits=backend.array(logits, dtype))
    d_exp = backend.dist.ExpRelaxedOneHotCategorical(*args, logits=backend.array(logits, dtype))
    x, log_prob = draw_with_log_prob(backend, d, (3,), seed=seed)
    y = backend.numpy(backend.sample(d_exp, (3,), seed=seed))  # the same noise
    if name == "RelaxedOneHotCategorical":
        np.testing.assert_allclose(
            backend.numpy(x), np.exp(y), rtol=2 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny
        )
        assert dtype == "float64" or np.any(backend.numpy(x) == 0), "nothing underflowed"
    actual = backend.numpy(log_prob)
    tau_d, logits_d = float(np.asarray(tau, dtype)), np.asarray(logits, dtype).astype(float)
    expected = [ref.concrete_log_pdf(row, logits_d, tau_d) for row in y.astype(float)]
    np.testing.assert_allclose(actual, expected, rtol=1e-4 if dtype == "float32" else 1e-11)


@pytest.mark.parametrize("tau", TEMPERATURES)
def test_two_categories_and_relaxed_bernoulli_match_the_logistic_density(backend, dtype, tau):
    logit_pair = np.array([0.7, -0.4])
    x1 = np.asarray([1e-3, 0.1, 0.5, 0.8, 0.999], dtype=dtype)
    x = np.stack([x1, np.asarray(1 - x1, dtype=dtype)], -1)  # 1 - x1 is exact here
    tau_d = float(np.asarray(tau, dtype))
    ell = np.asarray(logit_pair, dtype).astype(float)
    expected = ref.binary_concrete_log_pdf(x1.astype(float), ell[0] - ell[1], tau_d)
    rtol = 1e-5 if dtype == "float32" else 1e-11
    t = backend.array(tau, dtype)
    cat = backend.dist.RelaxedOneHotCategorical(t, logits=backend.array(logit_pair, dtype))
    np.testing.assert_allclose(
        backend.numpy(cat.log_prob(backend.array(x, dtype))), expected, rtol=rtol
    )
    delta = np.asarray(logit_pair[0] - logit_pair[1], dtype=dtype)
    for name in BINARY:
        d = getattr(backend.dist, name)(t, logits=backend.array(delta, dtype))
        expected = ref.binary_concrete_log_pdf(x1.astype(float), float(delta), tau_d)
        np.testing.assert_allclose(
            backend.numpy(d.log_prob(backend.array(x1, dtype))), expected, rtol=rtol
        )


@pytest.mark.parametrize("tau", [2.0, 1.0, 0.5])
def test_three_category_density_integrates_to_one(backend, dtype, tau):
    # In coordinates x = softmax(s, t, 0) the density is p(x) x1 x2 x3, smooth and
    # decaying like exp(-tau |s|): the trapezoid rule on a wide grid is exact to 1e-10.
    grid, step = np.linspace(-30 / tau, 30 / tau, 601, retstep=True)
    s, t = np.meshgrid(grid, grid, indexing="ij")
    log_x = sps.log_softmax(np.stack([s, t, np.zeros_like(s)], -1).reshape(-1, 3), axis=-1)
    logits = backend.array([0.3, -0.5, 1.0], dtype)
    d = backend.dist.RelaxedOneHotCategorical(backend.array(tau, dtype), logits=logits)
    d_exp = backend.dist.ExpRelaxedOneHotCategorical(backend.array(tau, dtype), logits=logits)
    x = np.asarray(np.exp(log_x), dtype=dtype)
    on_simplex = backend.numpy(d.log_prob(backend.array(x, dtype))).astype(float)
    in_log_space = backend.numpy(d_exp.log_prob(backend.array(log_x, dtype))).astype(float)
    tol = 1e-5 if dtype == "float32" else 1e-9
    for log_density in [on_simplex + log_x.sum(-1), in_log_space]:
        assert abs(np.exp(log_density).sum() * step**2 - 1) < tol
