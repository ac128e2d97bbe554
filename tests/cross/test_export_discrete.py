"""ArviZ export of models with discrete latent sites, on both backends: enumerated sites
summed out of the pointwise log-likelihood (against the mixture density written out by
hand), and the labels and class probabilities of a guide's discrete sites (against the
guide's logits)."""

import warnings

import numpy as np
import scipy.special as sps
import scipy.stats

X = np.array([-2.1, -1.9, 0.2, 0.1, 2.2, 1.8, 3.0])


def _enumerated_mixture(name):
    """(model, guide over the continuous sites, to_inference_data, data, params): a
    two-component mixture with a Bernoulli label per datum, marked for enumeration."""
    if name == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch
        from pyro import poutine
        from pyro.infer import config_enumerate
        from pyro.infer.autoguide import AutoNormal

        from ppl_reparam.pyro.arviz import to_inference_data

        @config_enumerate
        def model(x):
            w = pyro.sample("w", dist.Beta(2.0, 2.0))
            locs = pyro.sample("locs", dist.Normal(0.0, 3.0).expand([2]).to_event(1))
            with pyro.plate("data", len(x)):
                z = pyro.sample("z", dist.Bernoulli(w))
                loc = locs[..., 0] + z * (locs[..., 1] - locs[..., 0])
                pyro.sample("x", dist.Normal(loc, 1.0), obs=x)

        pyro.clear_param_store()
        guide = AutoNormal(poutine.block(model, hide=["z"]), init_scale=0.3)
        data = torch.tensor(X)
        guide(data)
        store = pyro.get_param_store()
        params = {name: value.detach().double() for name, value in store.items()}  # float64
        return model, guide, to_inference_data, data, params
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.contrib.funsor import config_enumerate

    from ppl_reparam.numpyro.arviz import to_inference_data

    @config_enumerate
    def model(x):
        w = numpyro.sample("w", dist.Beta(2.0, 2.0))
        locs = numpyro.sample("locs", dist.Normal(0.0, 3.0).expand([2]).to_event(1))
        with numpyro.plate("data", len(x)):
            z = numpyro.sample("z", dist.Bernoulli(w))
            loc = locs[..., 0] + z * (locs[..., 1] - locs[..., 0])
            numpyro.sample("x", dist.Normal(loc, 1.0), obs=x)

    # a hand-written guide: NumPyro's AutoNormal would first search for valid initial
    # parameters through the enumerated model (seconds of compilation)
    def guide(x):
        a = numpyro.param("a", 3.0, constraint=dist.constraints.positive)
        b = numpyro.param("b", 2.0, constraint=dist.constraints.positive)
        numpyro.sample("w", dist.Beta(a, b))
        loc = numpyro.param("loc", jnp.array([-1.0, 1.5]))
        numpyro.sample("locs", dist.Normal(loc, 0.3).to_event(1))

    params = {"a": jnp.asarray(3.0), "b": jnp.asarray(2.0), "loc": jnp.array([-1.0, 1.5])}
    return model, guide, to_inference_data, jnp.asarray(X), params


