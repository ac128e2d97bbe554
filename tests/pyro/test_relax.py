"""The relaxation strategy, `relax` and `choose` (Pyro)."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, config_enumerate
from pyro.optim import Adam
from scipy.special import gammaln, logsumexp

from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical
from ppl_reparam.pyro.infer import fit
from ppl_reparam.pyro.relax import choose, relax
from ppl_reparam.schedules import ExponentialDecay
from tests import mixture_reference as mix

K = 3
LOCS = np.array([-4.0, 0.0, 4.0])


def mixture(data):
    w = pyro.sample("w", dist.Dirichlet(torch.ones(K, dtype=data.dtype)))
    locs = pyro.sample(
        "locs", dist.Normal(torch.zeros((), dtype=data.dtype), 10.0).expand([K]).to_event(1)
    )
    with pyro.plate("data", len(data)):
        z = pyro.sample("z", dist.Categorical(w))
        pyro.sample("x", dist.Normal(choose(z, locs), 0.5), obs=data)


def mixture_guide(data, relax_temperature=None):
    wq = pyro.param("wq", torch.ones(K, dtype=data.dtype), constraint=dist.constraints.positive)
    pyro.sample("w", dist.Dirichlet(wq))
    lq = pyro.param("lq", torch.tensor([-1.0, 0.0, 1.0], dtype=data.dtype))
    pyro.sample("locs", dist.Normal(lq, 0.1).to_event(1))
    if relax_temperature is not None:  # relaxed SVI; under enumeration z is summed out
        with pyro.plate("data", len(data)):
            logits = pyro.param("q_logits", torch.zeros(len(data), K, dtype=data.dtype))
            t = torch.as_tensor(relax_temperature, dtype=data.dtype)
            pyro.sample("z_relaxed", ExpRelaxedOneHotCategorical(t, logits=logits))


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(LOCS[rng.integers(0, K, n)] + 0.5 * rng.normal(size=n))


def _trace(model, *args, **kwargs):
    pyro.set_rng_seed(0)
    return poutine.trace(model).get_trace(*args, **kwargs)


def test_relaxed_site_becomes_log_space_latent_and_deterministic_value():
    tr = _trace(relax(mixture, 0.5, density="concrete"), _data(20))
    y = tr.nodes["z_relaxed"]["value"]
    assert tr.nodes["z_relaxed"]["is_observed"] is False
    assert tuple(y.shape) == (20, K)
    z = tr.nodes["z"]["value"]
    np.testing.assert_allclose(z.numpy(), np.exp(y.numpy()), rtol=1e-12)
    np.testing.assert_allclose(z.sum(-1).numpy(), 1.0, rtol=1e-12)
    # the original site carries no density of its own
    assert float(tr.nodes["z"]["fn"].log_prob(z).abs().sum()) == 0.0


def test_relaxed_site_log_density_is_the_exp_concrete_formula():
    tau = 0.3
    tr = _trace(relax(mixture, tau, density="concrete"), _data(20))
    site = tr.nodes["z_relaxed"]
    y = site["value"].numpy()
    logits = np.log(tr.nodes["w"]["value"].numpy())
    expected = (
        gammaln(K)
        + (K - 1) * np.log(tau)
        + (logits - tau * y).sum(-1)
        - K * logsumexp(logits - tau * y, axis=-1)
    )
    np.testing.assert_allclose(site["fn"].log_prob(site["value"]).numpy(), expected, rtol=1e-10)


def test_observed_and_enumerated_sites_are_untouched():
    def model():
        p = pyro.sample("p", dist.Beta(2.0, 2.0))
        pyro.sample("b", dist.Bernoulli(p), infer={"enumerate": "parallel"})
        pyro.sample("c", dist.Categorical(torch.ones(4) / 4))
        pyro.sample("o", dist.OneHotCategorical(torch.ones(4) / 4))
        pyro.sample("obs", dist.Bernoulli(p), obs=torch.tensor(1.0))

    tr = _trace(relax(model, 0.5, density="concrete"))
    assert isinstance(tr.nodes["b"]["fn"], dist.Bernoulli)
    assert tr.nodes["obs"]["is_observed"] and isinstance(tr.nodes["obs"]["fn"], dist.Bernoulli)
    assert "b_relaxed" not in tr.nodes and "obs_relaxed" not in tr.nodes
    assert "c_relaxed" in tr.nodes and "o_relaxed" in tr.nodes


def test_bernoulli_site_relaxes_to_the_logistic_in_logit_space():
    def model():
        with pyro.plate("n", 1000):
            pyro.sample("b", dist.Bernoulli(logits=torch.tensor(0.7, dtype=torch.float64)))

    tau = 0.4
    tr = _trace(relax(model, tau, density="concrete"))
    y, value = tr.nodes["b_relaxed"]["value"].numpy(), tr.nodes["b"]["value"].numpy()
    np.testing.assert_allclose(value, 1 / (1 + np.exp(-y)), rtol=1e-12)
    lp = tr.nodes["b_relaxed"]["fn"].log_prob(tr.nodes["b_relaxed"]["value"]).numpy()
    z = (y - 0.7 / tau) * tau
    np.testing.assert_allclose(lp, np.log(tau) - z - 2 * np.log1p(np.exp(-z)), rtol=1e-10)
    assert abs((value > 0.5).mean() - 1 / (1 + np.exp(-0.7))) < 0.05


def test_schedule_without_temperature_argument_is_a_clear_error():
    relaxed = relax(mixture, ExponentialDecay(1.0, 0.05, floor=0.1), density="concrete")
    with pytest.raises(ValueError, match="relax_temperature"):
        _trace(relaxed, _data(5))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        relax(mixture, -1.0)
    with pytest.raises(TypeError, match="temperature"):
        relax(mixture, "hot")


def test_choose_indexes_with_integers_and_mixes_with_one_hots():
    options = torch.arange(12.0).reshape(4, 3)
    z = torch.tensor([2, 0, 3])
    torch.testing.assert_close(choose(z, options), options[z])
    torch.testing.assert_close(
        choose(torch.nn.functional.one_hot(z, 4).float(), options), options[z]
    )
    soft = torch.tensor([0.25, 0.25, 0.5, 0.0])
    torch.testing.assert_close(
        choose(soft, options), 0.25 * options[0] + 0.25 * options[1] + 0.5 * options[2]
    )
    with pytest.raises(ValueError, match="categories"):
        choose(torch.ones(3) / 3, options)


@pytest.mark.slow
def test_one_model_body_runs_relaxed_and_enumerated():
    data = _data(200)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    relaxed = relax(mixture, ExponentialDecay(1.0, 2e-3, floor=0.3), density="concrete")
    svi = SVI(relaxed, mixture_guide, Adam({"lr": 0.05}), Trace_ELBO())
    for t in range(600):
        svi.step(data, relax_temperature=relaxed.temperature_at(t))
    np.testing.assert_allclose(np.sort(pyro.param("lq").detach().numpy()), LOCS, atol=0.3)

    pyro.clear_param_store()
    enum = SVI(
        config_enumerate(mixture),
        mixture_guide,
        Adam({"lr": 0.05}),
        TraceEnum_ELBO(max_plate_nesting=1),
    )
    for _ in range(300):
        enum.step(data)
    np.testing.assert_allclose(np.sort(pyro.param("lq").detach().numpy()), LOCS, atol=0.3)


def test_relaxed_gradients_have_lower_variance_than_score_function_on_20_binary_features():
    """20 binary latents per point (2^20 configurations, no enumeration): at the same
    starting point the relaxed estimator's gradient variance is far below TraceGraph's."""
    from pyro.infer import TraceGraph_ELBO

    n, d, k, tau = 20, 5, 20, 0.5
    rng = np.random.default_rng(0)
    w = torch.tensor(rng.normal(size=(k, d)))
    z_true = torch.tensor(rng.random((n, k)) < 0.3, dtype=torch.float64)
    x = z_true @ w + 0.5 * torch.tensor(rng.normal(size=(n, d)))

    def model(x):
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Bernoulli(0.3 * torch.ones(k, dtype=x.dtype)).to_event(1))
            pyro.sample("x", dist.Normal(z @ w, 0.5).to_event(1), obs=x)

    def guide_discrete(x):
        logits = pyro.param("logits", torch.zeros(n, k, dtype=x.dtype))
        with pyro.plate("data", n):
            pyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def guide_relaxed(x, relax_temperature):
        logits = pyro.param("logits", torch.zeros(n, k, dtype=x.dtype))
        with pyro.plate("data", n):
            t = relax_temperature
            pyro.sample("z_relaxed", dist.Logistic(logits / t, 1 / t).to_event(1))

    def grad_variance(elbo, m, g, **kw):
        pyro.clear_param_store()
        pyro.set_rng_seed(1)
        g(x, **kw)
        logits = pyro.param("logits").unconstrained()
        grads = []
        for _ in range(100):
            elbo.loss_and_grads(m, g, x, **kw)
            grads.append(logits.grad.detach().clone())
            logits.grad.zero_()
        return float(torch.stack(grads).var(0).mean())

    score = grad_variance(TraceGraph_ELBO(), model, guide_discrete)
    relaxed = grad_variance(
        Trace_ELBO(), relax(model, tau, density="concrete"), guide_relaxed, relax_temperature=tau
    )
    assert relaxed < score / 10, (relaxed, score)


def _mixture_2d(x):
    w = pyro.sample("w", dist.Dirichlet(torch.ones(mix.K, dtype=x.dtype)))
    prior = dist.Normal(torch.zeros((), dtype=x.dtype), 5.0).expand([mix.K, mix.D])
    means = pyro.sample("means", prior.to_event(2))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Categorical(w))
        pyro.sample("x", dist.Normal(choose(z, means), mix.SCALE).to_event(1), obs=x)


def _mixture_2d_guide(x, relax_temperature=None):
    positive = dist.constraints.positive
    w_conc = pyro.param("w_conc", 10.0 * torch.ones(mix.K, dtype=x.dtype), constraint=positive)
    pyro.sample("w", dist.Dirichlet(w_conc))
    loc = pyro.param("means_loc", torch.as_tensor(mix.INIT_MEANS, dtype=x.dtype))
    scale = pyro.param(
        "means_scale", 0.1 * torch.ones(mix.K, mix.D, dtype=x.dtype), constraint=positive
    )
    pyro.sample("means", dist.Normal(loc, scale).to_event(2))
    if relax_temperature is not None:  # relaxed SVI; under enumeration z is summed out
        with pyro.plate("data", x.shape[0]):
            logits = pyro.param("z_logits", torch.zeros(x.shape[0], mix.K, dtype=x.dtype))
            t = torch.as_tensor(relax_temperature, dtype=x.dtype)
            q = ExpRelaxedOneHotCategorical(t, logits=logits, density="categorical")
            pyro.sample("z_relaxed", q)


def _fit_averaged(model, x, elbo, steps=3000, average_last=1000):
    """Adam, then the Polyak average of the parameters over the last steps (the final
    iterate of SVI jitters by about the learning rate); a relaxed model anneals with its
    own schedule."""
    pyro.clear_param_store()
    result = fit(
        model,
        _mixture_2d_guide,
        x,
        num_steps=steps,
        optim=Adam({"lr": 0.05}),
        loss=elbo,
        average_last=average_last,
        progress_bar=False,
    )
    w_conc, means = (result.params[k].detach().numpy() for k in ("w_conc", "means_loc"))
    return w_conc / w_conc.sum(), means


@pytest.mark.slow
def test_relaxed_svi_recovers_a_2d_mixture_as_well_as_enumeration():
    """The acceptance case: K = 4, 2-D, 1000 points. Relaxed SVI (annealed temperature,
    categorical density) recovers means within 0.1 and weights within 0.05, and its
    held-out log predictive density is within 2% of TraceEnum_ELBO's."""
    x, x_test = torch.as_tensor(mix.draw(1000, 0), dtype=torch.float32), mix.draw(1000, 1)
    relaxed = relax(_mixture_2d, ExponentialDecay(1.0, 1e-3, floor=0.1), density="categorical")
    weights, means = _fit_averaged(relaxed, x, Trace_ELBO())
    perm = mix.match_labels(means)
    np.testing.assert_allclose(means[perm], mix.MEANS, atol=0.1)
    np.testing.assert_allclose(weights[perm], mix.WEIGHTS, atol=0.05)

    enum = config_enumerate(_mixture_2d)
    enum_weights, enum_means = _fit_averaged(enum, x, TraceEnum_ELBO(max_plate_nesting=1))
    lpd = mix.heldout_lpd(weights, means, x_test)
    enum_lpd = mix.heldout_lpd(enum_weights, enum_means, x_test)
    assert abs(lpd - enum_lpd) < 0.02 * abs(enum_lpd), (lpd, enum_lpd)


def test_density_reaches_every_relaxed_site_and_a_wrong_one_is_a_clear_error():
    tr = _trace(relax(mixture, 0.5, density="categorical"), _data(20))
    fn = tr.nodes["z_relaxed"]["fn"]
    assert fn.density == "categorical"
    with pytest.raises(ValueError, match=r"relax: `density` must be one of 'concrete'"):
        relax(mixture, 0.5, density="gumbel")
    # the default, chosen by benchmarks/guides.py: learned weights stay unbiased
    tr = _trace(relax(mixture, 0.5), _data(20))
    assert tr.nodes["z_relaxed"]["fn"].density == "categorical"
