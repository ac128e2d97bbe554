"""``fit(..., average_last=n)``: the Polyak average of the last ``n`` iterates, taken in
the unconstrained space, in both backends, against Adam run by hand in NumPy."""

import numpy as np
import pytest

STEPS, LAST, LR = 30, 12, 0.1
PRIOR_LOC, PRIOR_SCALE = 1.0, 2.0
START = {"loc": -2.0, "scale": 1.0}


def _model_and_guide(backend: str, ode: bool = False):
    """x ~ Normal(1, 2) with a point-mass guide at ``loc + scale`` (``scale`` positive):
    the loss, ``(loc + scale - 1)^2 / 8`` plus a constant, has no noise, so each step is
    Adam on an exact gradient. With ``ode=True`` the prior's mean 1 is the solution of
    dy/dt = 0, y(0) = 1 at t = 1 by ``ode.solve`` (exactly 1: every stage is 0), which
    makes it a model that solves an ODE to ``fit``."""
    if backend == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch

        from ppl_reparam.pyro.ode import solve

        def model():
            loc = torch.tensor(PRIOR_LOC, dtype=torch.float64)
            if ode:
                flat = solve(
                    lambda t, y, a: 0 * y,
                    torch.ones(1, dtype=torch.float64),
                    torch.ones(1, dtype=torch.float64),
                    t0=0.0,
                )
                loc = loc * flat[0, 0]
            pyro.sample("x", dist.Normal(loc, PRIOR_SCALE))

        def guide():
            loc = pyro.param("loc", torch.tensor(START["loc"], dtype=torch.float64))
            scale = pyro.param(
                "scale",
                torch.tensor(START["scale"], dtype=torch.float64),
                constraint=dist.constraints.positive,
            )
            pyro.sample("x", dist.Delta(loc + scale))

        return model, guide
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.ode import solve

    def model():
        loc = jnp.asarray(PRIOR_LOC)
        if ode:
            flat = solve(lambda t, y, a: 0 * y, jnp.ones(1), jnp.ones(1), t0=0.0)
            loc = loc * flat[0, 0]
        numpyro.sample("x", dist.Normal(loc, PRIOR_SCALE))

    def guide():
        loc = numpyro.param("loc", jnp.asarray(START["loc"]))
        scale = numpyro.param(
            "scale", jnp.asarray(START["scale"]), constraint=dist.constraints.positive
        )
        numpyro.sample("x", dist.Delta(loc + scale))

    return model, guide


def _fit(backend: str, ode: bool = False, **kwargs):
    if backend == "pyro":
        import pyro
        from pyro.optim import Adam

        from ppl_reparam.pyro.infer import fit

        pyro.clear_param_store()
        optim = Adam({"lr": LR})
    else:
        import optax

        from ppl_reparam.numpyro.infer import fit

        optim = optax.adam(LR)
    model, guide = _model_and_guide(backend, ode)
    result = fit(model, guide, optim=optim, progress_bar=False, **kwargs)
    return result, {k: float(np.asarray(v)) for k, v in result.params.items()}


def _adam_iterates(steps: int) -> np.ndarray:
    """(loc, log scale) after each of ``steps`` Adam steps (b1 0.9, b2 0.999, eps 1e-8)
    on the loss above, whose gradient is ``(loc + scale - 1) / 4 * (1, scale)``."""
    theta = np.array([START["loc"], np.log(START["scale"])])
    m, v, out = np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        scale = np.exp(theta[1])
        residual = (theta[0] + scale - PRIOR_LOC) / PRIOR_SCALE**2
        g = residual * np.array([1.0, scale])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        theta = theta - LR * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        out.append(theta.copy())
    return np.array(out)


def test_average_is_the_mean_of_the_last_unconstrained_iterates(backend):
    result, params = _fit(backend.name, num_steps=STEPS, average_last=LAST)
    iterates = _adam_iterates(STEPS)
    loc, log_scale = iterates[-LAST:].mean(0)
    np.testing.assert_allclose(params["loc"], loc, rtol=1e-9)
    np.testing.assert_allclose(params["scale"], np.exp(log_scale), rtol=1e-9)
    # not the last iterate, and not the mean of the constrained scales
    assert abs(params["scale"] - np.exp(iterates[-1, 1])) > 1e-3
    assert abs(params["scale"] - np.exp(iterates[-LAST:, 1]).mean()) > 1e-5
    assert len(result.losses) == STEPS
    _, last = _fit(backend.name, num_steps=STEPS)
    np.testing.assert_allclose(last["loc"], iterates[-1, 0], rtol=1e-9)


