"""Relaxed categorical and Bernoulli families in both backends: sampling laws, pathwise
and straight-through gradients at fixed noise, shapes and argument checks. The grid of
temperatures and categories is in ``test_relaxed_grid.py``, densities in
``test_relaxed_density.py``."""

import numpy as np
import pytest
import scipy.special
import scipy.stats

from tests.relaxed_reference import BINARY, CATEGORICAL, TEMPERATURES, grid_logits, weights


@pytest.mark.parametrize("tau", [1.0, 0.01])
@pytest.mark.parametrize(
    "name", ["RelaxedOneHotCategorical", "RelaxedOneHotCategoricalStraightThrough"]
)
def test_argmax_of_draws_follows_the_categorical(backend, dtype, name, tau):
    probs = np.array([0.05, 0.15, 0.3, 0.5])
    n = 20000
    d = getattr(backend.dist, name)(backend.array(tau, dtype), probs=backend.array(probs, dtype))
    counts = np.bincount(backend.numpy(backend.sample(d, (n,), seed=3)).argmax(-1), minlength=4)
    assert scipy.stats.chisquare(counts, n * probs).pvalue > 1e-3


@pytest.mark.parametrize("tau", [1.0, 0.01])
def test_relaxed_bernoulli_exceeds_one_half_with_probability_probs(backend, dtype, tau):
    p, n = 0.3, 20000
    for name in BINARY:
        d = getattr(backend.dist, name)(backend.array(tau, dtype), probs=backend.array(p, dtype))
        hits = int((backend.numpy(backend.sample(d, (n,), seed=4)) > 0.5).sum())
        assert scipy.stats.binomtest(hits, n, p).pvalue > 1e-3


def test_draws_approach_one_hot_as_temperature_falls(backend, dtype):
    logits = backend.array(grid_logits(10)[1], dtype)
    gaps = []
    for tau in TEMPERATURES:
        d = backend.dist.RelaxedOneHotCategorical(backend.array(tau, dtype), logits=logits)
        x = backend.numpy(backend.sample(d, (4000,), seed=6)).astype(float)
        gaps.append(np.mean(1 - x.max(-1)))
    assert np.all(np.diff(gaps) < 0), gaps
    assert gaps[-1] < 0.02 and gaps[0] > 0.1, gaps


