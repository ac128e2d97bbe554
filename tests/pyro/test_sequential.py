"""Discrete latent sites in sequential models (Pyro): ``relax`` and
RelaxedControlVariateELBO on sites inside ``pyro.markov``."""

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
from ppl_reparam.pyro.relax import choose, relax
from tests import hmm_reference as ref


def _t(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=torch.float64)


def markov(n: int):
    return pyro.markov(range(n))


def hmm(a, y, steps=range, reps=None):
    """The model of :mod:`tests.hmm_reference`, as a Python loop over ``steps(T)``, with
    ``reps`` independent replicates in a plate if given."""
    probs, a_mean = _t(ref.INIT), _t(ref.A_INIT)
    plate = pyro.plate("rep", reps) if reps else poutine.messenger.Messenger()
    for t in steps(len(y)):
        with plate:
            pyro.sample(f"a_{t}", dist.Normal(a_mean, 1.0), obs=a[t])
            z = pyro.sample(f"z_{t}", dist.Categorical(probs))
            pyro.sample(f"y_{t}", dist.Normal(choose(z, _t(ref.LOCS)), 1.0), obs=y[t])
        probs, a_mean = choose(z, _t(ref.TRANS)), choose(z, _t(ref.A_LOCS))


def relaxed_log_joint(steps) -> float:
    values = np.log(np.exp(ref.LOGITS * 0.7) / np.exp(ref.LOGITS * 0.7).sum(-1, keepdims=True))
    data = {f"z_{t}_relaxed": _t(values[t]) for t in range(3)}
    model = poutine.condition(relax(hmm, 0.6), data=data)
    trace = poutine.trace(model).get_trace(_t(ref.A), _t(ref.Y), steps)
    assert trace.nodes["z_0"]["value"].shape == (2,)  # relaxed: a point of the simplex
    return float(trace.log_prob_sum())


def test_relax_under_markov_gives_the_log_joint_of_the_plain_loop():
    np.testing.assert_allclose(relaxed_log_joint(markov), relaxed_log_joint(range), rtol=1e-12)


def test_the_estimate_under_markov_is_the_exact_gradient():
    reps = 3000
    theta = _t(np.broadcast_to(ref.LOGITS[:, None], (3, reps, 2))).requires_grad_()

    def guide(a, y, steps, reps):
        plate = pyro.plate("rep", reps)
        for t in steps(len(y)):
            with plate:
                pyro.sample(f"z_{t}", dist.Categorical(logits=theta[t]))

    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    elbo = RelaxedControlVariateELBO(cv_scale=1.5, temperature=0.3)
    loss = elbo.differentiable_loss(hmm, guide, _t(ref.A), _t(ref.Y), markov, reps)
    (grad,) = torch.autograd.grad(loss, theta)
    draws = -grad.detach().numpy().swapaxes(0, 1)  # (reps, T, K)
    z = (draws.mean(0) - ref.exact_gradient(ref.LOGITS)) / (draws.std(0) / np.sqrt(reps))
    assert np.all(np.abs(z) < 3.5), z
