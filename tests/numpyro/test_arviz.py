"""ArviZ export of a NumPyro SVI fit: summary, LOO and plots run on it."""

import logging
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro.infer.autoguide import AutoNormal

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
    relaxed = relax(mixture, schedule, density="concrete")
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


def normal_mean(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _one_parameter_fit(model, num_steps=50):
    y = jnp.asarray([0.3, 1.2, 0.8, -0.1, 0.6])
    guide = AutoNormal(model)
    return fit(model, guide, y, num_steps=num_steps, optim=optax.adam(0.05), progress_bar=False)


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
    # one draw to learn the sites, then one trace of the vmapped draw (two model runs)
    assert len(calls) == 3
    assert idata.posterior["mu"].shape == (4, 1000)
    assert idata.posterior_predictive["y"].shape == (4, 1000, 5)


def test_a_second_export_of_a_fit_reuses_the_compiled_draws():
    calls = []

    def counted(y):
        calls.append(1)
        normal_mean(y)

    result = _one_parameter_fit(counted)
    first = to_inference_data(result, num_samples=400, seed=3)
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to a loop over draws
        again = to_inference_data(result, num_samples=400, seed=3)
        other = to_inference_data(result, num_samples=1200, seed=4)
    # each call runs one eager draw to learn the sites; the vmapped draw is not retraced
    # (400 and 1200 draws both run in chunks of 512)
    assert len(calls) == 2
    np.testing.assert_array_equal(again.posterior["mu"].values, first.posterior["mu"].values)
    assert other.posterior["mu"].shape == (4, 300)
    assert len(np.unique(other.posterior["mu"].values)) == 1200  # padding draws cut off


def test_a_model_that_needs_concrete_data_still_exports_vectorised():
    import scipy.stats

    idx = np.asarray([0, 1, 1, 2, 0, 2])
    y = np.asarray([0.3, 1.2, 0.8, -0.1, 0.6, 2.0])

    def grouped(idx, y):
        num_groups = int(np.max(idx)) + 1  # NumPy on the data: fails if idx is traced
        with numpyro.plate("groups", num_groups):
            mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("data", len(idx)):
            numpyro.sample("y", dist.Normal(mu[idx], 1.0), obs=y)

    def guide(idx, y):
        loc = numpyro.param("loc", jnp.zeros(int(np.max(idx)) + 1))
        with numpyro.plate("groups", len(loc)):
            numpyro.sample("mu", dist.Normal(loc, 0.5))

    from ppl_reparam._fit import FitResult

    params = {"loc": jnp.array([-1.0, 0.5, 2.0])}
    result = FitResult(params, [], grouped, guide, (idx, y), {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to a loop over draws
        idata = to_inference_data(result, num_samples=40)
    mu = idata.posterior["mu"].values.reshape(-1, 3)
    expected = scipy.stats.norm.logpdf(y, mu[:, idx], 1.0)
    np.testing.assert_allclose(idata.log_likelihood["y"].values.reshape(-1, 6), expected, rtol=1e-5)


def test_vectorised_draws_match_the_guide_and_scipy_log_likelihood():
    import scipy.stats

    result = _one_parameter_fit(normal_mean)
    idata = to_inference_data(result, num_samples=4000, seed=1)
    mu = idata.posterior["mu"].values.reshape(-1)
    loc = float(result.params["mu_auto_loc"])
    scale = float(result.params["mu_auto_scale"])
    # the guide is Normal(loc, scale): 5 standard errors of the mean and of the sd
    assert abs(mu.mean() - loc) < 5 * scale / np.sqrt(4000)
    assert abs(mu.std() - scale) < 5 * scale / np.sqrt(2 * 4000)
    y = np.asarray(result.args[0])
    loglik = idata.log_likelihood["y"].values.reshape(-1, 5)
    np.testing.assert_allclose(loglik, scipy.stats.norm.logpdf(y, mu[:, None], 1.0), rtol=1e-5)
    noise = idata.posterior_predictive["y"].values.reshape(-1, 5) - mu[:, None]
    assert abs(noise.std() - 1.0) < 5 / np.sqrt(2 * noise.size)
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 5 / np.sqrt(4000)


def _branch(mu):
    return np.where(mu > 0, 1.0, 2.0).astype(mu.dtype)


def test_a_model_that_cannot_be_vectorised_falls_back_with_one_warning():
    import scipy.stats

    def branching(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        # a host callback without a batching rule: jit runs it, vmap cannot
        shape = jax.ShapeDtypeStruct(mu.shape, mu.dtype)
        scale = jax.pure_callback(_branch, shape, jax.lax.stop_gradient(mu))
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", dist.Normal(mu, scale), obs=y)

    result = _one_parameter_fit(branching)
    with pytest.warns(UserWarning, match="does not run vectorised") as record:
        idata = to_inference_data(result, num_samples=8, chains=2)
    assert len(record) == 1
    mu = idata.posterior["mu"].values.reshape(-1)
    scale = np.where(mu > 0, 1.0, 2.0)[:, None]
    expected = scipy.stats.norm.logpdf(np.asarray(result.args[0]), mu[:, None], scale)
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
