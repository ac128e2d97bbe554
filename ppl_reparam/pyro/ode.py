"""ODE solves inside Pyro models, on torchdiffeq, with solver failures reported by site."""

from collections.abc import Callable
from typing import Any

import pyro
import torch
import torch.utils._pytree as pytree
from pyro import poutine
from pyro.poutine.runtime import Message, am_i_wrapped, apply_stack
from torchdiffeq import odeint, odeint_adjoint

from ppl_reparam import _ode
from ppl_reparam._ode import Status
from ppl_reparam.pyro._multistart import collect_status

__all__ = ["Status", "failure_report", "solve"]

#: adaptive Runge--Kutta solvers by torchdiffeq name; "dopri5", "dopri8" and "bosh3"
#: are the same methods under the same names in the NumPyro backend
SOLVERS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


class _OutOfSteps(Exception):
    """Raised inside torchdiffeq's loop when the step budget of one solve is spent."""


class _Field:
    """``vector_field`` in torchdiffeq's ``f(t, y)`` form, counting the solver's steps
    (accepted and rejected, as diffrax's ``max_steps`` does) through torchdiffeq's
    step callbacks, and keeping the last derivative to tell a NaN field from other
    breakdowns."""

    def __init__(self, vector_field: Callable, args: Any, max_steps: int):
        self.vector_field, self.args, self.max_steps = vector_field, args, max_steps
        self.steps, self.adjoint_steps, self.last = 0, 0, None

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.last = self.vector_field(t, y, self.args)
        return self.last

    def callback_step(self, t0, y0, dt) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise _OutOfSteps

    def callback_step_adjoint(self, t0, y0, dt) -> None:
        self.adjoint_steps += 1
        if self.adjoint_steps > self.max_steps:
            # a backward pass cannot return a status: fail loudly instead
            raise FloatingPointError(
                "solve: the adjoint (backward) solve "
                + _ode.describe(Status.MAX_STEPS, self.max_steps)
            )


