"""ArviZ export of a NumPyro SVI fit: summary, LOO and plots run on it."""

import arviz as az
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax

from ppl_reparam.numpyro.arviz import to_inference_data
from ppl_reparam.numpyro.infer import fit
from tests.datasets import eight_schools

matplotlib.use("Agg")


def model(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


def test_inference_data_has_every_group_and_works_with_arviz():
    y, sigma = eight_schools()
    guide = numpyro.infer.autoguide.AutoNormal(model)
    result = fit(
        model,
        guide,
        jnp.asarray(sigma),
        y=jnp.asarray(y),
        num_steps=300,
        optim=optax.adam(0.05),
        progress_bar=False,
    )
    idata = to_inference_data(
        result, num_samples=200, dims={"y": ["school"], "theta_raw": ["school"]}
    )
    assert set(idata.posterior.data_vars) == {"mu", "tau", "theta_raw"}
    assert idata.posterior["theta_raw"].shape == (1, 200, 8)
    assert idata.posterior_predictive["y"].shape == (1, 200, 8)
    assert idata.log_likelihood["y"].shape == (1, 200, 8)
    np.testing.assert_array_equal(idata.observed_data["y"], y)
    # the predictive is sampled, not the observation repeated
    assert float(idata.posterior_predictive["y"].std()) > 1.0
    assert np.all(idata.posterior["tau"] > 0)
    summary = az.summary(idata, var_names=["mu", "tau"])
    assert list(summary.index) == ["mu", "tau"]
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    az.plot_posterior(idata, var_names=["mu"])
    matplotlib.pyplot.close("all")
