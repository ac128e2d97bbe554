"""fit's multi-start screen for models with discrete latent sites (both backends): each
prior draw's labels are set to their conditional modes before its log joint ranks it,
so a draw is ranked by how well its continuous values explain the data, not by the
luck of its random labels."""

import itertools

import numpy as np
import pytest
from scipy import stats

X = np.array([-2.1, 0.3, 2.4])  # three points, two components
W = np.array([0.3, 0.7])
LOCS = np.array([-2.0, 1.5])
SCALE = 1.0


def _joint(labels, locs=LOCS, w=W) -> float:
    """The log joint of the fixed-parameter part: labels and data (the continuous
    sites' prior terms are the same for every labelling)."""
    return float(np.sum(np.log(w[labels]) + stats.norm.logpdf(X, locs[labels], SCALE)))


def _pyro():
    """The model, its data, and one draw (labels [1, 1, 0]) moved to the modes:
    ``(model, x, labels, log joint)``."""
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro import poutine

    from ppl_reparam.pyro import _multistart

    def model(x):
        locs = pyro.sample("locs", dist.Normal(0.0, 3.0).expand([2]).to_event(1))
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Categorical(torch.as_tensor(W)))
            pyro.sample("x", dist.Normal(locs[z], SCALE), obs=x)

    x = torch.as_tensor(X)
    values = {"locs": torch.as_tensor(LOCS), "z": torch.tensor([1, 1, 0])}
    trace = poutine.trace(poutine.condition(model, data=values)).get_trace(x)
    for name in values:  # latent again, at these values
        trace.nodes[name]["is_observed"] = False
    moved = _multistart._at_conditional_modes(model, trace, (x,), {})
    return model, x, moved.nodes["z"]["value"].numpy(), float(moved.log_prob_sum())


def _numpyro():
    """As :func:`_pyro`, in NumPyro."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer.util import log_density

    from ppl_reparam.numpyro import _multistart

    def model(x):
        locs = numpyro.sample("locs", dist.Normal(0.0, 3.0).expand([2]).to_event(1))
        with numpyro.plate("data", len(x)):
            z = numpyro.sample("z", dist.Categorical(jnp.asarray(W)))
            numpyro.sample("x", dist.Normal(locs[z], SCALE), obs=x)

    x = jnp.asarray(X)
    values = {"locs": jnp.asarray(LOCS), "z": jnp.asarray([1, 1, 0])}
    moved = _multistart._at_conditional_modes(model, values, (x,), {})
    joint = float(log_density(model, (x,), {}, moved)[0])
    return model, x, np.asarray(moved["z"]), joint


@pytest.mark.parametrize("backend_name", ["pyro", "numpyro"])
def test_a_draw_is_scored_with_its_labels_at_their_conditional_modes(backend_name):
    pytest.importorskip(backend_name)
    _, _, labels, joint = {"pyro": _pyro, "numpyro": _numpyro}[backend_name]()
    # the labels are conditionally independent here, so the modes maximise the joint
    # over all 2^3 labellings (brute force), whatever the labels drawn were
    best = max(itertools.product([0, 1], repeat=3), key=lambda z: _joint(np.array(z)))
    np.testing.assert_array_equal(labels, best)
    prior = float(np.sum(stats.norm.logpdf(LOCS, 0.0, 3.0)))
    np.testing.assert_allclose(joint, prior + _joint(np.array(best)), rtol=1e-6)


@pytest.mark.parametrize("backend_name", ["pyro", "numpyro"])
def test_the_discrete_screen_keeps_draws_whose_labels_are_their_conditional_modes(backend_name):
    pytest.importorskip(backend_name)
    if backend_name == "pyro":
        import pyro

        from ppl_reparam.pyro import _multistart

        model, x, *_ = _pyro()
        pyro.set_rng_seed(0)
        draws = _multistart.screened_draws(model, 3, 200, (x,), {}, discrete=True)
        as_np = [{k: v.numpy() for k, v in d.items()} for d in draws]
    else:
        import jax

        from ppl_reparam.numpyro import _multistart

        model, x, *_ = _numpyro()
        draws = _multistart.screened_draws(model, jax.random.key(0), 3, (x,), {}, discrete=True)
        as_np = [{k: np.asarray(v) for k, v in d.items()} for d in draws]
    assert len(as_np) == 3
    for draw in as_np:
        locs = draw["locs"]
        modes = np.argmax(np.log(W) + stats.norm.logpdf(X[:, None], locs[None, :], SCALE), axis=-1)
        np.testing.assert_array_equal(draw["z"], modes)
