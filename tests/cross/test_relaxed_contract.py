"""The relaxed families honour their host backend's conventions, in both backends: draws
on the simplex within the backends' own tolerance under validation, the log-space value
of a draw travelling with the draw (Pyro: an attribute of the tensor; NumPyro: its
intermediates) rather than remembered by the distribution, parameters validated as
upstream distributions validate theirs, ``infer_shapes`` and ``expand`` errors."""

import numpy as np
import pytest
import scipy.stats

from tests.relaxed_reference import BINARY, CATEGORICAL, draw_with_log_prob

# The families whose values are not in log space: each draw carries its log-space value.
CARRYING = ["RelaxedOneHotCategorical", "RelaxedOneHotCategoricalStraightThrough"] + BINARY


def _score_with(backend, d, value, drawn_by, seed):
    """``d.log_prob(value)`` given what a draw of ``drawn_by`` with this ``seed`` carries:
    Pyro reads it from the tensor, NumPyro takes the intermediates."""
    if backend.name == "pyro":
        return d.log_prob(value)
    import jax

    _, intermediates = drawn_by.sample_with_intermediates(jax.random.PRNGKey(seed), value.shape[:1])
    return d.log_prob(value, intermediates)


def _logits(backend, name, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return backend.array(2.0 * rng.standard_normal(k if name in CATEGORICAL else ()), dtype)


@pytest.mark.parametrize("k", [2, 10, 100, 1000])
@pytest.mark.parametrize("tau", [0.1, 0.5, 0.8, 2.0])
def test_draws_sum_to_one_within_a_few_ulp_under_validation(backend, tau, k):
    # float32, logits 2 N(0, 1): exp of a log-space draw, unnormalised, sums to 1 only
    # within ~7 ulp at K = 1000, close to the backends' simplex tolerance (1e-6, ~8 ulp).
    dtype, eps = "float32", float(np.finfo(np.float32).eps)
    logits = _logits(backend, "RelaxedOneHotCategorical", k, dtype, seed=k)
    d = backend.dist.RelaxedOneHotCategorical(
        backend.array(tau, dtype), logits=logits, validate_args=True
    )
    x, log_prob = draw_with_log_prob(backend, d, (2000,), seed=16)  # raises if off-simplex
    assert backend.numpy(d.support.check(x)).all()
    total = backend.numpy(x.sum(-1)).astype(float)
    assert np.abs(total - 1).max() <= 4 * eps
    assert np.isfinite(backend.numpy(log_prob)).all()


@pytest.mark.parametrize("name", ["RelaxedBernoulli", "RelaxedBernoulliStraightThrough"])
def test_log_prob_of_own_binary_draw_is_the_density_of_its_logit(backend, name):
    # At temperature 0.01 float32 draws round to exactly 0 and 1; their logits do not.
    dtype, tau = "float32", 0.01
    logits = np.array([-3.0, 0.0, 0.4, 3.0], dtype=dtype)
    t, ell = backend.array(tau, dtype), backend.array(logits, dtype)
    x, log_prob = draw_with_log_prob(backend, getattr(backend.dist, name)(t, logits=ell), (200,), 5)
    z = backend.numpy(backend.sample(backend.dist.LogitRelaxedBernoulli(t, logits=ell), (200,), 5))
    x, z = backend.numpy(x), z.astype(float)  # the same noise
    assert np.any(x == 0) and np.any(x == 1)
    tau_d = float(np.float32(tau))
    # Logistic(logits / tau, 1 / tau) for z, and -log x - log(1 - x) in log space
    expected = scipy.stats.logistic.logpdf(z, loc=logits / tau_d, scale=1 / tau_d)
    expected += np.logaddexp(0.0, z) + np.logaddexp(0.0, -z)
    np.testing.assert_allclose(backend.numpy(log_prob), expected, rtol=1e-5)


@pytest.mark.parametrize("name", CARRYING)
def test_drawing_leaves_the_distribution_unchanged(backend, name):
    d = getattr(backend.dist, name)(backend.array(0.5), logits=_logits(backend, name, 4, "float64"))
    before = dict(vars(d))
    draw_with_log_prob(backend, d, (3,), seed=1)
    after = vars(d)
    assert after.keys() == before.keys()
    assert all(after[key] is value for key, value in before.items())


@pytest.mark.parametrize("name", CARRYING)
def test_a_draw_is_scored_exactly_by_any_equal_distribution(backend, dtype, name):
    # No identity: a separately built copy scores the draw from what the draw carries,
    # even where float32 components underflowed; a bare copy of the values does not.
    cls, k, tau = getattr(backend.dist, name), 1000, 0.01
    logits = _logits(backend, name, k, dtype, seed=2)
    d = cls(backend.array(tau, dtype), logits=logits)
    x, own = draw_with_log_prob(backend, d, (3,), seed=4)
    copy = cls(backend.array(tau, dtype), logits=logits)
    again = _score_with(backend, copy, x, drawn_by=d, seed=4)
    np.testing.assert_array_equal(backend.numpy(again), backend.numpy(own))
    bare = copy.log_prob(backend.array(np.array(backend.numpy(x)), dtype))
    assert np.isfinite(backend.numpy(bare)).all()


@pytest.mark.parametrize("name", ["RelaxedOneHotCategorical", "RelaxedBernoulli"])
def test_carried_and_recomputed_log_values_agree_where_nothing_rounds(backend, name):
    d = getattr(backend.dist, name)(backend.array(1.0), logits=_logits(backend, name, 5, "float64"))
    x, own = draw_with_log_prob(backend, d, (50,), seed=6)
    bare = d.log_prob(backend.array(np.array(backend.numpy(x))))
    np.testing.assert_allclose(backend.numpy(bare), backend.numpy(own), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CATEGORICAL + BINARY + ["LogitRelaxedBernoulli"])
def test_extreme_but_valid_parameters_pass_validation(backend, name):
    categorical = name in CATEGORICAL
    cls = getattr(backend.dist, name)
    probs = np.array([1e-30, 0.5, 0.5 - 1e-30]) if categorical else np.array([1e-30, 1 - 1e-15])
    logits = np.array([-300.0, 0.0, 300.0]) if categorical else np.array([-300.0, 300.0])
    for tau in [1e-3, 1e3]:
        cls(backend.array(tau), probs=backend.array(probs), validate_args=True)
        cls(backend.array(tau), logits=backend.array(logits), validate_args=True)


@pytest.mark.parametrize("name", CATEGORICAL + BINARY + ["LogitRelaxedBernoulli"])
def test_infer_shapes_agrees_with_an_instance(backend, name):
    cls = getattr(backend.dist, name)
    event = (6,) if name in CATEGORICAL else ()
    for temperature_shape, given_shape, key in [
        ((3, 1), (4,) + event, "logits"),
        ((), (2, 5) + event, "probs"),
        ((7,), event, "logits"),
    ]:
        value = np.full(given_shape, 1 / 6 if event else 0.25)
        d = cls(backend.array(np.ones(temperature_shape)), **{key: backend.array(value)})
        shapes = cls.infer_shapes(temperature=temperature_shape, **{key: given_shape})
        assert tuple(map(tuple, shapes)) == (tuple(d.batch_shape), tuple(d.event_shape))
    with pytest.raises(ValueError, match="temperature has shape"):
        cls.infer_shapes(temperature=(2,), logits=(3,) + event)
    with pytest.raises(ValueError, match="exactly one of `probs` or `logits`"):
        cls.infer_shapes(temperature=())


@pytest.mark.parametrize("name", CATEGORICAL + BINARY + ["LogitRelaxedBernoulli"])
def test_expand_to_an_impossible_shape_fails_as_the_backend_relaxed_families_do(backend, name):
    categorical = name in CATEGORICAL
    t, logits = backend.array(1.0), backend.array(np.zeros((4, 5) if categorical else (4,)))
    if categorical and backend.name == "pyro":
        theirs = backend.upstream.RelaxedOneHotCategorical(t, logits=logits)
    else:  # NumPyro has no relaxed categorical: its relaxed Bernoulli of the batch shape
        theirs = backend.upstream.RelaxedBernoulli(
            t, logits=logits[..., 0] if categorical else logits
        )
    with pytest.raises(Exception) as expected:
        theirs.expand((3,))
    with pytest.raises(type(expected.value)) as actual:
        getattr(backend.dist, name)(t, logits=logits).expand((3,))
    assert str(actual.value) == str(expected.value)
