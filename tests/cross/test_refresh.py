"""AutoPathwiseGuide.refresh_discrete, and fit's one refresh of the discrete sites
(ppl_reparam._fit.refresh_step) in a fit with RelaxedControlVariateELBO, both backends."""

import numpy as np
import pytest
from scipy.special import log_softmax
from scipy.stats import norm

from ppl_reparam import _fit
from tests.backends import BACKEND_NAMES

X = np.array([-2.1, -0.3, 0.4, 1.7, 3.2, 0.05])
WEIGHTS = np.array([0.3, 0.7])
MEANS = np.array([-1.0, 2.0])  # where the guide's medians of ``mu`` are set


def _setup(backend_name: str, coupled: bool = False):
    """``(model, guide, x, fit)``: a 1-D two-component mixture with latent means whose
    guide has its medians of ``mu`` at :data:`MEANS`; ``coupled``: with a factor outside
    the plate that couples neighbouring labels (an HMM's transitions)."""
    if backend_name == "pyro":
        import pyro as ppl
        import pyro.distributions as dist
        import torch
        from pyro.infer.autoguide import init_to_value

        from ppl_reparam.pyro.guides import AutoPathwiseGuide
        from ppl_reparam.pyro.infer import fit
        from ppl_reparam.pyro.relax import choose

        ppl.clear_param_store()
        x = torch.as_tensor(X)
        means = torch.as_tensor(MEANS)
        weights = torch.as_tensor(WEIGHTS)
    else:
        import jax.numpy as jnp
        import numpyro as ppl
        import numpyro.distributions as dist
        from numpyro.infer import init_to_value

        from ppl_reparam.numpyro.guides import AutoPathwiseGuide
        from ppl_reparam.numpyro.infer import fit
        from ppl_reparam.numpyro.relax import choose

        x = jnp.asarray(X, jnp.float32)
        means = jnp.asarray(MEANS, jnp.float32)
        weights = jnp.asarray(WEIGHTS, jnp.float32)

    def model(x):
        mu = ppl.sample("mu", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with ppl.plate("data", len(x)):
            z = ppl.sample("z", dist.Categorical(weights))
            ppl.sample("x", dist.Normal(choose(z, mu), 1.0), obs=x)
        if coupled:
            ppl.factor("stay", 2.0 * (z[1:] == z[:-1]).sum())

    guide = AutoPathwiseGuide(model, init_loc_fn=init_to_value(values={"mu": means}))
    return model, guide, x, fit


def _expected_logits() -> np.ndarray:
    """The conditional law of each label given ``mu`` = :data:`MEANS`."""
    return log_softmax(np.log(WEIGHTS) + norm.logpdf(X[:, None], MEANS, 1.0), -1)


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_refresh_discrete_sets_the_labels_to_their_conditional_law_at_the_medians(backend_name):
    model, guide, x, _ = _setup(backend_name)
    if backend_name == "pyro":
        import torch

        guide(x)
        with torch.no_grad():  # confidently wrong labels, as a refresh is for
            guide.logits.z_unconstrained.copy_(torch.tensor([[-20.0, 20.0]] * len(X)))
        guide.refresh_discrete(x)
        logits = guide.logits.z.detach().numpy()
        np.testing.assert_allclose(guide.median(x)["mu"].numpy(), MEANS, rtol=1e-6)
    else:
        import jax
        import jax.numpy as jnp
        from numpyro import handlers

        with handlers.trace() as tr, handlers.seed(rng_seed=0):
            guide(x)
        params = {n: s["value"] for n, s in tr.items() if s["type"] == "param"}
        wrong = jnp.tile(jnp.array([-20.0, 20.0]), (len(X), 1))
        params = {**params, "z_auto_logits": wrong}
        new = guide.refresh_discrete(params, x)
        assert set(new) == set(params)
        for name in params:
            if name != "z_auto_logits":
                assert new[name] is params[name], name  # only the labels change
        assert new["z_auto_logits"].dtype == wrong.dtype
        np.testing.assert_allclose(guide.median(new)["mu"], MEANS, rtol=1e-6)
        logits = np.asarray(jax.device_get(new["z_auto_logits"]))
    np.testing.assert_allclose(log_softmax(logits, -1), _expected_logits(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("num_steps", "average_last", "expected"),
    [(8000, None, 6000), (8000, 2000, 6000), (8000, 500, 6000), (8000, 4000, 4000), (7, 0, 6)],
)
def test_refresh_step_is_the_averaging_window_or_three_quarters_through(
    num_steps, average_last, expected
):
    assert _fit.refresh_step(num_steps, average_last) == expected


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
@pytest.mark.parametrize("num_starts", [1, 8])
def test_fit_refreshes_the_discrete_sites_once_after_the_multistart_phase(
    backend_name, num_starts, monkeypatch
):
    model, guide, x, fit = _setup(backend_name)
    calls = []
    refresh = type(guide).refresh_discrete

    def counted(self, *args, **kwargs):
        calls.append(kwargs)
        return refresh(self, *args, **kwargs)

    monkeypatch.setattr(type(guide), "refresh_discrete", counted)
    # the best start's 100 steps count against the budget: the refresh (step 300 of
    # 400) comes in the main loop
    result = fit(model, guide, x, num_steps=400, num_starts=num_starts, progress_bar=False)
    assert len(result.losses) == 400
    assert len(calls) == 1
    # a fit whose multi-start phase reaches past the refresh step (90 of 120) has none
    calls.clear()
    fit(model, guide, x, num_steps=120, num_starts=8, progress_bar=False)
    assert calls == []


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_refresh_discrete_leaves_labels_whose_conditional_is_not_plate_local(backend_name):
    # the factor outside the plate couples the labels: each one's conditional depends on
    # its neighbours, which a refresh from their modes would only guess
    model, guide, x, _ = _setup(backend_name, coupled=True)
    if backend_name == "pyro":
        import torch

        guide(x)
        before = guide.logits.z.detach().clone()
        rng = torch.get_rng_state()
        guide.refresh_discrete(x)
        assert torch.equal(guide.logits.z.detach(), before)
        assert torch.equal(torch.get_rng_state(), rng)  # a fit's draws stay as they were
    else:
        from numpyro import handlers

        with handlers.trace() as tr, handlers.seed(rng_seed=0):
            guide(x)
        params = {n: s["value"] for n, s in tr.items() if s["type"] == "param"}
        new = guide.refresh_discrete(params, x)
        assert all(new[name] is params[name] for name in params)


def test_numpyro_fit_refreshes_with_an_optimizer_other_than_optax(monkeypatch):
    # numpyro.optim.Adam keeps its state in jax.example_libraries' packed form: the
    # refresh sets it up afresh at the new parameters instead of editing it
    pytest.importorskip("numpyro")
    import numpyro.optim

    import ppl_reparam.numpyro.guides as guides

    model, guide, x, fit = _setup("numpyro")
    seen = []
    refresh = guides.AutoPathwiseGuide.refresh_discrete

    def kept(self, params, *args, **kwargs):
        new = refresh(self, params, *args, **kwargs)
        seen.append(new["z_auto_logits"])
        return new

    monkeypatch.setattr(guides.AutoPathwiseGuide, "refresh_discrete", kept)
    # a zero learning rate: the returned logits are the refreshed ones
    result = fit(
        model,
        guide,
        x,
        num_steps=40,
        num_starts=1,
        average_last=0,
        optim=numpyro.optim.Adam(0.0),
        progress_bar=False,
    )
    assert len(seen) == 1
    np.testing.assert_allclose(result.params["z_auto_logits"], seen[0])
    np.testing.assert_allclose(
        log_softmax(np.asarray(seen[0]), -1), _expected_logits(), rtol=1e-5, atol=1e-5
    )
