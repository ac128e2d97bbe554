"""``relax.assignments`` in both backends: the class probabilities are softmax (sigmoid)
of the guide's fitted logits, the labels their argmax, both backends agree, and the
probabilities are what the relaxed draws round to (the Gumbel-max property)."""

import importlib

import numpy as np
import pytest
import scipy.special as sps

from tests.backends import BACKEND_NAMES

N, K = 6, 3
LOGITS = np.random.default_rng(0).normal(scale=2.0, size=(N, K))
BIT_LOGITS = np.random.default_rng(1).normal(scale=2.0, size=N)


def _relaxed_model_and_guide(backend_name: str):
    """A model with a categorical and a Bernoulli site per point, relaxed, and a guide
    drawing both from ppl_reparam's relaxed families at the fixed logits above."""
    relax = importlib.import_module(f"ppl_reparam.{backend_name}.relax").relax
    ours = importlib.import_module(f"ppl_reparam.{backend_name}.distributions")
    if backend_name == "pyro":
        import pyro as ppl
        import pyro.distributions as dist
        import torch

        def param(name, value):
            return ppl.param(name, lambda: torch.as_tensor(value))

        ones = torch.ones
    else:
        import jax.numpy as jnp
        import numpyro as ppl
        import numpyro.distributions as dist

        def param(name, value):
            return ppl.param(name, jnp.asarray(value))

        ones = jnp.ones

    def model(x):
        with ppl.plate("data", N):
            z = ppl.sample("z", dist.Categorical(logits=ones(K)))
            b = ppl.sample("b", dist.Bernoulli(0.5))
            ppl.sample("x", dist.Normal(z.sum(-1) + b, 1.0), obs=x)

    def guide(x, relax_temperature=0.5):
        q, r = param("q", LOGITS), param("r", BIT_LOGITS)
        with ppl.plate("data", N):
            ppl.sample("z_relaxed", ours.ExpRelaxedOneHotCategorical(relax_temperature, logits=q))
            ppl.sample("b_relaxed", ours.LogitRelaxedBernoulli(relax_temperature, logits=r))

    return relax(model, 0.5), guide


def _assignments(backend_name: str, **guide_kwargs) -> dict:
    relax = importlib.import_module(f"ppl_reparam.{backend_name}.relax")
    _, guide = _relaxed_model_and_guide(backend_name)
    x = np.zeros(N)
    if backend_name == "pyro":
        import pyro

        pyro.clear_param_store()
        out = relax.assignments(guide, None, x, **guide_kwargs)
    else:
        out = relax.assignments(guide, {"q": LOGITS, "r": BIT_LOGITS}, x, **guide_kwargs)
    return {site: tuple(np.asarray(a) for a in pair) for site, pair in out.items()}


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_assignments_are_softmax_and_sigmoid_of_the_logits_with_their_argmax(backend_name):
    out = _assignments(backend_name)
    assert sorted(out) == ["b", "z"]
    probs, labels = out["z"]
    np.testing.assert_allclose(probs, sps.softmax(LOGITS, -1), rtol=1e-6)
    np.testing.assert_array_equal(labels, LOGITS.argmax(-1))
    bit_probs, bit_labels = out["b"]
    np.testing.assert_allclose(bit_probs, sps.expit(BIT_LOGITS), rtol=1e-6)
    np.testing.assert_array_equal(bit_labels, (BIT_LOGITS > 0).astype(int))


def test_assignments_agree_across_backends_and_temperatures():
    pyro_out = _assignments("pyro", relax_temperature=0.1)
    for numpyro_out in (_assignments("numpyro"), _assignments("numpyro", relax_temperature=2.0)):
        for site in ("z", "b"):
            np.testing.assert_allclose(pyro_out[site][0], numpyro_out[site][0], rtol=1e-6)
            np.testing.assert_array_equal(pyro_out[site][1], numpyro_out[site][1])


def test_probabilities_are_the_rounding_frequencies_of_relaxed_draws():
    """What the probabilities mean: the argmax of a draw of the guide's relaxed site is
    class k with probability softmax(logits)_k, whatever the temperature."""
    import torch

    from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical

    torch.manual_seed(0)
    logits = torch.as_tensor(LOGITS)
    draws = ExpRelaxedOneHotCategorical(torch.tensor(3.0), logits=logits).sample((20000,))
    freq = torch.nn.functional.one_hot(draws.argmax(-1), K).double().mean(0).numpy()
    # 4 binomial standard errors at n = 20000
    np.testing.assert_allclose(freq, sps.softmax(LOGITS, -1), atol=4 * 0.5 / np.sqrt(20000))


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_assignments_read_an_autoguide_and_reject_a_guide_without_relaxed_sites(backend_name):
    guides = importlib.import_module(f"ppl_reparam.{backend_name}.guides")
    relax = importlib.import_module(f"ppl_reparam.{backend_name}.relax")
    relaxed, _ = _relaxed_model_and_guide(backend_name)
    guide = guides.AutoPathwiseGuide(relaxed)
    x = np.linspace(-1.0, 3.0, N)
    if backend_name == "pyro":
        import pyro
        import torch

        pyro.clear_param_store()
        x = torch.as_tensor(x, dtype=torch.float32)
        guide(x)  # creates the parameters in the store
        name = "AutoPathwiseGuide.logits.z_relaxed"
        logits = pyro.param(name).detach().numpy()
        from_store = relax.assignments(guide, None, x)
        np.testing.assert_allclose(from_store["z"][0].numpy(), sps.softmax(logits, -1), rtol=1e-5)
        # explicit parameters replace the store's
        given = relax.assignments(guide, {name: torch.zeros(N, K)}, x)
        np.testing.assert_allclose(given["z"][0].numpy(), np.full((N, K), 1 / K), rtol=1e-6)
    else:
        import jax
        import jax.numpy as jnp
        from numpyro import handlers

        x = jnp.asarray(x)
        trace = handlers.trace(handlers.seed(guide, jax.random.PRNGKey(0))).get_trace(x)
        params = {name: s["value"] for name, s in trace.items() if s["type"] == "param"}
        params["z_relaxed_auto_logits"] = jnp.asarray(LOGITS)
        out = relax.assignments(guide, params, x)
        np.testing.assert_allclose(np.asarray(out["z"][0]), sps.softmax(LOGITS, -1), rtol=1e-5)
        with pytest.raises(ValueError, match="pass the fitted parameters"):
            relax.assignments(guide, None, x)
    with pytest.raises(ValueError, match="the guide has no relaxed site"):
        relax.assignments(lambda x: None, {}, x)
