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
    assert idata.posterior["theta_raw"].shape == (4, 50, 8)
    assert idata.posterior_predictive["y"].shape == (4, 50, 8)
    assert idata.log_likelihood["y"].shape == (4, 50, 8)
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


def test_export_of_a_relaxed_model_fitted_with_a_schedule():
    import jax

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import choose, relax
    from ppl_reparam.schedules import ExponentialDecay

    noise = jax.random.normal(jax.random.PRNGKey(0), (30,))
    data = noise + jnp.where(jnp.arange(30) < 15, -3.0, 3.0)

    def mixture(x):
        locs = numpyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with numpyro.plate("data", len(x)):
            z = numpyro.sample("z", dist.Categorical(jnp.ones(2) / 2))
            numpyro.sample("x", dist.Normal(choose(z, locs), 1.0), obs=x)

    schedule = ExponentialDecay(1.0, 0.05, floor=0.5)
    relaxed = relax(mixture, schedule)
    result = fit(
        relaxed,
        AutoPathwiseGuide(relaxed),
        data,
        num_steps=20,
        temperature=schedule,
        progress_bar=False,
    )
    assert result.kwargs["relax_temperature"] == schedule(19)
    idata = to_inference_data(result, num_samples=20)
    assert idata.posterior["z_relaxed"].shape == (4, 5, 30, 2)
    assert idata.log_likelihood["x"].shape == (4, 5, 30)
    assert float(idata.posterior_predictive["x"].std()) > 0.5
