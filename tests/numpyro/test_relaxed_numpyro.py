"""NumPyro specifics of the relaxed families: jit, vmap, pytrees, plates and SVI, and a
temperature schedule feeding a jitted step without recompiling it."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.util import log_density

from ppl_reparam.numpyro.distributions import (
    ExpRelaxedOneHotCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    RelaxedOneHotCategoricalStraightThrough,
)
from ppl_reparam.schedules import ExponentialDecay, LinearDecay


def test_log_prob_of_own_draw_under_jit_uses_the_intermediates():
    logits = jnp.zeros(1000, jnp.float32)

    @jax.jit
    def draw(key, tau):
        d = RelaxedOneHotCategorical(tau, logits=logits)
        x, intermediates = d.sample_with_intermediates(key, (4,))
        return x, d.log_prob(x, intermediates), d.log_prob(x)

    key = jax.random.PRNGKey(0)
    x, lp, lp_without = draw(key, 0.01)
    assert x.dtype == jnp.float32 and bool(jnp.any(x == 0))
    exp_dist = ExpRelaxedOneHotCategorical(0.01, logits=logits)
    y = exp_dist.sample(key, (4,))  # the same noise
    np.testing.assert_allclose(lp, exp_dist.log_prob(y) - y.sum(-1), rtol=1e-6)
    # without them the zeros are clipped: finite, but far from the density of the draw
    assert bool(jnp.all(jnp.isfinite(lp_without))) and bool(jnp.all(lp_without < 0.5 * lp))


def _plate_site(cls, k, temperature):
    def fn():
        with numpyro.plate("n", 3):
            numpyro.sample("z", cls(temperature, logits=jnp.zeros(k, jnp.float32)))

    return fn


def test_log_density_scores_a_relaxed_site_from_its_intermediates_in_a_plate():
    # what every ELBO does with a guide's site: NumPyro passes the site's intermediates
    key = jax.random.PRNGKey(3)
    fn = _plate_site(RelaxedOneHotCategorical, 1000, 0.01)
    log_joint, trace = log_density(numpyro.handlers.seed(fn, key), (), {}, {})
    site = trace["z"]
    assert site["value"].shape == (3, 1000) and bool(jnp.any(site["value"] == 0))
    exp_fn = _plate_site(ExpRelaxedOneHotCategorical, 1000, 0.01)
    exp_log_joint, exp_trace = log_density(numpyro.handlers.seed(exp_fn, key), (), {}, {})
    y = exp_trace["z"]["value"]  # the same noise
    np.testing.assert_allclose(site["intermediates"][0], y)
    np.testing.assert_allclose(log_joint, exp_log_joint - y.sum(), rtol=1e-6)


def test_vmap_over_temperatures():
    logits = jnp.linspace(-2.0, 2.0, 10)

    def draw(tau, key):
        d = RelaxedOneHotCategoricalStraightThrough(tau, logits=logits)
        x = d.sample(key, (3,))
        return x, d.log_prob(x)

    taus = jnp.array([1.0, 0.1, 0.01])
    x, lp = jax.vmap(draw, in_axes=(0, None))(taus, jax.random.PRNGKey(1))
    assert x.shape == (3, 3, 10) and lp.shape == (3, 3)
    assert bool(jnp.all(x.sum(-1) == 1)) and bool(jnp.all(jnp.isfinite(lp)))


def test_distributions_are_pytrees_through_jit():
    x = jnp.array([0.2, 0.7])
    for d in [
        RelaxedBernoulli(0.5, probs=jnp.array([0.3, 0.6])),
        RelaxedBernoulli(jnp.array([0.5, 0.2]), logits=jnp.array([0.3, -1.0])),
    ]:
        np.testing.assert_allclose(jax.jit(lambda d: d.log_prob(x))(d), d.log_prob(x))
    simplex = jnp.array([0.2, 0.3, 0.5])
    for d in [
        RelaxedOneHotCategorical(0.5, probs=jnp.array([0.2, 0.2, 0.6])),
        RelaxedOneHotCategorical(0.5, logits=jnp.array([0.2, 0.2, 0.6])),
    ]:
        np.testing.assert_allclose(jax.jit(lambda d: d.log_prob(simplex))(d), d.log_prob(simplex))
    # `density` is static pytree data: it survives flattening into a jitted function
    y = jnp.log(simplex)
    for d, v in [
        (ExpRelaxedOneHotCategorical(0.5, logits=jnp.zeros(3), density="categorical"), y),
        (LogitRelaxedBernoulli(0.5, probs=jnp.array([0.3, 0.6]), density="categorical"), x),
    ]:
        assert jax.tree.unflatten(*reversed(jax.tree.flatten(d))).density == "categorical"
        np.testing.assert_allclose(jax.jit(lambda d, v=v: d.log_prob(v))(d), d.log_prob(v))


def test_schedule_drives_jitted_svi_in_a_plate_without_recompiling():
    traces = []

    def model(temperature):
        traces.append(temperature)
        with numpyro.plate("n", 3):
            numpyro.sample("z", RelaxedOneHotCategorical(temperature, logits=jnp.zeros(4)))

    def guide(temperature):
        logits = numpyro.param("logits", jnp.zeros(4))  # the plate expands it
        with numpyro.plate("n", 3):
            numpyro.sample("z", RelaxedOneHotCategorical(temperature, logits=logits))

    svi = SVI(model, guide, optax.adam(0.01), Trace_ELBO())
    state = svi.init(jax.random.PRNGKey(0), 1.0)
    traces.clear()
    step = jax.jit(svi.update)
    schedule = ExponentialDecay(start=1.0, rate=0.2, floor=0.05, update_every=2)
    temperatures = [schedule(t) for t in range(40)]
    for tau in temperatures:
        state, loss = step(state, tau)
        assert np.isfinite(loss)
    assert len(set(temperatures)) > 5 and min(temperatures) == 0.05
    assert len(traces) == 1 and step._cache_size() == 1


def test_linear_schedule_feeds_a_jitted_sampler_compiled_once():
    traces = []

    @jax.jit
    def draw(key, tau):
        traces.append(tau)
        d = RelaxedBernoulli(tau, logits=jnp.zeros(5))
        x = d.sample(key)
        return d.log_prob(x).sum()

    schedule = LinearDecay(1.0, 0.01, num_steps=20, update_every=4)
    key = jax.random.PRNGKey(2)
    for t in range(25):
        key, sub = jax.random.split(key)
        assert np.isfinite(draw(sub, schedule(t)))
    assert len(traces) == 1 and draw._cache_size() == 1
