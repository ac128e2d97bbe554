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
