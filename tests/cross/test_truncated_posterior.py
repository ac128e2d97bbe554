"""Inference on models with truncated priors, one-sided and two-sided, in both backends.

Prior ``TruncatedNormal(0.5, 1, low, high)`` and five observations ``y ~ Normal(theta, 1)``:
the posterior is the normal posterior truncated to the same ends, whose mean SciPy gives
exactly. Autoguides (the backend's AutoNormal and AutoPathwiseGuide) and NUTS must
initialise on every support and recover that mean: a support with an infinite end used to
send every unconstrained value to infinity.
"""

import numpy as np
import pytest
import scipy.stats

LOC0, SCALE0 = 0.5, 1.0
Y = np.array([0.84, -0.56, 0.14, 1.2, -0.92])
ENDS = {
    "low0": (0.0, None),  # greater_than_eq(0): the guide's positive family
    "high0": (None, 0.0),  # less_than_eq(0)
    "low-half": (0.5, None),  # greater_than_eq(0.5)
    "interval": (-0.5, 0.5),
}
# Variational fits are judged as the project's fits are: posterior mean within 0.3 sd.
FIT_TOLERANCE_SD = 0.3


def _exact_posterior(low, high):
    precision = 1.0 / SCALE0**2 + len(Y)
    scale = precision**-0.5
    loc = (LOC0 / SCALE0**2 + Y.sum()) / precision
    a = -np.inf if low is None else (low - loc) / scale
    b = np.inf if high is None else (high - loc) / scale
    return scipy.stats.truncnorm(a, b, loc=loc, scale=scale)


def _pyro_model(low, high):
    import pyro
    import pyro.distributions as dist

    from ppl_reparam.pyro.distributions import TruncatedNormal

    def model(y):
        theta = pyro.sample("theta", TruncatedNormal(LOC0, SCALE0, low, high))
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(theta, 1.0), obs=y)

    return model


def _numpyro_model(low, high):
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.distributions import TruncatedNormal

    def model(y):
        theta = numpyro.sample("theta", TruncatedNormal(LOC0, SCALE0, low, high))
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", dist.Normal(theta, 1.0), obs=y)

    return model


def _fit_pyro(guide_name, low, high):
    import pyro
    import torch
    from pyro.infer import Predictive
    from pyro.infer.autoguide import AutoNormal

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model = _pyro_model(low, high)
    guide = {"AutoNormal": AutoNormal, "AutoPathwiseGuide": AutoPathwiseGuide}[guide_name]
    guide = guide(model, init_scale=0.5)
    y = torch.as_tensor(Y, dtype=torch.get_default_dtype())
    fit(model, guide, y, num_steps=600, optim=pyro.optim.Adam({"lr": 0.03}), progress_bar=False)
    draws = Predictive(model, guide=guide, num_samples=4000, parallel=True)(y)["theta"]
    return draws.detach().numpy()


def _fit_numpyro(guide_name, low, high):
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import Predictive
    from numpyro.infer.autoguide import AutoNormal

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    model = _numpyro_model(low, high)
    guide = {"AutoNormal": AutoNormal, "AutoPathwiseGuide": AutoPathwiseGuide}[guide_name]
    guide = guide(model, init_scale=0.5)
    y = jnp.asarray(Y)
    result = fit(model, guide, y, num_steps=600, optim=optax.adam(0.03), progress_bar=False)
    predictive = Predictive(
        model, guide=guide, params=result.params, num_samples=4000, return_sites=["theta"]
    )
    return np.asarray(predictive(jax.random.PRNGKey(1), y)["theta"])


@pytest.mark.slow
@pytest.mark.parametrize("guide_name", ["AutoNormal", "AutoPathwiseGuide"])
@pytest.mark.parametrize("ends", list(ENDS))
def test_svi_on_a_truncated_prior_reaches_the_exact_posterior_mean(backend, guide_name, ends):
    low, high = ENDS[ends]
    draws = {"pyro": _fit_pyro, "numpyro": _fit_numpyro}[backend.name](guide_name, low, high)
    exact = _exact_posterior(low, high)
    assert np.all(np.isfinite(draws))
    assert np.all(draws >= (-np.inf if low is None else low))
    assert np.all(draws <= (np.inf if high is None else high))
    error_sd = (draws.mean() - exact.mean()) / exact.std()
    assert abs(error_sd) < FIT_TOLERANCE_SD, f"posterior mean off by {error_sd:.2f} sd"


def _nuts_pyro(low, high):
    import pyro
    import torch
    from pyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size

    pyro.set_rng_seed(0)
    kernel = NUTS(_pyro_model(low, high))
    mcmc = MCMC(kernel, warmup_steps=150, num_samples=300, disable_progbar=True)
    mcmc.run(torch.as_tensor(Y, dtype=torch.get_default_dtype()))
    draws = mcmc.get_samples()["theta"]
    ess = float(effective_sample_size(draws[None], chain_dim=0, sample_dim=1))
    return draws.numpy(), ess


def _nuts_numpyro(low, high):
    import jax
    import jax.numpy as jnp
    from numpyro.diagnostics import effective_sample_size
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(_numpyro_model(low, high))
    mcmc = MCMC(kernel, num_warmup=300, num_samples=600, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), jnp.asarray(Y))
    draws = np.asarray(mcmc.get_samples()["theta"])
    return draws, float(effective_sample_size(draws[None]))


@pytest.mark.slow
@pytest.mark.parametrize("ends", list(ENDS))
def test_nuts_on_a_truncated_prior_matches_the_exact_posterior_mean(backend, ends):
    low, high = ENDS[ends]
    draws, ess = {"pyro": _nuts_pyro, "numpyro": _nuts_numpyro}[backend.name](low, high)
    exact = _exact_posterior(low, high)
    assert np.all(draws >= (-np.inf if low is None else low))
    assert np.all(draws <= (np.inf if high is None else high))
    # Within 4 Monte Carlo standard errors (sd / sqrt(effective sample size)).
    standard_error = exact.std() / np.sqrt(ess)
    z = (draws.mean() - exact.mean()) / standard_error
    assert abs(z) < 4.0, f"NUTS mean {draws.mean():.4f} vs exact {exact.mean():.4f} ({z:.1f} se)"
