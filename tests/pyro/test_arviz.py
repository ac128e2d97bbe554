"""ArviZ export of a Pyro SVI fit: summary, LOO and plots run on it."""

import arviz as az
import matplotlib
import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoNormal
from pyro.optim import Adam

from ppl_reparam.pyro.arviz import to_inference_data
from ppl_reparam.pyro.infer import fit
from tests.datasets import eight_schools

matplotlib.use("Agg")


def model(sigma, y=None):
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("school", len(sigma)):
        theta_raw = pyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


def test_inference_data_has_every_group_and_works_with_arviz():
    pyro.clear_param_store()
    y, sigma = eight_schools()
    y, sigma = torch.tensor(y, dtype=torch.float32), torch.tensor(sigma, dtype=torch.float32)
    result = fit(
        model,
        AutoNormal(model),
        sigma,
        y=y,
        num_steps=300,
        optim=Adam({"lr": 0.05}),
        progress_bar=False,
    )
    idata = to_inference_data(
        result, num_samples=200, dims={"y": ["school"], "theta_raw": ["school"]}
    )
    assert set(idata.posterior.data_vars) == {"mu", "tau", "theta_raw"}
    assert idata.posterior["theta_raw"].shape == (4, 50, 8)
    assert idata.posterior_predictive["y"].shape == (4, 50, 8)
    assert idata.log_likelihood["y"].shape == (4, 50, 8)
    np.testing.assert_allclose(idata.observed_data["y"], y.numpy())
    assert float(idata.posterior_predictive["y"].std()) > 1.0
    assert np.all(idata.posterior["tau"] > 0)
    summary = az.summary(idata, var_names=["mu", "tau"])
    assert list(summary.index) == ["mu", "tau"]
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    az.plot_posterior(idata, var_names=["mu"])
    matplotlib.pyplot.close("all")


def test_export_of_a_relaxed_model_fitted_with_a_schedule():
    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.relax import choose, relax
    from ppl_reparam.schedules import ExponentialDecay

    pyro.clear_param_store()
    data = torch.cat([torch.randn(15) - 3.0, torch.randn(15) + 3.0])

    def mixture(x):
        locs = pyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Categorical(torch.ones(2) / 2))
            pyro.sample("x", dist.Normal(choose(z, locs), 1.0), obs=x)

    relaxed = relax(mixture, ExponentialDecay(1.0, 0.05, floor=0.5))
    result = fit(
        relaxed,
        AutoPathwiseGuide(relaxed),
        data,
        num_steps=20,
        temperature=ExponentialDecay(1.0, 0.05, floor=0.5),
        progress_bar=False,
    )
    assert result.kwargs["relax_temperature"] == ExponentialDecay(1.0, 0.05, floor=0.5)(19)
    idata = to_inference_data(result, num_samples=20)
    assert idata.posterior["z_relaxed"].shape == (4, 5, 30, 2)
    assert idata.log_likelihood["x"].shape == (4, 5, 30)
    assert float(idata.posterior_predictive["x"].std()) > 0.5
