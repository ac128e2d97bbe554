"""Checks that need a CUDA device (skipped without one; run by scripts/gpu_checks.sh)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


def test_torch_families_sample_and_score_on_cuda():
    import torch

    from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical, Kumaraswamy

    device = torch.device("cuda")
    a = torch.tensor([0.01, 1.0, 100.0], device=device, requires_grad=True)
    d = Kumaraswamy(a, torch.tensor([100.0, 1.0, 0.01], device=device))
    x = d.rsample((10_000,))
    assert x.device.type == "cuda"
    assert bool(((x > 0) & (x < 1)).all())
    lp = d.log_prob(x)
    assert bool(torch.isfinite(lp).all())
    (lp.sum() + x.sum()).backward()
    assert bool(torch.isfinite(a.grad).all())
    q = ExpRelaxedOneHotCategorical(
        torch.tensor(0.01, device=device), logits=torch.zeros(1000, device=device)
    )
    y = q.rsample((10,))
    assert bool(torch.isfinite(q.log_prob(y)).all())


def test_jax_families_sample_and_score_on_gpu():
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.skip("JAX sees no GPU")
    import jax.numpy as jnp

    from ppl_reparam.numpyro.distributions import Kumaraswamy

    with jax.default_device(gpus[0]):
        d = Kumaraswamy(jnp.array([0.01, 1.0, 100.0]), jnp.array([100.0, 1.0, 0.01]))
        x = d.sample(jax.random.PRNGKey(0), (10_000,))
        assert np.all((np.asarray(x) > 0) & (np.asarray(x) < 1))
        assert np.all(np.isfinite(np.asarray(d.log_prob(x))))
