"""ODE solves inside NumPyro models, on diffrax, with solver failures reported by site."""

from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.primitives import _PYRO_STACK, apply_stack

from ppl_reparam import _ode
from ppl_reparam._ode import Status
from ppl_reparam.numpyro._multistart import collect_status

__all__ = ["Status", "failure_report", "solve"]

#: solvers by name; the names are those torchdiffeq uses where both libraries have one
SOLVERS = {
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "tsit5": diffrax.Tsit5,
    "bosh3": diffrax.Bosh3,
    "kvaerno5": diffrax.Kvaerno5,  # implicit: for stiff systems
}


def _concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or None when it is a tracer (its value is unknown)."""
    try:
        return np.asarray(x, dtype=float)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _solver(solver: "str | diffrax.AbstractSolver") -> diffrax.AbstractSolver:
    if isinstance(solver, diffrax.AbstractSolver):
        return solver
    if solver not in SOLVERS:
        raise ValueError(
            f"solve: solver must be one of {sorted(SOLVERS)} or a diffrax solver, got {solver!r}"
        )
    return SOLVERS[solver]()


def _adjoint(adjoint: "bool | diffrax.AbstractAdjoint") -> diffrax.AbstractAdjoint:
    if isinstance(adjoint, diffrax.AbstractAdjoint):
        return adjoint
    if not isinstance(adjoint, bool):
        raise ValueError(f"solve: adjoint must be a bool or a diffrax adjoint, got {adjoint!r}")
    return diffrax.BacksolveAdjoint() if adjoint else diffrax.RecursiveCheckpointAdjoint()


def solve(
    vector_field: Callable[[Any, Any, Any], Any],
    y0: Any,
    ts: Any,
    args: Any = None,
    *,
    t0: Any = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    max_steps: int = 4096,
    solver: "str | diffrax.AbstractSolver" = "dopri5",
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    adjoint: "bool | diffrax.AbstractAdjoint" = False,
    state_ndim: int = 1,
    name: str = "ode",
    return_status: bool = False,
):
    """Solve ``dy/dt = vector_field(t, y, args)`` from ``y(t0) = y0`` and return ``y`` at
    every time in ``ts``, shape ``ts.shape + y0.shape``.

    Works under ``jit``, ``grad`` and ``vmap`` and inside plates; gradients flow to
    ``y0``, ``args`` (any pytree of arrays) and ``t0``.

    :param vector_field: ``vector_field(t, y, args) -> dy/dt`` (diffrax's signature),
        for one trajectory; it must return an array of ``y``'s shape.
    :param ts: strictly increasing 1-D times at which to report the state.
    :param t0: the initial time, ``<= ts[0]`` (default ``ts[0]``).
    :param rtol, atol: tolerances of the adaptive step-size control (error per step
        ``<= atol + rtol * |y|``). At the default 1e-6 the lynx-hare trajectory is
        within 1.4e-5 relative of a tight reference (2.4e-4 at 1e-5, 1.3e-3 at 1e-4,
        measured with the Pyro backend's solver of the same method).
    :param max_steps: the step budget of one solve (diffrax's default 4096); running out
        is reported as :attr:`Status.MAX_STEPS`.
    :param solver: a name in :data:`SOLVERS` or a diffrax solver. The default
        ``"dopri5"`` (Dormand--Prince 5(4), as torchdiffeq's default, so both backends
        take the same steps) is an explicit solver for non-stiff systems; use
        ``"kvaerno5"`` for stiff ones.
    :param stepsize_controller: a diffrax controller (default
        ``diffrax.PIDController(rtol, atol)``, which also picks the first step).
    :param adjoint: ``False`` (default) differentiates through the solver's steps
        (``diffrax.RecursiveCheckpointAdjoint``: exact gradients of the computed
        solution, the fastest for the small systems of a Bayesian model); ``True`` solves
        the adjoint ODE backwards (``diffrax.BacksolveAdjoint``: memory independent of
        the number of steps, gradients to ``y0`` and ``args`` only, not ``t0``); or a
        diffrax adjoint.
    :param state_ndim: how many trailing dims of ``y0`` are the state (see below).
    :param name: the name under which the solve records its status (see below).
    :param return_status: also return the :class:`Status` codes, shape ``batch_shape``.

    {batching}

    Failure: a trajectory whose solve runs out of steps or turns non-finite is filled
    with NaN (nothing can be raised on values under ``jit``), and the solve records a
    message of type ``"ode_status"`` named ``name`` with its status codes on the
    handler stack; :func:`ppl_reparam.numpyro.infer.fit` reads it to say which solve
    failed, why, and at which parameter values. Outside a model, pass
    ``return_status=True`` and read :func:`ppl_reparam._ode.describe`.

    Example::

        def lotka_volterra(t, z, theta):
            u, v = z[..., 0], z[..., 1]
            a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
            return jnp.stack([(a - b * v) * u, (-c + d * u) * v], axis=-1)

        z = solve(lotka_volterra, z_init, jnp.arange(1.0, 21.0), theta, t0=0.0)  # (20, 2)
    """
    _ode.check_vector_field(vector_field)
    _ode.check_options(rtol, atol, max_steps, state_ndim)
    y0 = jnp.asarray(y0)
    if not jnp.issubdtype(y0.dtype, jnp.floating):
        y0 = y0.astype(jnp.result_type(float))
    ts = jnp.asarray(ts, dtype=y0.dtype)
    t0_value = None if t0 is None else _concrete(t0)
    _ode.check_times(_concrete(ts), None if t0_value is None else float(t0_value))
    t0 = ts[0] if t0 is None else jnp.asarray(t0, dtype=y0.dtype)
    batch_shape, state_shape = _ode.split_batch(y0.shape, state_ndim)

    leaves, treedef = jax.tree_util.tree_flatten(args)
    leaves = [jnp.asarray(leaf) for leaf in leaves]
    batched = [_ode.is_batched_leaf(leaf.shape, batch_shape) for leaf in leaves]
    n = int(np.prod(batch_shape, dtype=int))
    # one flat batch dim to vmap over, whatever the number of batch dims
    flat = [
        leaf.reshape((n,) + leaf.shape[len(batch_shape) :]) if b else leaf
        for leaf, b in zip(leaves, batched, strict=True)
    ]
    y0_flat = y0.reshape((n,) + state_shape)

    one = [leaf[0] if b else leaf for leaf, b in zip(flat, batched, strict=True)]
    field_out = jax.eval_shape(
        vector_field, t0, y0_flat[0], jax.tree_util.tree_unflatten(treedef, one)
    )
    _ode.check_field_shape(state_shape, getattr(field_out, "shape", ()))

    term = diffrax.ODETerm(vector_field)
    controller = (
        diffrax.PIDController(rtol=rtol, atol=atol)
        if stepsize_controller is None
        else stepsize_controller
    )
    method, adjoint_method = _solver(solver), _adjoint(adjoint)

    def one_trajectory(y0_i, leaves_i):
        sol = diffrax.diffeqsolve(
            term,
            method,
            t0=t0,
            t1=ts[-1],
            dt0=None,
            y0=y0_i,
            args=jax.tree_util.tree_unflatten(treedef, leaves_i),
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=controller,
            adjoint=adjoint_method,
            max_steps=max_steps,
            throw=False,
        )
        ok = sol.result == diffrax.RESULTS.successful
        out_of_steps = sol.result == diffrax.RESULTS.max_steps_reached
        finite = jnp.all(jnp.isfinite(sol.ys))
        status = jnp.where(
            ok,
            jnp.where(finite, Status.SUCCESS, Status.NON_FINITE),
            jnp.where(out_of_steps, Status.MAX_STEPS, Status.FAILED),
        )
        ys = jnp.where(status == Status.SUCCESS, sol.ys, jnp.nan)
        return ys, status

    in_axes = (0, [0 if b else None for b in batched])
    ys, status = jax.vmap(one_trajectory, in_axes=in_axes)(y0_flat, flat)
    ys = jnp.moveaxis(ys.reshape(batch_shape + ys.shape[1:]), len(batch_shape), 0)
    status = status.reshape(batch_shape)
    _record(name, status, max_steps)
    return (ys, status) if return_status else ys


def _record(name: str, status: jax.Array, max_steps: int) -> None:
    """Send the status message through the handler stack (nothing without handlers)."""
    if not _PYRO_STACK:
        return
    msg = _ode.status_message(name, status, max_steps)
    apply_stack({**msg, "fn": lambda: status, "args": (), "kwargs": {}, "cond_indep_stack": []})


def failure_report(model, guide, params, rng_key, args, kwargs) -> str:
    """The failed solves of one draw of ``guide`` replayed through ``model``, as text
    for :class:`~ppl_reparam.numpyro.infer.NonFiniteLossError` ('' when none failed)."""
    seeded_guide = handlers.seed(handlers.substitute(guide, data=params), rng_key)
    seeded_model = handlers.substitute(handlers.seed(model, rng_key), data=params)
    collector = collect_status()
    with numpyro.validation_enabled(False):
        guide_trace = handlers.trace(seeded_guide).get_trace(*args, **kwargs)
        with collector:
            handlers.replay(seeded_model, guide_trace)(*args, **kwargs)
    values = {
        name: site["value"]
        for name, site in guide_trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    return "".join(f"; {line}" for line in _ode.failure_lines(collector.records, values))


solve.__doc__ = solve.__doc__.replace("{batching}", _ode.BATCHING_DOC.replace("\n", "\n    "))
