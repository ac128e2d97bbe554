"""NumPyro conventions for the truncated families: jit, vmap, pytrees, handlers."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as upstream
import pytest
from numpyro.infer import Trace_ELBO

from ppl_reparam.numpyro.distributions import (
    SoftTruncated,
    Truncated,
    TruncatedLogistic,
    TruncatedNormal,
)


def test_sample_log_prob_and_gradient_under_jit_and_vmap():
    key = jax.random.PRNGKey(0)

    def objective(loc):
        d = TruncatedNormal(loc, 1.0, 20.0, 21.0)
        x = d.rsample(key, (100,))
        return (x + d.log_prob(x)).mean()

    jitted = jax.jit(jax.grad(objective))(0.5)
    batched = jax.jit(jax.vmap(jax.grad(objective)))(jnp.array([0.0, 0.5, 1.0]))
    assert np.isfinite(jitted)
    np.testing.assert_allclose(batched[1], jitted, rtol=1e-12)


def test_distributions_are_pytrees():
    for d in [
        TruncatedNormal(jnp.zeros(3), 1.0, 0.0, None),
        Truncated(upstream.HalfNormal(jnp.ones(2)), low=0.5, high=2.0),
        SoftTruncated(upstream.Normal(0.0, 1.0), 0.0, 1.0, 0.1),
    ]:
        leaves, tree = jax.tree_util.tree_flatten(d)
        rebuilt = jax.tree_util.tree_unflatten(tree, leaves)
        assert type(rebuilt) is type(d) and rebuilt.batch_shape == d.batch_shape
        x = jax.jit(lambda d: d.sample(jax.random.PRNGKey(1), (4,)))(d)
        assert x.shape == (4, *d.batch_shape) and bool(jnp.all(d.support(x)))


def test_svi_loss_uses_the_pathwise_gradient():
    def model():
        numpyro.sample("x", TruncatedNormal(0.0, 1.0, 3.0, None))

    def guide():
        loc = numpyro.param("loc", 3.5)
        numpyro.sample("x", TruncatedNormal(loc, 0.5, 3.0, None))

    loss = Trace_ELBO(num_particles=4)
    params = {"loc": jnp.asarray(3.5)}

    def value(p):
        return loss.loss(jax.random.PRNGKey(0), p, model, guide)

    loss_value, g = jax.jit(jax.value_and_grad(value))(params)
    assert jnp.isfinite(loss_value) and jnp.isfinite(g["loc"])


@pytest.mark.parametrize("cls", [TruncatedNormal, TruncatedLogistic])
def test_out_of_support_value_under_jit_warns_as_numpyro_does(cls):
    value = np.array([2.0, 0.5])  # a NumPy value; 2.0 is outside [0, 1]

    def built_inside():
        return cls(0.0, 1.0, 0.0, 1.0, validate_args=True).log_prob(value)

    d = cls(0.0, 1.0, 0.0, 1.0, validate_args=True)
    for f in (built_inside, lambda: d.log_prob(value)):
        with pytest.warns(UserWarning, match="Out-of-support"):
            log_p = jax.jit(f)()
        assert log_p[0] == -np.inf and np.isfinite(log_p[1])
    # With traced ends the check cannot run at trace time: no error, -inf all the same.
    log_p = jax.jit(lambda low: cls(0.0, 1.0, low, 1.0, validate_args=True).log_prob(value))(0.0)
    assert log_p[0] == -np.inf and np.isfinite(log_p[1])


def test_support_of_a_distribution_passed_through_jit_keeps_its_kind():
    d = TruncatedNormal(jnp.zeros(3), 1.0, None, 0.0)
    support = jax.jit(lambda d: d.support)(d)
    assert type(support) is type(d.support) and not hasattr(support, "lower_bound")