@pytest.mark.parametrize(
    ("name", "tau"),
    [
        ("ExpRelaxedOneHotCategorical", 1.0),
        ("ExpRelaxedOneHotCategorical", 0.1),
        ("ExpRelaxedOneHotCategorical", 0.01),
        ("RelaxedOneHotCategorical", 1.0),
        ("RelaxedOneHotCategorical", 0.1),
        ("RelaxedBernoulli", 1.0),
        ("RelaxedBernoulli", 0.1),
    ],
)
def test_pathwise_gradient_matches_finite_differences_at_fixed_noise(backend, name, tau):
    cls = getattr(backend.dist, name)
    k = 4
    logits0 = np.array([0.3, -1.2, 0.8, 0.1])
    w = backend.array(weights((3, k)))

    def f(logits, temperature):
        return (backend.sample(cls(temperature, logits=logits), (3,), seed=8) * w).sum()

    g_logits, g_tau = backend.grad(f, backend.array(logits0), backend.array(tau))
    h = 1e-6

    def at(logits, temperature):
        return float(backend.numpy(f(backend.array(logits), backend.array(temperature))))

    fd = [(at(logits0 + h * e, tau) - at(logits0 - h * e, tau)) / (2 * h) for e in np.eye(k)]
    fd_tau = (at(logits0, tau * (1 + h)) - at(logits0, tau * (1 - h))) / (2 * h * tau)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(backend.numpy(g_logits), fd, rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose(backend.numpy(g_tau), fd_tau, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize(
    ("relaxed", "straight_through", "hard"),
    [
        ("RelaxedOneHotCategorical", "RelaxedOneHotCategoricalStraightThrough", "one_hot"),
        ("RelaxedBernoulli", "RelaxedBernoulliStraightThrough", "round"),
    ],
)
def test_straight_through_is_hard_forward_and_relaxed_backward(
    backend, dtype, relaxed, straight_through, hard
):
    tau = 0.1
    logits0 = backend.array([0.3, -1.2, 0.8, 0.1], dtype)
    w = backend.array(weights((5, 4)), dtype)

    def draw(name, logits):
        return backend.sample(getattr(backend.dist, name)(tau, logits=logits), (5,), seed=9)

    soft = backend.numpy(draw(relaxed, logits0))
    value = backend.numpy(draw(straight_through, logits0))
    if hard == "one_hot":
        expected = np.eye(4, dtype=dtype)[soft.argmax(-1)]
    else:
        expected = (soft > 0.5).astype(dtype)
    np.testing.assert_array_equal(value, expected)
    assert value.dtype == np.dtype(dtype)

    (g_soft,) = backend.grad(lambda lg: (draw(relaxed, lg) * w).sum(), logits0)
    (g_st,) = backend.grad(lambda lg: (draw(straight_through, lg) * w).sum(), logits0)
    np.testing.assert_allclose(backend.numpy(g_st), backend.numpy(g_soft), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", CATEGORICAL + BINARY)
def test_shapes_broadcast_and_expand(backend, name):
    cls = getattr(backend.dist, name)
    event = (6,) if name in CATEGORICAL else ()
    probs = backend.array(np.full((4,) + event, 1 / 6 if event else 0.25))
    d = cls(backend.array([[0.5], [1.0], [2.0]]), probs=probs)
    assert tuple(d.batch_shape) == (3, 4) and tuple(d.event_shape) == event
    expected_logits = np.log(1 / 6) if event else np.log(1 / 3)
    np.testing.assert_allclose(backend.numpy(d.logits), np.full((3, 4) + event, expected_logits))
    e = d.expand((2, 3, 4))
    assert type(e) is cls and tuple(e.batch_shape) == (2, 3, 4)
    x = backend.sample(e, (5,))
    assert tuple(x.shape) == (5, 2, 3, 4) + event
    assert tuple(e.log_prob(x).shape) == (5, 2, 3, 4)
    with pytest.raises(ValueError, match="temperature has shape"):
        cls(backend.array([1.0, 2.0]), logits=backend.array(np.zeros((3,) + event)))
    if event:
        with pytest.raises(ValueError, match="last axis of categories"):
            cls(1.0, logits=backend.array(0.0))


@pytest.mark.parametrize("name", CATEGORICAL + BINARY)
def test_exactly_one_of_probs_and_logits_and_validated_parameters(backend, name):
    cls = getattr(backend.dist, name)
    p = backend.array([0.25, 0.75])
    with pytest.raises(ValueError, match="exactly one of `probs` or `logits` \\(got both\\)"):
        cls(1.0, probs=p, logits=p)
    with pytest.raises(ValueError, match="exactly one of `probs` or `logits` \\(got neither\\)"):
        cls(1.0)
    with pytest.raises(ValueError, match="temperature"):
        cls(backend.array(-1.0), probs=p, validate_args=True)
    bad = backend.array([0.5, 1.5]) if name in BINARY else backend.array([0.5, 0.7])
    with pytest.raises(ValueError, match="probs"):
        cls(1.0, probs=bad, validate_args=True)


@pytest.mark.parametrize("tau", [1.0, 0.05])
def test_logit_relaxed_bernoulli_is_the_logistic_of_the_binary_concrete(backend, dtype, tau):
    logits = np.array([-3.0, 0.0, 0.4, 25.0])
    d = backend.dist.LogitRelaxedBernoulli(
        backend.array(tau, dtype), logits=backend.array(logits, dtype)
    )
    z = backend.sample(d, (20000,), seed=11)
    z_np = backend.numpy(z).astype(float)
    assert np.all(np.isfinite(z_np))
    # sigmoid(z) > 1/2 exactly when the Bernoulli(sigmoid(logits)) draw is 1
    hits = (z_np[:, 2] > 0).sum()
    assert scipy.stats.binomtest(int(hits), 20000, 1 / (1 + np.exp(-0.4))).pvalue > 1e-3
    rtol = 1e-5 if dtype == "float32" else 1e-12
    expected = scipy.stats.logistic.logpdf(z_np, loc=logits / tau, scale=1 / tau)
    np.testing.assert_allclose(backend.numpy(d.log_prob(z)), expected, rtol=rtol, atol=rtol)


def test_categorical_density_scores_with_the_linearly_extended_mass(backend, dtype):
    rtol = 1e-5 if dtype == "float32" else 1e-12
    logits = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, -30.0]])
    cat = backend.dist.ExpRelaxedOneHotCategorical(
        backend.array(0.3, dtype), logits=backend.array(logits, dtype), density="categorical"
    )
    y = backend.sample(cat, (500,), seed=12)
    x = np.exp(backend.numpy(y).astype(float))
    expected = np.sum(x * scipy.special.log_softmax(logits, -1), -1)
    np.testing.assert_allclose(backend.numpy(cat.log_prob(y)), expected, rtol=rtol, atol=rtol)
    bern = backend.dist.LogitRelaxedBernoulli(
        backend.array(0.3, dtype), probs=backend.array([0.2, 0.9], dtype), density="categorical"
    )
    z = backend.sample(bern, (500,), seed=13)
    b = scipy.special.expit(backend.numpy(z).astype(float))
    expected = b * np.log([0.2, 0.9]) + (1 - b) * np.log([0.8, 0.1])
    np.testing.assert_allclose(backend.numpy(bern.log_prob(z)), expected, rtol=rtol, atol=rtol)
    # the density survives expand (what a plate does to a site's distribution)
    for d in (cat, bern):
        assert d.expand((4,) + tuple(d.batch_shape)).density == "categorical"


@pytest.mark.parametrize("name", ["ExpRelaxedOneHotCategorical", "LogitRelaxedBernoulli"])
def test_unknown_density_is_a_clear_error(backend, name):
    with pytest.raises(ValueError, match=r"`density` must be one of 'concrete', 'categorical'"):
        getattr(backend.dist, name)(0.5, logits=backend.array([0.1, 0.2]), density="concret")
