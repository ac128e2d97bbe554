"""The NumPyro fit loop: results, checkpoints that resume exactly, non-finite errors."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest

from ppl_reparam.numpyro.distributions import Kumaraswamy
from ppl_reparam.numpyro.infer import NonFiniteLossError, fit
from ppl_reparam.schedules import ExponentialDecay

DATA = jnp.asarray([1.0] * 15 + [0.0] * 35)


def model(y, relax_temperature=None):
    p = numpyro.sample("p", dist.Beta(2.0, 2.0))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def guide(y, relax_temperature=None):
    a = numpyro.param("a", 1.0, constraint=dist.constraints.positive)
    b = numpyro.param("b", 1.0, constraint=dist.constraints.positive)
    numpyro.sample("p", Kumaraswamy(a, b))


def test_fit_returns_params_and_one_loss_per_step():
    result = fit(model, guide, DATA, num_steps=300, optim=optax.adam(0.05), progress_bar=False)
    assert len(result.losses) == 300 and np.all(np.isfinite(result.losses))
    assert set(result.params) == {"a", "b"}
    assert np.mean(result.losses[-50:]) < np.mean(result.losses[:50])


def test_interrupted_and_resumed_run_gives_the_same_losses(tmp_path):
    full = fit(model, guide, DATA, num_steps=40, seed=3, progress_bar=False)
    path = tmp_path / "fit.ckpt"
    first = fit(
        model,
        guide,
        DATA,
        num_steps=20,
        seed=3,
        checkpoint_path=path,
        checkpoint_every=10,
        progress_bar=False,
    )
    assert len(first.losses) == 20
    resumed = fit(
        model,
        guide,
        DATA,
        num_steps=40,
        seed=3,
        checkpoint_path=path,
        checkpoint_every=10,
        progress_bar=False,
    )
    np.testing.assert_array_equal(resumed.losses, full.losses)
    for name in full.params:
        np.testing.assert_array_equal(resumed.params[name], full.params[name])


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
    assert seen  # traced once for init, once for the jitted step
    assert all(t is not None for t in seen)


def test_non_finite_loss_names_the_site_and_keeps_last_finite_params():
    def normal_model():
        numpyro.sample("z", dist.Normal(0.0, 1.0))

    def bad_guide():
        # an unconstrained scale that a too-large step pushes below zero
        scale = numpyro.param("scale", 3.0)
        numpyro.sample("z", dist.Normal(0.0, scale))

    with pytest.raises(NonFiniteLossError, match="z") as info:
        fit(normal_model, bad_guide, num_steps=50, optim=optax.sgd(2.0), progress_bar=False)
    err = info.value
    assert any(site.startswith("z") for site in err.sites)
    assert np.isfinite(float(err.result.params["scale"]))
    assert len(err.result.losses) < 50 and np.all(np.isfinite(err.result.losses))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_steps"):
        fit(model, guide, DATA, num_steps=-1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(model, guide, DATA, num_steps=5, checkpoint_every=2)
