"""Pyro specifics of the relaxed families: plates, traces and Trace_ELBO with a relaxed
latent at the lowest temperature in float32."""

import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from ppl_reparam.pyro.distributions import (
    ExpRelaxedOneHotCategorical,
    RelaxedOneHotCategorical,
)


def _model_and_guide(cls, k, temperature):
    def model():
        with pyro.plate("n", 3):
            pyro.sample("z", cls(temperature, logits=torch.zeros(k)))

    def guide():
        logits = pyro.param("logits", torch.zeros(k))  # the plate expands it
        with pyro.plate("n", 3):
            pyro.sample("z", cls(temperature, logits=logits))

    return model, guide


def test_guide_log_prob_uses_the_draw_in_a_plate_at_lowest_temperature_float32():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model, guide = _model_and_guide(RelaxedOneHotCategorical, 1000, torch.tensor(0.01))
    trace = poutine.trace(guide).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["z"]
    assert site["value"].shape == (3, 1000) and bool((site["value"] == 0).any())
    # The same draw in log space: the guide's log_prob is the ExpConcrete one minus sum(y).
    pyro.set_rng_seed(0)
    exp_model, exp_guide = _model_and_guide(ExpRelaxedOneHotCategorical, 1000, 0.01)
    exp_trace = poutine.trace(exp_guide).get_trace()
    exp_trace.compute_log_prob()
    y = exp_trace.nodes["z"]["value"]
    expected = exp_trace.nodes["z"]["log_prob"] - y.sum(-1)
    torch.testing.assert_close(site["log_prob"], expected, rtol=1e-6, atol=0.0)


def test_model_scores_the_guide_draw_from_the_log_space_value_it_carries():
    # Trace_ELBO replays the model on the guide's value: the tensor, and what it carries.
    pyro.clear_param_store()
    pyro.set_rng_seed(2)
    model, guide = _model_and_guide(RelaxedOneHotCategorical, 1000, torch.tensor(0.01))
    guide_trace = poutine.trace(guide).get_trace()
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace()
    model_trace.compute_log_prob()
    x = model_trace.nodes["z"]["value"]
    assert x is guide_trace.nodes["z"]["value"] and bool((x == 0).any())
    y = x._exact_log
    prior = ExpRelaxedOneHotCategorical(0.01, logits=torch.zeros(1000))
    expected = prior.log_prob(y) - y.sum(-1)
    torch.testing.assert_close(model_trace.nodes["z"]["log_prob"], expected, rtol=1e-6, atol=0.0)
    # a copy of the values carries nothing: the zeros are clipped, finite but far off
    bare = model_trace.nodes["z"]["fn"].log_prob(x.detach().clone())
    assert bool(torch.isfinite(bare).all()) and bool((bare < 0.5 * expected).all())


def test_svi_steps_with_relaxed_latents_are_finite():
    for cls in [RelaxedOneHotCategorical, ExpRelaxedOneHotCategorical]:
        pyro.clear_param_store()
        pyro.set_rng_seed(1)
        model, guide = _model_and_guide(cls, 50, torch.tensor(0.05))
        svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO())
        for _ in range(5):
            assert torch.isfinite(torch.tensor(svi.step()))
        assert torch.isfinite(pyro.param("logits")).all()
