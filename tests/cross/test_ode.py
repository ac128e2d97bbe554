"""ode.solve in both backends: the same states and gradients (float64) for a
Lotka--Volterra system, single and batched, direct and adjoint; the same errors for bad
input and the same status codes for failed solves; the examples' two models agree."""

import importlib

import numpy as np
import pytest

from tests.backends import BACKEND_NAMES, get_backend

TS = np.arange(1.0, 11.0)
THETA = np.array([0.55, 0.028, 0.8, 0.024])
Z0 = np.array([33.0, 6.0])


def _stack_and_value_and_grad(name):
    """The backend's ``stack`` along the last axis, and ``value_and_grad(f, argnums)`` of
    a loss returning ``(loss, states)``: ``((loss, states), grads)``, compiled in JAX
    (diffrax's loop is far too slow to differentiate op by op)."""
    if name == "pyro":
        import torch

        def value_and_grad(f, argnums):
            def g(*args):
                leaves = [a.clone().requires_grad_(i in argnums) for i, a in enumerate(args)]
                loss, states = f(*leaves)
                grads = torch.autograd.grad(loss, [leaves[i] for i in argnums])
                return (loss, states.detach()), grads

            return g

        return (lambda parts: torch.stack(parts, dim=-1)), value_and_grad
    import jax
    import jax.numpy as jnp

    def value_and_grad(f, argnums):
        return jax.jit(jax.value_and_grad(f, argnums=argnums, has_aux=True))

    return (lambda parts: jnp.stack(parts, axis=-1)), value_and_grad


def _lotka_volterra(name):
    stack = _stack_and_value_and_grad(name)[0]

    def lotka_volterra(t, z, theta):
        u, v = z[..., 0], z[..., 1]
        a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
        return stack([(a - b * v) * u, (-c + d * u) * v])

    return lotka_volterra


def _evaluate(name, adjoint, z0=Z0, theta=THETA):
    backend = get_backend(name)
    ode = importlib.import_module(f"ppl_reparam.{name}.ode")
    value_and_grad, xp = _stack_and_value_and_grad(name)[1], backend.xp
    lotka_volterra = _lotka_volterra(name)

    ts = backend.array(TS)
    weights = backend.array(np.linspace(0.5, 1.5, TS.size * z0.size).reshape(TS.shape + z0.shape))

    def loss(z0, theta, t0):
        states = ode.solve(
            lotka_volterra, z0, ts, theta, t0=t0, rtol=1e-10, atol=1e-10, adjoint=adjoint
        )
        return (xp.log(states) * weights).sum(), states

    point = [backend.array(z0), backend.array(theta), backend.array(0.2)]
    # the diffrax backsolve adjoint does not differentiate t0: compare y0 and args only
    (_, states), grads = value_and_grad(loss, (0, 1) if adjoint else (0, 1, 2))(*point)
    return [backend.numpy(states), *(backend.numpy(g) for g in grads)]


# compiling diffrax's gradient takes JAX ~10 s
@pytest.mark.slow
@pytest.mark.parametrize("adjoint", [False, True])
def test_states_and_gradients_agree_across_backends(adjoint):
    pyro_out, numpyro_out = (_evaluate(name, adjoint) for name in BACKEND_NAMES)
    # both backends use dopri5 with the same step-size rule, yet their step sequences
    # differ in rounding; at tolerance 1e-10 they agree to a few 1e-8 relative
    for a, b in zip(pyro_out, numpyro_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.slow
def test_batched_states_agree_across_backends():
    rng = np.random.default_rng(1)
    z0 = Z0 * rng.uniform(0.5, 1.5, size=(3, 2))
    theta = THETA * rng.uniform(0.8, 1.2, size=(3, 4))  # per trajectory
    pyro_out, numpyro_out = (_evaluate(name, False, z0=z0, theta=theta) for name in BACKEND_NAMES)
    assert pyro_out[0].shape == TS.shape + z0.shape
    for a, b in zip(pyro_out, numpyro_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s, f, a: s(f, a(Z0), a(TS[::-1].copy()), a(THETA)),
            "ts must be strictly increasing",
        ),
        (lambda s, f, a: s(f, a(Z0), a([1.0, 2.0, 2.0]), a(THETA)), "ts must be"),
        (lambda s, f, a: s(lambda t, y, _: y[..., :1], a(Z0), a(TS)), r"returned shape \(1,\)"),
        (lambda s, f, a: s("field", a(Z0), a(TS), a(THETA)), "vector_field must be a callable"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), rtol=-1e-6), "rtol must be"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), atol=-1.0), "atol must be"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), rtol=0.0, atol=0.0), "cannot both be 0"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), max_steps=0), "max_steps must be"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), t0=2.0), r"t0 must be <= ts\[0\]"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), solver="rk45"), "solver must be one of"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), adjoint="yes"), "adjoint must be"),
        (lambda s, f, a: s(f, a(Z0), a(TS), a(THETA), state_ndim=2), "at least state_ndim=2"),
    ],
)
def test_bad_input_names_the_argument(backend, call, message):
    solve = importlib.import_module(f"ppl_reparam.{backend.name}.ode").solve
    with pytest.raises((ValueError, TypeError), match=message):
        call(solve, _lotka_volterra(backend.name), backend.array)