def _batch_norm(n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Error norm of a batch solved at once: the worst trajectory's RMS error, so every
    trajectory meets the tolerances it would meet solved alone (diffrax's rms_norm)."""

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(n, -1).abs().pow(2).mean(-1).sqrt().max()

    return norm


def _integrate(field, y0, times, rtol, atol, method, adjoint, params, n):
    options = {"norm": _batch_norm(n)} if n > 1 else {}
    if not adjoint:
        return odeint(field, y0, times, rtol=rtol, atol=atol, method=method, options=options)
    return odeint_adjoint(
        field,
        y0,
        times,
        rtol=rtol,
        atol=atol,
        method=method,
        options=options,
        adjoint_options={},
        adjoint_params=params,
    )


def _status_of(error: AssertionError | _OutOfSteps, field: _Field) -> Status:
    if isinstance(error, _OutOfSteps) or "max_num_steps" in str(error):
        return Status.MAX_STEPS
    if "non-finite" in str(error):
        return Status.NON_FINITE
    # a NaN derivative makes torchdiffeq reject every step until dt underflows
    if field.last is not None and not bool(torch.isfinite(field.last).all()):
        return Status.NON_FINITE
    return Status.FAILED


def _solve_one(vector_field, y0, times, args, rtol, atol, max_steps, method, adjoint, n):
    """One call of torchdiffeq on ``y0`` (one trajectory or a whole batch):
    ``(states at times, status)``, the states ``None`` on failure."""
    field = _Field(vector_field, args, max_steps)
    params = tuple(
        leaf
        for leaf in pytree.tree_leaves(args)
        if isinstance(leaf, torch.Tensor) and leaf.requires_grad
    )
    try:
        ys = _integrate(field, y0, times, rtol, atol, method, adjoint, params, n)
    except (AssertionError, _OutOfSteps) as error:
        return None, _status_of(error, field)
    if not bool(torch.isfinite(ys).all()):
        return None, Status.NON_FINITE
    return ys, Status.SUCCESS


def solve(
    vector_field: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
    y0: torch.Tensor,
    ts: torch.Tensor,
    args: Any = None,
    *,
    t0: "torch.Tensor | float | None" = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    max_steps: int = 4096,
    solver: str = "dopri5",
    adjoint: bool = False,
    state_ndim: int = 1,
    name: str = "ode",
    return_status: bool = False,
):
    """Solve ``dy/dt = vector_field(t, y, args)`` from ``y(t0) = y0`` and return ``y`` at
    every time in ``ts``, shape ``ts.shape + y0.shape``.

    Works under ``torch.autograd`` and inside plates; gradients flow to ``y0``, ``args``
    (a tensor or a tuple / list / dict of tensors) and ``t0``.

    :param vector_field: ``vector_field(t, y, args) -> dy/dt`` (diffrax's signature; it is
        wrapped into torchdiffeq's ``f(t, y)``); it must return a tensor of ``y``'s shape.
    :param ts: strictly increasing 1-D times at which to report the state.
    :param t0: the initial time, ``<= ts[0]`` (default ``ts[0]``); a tensor that
        requires grad gets a gradient.
    :param rtol, atol: tolerances of the adaptive step-size control (error per step
        ``<= atol + rtol * |y|``, RMS over one trajectory's state).
    :param max_steps: the step budget of one solve, rejected steps included (as diffrax
        counts it); running out is reported as :attr:`Status.MAX_STEPS`. The backward
        solve of ``adjoint=True`` has a budget of its own, and running out of it raises
        ``FloatingPointError`` (a backward pass cannot return a status).
    :param solver: a torchdiffeq adaptive solver in :data:`SOLVERS`. The default
        ``"dopri5"`` (Dormand--Prince 5(4)) is the NumPyro backend's default too, so both
        take the same steps; ``"dopri5"``, ``"dopri8"`` and ``"bosh3"`` exist in both.
        torchdiffeq has no stiff solver: a stiff system shows up as
        :attr:`Status.MAX_STEPS`.
    :param adjoint: ``False`` (default) backpropagates through the solver's steps
        (``torchdiffeq.odeint``: exact gradients of the computed solution, the fastest
        for the small systems of a Bayesian model); ``True`` solves the adjoint ODE
        backwards (``torchdiffeq.odeint_adjoint``, with the tensors of ``args`` as its
        ``adjoint_params``: memory independent of the number of steps; gradients to
        ``y0``, ``args`` and ``t0`` accurate to the tolerances).
    :param state_ndim: how many trailing dims of ``y0`` are the state (see below).
    :param name: the name under which the solve records its status (see below).
    :param return_status: also return the :class:`Status` codes, shape ``batch_shape``.

    {batching}

    The whole batch is one torchdiffeq solve whose step-size control takes the worst
    trajectory's error norm, so each trajectory meets the tolerances.

    Failure: a trajectory whose solve runs out of steps or turns non-finite is filled
    with NaN (as in the NumPyro backend, where nothing can be raised under ``jit``), and
    the solve records a message of type ``"ode_status"`` named ``name`` with its status
    codes on Pyro's handler stack; :func:`ppl_reparam.pyro.infer.fit` reads it to say
    which solve failed, why, and at which parameter values. When a batch fails, each
    trajectory is solved alone to find which ones failed. Outside a model, pass
    ``return_status=True`` and read :func:`ppl_reparam._ode.describe`.

    Example::

        def lotka_volterra(t, z, theta):
            u, v = z[..., 0], z[..., 1]
            a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
            return torch.stack([(a - b * v) * u, (-c + d * u) * v], dim=-1)

        z = solve(lotka_volterra, z_init, torch.arange(1.0, 21.0), theta, t0=0.0)  # (20, 2)
    """
    _ode.check_vector_field(vector_field)
    _ode.check_options(rtol, atol, max_steps, state_ndim)
    if solver not in SOLVERS:
        raise ValueError(f"solve: solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    if not isinstance(adjoint, bool):
        raise ValueError(f"solve: adjoint must be a bool, got {adjoint!r}")
    y0 = torch.as_tensor(y0)
    if not y0.is_floating_point():
        y0 = y0.to(torch.get_default_dtype())
    ts = torch.as_tensor(ts, dtype=y0.dtype, device=y0.device)
    t0_given = t0 is not None
    t0 = ts[0] if t0 is None else torch.as_tensor(t0, dtype=y0.dtype, device=y0.device)
    t0_value = float(t0.detach()) if t0_given else None
    _ode.check_times(ts.detach().cpu().numpy(), t0_value)
    batch_shape, state_shape = _ode.split_batch(y0.shape, state_ndim)
    try:
        with torch.no_grad():
            field_out = vector_field(t0, y0, args)
    except (IndexError, RuntimeError) as error:
        raise ValueError(
            f"solve: vector_field(t0, y0, args) failed on y0 of shape {tuple(y0.shape)} "
            f"(state_ndim={state_ndim}): {error}"
        ) from error
    _ode.check_field_shape(y0.shape, getattr(field_out, "shape", ()))

    # torchdiffeq reports the state at every time it is given, the first being t0
    starts_at_t0 = not t0_given or t0_value == float(ts[0])
    times = torch.cat([t0.reshape(1), ts[1:] if starts_at_t0 else ts])
    n = int(torch.Size(batch_shape).numel())
    settings = (rtol, atol, max_steps, solver, adjoint)
    ys, status = _solve_one(vector_field, y0, times, args, *settings, n)
    if status is Status.SUCCESS:
        ys = ys if starts_at_t0 else ys[1:]
        codes = torch.zeros(batch_shape, dtype=torch.int64, device=y0.device)
    else:
        ys, codes = _solve_each(vector_field, y0, times, args, settings, batch_shape, state_shape)
        ys = ys if starts_at_t0 else ys[1:]
    _record(name, codes, max_steps)
    return (ys, codes) if return_status else ys


def _solve_each(vector_field, y0, times, args, settings, batch_shape, state_shape):
    """Solve every trajectory of a failed batch alone: NaN and its status code where it
    fails, its states where it succeeds."""
    n = int(torch.Size(batch_shape).numel())
    flat_y0 = y0.reshape((n,) + state_shape)
    leaves, spec = pytree.tree_flatten(args)
    batched = [
        isinstance(leaf, torch.Tensor) and _ode.is_batched_leaf(leaf.shape, batch_shape)
        for leaf in leaves
    ]
    flat_leaves = [
        leaf.reshape((n,) + leaf.shape[len(batch_shape) :]) if b else leaf
        for leaf, b in zip(leaves, batched, strict=True)
    ]
    rows, codes = [], []
    for i in range(n):
        args_i = pytree.tree_unflatten(
            [leaf[i] if b else leaf for leaf, b in zip(flat_leaves, batched, strict=True)], spec
        )
        ys_i, status = _solve_one(vector_field, flat_y0[i], times, args_i, *settings, 1)
        rows.append(
            torch.full_like(times[:, None] * flat_y0[i], torch.nan) if ys_i is None else ys_i
        )
        codes.append(int(status))
    ys = torch.stack(rows, dim=1).reshape(times.shape + y0.shape)
    return ys, torch.tensor(codes, dtype=torch.int64, device=y0.device).reshape(batch_shape)


def _record(name: str, status: torch.Tensor, max_steps: int) -> None:
    """Send the status message through Pyro's handler stack (nothing without handlers);
    handlers that do not know its type pass it on, and traces do not record it."""
    if not am_i_wrapped():
        return
    msg = Message(
        **_ode.status_message(name, status, max_steps),
        fn=lambda: status,
        is_observed=False,
        args=(),
        kwargs={},
        infer={},
        scale=1.0,
        mask=None,
        cond_indep_stack=(),
        done=True,
        stop=False,
        continuation=None,
    )
    apply_stack(msg)


def failure_report(model, guide, args, kwargs) -> str:
    """The failed solves of one draw of ``guide`` replayed through ``model``, as text
    for :class:`~ppl_reparam.pyro.infer.NonFiniteLossError` ('' when none failed).
    Draws from the current RNG state: reset it to the failing step's to see that step."""
    with pyro.validation_enabled(False), torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        with collect_status() as collector:
            poutine.replay(model, trace=guide_trace)(*args, **kwargs)
    values = {
        name: site["value"].detach().cpu().numpy()
        for name, site in guide_trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    records = [{**r, "value": r["value"].cpu().numpy()} for r in collector.records]
    return "".join(f"; {line}" for line in _ode.failure_lines(records, values))


solve.__doc__ = solve.__doc__.replace("{batching}", _ode.BATCHING_DOC.replace("\n", "\n    "))
