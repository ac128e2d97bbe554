"""ode.solve on diffrax: accuracy against SciPy, gradients against finite differences,
batching, bad input, and failed solves reported by fit."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
import pytest
from numpyro import handlers
from scipy.integrate import solve_ivp

from ppl_reparam._multistart import score
from ppl_reparam.numpyro._multistart import solves_ode
from ppl_reparam.numpyro.guides import AutoPathwiseGuide
from ppl_reparam.numpyro.infer import NonFiniteLossError, fit
from ppl_reparam.numpyro.ode import Status, solve

TS = np.arange(1.0, 11.0)
THETA = np.array([0.55, 0.028, 0.8, 0.024])
Z0 = np.array([33.0, 6.0])


def lotka_volterra(t, z, theta):
    u, v = z[..., 0], z[..., 1]
    a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
    return jnp.stack([(a - b * v) * u, (-c + d * u) * v], axis=-1)


def scipy_solution(theta, z0, t0=0.0, ts=TS):
    def field(t, z):
        return np.asarray(lotka_volterra(t, jnp.asarray(z), jnp.asarray(theta)))

    sol = solve_ivp(field, (t0, ts[-1]), z0, t_eval=ts, rtol=1e-11, atol=1e-11, method="DOP853")
    return sol.y.T


def test_solution_matches_scipy_within_tolerance():
    ys = solve(lotka_volterra, Z0, TS, THETA, t0=0.0, rtol=1e-8, atol=1e-8)
    assert ys.shape == TS.shape + Z0.shape
    np.testing.assert_allclose(ys, scipy_solution(THETA, Z0), rtol=1e-5)


def test_t0_defaults_to_first_time():
    ys = solve(lotka_volterra, Z0, TS, THETA, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ys[0], Z0)
    np.testing.assert_allclose(ys, scipy_solution(THETA, Z0, t0=TS[0]), rtol=1e-5)


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradients_match_central_finite_differences(adjoint):
    def loss(theta, z0, t0):
        ys = solve(lotka_volterra, z0, TS, theta, t0=t0, rtol=1e-10, atol=1e-10, adjoint=adjoint)
        return jnp.sum(jnp.log(ys) * jnp.linspace(0.5, 1.5, ys.size).reshape(ys.shape))

    loss = jax.jit(loss)
    point = (jnp.asarray(THETA), jnp.asarray(Z0), jnp.asarray(0.0))
    # the backsolve adjoint differentiates y0 and args only (diffrax's rule)
    wrt = (0, 1) if adjoint else (0, 1, 2)
    grads = jax.grad(loss, argnums=wrt)(*point)
    for i, g in zip(wrt, grads, strict=True):
        x = point[i]
        flat = np.asarray(x, dtype=float).ravel()
        for j in range(flat.size):
            h = 1e-5 * max(abs(flat[j]), 1e-2)
            up, down = flat.copy(), flat.copy()
            up[j] += h
            down[j] -= h
            shifted = [list(point), list(point)]
            shifted[0][i] = jnp.asarray(up.reshape(np.shape(x)))
            shifted[1][i] = jnp.asarray(down.reshape(np.shape(x)))
            fd = (loss(*shifted[0]) - loss(*shifted[1])) / (2 * h)
            np.testing.assert_allclose(np.ravel(g)[j], fd, rtol=2e-4, atol=1e-6)


def test_batch_of_trajectories_equals_one_solve_each():
    rng = np.random.default_rng(0)
    z0 = Z0 * rng.uniform(0.5, 1.5, size=(2, 3, 2))
    theta = THETA * rng.uniform(0.8, 1.2, size=(2, 3, 4))  # per trajectory
    scale = np.array(1.1)  # shared by all

    def field(t, z, args):
        return args["scale"] * lotka_volterra(t, z, args["theta"])

    args = {"theta": theta, "scale": scale}
    ys, status = solve(field, z0, TS, args, t0=0.0, return_status=True)
    assert ys.shape == TS.shape + z0.shape and status.shape == (2, 3)
    assert np.all(np.asarray(status) == Status.SUCCESS)
    for i in range(2):
        for k in range(3):
            one = solve(field, z0[i, k], TS, {"theta": theta[i, k], "scale": scale}, t0=0.0)
            np.testing.assert_allclose(ys[:, i, k], one, rtol=1e-10)


def test_shared_args_leaf_broadcasts_over_the_batch():
    z0 = np.stack([Z0, 2 * Z0, 0.5 * Z0])
    ys = solve(lotka_volterra, z0, TS, THETA, t0=0.0)
    for k in range(3):
        np.testing.assert_allclose(ys[:, k], solve(lotka_volterra, z0[k], TS, THETA, t0=0.0))


def test_solve_under_jit_and_vmap():
    thetas = THETA * np.linspace(0.9, 1.1, 4)[:, None]

    @jax.jit
    def final_state(theta):
        return solve(lotka_volterra, Z0, TS, theta, t0=0.0)[-1]

    mapped = jax.vmap(final_state)(jnp.asarray(thetas))
    for k in range(4):
        np.testing.assert_allclose(mapped[k], final_state(thetas[k]), rtol=1e-8)


def test_inside_a_plate():
    def model(n):
        with numpyro.plate("subjects", n):
            a = numpyro.sample("a", dist.LogNormal(0.0, 0.1))
            y0 = jnp.ones((n, 1))
            ys = solve(lambda t, y, a: -a * y, y0, TS, a[:, None], t0=0.0, rtol=1e-9, atol=1e-9)
            numpyro.deterministic("y", ys[..., 0])

    trace = handlers.trace(handlers.seed(model, 0)).get_trace(5)
    a = np.asarray(trace["a"]["value"])
    np.testing.assert_allclose(trace["y"]["value"], np.exp(-np.outer(TS, a)), rtol=1e-6, atol=1e-8)


DECAY_TS = np.linspace(0.05, 0.5, 10)


def decay_model(y):
    rate = numpyro.sample("rate", dist.LogNormal(2.0, 2.0))
    # exp(-rate t) needs ~21 steps to t=0.5 at rate 20: the fit runs out of steps on its way
    mean = solve(
        lambda t, x, r: -r * x, jnp.ones(1), DECAY_TS, rate, t0=0.0, max_steps=15, name="decay"
    )
    numpyro.sample("y", dist.Normal(mean[:, 0], 0.01), obs=y)


def decay_guide(y):
    loc = numpyro.param("loc", 0.0)
    numpyro.sample("rate", dist.LogNormal(loc, 0.1))


@pytest.mark.slow  # the multi-start phase of an ODE model compiles three programs
def test_fit_names_the_failed_solve_and_the_reason():
    data = jnp.exp(-20.0 * jnp.asarray(DECAY_TS))
    with pytest.raises(NonFiniteLossError) as info:
        fit(
            decay_model, decay_guide, data, num_steps=300, optim=optax.adam(0.1), progress_bar=False
        )
    text = str(info.value)
    assert "y (model)" in text
    assert "ODE solve 'decay'" in text and "stopped at max_steps=15" in text
    assert "rate=" in text
    # the last finite parameters are those of a rate the solver still handles
    loc = float(info.value.result.params["loc"])
    _, status = solve(
        lambda t, x, r: -r * x, jnp.ones(1), DECAY_TS, np.exp(loc), max_steps=15, return_status=True
    )
    assert int(status) == Status.SUCCESS


def decay_free_model(y):
    rate = numpyro.sample("rate", dist.LogNormal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(jnp.exp(-rate * DECAY_TS), 0.01), obs=y)


def test_only_models_that_solve_an_ode_get_a_multi_start_phase():
    key = jax.random.PRNGKey(0)
    data = (jnp.exp(-2.0 * jnp.asarray(DECAY_TS)),)
    assert solves_ode(decay_model, key, data, {})
    assert not solves_ode(decay_free_model, key, data, {})
    # no ODE: the default run is the single-start run, step for step
    default = fit(decay_free_model, decay_guide, *data, num_steps=30, progress_bar=False)
    single = fit(
        decay_free_model, decay_guide, *data, num_steps=30, num_starts=1, progress_bar=False
    )
    assert default.losses == single.losses


@pytest.mark.slow  # compiles the solve in the screening, the starts and the main loop
def test_multi_start_phase_keeps_the_best_start_within_the_step_budget():
    def model(y):
        rate = numpyro.sample("rate", dist.LogNormal(0.0, 1.0))
        mean = solve(lambda t, x, r: -r * x, jnp.ones(1), DECAY_TS, rate, t0=0.0)
        numpyro.sample("y", dist.Normal(mean[:, 0], 0.01), obs=y)

    guide = AutoPathwiseGuide(model)
    data = jnp.exp(-2.0 * jnp.asarray(DECAY_TS))
    result = fit(model, guide, data, num_steps=150, num_starts=3, progress_bar=False)
    assert len(result.losses) == 150 and np.all(np.isfinite(result.losses))
    # the fit continued the start whose last-half mean loss was lowest: its phase losses
    # score no worse than a single start's
    single = fit(
        model, AutoPathwiseGuide(model), data, num_steps=150, num_starts=1, progress_bar=False
    )
    assert score(result.losses[:100]) <= score(single.losses[:100])
    np.testing.assert_allclose(guide.median(result.params)["rate"], 2.0, rtol=0.05)
