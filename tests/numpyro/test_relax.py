"""The relaxation strategy, `relax` and `choose` (NumPyro)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro import handlers
from numpyro.contrib.funsor import config_enumerate
from numpyro.distributions.constraints import positive
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, TraceEnum_ELBO
from numpyro.infer.initialization import init_to_value
from scipy.special import gammaln, logsumexp

from ppl_reparam.numpyro.distributions import ExpRelaxedOneHotCategorical
from ppl_reparam.numpyro.infer import fit
from ppl_reparam.numpyro.relax import choose, relax
from ppl_reparam.schedules import ExponentialDecay
from tests import mixture_reference as mix

K = 3
LOCS = np.array([-4.0, 0.0, 4.0])


def mixture(data):
    w = numpyro.sample("w", dist.Dirichlet(jnp.ones(K)))
    locs = numpyro.sample("locs", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
    with numpyro.plate("data", len(data)):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("x", dist.Normal(choose(z, locs), 0.5), obs=data)


def mixture_guide(data, relax_temperature=None):
    wq = numpyro.param("wq", jnp.ones(K), constraint=dist.constraints.positive)
    numpyro.sample("w", dist.Dirichlet(wq))
    lq = numpyro.param("lq", jnp.array([-1.0, 0.0, 1.0]))
    numpyro.sample("locs", dist.Normal(lq, 0.1).to_event(1))
    if relax_temperature is not None:  # relaxed SVI; under enumeration z is summed out
        with numpyro.plate("data", len(data)):
            logits = numpyro.param("q_logits", jnp.zeros((len(data), K)))
            numpyro.sample(
                "z_relaxed", ExpRelaxedOneHotCategorical(relax_temperature, logits=logits)
            )


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(LOCS[rng.integers(0, K, n)] + 0.5 * rng.normal(size=n))


def _trace(model, *args, seed=0, **kwargs):
    return handlers.trace(handlers.seed(model, jax.random.PRNGKey(seed))).get_trace(*args, **kwargs)


def test_relaxed_site_becomes_log_space_latent_and_deterministic_value():
    tr = _trace(relax(mixture, 0.5, density="concrete"), _data(20))
    assert tr["z"]["type"] == "deterministic"
    y = tr["z_relaxed"]["value"]
    assert y.shape == (20, K)
    np.testing.assert_allclose(np.asarray(tr["z"]["value"]), np.exp(np.asarray(y)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(tr["z"]["value"]).sum(-1), 1.0, rtol=1e-12)


def test_relaxed_site_log_density_is_the_exp_concrete_formula():
    tau = 0.3
    tr = _trace(relax(mixture, tau, density="concrete"), _data(20))
    site = tr["z_relaxed"]
    y = np.asarray(site["value"])
    logits = np.log(np.asarray(tr["w"]["value"]))
    # Maddison et al. (2017): log Gamma(K) + (K-1) log tau + sum_k (l_k - tau y_k)
    #                         - K logsumexp(l - tau y)
    expected = (
        gammaln(K)
        + (K - 1) * np.log(tau)
        + (logits - tau * y).sum(-1)
        - K * logsumexp(logits - tau * y, axis=-1)
    )
    np.testing.assert_allclose(np.asarray(site["fn"].log_prob(site["value"])), expected, rtol=1e-10)


def test_observed_and_enumerated_sites_are_untouched():
    def model():
        p = numpyro.sample("p", dist.Beta(2.0, 2.0))
        numpyro.sample("b", dist.Bernoulli(p), infer={"enumerate": "parallel"})
        numpyro.sample("c", dist.Categorical(jnp.ones(4) / 4))
        numpyro.sample("obs", dist.Bernoulli(p), obs=1.0)

    tr = _trace(relax(model, 0.5, density="concrete"))
    assert tr["b"]["type"] == "sample" and isinstance(tr["b"]["fn"], dist.BernoulliProbs)
    assert tr["obs"]["type"] == "sample" and tr["obs"]["is_observed"]
    assert "b_relaxed" not in tr and "obs_relaxed" not in tr
    assert tr["c"]["type"] == "deterministic" and "c_relaxed" in tr


def test_bernoulli_site_relaxes_to_the_logistic_in_logit_space():
    def model():
        with numpyro.plate("n", 1000):
            numpyro.sample("b", dist.Bernoulli(logits=jnp.asarray(0.7)))

    tau = 0.4
    tr = _trace(relax(model, tau, density="concrete"))
    y, value = np.asarray(tr["b_relaxed"]["value"]), np.asarray(tr["b"]["value"])
    np.testing.assert_allclose(value, 1 / (1 + np.exp(-y)), rtol=1e-12)
    lp = np.asarray(tr["b_relaxed"]["fn"].log_prob(tr["b_relaxed"]["value"]))
    z = (y - 0.7 / tau) * tau  # the standard logistic variable
    np.testing.assert_allclose(lp, np.log(tau) - z - 2 * np.log1p(np.exp(-z)), rtol=1e-10)
    # P(relaxed bit > 1/2) = P(Bernoulli = 1) = sigmoid(0.7)
    assert abs((value > 0.5).mean() - 1 / (1 + np.exp(-0.7))) < 0.05


def test_changing_temperature_does_not_recompile_the_step():
    data = _data(50)
    relaxed = relax(mixture, ExponentialDecay(1.0, 0.05, floor=0.1), density="concrete")
    svi = SVI(relaxed, mixture_guide, optax.adam(0.05), Trace_ELBO())
    state = svi.init(jax.random.PRNGKey(0), data, relax_temperature=relaxed.temperature_at(0))
    traces = []

    @jax.jit
    def step(state, temperature):
        traces.append(1)  # runs only when JAX traces (compiles) the function
        return svi.update(state, data, relax_temperature=temperature)

    temperatures = [relaxed.temperature_at(t) for t in range(40)]
    assert len(set(temperatures)) > 10
    for temperature in temperatures:
        state, loss = step(state, temperature)
        assert np.isfinite(float(loss))
    assert len(traces) == 1


def test_schedule_without_temperature_argument_is_a_clear_error():
    relaxed = relax(mixture, ExponentialDecay(1.0, 0.05, floor=0.1), density="concrete")
    with pytest.raises(ValueError, match="relax_temperature"):
        _trace(relaxed, _data(5))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        relax(mixture, 0.0)
    with pytest.raises(TypeError, match="temperature"):
        relax(mixture, "hot")


def test_choose_indexes_with_integers_and_mixes_with_one_hots():
    options = jnp.asarray(np.arange(12.0).reshape(4, 3))
    z = jnp.array([2, 0, 3])
    np.testing.assert_array_equal(choose(z, options), options[z])
    np.testing.assert_allclose(choose(jax.nn.one_hot(z, 4), options), options[z])
    soft = jnp.array([0.25, 0.25, 0.5, 0.0])
    np.testing.assert_allclose(
        choose(soft, options), 0.25 * options[0] + 0.25 * options[1] + 0.5 * options[2]
    )
    with pytest.raises(ValueError, match="categories"):
        choose(jnp.ones(3) / 3, options)


@pytest.mark.slow
def test_one_model_body_runs_relaxed_enumerated_and_under_nuts():
    data = _data(200)
    relaxed = relax(mixture, ExponentialDecay(1.0, 2e-3, floor=0.3), density="concrete")
    svi = SVI(relaxed, mixture_guide, optax.adam(0.05), Trace_ELBO())
    state = svi.init(jax.random.PRNGKey(0), data, relax_temperature=1.0)
    step = jax.jit(lambda s, t: svi.update(s, data, relax_temperature=t))
    for t in range(600):
        state, _ = step(state, relaxed.temperature_at(t))
    np.testing.assert_allclose(np.sort(svi.get_params(state)["lq"]), LOCS, atol=0.3)

    enum = SVI(config_enumerate(mixture), mixture_guide, optax.adam(0.05), TraceEnum_ELBO())
    result = enum.run(jax.random.PRNGKey(0), 300, data, progress_bar=False)
    np.testing.assert_allclose(np.sort(result.params["lq"]), LOCS, atol=0.3)

    mcmc = MCMC(
        NUTS(config_enumerate(mixture)), num_warmup=100, num_samples=100, progress_bar=False
    )
    mcmc.run(jax.random.PRNGKey(1), data)
    np.testing.assert_allclose(np.sort(mcmc.get_samples()["locs"].mean(0)), LOCS, atol=0.3)


def test_relaxed_gradients_have_lower_variance_than_score_function_on_20_binary_features():
    """20 binary latents per point (2^20 configurations, no enumeration): at the same
    starting point the relaxed estimator's gradient variance is far below TraceGraph's."""
    from numpyro.infer import TraceGraph_ELBO

    n, d, k, tau = 20, 5, 20, 0.5
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(k, d)))
    x = jnp.asarray((rng.random((n, k)) < 0.3) @ np.asarray(w) + 0.5 * rng.normal(size=(n, d)))

    def model(x):
        with numpyro.plate("data", n):
            z = numpyro.sample("z", dist.Bernoulli(0.3 * jnp.ones(k)).to_event(1))
            numpyro.sample("x", dist.Normal(z @ w, 0.5).to_event(1), obs=x)

    def guide_discrete(x):
        logits = numpyro.param("logits", jnp.zeros((n, k)))
        with numpyro.plate("data", n):
            numpyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def guide_relaxed(x, relax_temperature):
        logits = numpyro.param("logits", jnp.zeros((n, k)))
        with numpyro.plate("data", n):
            t = relax_temperature
            numpyro.sample("z_relaxed", dist.Logistic(logits / t, 1 / t).to_event(1))

    def grad_variance(elbo, m, g, **kw):
        def loss(logits, key):
            return elbo.loss(key, {"logits": logits}, m, g, x, **kw)

        keys = jax.random.split(jax.random.PRNGKey(1), 100)
        grads = jax.vmap(jax.grad(loss), (None, 0))(jnp.zeros((n, k)), keys)
        return float(jnp.mean(jnp.var(grads, 0)))

    score = grad_variance(TraceGraph_ELBO(), model, guide_discrete)
    relaxed = grad_variance(
        Trace_ELBO(), relax(model, tau, density="concrete"), guide_relaxed, relax_temperature=tau
    )
    assert relaxed < score / 10, (relaxed, score)


def _mixture_2d(x):
    w = numpyro.sample("w", dist.Dirichlet(jnp.ones(mix.K)))
    means = numpyro.sample("means", dist.Normal(0.0, 5.0).expand([mix.K, mix.D]).to_event(2))
    with numpyro.plate("data", x.shape[0]):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("x", dist.Normal(choose(z, means), mix.SCALE).to_event(1), obs=x)


def _mixture_2d_guide(x, relax_temperature=None):
    w_conc = numpyro.param("w_conc", 10.0 * jnp.ones(mix.K), constraint=positive)
    numpyro.sample("w", dist.Dirichlet(w_conc))
    loc = numpyro.param("means_loc", jnp.asarray(mix.INIT_MEANS))
    scale = numpyro.param("means_scale", 0.1 * jnp.ones((mix.K, mix.D)), constraint=positive)
    numpyro.sample("means", dist.Normal(loc, scale).to_event(2))
    if relax_temperature is not None:  # relaxed SVI; under enumeration z is summed out
        with numpyro.plate("data", x.shape[0]):
            logits = numpyro.param("z_logits", jnp.zeros((x.shape[0], mix.K)))
            q = ExpRelaxedOneHotCategorical(relax_temperature, logits=logits, density="categorical")
            numpyro.sample("z_relaxed", q)


def _fit_averaged(model, x, elbo, steps=3000, average_last=1000):
    """Adam, then the Polyak average of the parameters over the last steps (the final
    iterate of SVI jitters by about the learning rate); a relaxed model anneals with its
    own schedule."""
    result = fit(
        model,
        _mixture_2d_guide,
        x,
        num_steps=steps,
        optim=optax.adam(0.05),
        loss=elbo,
        average_last=average_last,
        progress_bar=False,
    )
    w_conc, means = (np.asarray(result.params[k]) for k in ("w_conc", "means_loc"))
    return w_conc / w_conc.sum(), means


@pytest.mark.slow
def test_relaxed_svi_recovers_a_2d_mixture_as_well_as_enumeration():
    """The acceptance case: K = 4, 2-D, 1000 points. Relaxed SVI (annealed temperature,
    categorical density) recovers means within 0.1 and weights within 0.05, and its
    held-out log predictive density is within 2% of TraceEnum_ELBO's; the same model body
    also runs under NUTS with enumeration."""
    x, x_test = jnp.asarray(mix.draw(1000, 0)), mix.draw(1000, 1)
    relaxed = relax(_mixture_2d, ExponentialDecay(1.0, 1e-3, floor=0.1), density="categorical")
    weights, means = _fit_averaged(relaxed, x, Trace_ELBO())
    perm = mix.match_labels(means)
    np.testing.assert_allclose(means[perm], mix.MEANS, atol=0.1)
    np.testing.assert_allclose(weights[perm], mix.WEIGHTS, atol=0.05)

    enum_weights, enum_means = _fit_averaged(config_enumerate(_mixture_2d), x, TraceEnum_ELBO())
    lpd = mix.heldout_lpd(weights, means, x_test)
    enum_lpd = mix.heldout_lpd(enum_weights, enum_means, x_test)
    assert abs(lpd - enum_lpd) < 0.02 * abs(enum_lpd), (lpd, enum_lpd)

    # the same model body under NUTS with the labels enumerated
    init = init_to_value(values={"means": jnp.asarray(mix.INIT_MEANS)})
    nuts = NUTS(config_enumerate(_mixture_2d), init_strategy=init)
    mcmc = MCMC(nuts, num_warmup=200, num_samples=200, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1), x)
    draws = mcmc.get_samples()
    nuts_means = np.asarray(draws["means"].mean(0))
    perm = mix.match_labels(nuts_means)
    np.testing.assert_allclose(nuts_means[perm], mix.MEANS, atol=0.1)
    np.testing.assert_allclose(np.asarray(draws["w"].mean(0))[perm], mix.WEIGHTS, atol=0.05)


def test_density_reaches_every_relaxed_site_and_a_wrong_one_is_a_clear_error():
    tr = _trace(relax(mixture, 0.5, density="categorical"), _data(20))
    fn = tr["z_relaxed"]["fn"]
    assert fn.density == "categorical"
    with pytest.raises(ValueError, match=r"relax: `density` must be one of 'concrete'"):
        relax(mixture, 0.5, density="gumbel")
    # the default, chosen by benchmarks/guides.py: learned weights stay unbiased
    tr = _trace(relax(mixture, 0.5), _data(20))
    assert tr["z_relaxed"]["fn"].density == "categorical"
