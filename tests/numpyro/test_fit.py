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


def normal_mean_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def normal_mean_guide(y):
    loc = numpyro.param("loc", 0.0)
    numpyro.sample("mu", dist.Normal(loc, 1.0))


def _guides():
    from numpyro.infer.autoguide import AutoNormal

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide

    return {
        "custom": lambda model: normal_mean_guide,
        "AutoNormal": AutoNormal,
        "AutoPathwiseGuide": AutoPathwiseGuide,
    }


@pytest.mark.parametrize("guide_kind", ["custom", "AutoNormal", "AutoPathwiseGuide"])
def test_nan_in_observed_data_names_the_site_and_says_it_is_data(guide_kind):
    y = jnp.asarray([0.3, float("nan"), -0.2, 1.1])
    guide = _guides()[guide_kind](normal_mean_model)
    with pytest.raises(NonFiniteLossError) as info:
        fit(normal_mean_model, guide, y, num_steps=5, progress_bar=False)
    err = info.value
    assert err.sites == ["y (model)"]
    assert "site y (model): its observed data are non-finite (1 of 4 values" in str(err)
    assert "arguments" not in str(err)
    if guide_kind != "custom":
        # the autoguide's "Cannot find valid initial parameters", chained
        assert isinstance(err.__cause__, RuntimeError)
    assert err.result.losses == []
    assert all(np.all(np.isfinite(v)) for v in err.result.params.values())


def test_non_finite_distribution_arguments_are_named():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        log_sigma = numpyro.param("log_sigma", 1.0)
        sigma = jnp.exp(1000.0 * log_sigma)  # overflows to inf
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", dist.Normal(mu + sigma - sigma, sigma), obs=y)

    with pytest.raises(NonFiniteLossError) as info:
        fit(model, normal_mean_guide, jnp.zeros(3), num_steps=5, progress_bar=False)
    err = info.value
    assert err.sites == ["y (model)"]
    message = str(err)
    assert "site y (model): the arguments of its Normal are non-finite:" in message
    assert "`loc` (1 of 1 value)" in message and "`scale` (1 of 1 value)" in message
    assert "observed data" not in message


def test_infinite_scale_reaches_the_loss_check_and_is_named():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        log_sigma = numpyro.param("log_sigma", 1.0)
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", dist.Normal(mu, jnp.exp(1000.0 * log_sigma)), obs=y)

    with pytest.raises(NonFiniteLossError, match="non-finite loss or gradient at step 0") as info:
        fit(model, normal_mean_guide, jnp.zeros(3), num_steps=5, progress_bar=False)
    assert info.value.sites == ["y (model)"]
    assert "`scale` (1 of 1 value)" in str(info.value)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "hot", True])
def test_bad_temperature_names_the_argument_and_the_range(bad):
    with pytest.raises(ValueError, match=r"fit: `temperature` must be a finite number > 0"):
        fit(model, guide, DATA, num_steps=5, temperature=bad, progress_bar=False)


def _relaxed_setup(temperature):
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import relax

    def coin(y):
        with numpyro.plate("data", len(y)):
            z = numpyro.sample("z", dist.Bernoulli(0.3))
            numpyro.sample("y", dist.Normal(3.0 * z, 1.0), obs=y)

    relaxed = relax(coin, temperature, density="concrete")
    return relaxed, AutoPathwiseGuide(relaxed)


def test_fit_anneals_with_the_schedule_of_a_relaxed_model():
    schedule = ExponentialDecay(1.0, 0.2, floor=0.3)
    y = jnp.asarray([0.1, 2.9, 3.2, -0.4])
    relaxed, apg = _relaxed_setup(schedule)
    own = fit(relaxed, apg, y, num_steps=6, progress_bar=False)
    assert own.kwargs["relax_temperature"] == schedule(5)
    relaxed, apg = _relaxed_setup(ExponentialDecay(1.0, 0.2, floor=0.3))
    explicit = fit(relaxed, apg, y, num_steps=6, temperature=schedule, progress_bar=False)
    np.testing.assert_array_equal(explicit.losses, own.losses)
    relaxed, apg = _relaxed_setup(1.0)
    constant = fit(relaxed, apg, y, num_steps=6, progress_bar=False)
    assert constant.losses[0] == own.losses[0]  # both at temperature 1 at step 0
    assert constant.losses[1:] != own.losses[1:]


def test_a_temperature_that_disagrees_with_the_relaxed_model_is_an_error():
    relaxed, apg = _relaxed_setup(ExponentialDecay(1.0, 0.2, floor=0.3))
    with pytest.raises(ValueError, match="gives 0.5 at step 0 but the relaxed model"):
        fit(relaxed, apg, jnp.zeros(3), num_steps=5, temperature=0.5, progress_bar=False)
    # a schedule that first differs after the last step of this fit is no conflict
    later = ExponentialDecay(1.0, 0.2, floor=0.3, update_every=5)
    with pytest.raises(ValueError, match="at step 1 "):
        fit(relaxed, apg, jnp.zeros(3), num_steps=5, temperature=later, progress_bar=False)
    result = fit(relaxed, apg, jnp.zeros(3), num_steps=1, temperature=later, progress_bar=False)
    assert result.kwargs["relax_temperature"] == 1.0


def test_a_second_fit_of_the_same_structure_does_not_recompile():
    import jax

    from ppl_reparam.numpyro import infer

    traced = []

    def counted_model(y, relax_temperature=None):
        traced.append(isinstance(y, jax.core.Tracer))
        model(y)

    optim = optax.adam(0.05)
    first = fit(counted_model, guide, DATA, num_steps=20, optim=optim, progress_bar=False)
    assert traced.count(True) >= 1  # compiled once
    traced.clear()
    other_data = 1.0 - DATA  # the same shape and dtype, other values
    second = fit(counted_model, guide, other_data, num_steps=20, optim=optim, progress_bar=False)
    assert traced.count(True) == 0  # the compiled step was reused
    assert traced.count(False) >= 1  # only SVI's eager initialisation ran the model
    # a cached step gives the numbers a fresh compilation gives
    infer._compiled.clear()
    fresh = fit(counted_model, guide, other_data, num_steps=20, optim=optim, progress_bar=False)
    np.testing.assert_array_equal(second.losses, fresh.losses)
    assert second.losses != first.losses
    traced.clear()
    fit(counted_model, guide, DATA[:10], num_steps=2, optim=optim, progress_bar=False)
    assert traced.count(True) >= 1  # a new shape compiles again


def test_a_model_that_needs_concrete_data_still_fits():
    idx = np.asarray([0, 1, 1, 2, 0, 2])

    def grouped(idx, y):
        num_groups = int(np.max(idx)) + 1  # NumPy on the data: fails if idx is traced
        with numpyro.plate("groups", num_groups):
            mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("data", len(idx)):
            numpyro.sample("y", dist.Normal(mu[idx], 1.0), obs=y)

    from numpyro.infer.autoguide import AutoNormal

    result = fit(grouped, AutoNormal(grouped), idx, jnp.ones(6), num_steps=30, progress_bar=False)
    assert len(result.losses) == 30 and np.all(np.isfinite(result.losses))