def test_enumerated_labels_are_summed_out_of_the_pointwise_log_likelihood(backend):
    from ppl_reparam._fit import FitResult

    model, guide, to_inference_data, data, params = _enumerated_mixture(backend.name)
    result = FitResult(params, [], model, guide, (data,), {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # vectorised, no per-draw fallback
        idata = to_inference_data(result, num_samples=40)
    assert set(idata.posterior.data_vars) == {"w", "locs"}  # no enumerated label
    w = idata.posterior["w"].values.reshape(-1, 1)
    locs = idata.posterior["locs"].values.reshape(-1, 2)
    by_label = np.stack(
        [
            np.log1p(-w) + scipy.stats.norm.logpdf(X, locs[:, :1], 1.0),
            np.log(w) + scipy.stats.norm.logpdf(X, locs[:, 1:], 1.0),
        ]
    )
    expected = sps.logsumexp(by_label, axis=0)
    loglik = idata.log_likelihood["x"].values.reshape(-1, len(X))
    np.testing.assert_allclose(loglik, expected, rtol=1e-10)
    assert idata.posterior_predictive["x"].shape == (4, 10, len(X))


def _discrete_guide(name):
    """(model, fitted AutoPathwiseGuide params with random logits, to_inference_data,
    data, logits of z, logits of b): a Categorical and a Bernoulli label per datum,
    both drawn by the guide's "discrete" family."""
    rng = np.random.default_rng(0)
    z_logits, b_logits = rng.normal(size=(len(X), 3)), rng.normal(size=len(X))
    if name == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch

        from ppl_reparam.pyro.arviz import to_inference_data
        from ppl_reparam.pyro.guides import AutoPathwiseGuide
        from ppl_reparam.pyro.relax import choose

        def model(x):
            shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
            with pyro.plate("data", len(x)):
                z = pyro.sample("z", dist.Categorical(torch.ones(3) / 3))
                b = pyro.sample("b", dist.Bernoulli(0.5))
                loc = choose(z, torch.tensor([-2.0, 0.0, 2.0])) + shift + 0.5 * b
                pyro.sample("x", dist.Normal(loc, 1.0), obs=x)

        pyro.clear_param_store()
        guide = AutoPathwiseGuide(model)
        data = torch.tensor(X)
        guide(data)
        params = {name: value.detach() for name, value in pyro.get_param_store().items()}
        params["AutoPathwiseGuide.logits.z"] = torch.tensor(z_logits)
        params["AutoPathwiseGuide.logits.b"] = torch.tensor(b_logits)
        return model, guide, to_inference_data, data, params, z_logits, b_logits
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro import handlers

    from ppl_reparam.numpyro.arviz import to_inference_data
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import choose

    def model(x):
        shift = numpyro.sample("shift", dist.Normal(0.0, 1.0))
        with numpyro.plate("data", len(x)):
            z = numpyro.sample("z", dist.Categorical(jnp.ones(3) / 3))
            b = numpyro.sample("b", dist.Bernoulli(0.5))
            loc = choose(z, jnp.array([-2.0, 0.0, 2.0])) + shift + 0.5 * b
            numpyro.sample("x", dist.Normal(loc, 1.0), obs=x)

    guide = AutoPathwiseGuide(model)
    data = jnp.asarray(X)
    trace = handlers.trace(handlers.seed(guide, jax.random.PRNGKey(0))).get_trace(data)
    params = {name: site["value"] for name, site in trace.items() if site["type"] == "param"}
    params["z_auto_logits"], params["b_auto_logits"] = jnp.asarray(z_logits), jnp.asarray(b_logits)
    return model, guide, to_inference_data, data, params, z_logits, b_logits


def test_discrete_guide_sites_export_their_labels_and_class_probabilities(backend):
    from ppl_reparam._fit import FitResult

    model, guide, to_inference_data, data, params, z_logits, b_logits = _discrete_guide(
        backend.name
    )
    result = FitResult(params, [], model, guide, (data,), {})
    num_samples = 2000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idata = to_inference_data(result, num_samples=num_samples)
    z_probs, b_probs = sps.softmax(z_logits, axis=-1), sps.expit(b_logits)
    posterior = idata.posterior
    assert posterior["z_probs"].shape == (4, num_samples // 4, len(X), 3)
    assert posterior["b_probs"].shape == (4, num_samples // 4, len(X))
    np.testing.assert_allclose(
        posterior["z_probs"].values, np.broadcast_to(z_probs, (4, 500, 7, 3))
    )
    np.testing.assert_allclose(posterior["b_probs"].values, np.broadcast_to(b_probs, (4, 500, 7)))
    # the labels are the guide's draws: their frequencies within 5 standard errors
    z = posterior["z"].values.reshape(num_samples, len(X))
    frequencies = np.stack([(z == k).mean(0) for k in range(3)], axis=-1)
    assert np.all(
        np.abs(frequencies - z_probs) < 5 * np.sqrt(z_probs * (1 - z_probs) / num_samples)
    )
    b = posterior["b"].values.reshape(num_samples, len(X))
    assert set(np.unique(b)) <= {0, 1}
    assert np.all(np.abs(b.mean(0) - b_probs) < 5 * np.sqrt(b_probs * (1 - b_probs) / num_samples))
