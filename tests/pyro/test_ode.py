"""ode.solve on torchdiffeq: accuracy against closed forms and SciPy, gradients against
finite differences, batching, bad input, and failed solves reported by fit."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.optim import Adam
from scipy.integrate import solve_ivp

from ppl_reparam._multistart import score
from ppl_reparam.pyro._multistart import screened_draws, solves_ode
from ppl_reparam.pyro.guides import AutoPathwiseGuide
from ppl_reparam.pyro.infer import NonFiniteLossError, fit
from ppl_reparam.pyro.ode import Status, solve

TS = torch.arange(1.0, 11.0, dtype=torch.float64)
THETA = torch.tensor([0.55, 0.028, 0.8, 0.024], dtype=torch.float64)
Z0 = torch.tensor([33.0, 6.0], dtype=torch.float64)


def lotka_volterra(t, z, theta):
    u, v = z[..., 0], z[..., 1]
    a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
    return torch.stack([(a - b * v) * u, (-c + d * u) * v], dim=-1)


def scipy_solution(theta, z0, t0=0.0, ts=TS):
    def field(t, z):
        return lotka_volterra(t, torch.as_tensor(z), theta).numpy()

    ts = ts.numpy()
    sol = solve_ivp(
        field, (t0, ts[-1]), z0.numpy(), t_eval=ts, rtol=1e-11, atol=1e-11, method="DOP853"
    )
    return sol.y.T


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def test_exponential_decay_matches_closed_form():
    y0 = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    rate = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    ys = solve(lambda t, y, k: -k * y, y0, TS, rate, t0=0.5, rtol=1e-10, atol=1e-10)
    assert ys.shape == TS.shape + y0.shape
    exact = y0 * torch.exp(-rate * (TS[:, None] - 0.5))
    # the step control bounds each step's error by atol + rtol |y|; 10x that globally
    np.testing.assert_allclose(ys.numpy(), exact.numpy(), rtol=1e-9, atol=1e-9)


def test_harmonic_oscillator_matches_closed_form():
    def oscillator(t, y, omega):
        return torch.stack([y[..., 1], -(omega**2) * y[..., 0]], dim=-1)

    omega = torch.tensor(2.0, dtype=torch.float64)
    ys = solve(oscillator, torch.tensor([1.0, 0.0], dtype=torch.float64), TS, omega, t0=0.0,
               rtol=1e-10, atol=1e-10)  # fmt: skip
    exact = np.stack([np.cos(2.0 * TS.numpy()), -2.0 * np.sin(2.0 * TS.numpy())], axis=-1)
    np.testing.assert_allclose(ys.numpy(), exact, atol=1e-7)


# local error control does not bound the global error: the 3rd-order bosh3 drifts more
@pytest.mark.parametrize(("solver", "rtol"), [("dopri5", 1e-5), ("dopri8", 1e-5), ("bosh3", 1e-4)])
def test_lotka_volterra_matches_scipy(solver, rtol):
    ys = solve(lotka_volterra, Z0, TS, THETA, t0=0.0, rtol=1e-8, atol=1e-8, solver=solver)
    np.testing.assert_allclose(ys.numpy(), scipy_solution(THETA, Z0), rtol=rtol)


def test_t0_defaults_to_first_time():
    ys = solve(lotka_volterra, Z0, TS, THETA, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ys[0].numpy(), Z0.numpy())
    np.testing.assert_allclose(ys.numpy(), scipy_solution(THETA, Z0, t0=1.0), rtol=1e-5)


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradients_match_central_finite_differences(adjoint):
    """Gradients to y0, to a tuple of args (a tensor and a scalar tensor) and to t0."""

    def field(t, z, args):
        theta, scale = args
        return scale * lotka_volterra(t, z, theta)

    ts = TS[:4]  # a quarter of a period: every parameter matters, few steps
    weights = torch.linspace(0.5, 1.5, ts.numel() * 2, dtype=torch.float64).reshape(-1, 2)

    def loss(z0, theta, scale, t0):
        ys = solve(field, z0, ts, (theta, scale), t0=t0, rtol=1e-10, atol=1e-10, adjoint=adjoint)
        return torch.sum(torch.log(ys) * weights)

    point = [
        Z0,
        THETA,
        torch.tensor(1.1, dtype=torch.float64),
        torch.tensor(0.2, dtype=torch.float64),
    ]
    leaves = [x.clone().requires_grad_(True) for x in point]
    grads = torch.autograd.grad(loss(*leaves), leaves)
    for i, (x, g) in enumerate(zip(point, grads, strict=True)):
        flat = x.reshape(-1)
        for j in range(flat.numel()):
            h = 1e-5 * max(abs(float(flat[j])), 1e-2)
            shifted = []
            for sign in (1.0, -1.0):
                moved = flat.clone()
                moved[j] += sign * h
                args = list(point)
                args[i] = moved.reshape(x.shape)
                shifted.append(float(loss(*args)))
            fd = (shifted[0] - shifted[1]) / (2 * h)
            np.testing.assert_allclose(float(g.reshape(-1)[j]), fd, rtol=2e-4, atol=1e-6)


def test_batch_of_trajectories_equals_one_solve_each():
    gen = torch.Generator().manual_seed(0)
    z0 = Z0 * (0.5 + torch.rand(2, 3, 2, generator=gen, dtype=torch.float64))
    theta = THETA * (0.8 + 0.4 * torch.rand(2, 3, 4, generator=gen, dtype=torch.float64))
    scale = torch.tensor(1.1, dtype=torch.float64)  # shared by all

    def field(t, z, args):
        return args["scale"] * lotka_volterra(t, z, args["theta"])

    args = {"theta": theta, "scale": scale}
    ys, status = solve(field, z0, TS, args, t0=0.0, rtol=1e-10, atol=1e-10, return_status=True)
    assert ys.shape == TS.shape + z0.shape and status.shape == (2, 3)
    assert bool((status == Status.SUCCESS).all())
    for i in range(2):
        for k in range(3):
            one = solve(field, z0[i, k], TS, {"theta": theta[i, k], "scale": scale}, t0=0.0,
                        rtol=1e-10, atol=1e-10)  # fmt: skip
            # one joint step-size control versus one per trajectory: equal to the tolerance
            np.testing.assert_allclose(ys[:, i, k].numpy(), one.numpy(), rtol=1e-7)


def test_shared_args_leaf_broadcasts_over_the_batch():
    z0 = torch.stack([Z0, 2 * Z0, 0.5 * Z0])
    ys = solve(lotka_volterra, z0, TS, THETA, t0=0.0)
    for k in range(3):
        exact = scipy_solution(THETA, z0[k])
        np.testing.assert_allclose(ys[:, k].numpy(), exact, rtol=1e-4)


def test_inside_a_plate():
    def model(n):
        with pyro.plate("subjects", n):
            a = pyro.sample("a", dist.LogNormal(0.0, 0.1))
            y0 = torch.ones(n, 1, dtype=torch.float64)
            ys = solve(lambda t, y, a: -a * y, y0, TS, a[:, None], t0=0.0, rtol=1e-9, atol=1e-9)
            pyro.deterministic("y", ys[..., 0])

    pyro.set_rng_seed(0)
    trace = pyro.poutine.trace(model).get_trace(5)
    a = trace.nodes["a"]["value"].double().numpy()
    np.testing.assert_allclose(
        trace.nodes["y"]["value"].numpy(), np.exp(-np.outer(TS, a)), rtol=1e-5
    )


def test_float32_state_stays_float32():
    ys = solve(lotka_volterra, Z0.float(), TS.float(), THETA.float(), t0=0.0)
    assert ys.dtype == torch.float32
    np.testing.assert_allclose(ys.numpy(), scipy_solution(THETA, Z0), rtol=1e-4)


def test_field_failing_on_the_shape_of_y0_names_it():
    # the field indexes a second state component that a 1-element y0 lacks
    with pytest.raises(ValueError, match=r"failed on y0 of shape \(1,\)"):
        solve(lotka_volterra, Z0[:1], TS, THETA)


def test_nan_vector_field_is_flagged_non_finite():
    def field(t, y, _):
        return torch.where(t > 3.0, torch.nan, -y)

    ys, status = solve(field, torch.ones(2, dtype=torch.float64), TS, None, return_status=True)
    assert int(status) == Status.NON_FINITE and bool(ys.isnan().all())


def test_adjoint_backward_running_out_of_steps_raises_with_the_reason():
    # the backward solve restarts at each of 1000 output times: over 100 steps, where
    # the forward solve takes about 30
    theta = THETA.clone().requires_grad_(True)
    ts = torch.linspace(0.02, 20.0, 1000, dtype=torch.float64)
    ys, status = solve(lotka_volterra, Z0, ts, theta, t0=0.0, adjoint=True, max_steps=100,
                       return_status=True)  # fmt: skip
    assert int(status) == Status.SUCCESS
    with pytest.raises(FloatingPointError, match="adjoint .* max_steps=100"):
        ys.sum().backward()


def decay_model(y):
    rate = pyro.sample("rate", dist.LogNormal(0.0, 1.0))
    x0 = torch.ones(1, dtype=torch.float64)
    mean = solve(lambda t, x, r: -r * x, x0, TS, rate, t0=0.0, max_steps=3, name="decay")
    pyro.sample("y", dist.Normal(mean[:, 0], 0.1).to_event(1), obs=y)


def decay_guide(y):
    loc = pyro.param("loc", torch.tensor(0.3, dtype=torch.float64))
    pyro.sample("rate", dist.LogNormal(loc, 0.1))


def test_fit_names_the_failed_solve_and_the_reason():
    data = torch.exp(-0.5 * TS)
    with pytest.raises(NonFiniteLossError) as info:
        fit(
            decay_model,
            decay_guide,
            data,
            num_steps=5,
            optim=Adam({"lr": 0.01}),
            progress_bar=False,
        )
    text = str(info.value)
    assert "y (model)" in text
    assert "ODE solve 'decay'" in text and "max_steps=3" in text
    assert "rate=" in text
    assert info.value.result.losses == []


SHORT_TS = torch.linspace(0.1, 1.0, 5, dtype=torch.float64)


def decay_fit_model(y, max_steps=4096):
    rate = pyro.sample("rate", dist.LogNormal(torch.tensor(0.0, dtype=torch.float64), 1.0))
    x0 = torch.ones(1, dtype=torch.float64)
    mean = solve(lambda t, x, r: -r * x, x0, SHORT_TS, rate, t0=0.0, max_steps=max_steps)
    pyro.sample("y", dist.Normal(mean[:, 0], 0.01).to_event(1), obs=y)


def decay_free_model(y):
    rate = pyro.sample("rate", dist.LogNormal(torch.tensor(0.0, dtype=torch.float64), 1.0))
    pyro.sample("y", dist.Normal(torch.exp(-rate * SHORT_TS), 0.01).to_event(1), obs=y)


def test_only_models_that_solve_an_ode_get_a_multi_start_phase():
    data = (torch.exp(-2.0 * SHORT_TS),)
    assert solves_ode(decay_fit_model, data, {})
    assert not solves_ode(decay_free_model, data, {})
    # no ODE: the default run is the single-start run, step for step
    default = fit(decay_free_model, AutoPathwiseGuide(decay_free_model), *data, num_steps=20,
                  progress_bar=False)  # fmt: skip
    pyro.clear_param_store()
    single = fit(decay_free_model, AutoPathwiseGuide(decay_free_model), *data, num_steps=20,
                 num_starts=1, progress_bar=False)  # fmt: skip
    assert default.losses == single.losses


def test_a_model_that_imports_the_ode_module_when_it_runs_is_seen_to_solve_one(monkeypatch):
    """A model importing ``ppl_reparam.pyro.ode`` in its body (as the examples do) gets the
    ODE defaults from its first ``fit`` in a fresh process."""
    import sys

    def model(y):
        from ppl_reparam.pyro.ode import solve as lazy_solve

        rate = pyro.sample("rate", dist.LogNormal(torch.tensor(0.0, dtype=torch.float64), 1.0))
        mean = lazy_solve(lambda t, x, r: -r * x, torch.ones(1, dtype=torch.float64), SHORT_TS,
                          rate, t0=0.0)  # fmt: skip
        pyro.sample("y", dist.Normal(mean[:, 0], 0.01).to_event(1), obs=y)

    monkeypatch.delitem(sys.modules, "ppl_reparam.pyro.ode")  # as in a fresh process
    assert solves_ode(model, (torch.exp(-2.0 * SHORT_TS),), {})


def test_screening_skips_draws_whose_solve_failed():
    # rates above about 7 need more than 12 steps at these tolerances: those solves fail
    def model(y):
        decay_fit_model(y, max_steps=12)

    pyro.set_rng_seed(0)
    draws = screened_draws(model, 5, 60, (torch.exp(-2.0 * SHORT_TS),), {})
    assert len(draws) == 5
    for draw in draws:
        x0 = torch.ones(1, dtype=torch.float64)
        _, status = solve(lambda t, x, r: -r * x, x0, SHORT_TS, draw["rate"], t0=0.0,
                          max_steps=12, return_status=True)  # fmt: skip
        assert int(status) == Status.SUCCESS


@pytest.mark.slow  # 4 x 60 SVI steps with a solve each
def test_multi_start_phase_keeps_the_best_start_within_the_step_budget():
    data = torch.exp(-2.0 * SHORT_TS)
    guide = AutoPathwiseGuide(decay_fit_model)
    optim = Adam({"lr": 0.01})
    result = fit(decay_fit_model, guide, data, num_steps=60, num_starts=3, optim=optim,
                 progress_bar=False)  # fmt: skip
    assert len(result.losses) == 60 and np.all(np.isfinite(result.losses))
    # the store and the optimizer hold the continued start's parameters only
    store = pyro.get_param_store()
    assert set(store.keys()) == {"AutoPathwiseGuide.locs.rate", "AutoPathwiseGuide.scales.rate"}
    assert set(optim.optim_objs) == {store._params[name] for name in store.keys()}
    # the fit continued the start whose last-half mean loss was lowest: its phase losses
    # score no worse than a single start's (the guide's default start, at rate 1)
    pyro.clear_param_store()
    single = fit(decay_fit_model, AutoPathwiseGuide(decay_fit_model), data, num_steps=60,
                 num_starts=1, progress_bar=False)  # fmt: skip
    assert score(result.losses) <= score(single.losses)
    # the data are exp(-2 t): the exact rate is 2
    np.testing.assert_allclose(float(guide.median()["rate"]), 2.0, rtol=0.05)


@pytest.mark.gpu
@pytest.mark.parametrize("adjoint", [False, True])
def test_solve_on_gpu_matches_cpu(adjoint):
    theta = THETA.clone().requires_grad_(True)
    cpu = solve(lotka_volterra, Z0, TS, theta, t0=0.0, adjoint=adjoint)
    (grad_cpu,) = torch.autograd.grad(cpu.sum(), theta)
    theta_gpu = THETA.cuda().requires_grad_(True)
    gpu = solve(lotka_volterra, Z0.cuda(), TS.cuda(), theta_gpu, t0=0.0, adjoint=adjoint)
    assert gpu.device.type == "cuda"
    (grad_gpu,) = torch.autograd.grad(gpu.sum(), theta_gpu)
    np.testing.assert_allclose(gpu.detach().cpu().numpy(), cpu.detach().numpy(), rtol=1e-8)
    np.testing.assert_allclose(grad_gpu.cpu().numpy(), grad_cpu.numpy(), rtol=1e-7)
