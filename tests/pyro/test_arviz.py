"""ArviZ export of a Pyro SVI fit: summary, LOO and plots run on it."""

import logging
import warnings

import arviz as az
import matplotlib
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
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

    relaxed = relax(mixture, ExponentialDecay(1.0, 0.05, floor=0.5), density="concrete")
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


def normal_mean(y):
    mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _one_parameter_fit(model, num_steps=50):
    pyro.clear_param_store()
    y = torch.tensor([0.3, 1.2, 0.8, -0.1, 0.6])
    guide = AutoNormal(model)
    return fit(model, guide, y, num_steps=num_steps, optim=Adam({"lr": 0.05}), progress_bar=False)


def test_export_runs_guide_and_model_a_bounded_number_of_times():
    calls = []

    def counted(y):
        calls.append(1)
        normal_mean(y)

    result = _one_parameter_fit(counted)
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to a loop over draws
        idata = to_inference_data(result, num_samples=4000)
    # one draw to learn the sites, then one run for loglik and one for the predictive
    assert len(calls) == 3
    assert idata.posterior["mu"].shape == (4, 1000)
    assert idata.posterior_predictive["y"].shape == (4, 1000, 5)


def test_vectorised_draws_match_the_guide_and_scipy_log_likelihood():
    import scipy.stats

    result = _one_parameter_fit(normal_mean)
    idata = to_inference_data(result, num_samples=4000, seed=1)
    mu = idata.posterior["mu"].values.reshape(-1)
    loc = float(result.params["AutoNormal.locs.mu"])
    scale = float(result.params["AutoNormal.scales.mu"])
    # the guide is Normal(loc, scale): 5 standard errors of the mean and of the sd
    assert abs(mu.mean() - loc) < 5 * scale / np.sqrt(4000)
    assert abs(mu.std() - scale) < 5 * scale / np.sqrt(2 * 4000)
    y = result.args[0].numpy()
    loglik = idata.log_likelihood["y"].values.reshape(-1, 5)
    np.testing.assert_allclose(loglik, scipy.stats.norm.logpdf(y, mu[:, None], 1.0), rtol=1e-5)
    noise = idata.posterior_predictive["y"].values.reshape(-1, 5) - mu[:, None]
    assert abs(noise.std() - 1.0) < 5 / np.sqrt(2 * noise.size)
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 5 / np.sqrt(4000)


def test_a_model_that_cannot_be_vectorised_falls_back_with_one_warning():
    import scipy.stats

    def branching(y):
        mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        scale = 1.0 if mu > 0 else 2.0  # Python control flow on a sampled value
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(mu, scale), obs=y)

    result = _one_parameter_fit(branching)
    with pytest.warns(UserWarning, match="does not run vectorised") as record:
        idata = to_inference_data(result, num_samples=40)
    assert len(record) == 1
    mu = idata.posterior["mu"].values.reshape(-1)
    scale = np.where(mu > 0, 1.0, 2.0)[:, None]
    expected = scipy.stats.norm.logpdf(result.args[0].numpy(), mu[:, None], scale)
    np.testing.assert_allclose(idata.log_likelihood["y"].values.reshape(-1, 5), expected, rtol=1e-5)


def test_az_summary_of_an_export_warns_nothing_and_has_no_nan(caplog):
    idata = to_inference_data(_one_parameter_fit(normal_mean), num_samples=4000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = az.summary(idata)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not summary.isna().any().any()
    # independent draws: r_hat is 1 and the effective sample size the number of draws
    assert abs(float(summary.loc["mu", "r_hat"]) - 1.0) < 0.01
    assert float(summary.loc["mu", "ess_bulk"]) > 3000


def test_bad_export_arguments_are_rejected():
    result = _one_parameter_fit(normal_mean, num_steps=1)
    with pytest.raises(ValueError, match=r"num_samples \(10\) must be a multiple of chains"):
        to_inference_data(result, num_samples=10)
    with pytest.raises(ValueError, match="chains must be an integer >= 1"):
        to_inference_data(result, num_samples=10, chains=0)
    assert to_inference_data(result, num_samples=10, chains=1).posterior["mu"].shape == (1, 10)