@pytest.mark.slow  # JAX compiles two solves
def test_running_out_of_steps_fills_nan_and_flags_it(backend):
    ode = importlib.import_module(f"ppl_reparam.{backend.name}.ode")
    field, a = _lotka_volterra(backend.name), backend.array
    ys, status = ode.solve(field, a(Z0), a(TS), a(THETA), t0=0.0, max_steps=5, return_status=True)
    assert int(status) == ode.Status.MAX_STEPS
    assert np.all(np.isnan(backend.numpy(ys)))
    # the budget counts the steps of the whole solve (about 30 here), not per output time
    ys, status = ode.solve(field, a(Z0), a(TS), a(THETA), t0=0.0, max_steps=40, return_status=True)
    assert int(status) == ode.Status.SUCCESS


@pytest.mark.slow  # JAX compiles a batched solve
def test_blow_up_is_flagged_per_trajectory(backend):
    ode = importlib.import_module(f"ppl_reparam.{backend.name}.ode")
    # dy/dt = y^2 from y0 reaches infinity at t = 1 / y0: only the second one blows up
    y0 = backend.array([[0.05], [0.5]])
    ys, status = ode.solve(
        lambda t, y, _: y**2, y0, backend.array(TS), None, t0=0.0, rtol=1e-9, atol=1e-9,
        return_status=True,
    )  # fmt: skip
    ys, status = backend.numpy(ys), np.asarray(backend.numpy(status))
    assert status[0] == ode.Status.SUCCESS and status[1] != ode.Status.SUCCESS
    np.testing.assert_allclose(ys[:, 0, 0], 0.05 / (1 - 0.05 * TS), rtol=1e-5)
    assert np.all(np.isnan(ys[:, 1]))


def _log_joint(name: str, example, values: dict) -> float:
    """The log joint density of ``example``'s model in backend ``name`` at ``values``."""
    kwargs = example.model_args(example.load_data())
    if name == "pyro":
        import pyro
        import torch

        data = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in values.items()}
        with torch.no_grad():
            conditioned = pyro.poutine.condition(example.pyro_model, data=data)
            return float(pyro.poutine.trace(conditioned).get_trace(**kwargs).log_prob_sum())
    import jax
    from numpyro.infer.util import log_density

    density = jax.jit(lambda v: log_density(example.numpyro_model, (), kwargs, v)[0])
    return float(density(values))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example_name", "values"),
    [
        (
            "lotka_volterra",
            {"theta": [0.55, 0.028, 0.8, 0.024], "z_init": [33.0, 6.0], "sigma": [0.25, 0.3]},
        ),
        ("sir", {"beta": 1.9, "gamma": 0.5, "phi_inv": 0.1}),
    ],
)
def test_example_models_have_the_same_log_joint(example_name, values):
    """The Pyro and NumPyro models of each ODE example are the same model."""
    import torch

    example = importlib.import_module(f"examples.{example_name}")
    values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        pyro_value = _log_joint("pyro", example, values)
    finally:
        torch.set_default_dtype(previous)
    numpyro_value = _log_joint("numpyro", example, values)
    # each backend solves to rtol = atol = 1e-6 on its own steps
    np.testing.assert_allclose(pyro_value, numpyro_value, rtol=1e-6)


@pytest.mark.parametrize("name", BACKEND_NAMES)
@pytest.mark.parametrize("bad", [0, 2.5])
def test_fit_rejects_a_bad_num_starts_in_both_backends(name, bad):
    infer = importlib.import_module(f"ppl_reparam.{name}.infer")
    with pytest.raises(ValueError, match="num_starts must be None or an integer >= 1, got"):
        infer.fit(lambda: None, lambda: None, num_steps=10, num_starts=bad)
