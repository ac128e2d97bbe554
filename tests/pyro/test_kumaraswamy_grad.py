"""The closed-form gradient rule of the Pyro Kumaraswamy sampler against autodiff."""

import torch

from ppl_reparam.math import kumaraswamy as _k
from ppl_reparam.pyro import _xp
from ppl_reparam.pyro.distributions import Kumaraswamy


def test_custom_gradient_equals_autodiff_through_the_formula_under_broadcasting():
    a = torch.tensor([[0.3], [2.0], [40.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.05, 1.0, 7.0, 90.0], dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, 3, 4, dtype=torch.float64)
    torch.manual_seed(11)
    x = Kumaraswamy(a, b).rsample((5,))
    ours = torch.autograd.grad((weights * x).sum(), (a, b))
    torch.manual_seed(11)
    u = torch.rand(5, 3, 4, dtype=torch.float64).clamp_min(torch.finfo(torch.float64).tiny)
    reference = torch.autograd.grad((weights * _k.sample(_xp, u, a, b)).sum(), (a, b))
    for got, want in zip(ours, reference, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)


def test_sample_without_gradient_records_no_graph():
    d = Kumaraswamy(torch.tensor(2.0), torch.tensor(3.0))
    assert not d.sample((10,)).requires_grad