def test_average_over_every_step_and_over_the_last_one(backend):
    iterates = _adam_iterates(STEPS)
    _, every = _fit(backend.name, num_steps=STEPS, average_last=STEPS)
    np.testing.assert_allclose(every["loc"], iterates[:, 0].mean(), rtol=1e-9)
    _, one = _fit(backend.name, num_steps=STEPS, average_last=1)
    np.testing.assert_allclose(one["loc"], iterates[-1, 0], rtol=1e-9)


def test_resumed_run_gives_the_same_average(backend, tmp_path):
    """Interrupted inside the averaging window (step 20 > STEPS - LAST) and resumed."""
    path = tmp_path / "fit.ckpt"
    _, full = _fit(backend.name, num_steps=STEPS, average_last=LAST)
    _run_until(backend.name, path, stop_at=20)
    _, resumed = _fit(
        backend.name, num_steps=STEPS, average_last=LAST, checkpoint_path=path, checkpoint_every=5
    )
    assert resumed == pytest.approx(full, rel=1e-12)
    # a checkpoint written without averaging cannot give the average: an error
    _run_until(backend.name, path, stop_at=20, average_last=None)
    with pytest.raises(ValueError, match="average_last"):
        _fit(backend.name, num_steps=STEPS, average_last=LAST, checkpoint_path=path)


def _run_until(backend: str, path, stop_at: int, average_last: int | None = LAST) -> None:
    """Run the full fit with checkpoints and keep the checkpoint written at ``stop_at``
    (what an interrupted process leaves)."""
    import pickle

    from ppl_reparam import _fit as shared

    saved = {}
    original = shared.save_checkpoint

    def keep(p, payload):
        if payload["step"] == stop_at:
            saved["pickled"] = pickle.dumps(payload)  # the state as it is now
        original(p, payload)

    path.unlink(missing_ok=True)
    shared.save_checkpoint = keep
    try:
        _fit(
            backend,
            num_steps=STEPS,
            average_last=average_last,
            checkpoint_path=path,
            checkpoint_every=5,
        )
    finally:
        shared.save_checkpoint = original
    path.write_bytes(saved["pickled"])


def test_ode_models_average_the_last_tenth_by_default(backend):
    """``average_last=None`` (the default) is ``num_steps // 10`` for a model that solves
    an ODE and no averaging for any other; ``0`` is the last iterate for both."""
    iterates = _adam_iterates(STEPS)
    tenth = STEPS // 10
    assert tenth > 1
    _, default = _fit(backend.name, ode=True, num_steps=STEPS, num_starts=1)
    np.testing.assert_allclose(default["loc"], iterates[-tenth:, 0].mean(), rtol=1e-9)
    np.testing.assert_allclose(default["scale"], np.exp(iterates[-tenth:, 1].mean()), rtol=1e-9)
    for ode, kwargs in [(True, {"average_last": 0}), (False, {}), (False, {"average_last": 0})]:
        _, last = _fit(backend.name, ode=ode, num_steps=STEPS, num_starts=1, **kwargs)
        np.testing.assert_allclose(last["loc"], iterates[-1, 0], rtol=1e-9)
    assert abs(iterates[-1, 0] - iterates[-tenth:, 0].mean()) > 1e-4  # they differ


@pytest.mark.parametrize("bad", [STEPS + 1, -3, 2.5, True, "10"])
def test_bad_average_last_names_the_argument_and_the_range(backend, bad):
    with pytest.raises(ValueError, match=rf"`average_last` .*0 .*\[1, {STEPS}\].*{bad!r}"):
        _fit(backend.name, num_steps=STEPS, average_last=bad)


@pytest.mark.slow
def test_nested_parameters_of_a_flow_guide_are_averaged_leaf_by_leaf():
    """NumPyro's AutoIAFNormal keeps its network's weights as nested lists of arrays."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer.autoguide import AutoIAFNormal

    from ppl_reparam.numpyro.infer import fit

    def model():
        numpyro.sample("x", dist.Normal(jnp.zeros(2), 1.0).to_event(1))

    def run(steps, **kwargs):
        guide = AutoIAFNormal(
            model, num_flows=1, hidden_dims=[4]
        )  # a fresh one: a reused guide starts elsewhere
        return fit(
            model, guide, num_steps=steps, optim=optax.adam(LR), progress_bar=False, **kwargs
        )

    averaged = run(6, average_last=2).params
    fifth, sixth = run(5).params, run(6).params
    expected = jax.tree_util.tree_map(lambda a, b: (a + b) / 2, fifth, sixth)
    leaves = jax.tree_util.tree_leaves(averaged)
    assert len(leaves) > len(averaged)  # nested
    for got, want in zip(leaves, jax.tree_util.tree_leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
