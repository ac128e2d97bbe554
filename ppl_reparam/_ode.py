"""Backend-neutral pieces of ``ode.solve`` (no torch or jax import): argument checks,
the batching rule, solver status codes and the messages that explain a failed solve.

Both backends follow the same contract:

- ``solve`` never raises on a failed solve (JAX cannot raise on values inside ``jit``);
  it fills the failed trajectories with NaN and records a status message of type
  :data:`STATUS_TYPE` on the effect-handler stack, named after the solve's ``name``,
  holding the integer codes of :class:`Status` per batch element;
- ``fit``'s diagnosis of a non-finite loss collects those messages (see
  :func:`failure_lines`) and names the failed solve, the reason and the parameter
  values it was called with.
"""

from collections.abc import Mapping, Sequence
from enum import IntEnum

import numpy as np

#: message type under which ``solve`` records its status on the handler stack
STATUS_TYPE = "ode_status"


class Status(IntEnum):
    """Outcome of one trajectory of a solve (0 = success)."""

    SUCCESS = 0
    MAX_STEPS = 1  # the step budget ran out before the last time in ts
    NON_FINITE = 2  # the state or the vector field became NaN/inf
    FAILED = 3  # any other solver failure (step size underflow, internal error)


def describe(status: int, max_steps: int) -> str:
    """Why a trajectory with this status code failed, with the fix a user can try."""
    status = Status(int(status))
    if status is Status.SUCCESS:
        return "succeeded"
    if status is Status.MAX_STEPS:
        return (
            f"stopped at max_steps={max_steps} before the last time in ts "
            "(the system is stiff or the parameters are extreme: raise max_steps, loosen "
            "rtol/atol, or use a stiff solver)"
        )
    if status is Status.NON_FINITE:
        return "produced a non-finite state (the vector field returned NaN/inf)"
    return "failed (step size underflow or solver breakdown)"


def failure_lines(records: Sequence[Mapping], values: Mapping[str, object]) -> list[str]:
    """Lines for ``fit``'s error message, one per failed solve.

    :param records: the status messages of one model run: mappings with ``name``,
        ``value`` (integer :class:`Status` codes, one per trajectory: shape
        ``batch_shape``) and ``max_steps``.
    :param values: the latent sample values of that run (site name -> array), printed
        as the parameter values the solve was called with.
    """
    lines = []
    for record in records:
        codes = np.asarray(record["value"]).astype(int)
        failed = codes != Status.SUCCESS
        if not failed.any():
            continue
        where = "" if codes.ndim == 0 else f" at batch index {np.argwhere(failed)[0].tolist()}"
        first = codes[failed].flat[0] if codes.ndim else int(codes)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        lines.append(
            f"ODE solve '{record['name']}'{where}: {describe(first, record['max_steps'])}; "
            f"parameter values: {shown}"
        )
    return lines


def status_message(name: str, status: object, max_steps: int) -> dict:
    """The fields every backend's status message carries (a backend adds what its
    handler stack needs): its :data:`STATUS_TYPE`, the solve's name, the codes."""
    return {"type": STATUS_TYPE, "name": name, "value": status, "max_steps": max_steps}


def _short(value: object) -> str:
    array = np.asarray(value, dtype=float)
    return np.array2string(array, precision=4, threshold=8, separator=", ")


def check_vector_field(vector_field: object) -> None:
    if not callable(vector_field):
        raise TypeError(
            "solve: vector_field must be a callable vector_field(t, y, args) returning dy/dt, "
            f"got {type(vector_field).__name__}"
        )


def check_options(rtol: float, atol: float, max_steps: int, state_ndim: int) -> None:
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not np.isfinite(tol) or tol < 0:
            raise ValueError(f"solve: {name} must be a finite number >= 0, got {tol!r}")
    if rtol == 0 and atol == 0:
        raise ValueError("solve: rtol and atol cannot both be 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"solve: max_steps must be an integer >= 1, got {max_steps!r}")
    if not isinstance(state_ndim, int | np.integer) or state_ndim < 0:
        raise ValueError(f"solve: state_ndim must be an integer >= 0, got {state_ndim!r}")


def check_times(ts: "np.ndarray | None", t0: "float | None") -> None:
    """Check ``ts`` (1-D, strictly increasing, finite) and ``t0 <= ts[0]``.

    Either argument is ``None`` when it is not concrete (a JAX tracer); its checks are
    then skipped, as they need values.
    """
    if ts is not None:
        if ts.ndim != 1 or ts.size == 0:
            raise ValueError(
                f"solve: ts must be a non-empty 1-D array of times, got shape {ts.shape}"
            )
        if not np.all(np.isfinite(ts)):
            raise ValueError("solve: ts must be finite")
        steps = np.diff(ts)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise ValueError(
                "solve: ts must be strictly increasing, got "
                f"ts[{i}]={ts[i]} >= ts[{i + 1}]={ts[i + 1]}"
            )
    if ts is not None and t0 is not None:
        if not np.isfinite(t0):
            raise ValueError(f"solve: t0 must be finite, got {t0}")
        if t0 > ts[0]:
            raise ValueError(f"solve: t0 must be <= ts[0]={ts[0]}, got t0={t0}")


def split_batch(y0_shape: Sequence[int], state_ndim: int) -> tuple[tuple, tuple]:
    """``y0``'s shape as ``(batch_shape, state_shape)``: the last ``state_ndim`` dims are
    the state of one trajectory, every leading dim is a batch dim."""
    y0_shape = tuple(y0_shape)
    if len(y0_shape) < state_ndim:
        raise ValueError(
            f"solve: y0 must have at least state_ndim={state_ndim} dims, got shape {y0_shape}"
        )
    cut = len(y0_shape) - state_ndim
    return y0_shape[:cut], y0_shape[cut:]


def is_batched_leaf(leaf_shape: Sequence[int], batch_shape: Sequence[int]) -> bool:
    """The batching rule for ``args``: a leaf is per-trajectory when its leading dims
    equal ``batch_shape``; otherwise every trajectory shares it."""
    batch_shape, leaf_shape = tuple(batch_shape), tuple(leaf_shape)
    return len(batch_shape) > 0 and leaf_shape[: len(batch_shape)] == batch_shape


def check_field_shape(state_shape: Sequence[int], field_shape: Sequence[int]) -> None:
    if tuple(state_shape) != tuple(field_shape):
        raise ValueError(
            f"solve: vector_field(t, y, args) returned shape {tuple(field_shape)} but the state "
            f"y0 of one trajectory has shape {tuple(state_shape)}; they must match (a batch "
            "of trajectories puts its batch dims in front of y0's state dims)"
        )


BATCHING_DOC = """\
Batching (the same rule in both backends): ``y0`` has shape ``batch_shape + state_shape``,
where ``state_shape`` is its last ``state_ndim`` dims (default 1: a vector state) and
every leading dim is a batch dim (many subjects, one ODE). A leaf of ``args`` (a pytree:
tuple, list, dict or one array) whose leading dims equal ``batch_shape`` is
per-trajectory; any other leaf is shared by every trajectory. ``t0`` and ``ts`` are
shared. The result has shape ``ts.shape + y0.shape``: time first, then the batch dims,
then the state. Write ``vector_field`` for one trajectory with ellipsis indexing
(``y[..., 0]``, ``theta[..., 1]``) so that it also broadcasts over leading dims: JAX
maps it over the batch with ``vmap`` (it sees ``y`` of shape ``state_shape``), PyTorch
calls it once on the whole batch (it sees ``batch_shape + state_shape``).
"""
