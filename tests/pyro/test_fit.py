"""The Pyro fit loop: results, checkpoints that resume exactly, non-finite errors."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.optim import SGD, Adam

from ppl_reparam.pyro.distributions import Kumaraswamy
from ppl_reparam.pyro.infer import NonFiniteLossError, fit
from ppl_reparam.schedules import ExponentialDecay

DATA = torch.tensor([1.0] * 15 + [0.0] * 35)


def model(y, relax_temperature=None):
    p = pyro.sample("p", dist.Beta(2.0, 2.0))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def guide(y, relax_temperature=None):
    a = pyro.param("a", torch.tensor(1.0), constraint=dist.constraints.positive)
    b = pyro.param("b", torch.tensor(1.0), constraint=dist.constraints.positive)
    pyro.sample("p", Kumaraswamy(a, b))


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def test_fit_returns_params_and_one_loss_per_step():
    result = fit(model, guide, DATA, num_steps=300, optim=Adam({"lr": 0.05}), progress_bar=False)
    assert len(result.losses) == 300 and np.all(np.isfinite(result.losses))
    assert set(result.params) == {"a", "b"}
    assert np.mean(result.losses[-50:]) < np.mean(result.losses[:50])


def test_interrupted_and_resumed_run_gives_the_same_losses(tmp_path):
    full = fit(
        model, guide, DATA, num_steps=40, seed=3, optim=Adam({"lr": 0.05}), progress_bar=False
    )
    pyro.clear_param_store()
    path = tmp_path / "fit.ckpt"
    first = fit(
        model,
        guide,
        DATA,
        num_steps=20,
        seed=3,
        optim=Adam({"lr": 0.05}),
        checkpoint_path=path,
        checkpoint_every=10,
        progress_bar=False,
    )
    assert len(first.losses) == 20
    pyro.clear_param_store()  # a new process: nothing survives but the checkpoint
    resumed = fit(
        model,
        guide,
        DATA,
        num_steps=40,
        seed=3,
        optim=Adam({"lr": 0.05}),
        checkpoint_path=path,
        checkpoint_every=10,
        progress_bar=False,
    )
    assert resumed.losses == full.losses
    for name in full.params:
        torch.testing.assert_close(resumed.params[name], full.params[name], rtol=0, atol=0)


def test_temperature_schedule_reaches_model_and_guide():
    seen = []

    def guide_t(y, relax_temperature=None):
        seen.append(relax_temperature)
        guide(y)

    fit(
        model,
        guide_t,
        DATA,
        num_steps=5,
        temperature=ExponentialDecay(1.0, 0.1, floor=0.5),
        progress_bar=False,
    )
    assert seen == [ExponentialDecay(1.0, 0.1, floor=0.5)(t) for t in range(5)]


def test_non_finite_loss_names_the_site_and_keeps_last_finite_params():
    def normal_model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def bad_guide():
        # an unconstrained scale that a too-large step pushes below zero
        scale = pyro.param("scale", torch.tensor(3.0))
        pyro.sample("z", dist.Normal(0.0, scale, validate_args=False))

    with pytest.raises(NonFiniteLossError, match="z") as info:
        fit(normal_model, bad_guide, num_steps=50, optim=SGD({"lr": 2.0}), progress_bar=False)
    err = info.value
    assert any(site.startswith("z") for site in err.sites)
    assert torch.isfinite(err.result.params["scale"])
    assert len(err.result.losses) < 50 and np.all(np.isfinite(err.result.losses))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_steps"):
        fit(model, guide, DATA, num_steps=-1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(model, guide, DATA, num_steps=5, checkpoint_every=2)


def normal_mean_model(y):
    mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def normal_mean_guide(y):
    loc = pyro.param("loc", torch.tensor(0.0))
    pyro.sample("mu", dist.Normal(loc, 1.0))


def _guides():
    from pyro.infer.autoguide import AutoNormal

    from ppl_reparam.pyro.guides import AutoPathwiseGuide

    return {
        "custom": lambda model: normal_mean_guide,
        "AutoNormal": AutoNormal,
        "AutoPathwiseGuide": AutoPathwiseGuide,
    }


@pytest.mark.parametrize("guide_kind", ["custom", "AutoNormal", "AutoPathwiseGuide"])
def test_nan_in_observed_data_names_the_site_and_says_it_is_data(guide_kind):
    # under Pyro's default validation its own check fires before the loss is computed
    assert pyro.distributions.is_validation_enabled()
    y = torch.tensor([0.3, float("nan"), -0.2, 1.1])
    guide = _guides()[guide_kind](normal_mean_model)
    with pytest.raises(NonFiniteLossError) as info:
        fit(normal_mean_model, guide, y, num_steps=5, progress_bar=False)
    err = info.value
    assert err.sites == ["y (model)"]
    assert "site y (model): its observed data are non-finite (1 of 4 values" in str(err)
    assert "arguments" not in str(err)
    assert isinstance(err.__cause__, ValueError)  # Pyro's validation error, chained
    assert err.result.losses == []
    assert all(bool(torch.isfinite(v).all()) for v in err.result.params.values())


def test_non_finite_distribution_arguments_are_named():
    def model(y):
        mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        log_sigma = pyro.param("log_sigma", torch.tensor(1.0))
        sigma = torch.exp(1000.0 * log_sigma)  # overflows to inf
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(mu + sigma - sigma, sigma), obs=y)

    with pytest.raises(NonFiniteLossError) as info:
        fit(model, normal_mean_guide, torch.zeros(3), num_steps=5, progress_bar=False)
    err = info.value
    assert err.sites == ["y (model)"]
    message = str(err)
    assert "site y (model): the arguments of its Normal are non-finite:" in message
    assert "`loc` (3 of 3 values)" in message and "`scale` (3 of 3 values)" in message
    assert "observed data" not in message
    assert isinstance(err.__cause__, ValueError)  # Pyro's "parameter loc" validation


def test_infinite_scale_reaches_the_loss_check_and_is_named():
    def model(y):
        mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        log_sigma = pyro.param("log_sigma", torch.tensor(1.0))
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(mu, torch.exp(1000.0 * log_sigma)), obs=y)

    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradient at step 0") as info:
        fit(model, normal_mean_guide, torch.zeros(3), num_steps=5, progress_bar=False)
    assert info.value.sites == ["y (model)"]
    assert "`scale` (3 of 3 values)" in str(info.value)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "hot", True])
def test_bad_temperature_names_the_argument_and_the_range(bad):
    with pytest.raises(ValueError, match=r"fit: `temperature` must be a finite number > 0"):
        fit(model, guide, DATA, num_steps=5, temperature=bad, progress_bar=False)


def _relaxed_setup(temperature):
    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.relax import relax

    def coin(y):
        with pyro.plate("data", len(y)):
            z = pyro.sample("z", dist.Bernoulli(0.3))
            pyro.sample("y", dist.Normal(3.0 * z, 1.0), obs=y)

    relaxed = relax(coin, temperature, density="concrete")
    return relaxed, AutoPathwiseGuide(relaxed)


def test_fit_anneals_with_the_schedule_of_a_relaxed_model():
    schedule = ExponentialDecay(1.0, 0.2, floor=0.3)
    y = torch.tensor([0.1, 2.9, 3.2, -0.4])
    relaxed, apg = _relaxed_setup(schedule)
    seen = []

    def recording_guide(y, relax_temperature=None):
        seen.append(relax_temperature)
        return apg(y, relax_temperature=relax_temperature)

    own = fit(relaxed, recording_guide, y, num_steps=6, progress_bar=False)
    assert seen == [schedule(t) for t in range(6)]
    assert own.kwargs["relax_temperature"] == schedule(5)
    pyro.clear_param_store()
    relaxed, apg = _relaxed_setup(ExponentialDecay(1.0, 0.2, floor=0.3))
    explicit = fit(relaxed, apg, y, num_steps=6, temperature=schedule, progress_bar=False)
    assert explicit.losses == own.losses


def test_a_temperature_that_disagrees_with_the_relaxed_model_is_an_error():
    relaxed, apg = _relaxed_setup(ExponentialDecay(1.0, 0.2, floor=0.3))
    with pytest.raises(ValueError, match="gives 0.5 at step 0 but the relaxed model"):
        fit(relaxed, apg, torch.zeros(3), num_steps=5, temperature=0.5, progress_bar=False)
    # a schedule that first differs after the last step of this fit is no conflict
    later = ExponentialDecay(1.0, 0.2, floor=0.3, update_every=5)
    with pytest.raises(ValueError, match="at step 1 "):
        fit(relaxed, apg, torch.zeros(3), num_steps=5, temperature=later, progress_bar=False)
    result = fit(relaxed, apg, torch.zeros(3), num_steps=1, temperature=later, progress_bar=False)
    assert result.kwargs["relax_temperature"] == 1.0
