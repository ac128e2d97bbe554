"""Pyro conventions for the truncated families: expand, shapes, validation, SVI."""

import pyro
import pyro.distributions as upstream
import pytest
import torch

from ppl_reparam.pyro.distributions import SoftTruncated, Truncated, TruncatedNormal


def test_expand_and_batch_shapes():
    d = TruncatedNormal(torch.zeros(3), 1.0, -1.0, None)
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.rsample((4,)).shape == (4, 2, 3)
    g = Truncated(upstream.HalfNormal(torch.ones(3)), low=0.5, high=2.0).expand((2, 3))
    assert g.rsample().shape == (2, 3)
    s = SoftTruncated(upstream.Normal(torch.zeros(3), 1.0), 0.0, 1.0, 0.1).expand((5, 3))
    assert s.rsample().shape == (5, 3)


def test_validation_rejects_values_outside_the_interval():
    d = TruncatedNormal(0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor(2.0))


def test_svi_step_has_finite_pathwise_gradient():
    pyro.clear_param_store()

    def model():
        pyro.sample("x", TruncatedNormal(0.0, 1.0, 3.0, None))

    def guide():
        loc = pyro.param("loc", torch.tensor(3.5))
        pyro.sample("x", TruncatedNormal(loc, 0.5, 3.0, None))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), pyro.infer.Trace_ELBO(8))
    loss = svi.step()
    assert torch.isfinite(torch.tensor(loss))
    assert torch.isfinite(pyro.param("loc")).all()
