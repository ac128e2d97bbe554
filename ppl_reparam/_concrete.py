"""Parameter handling the relaxed (Concrete) families share across both backends: their
shapes, and the checks their constraints do not express (plain Python and NumPy, no
backend import)."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ppl_reparam._validation import broadcast_param_shapes, check_one_parameterization


def concrete_shapes(
    dist_name: str,
    temperature_shape: Sequence[int],
    given_name: str,
    given_shape: Sequence[int],
    event_dim: int,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(batch_shape, event_shape)`` of a relaxed distribution built from a temperature
    and ``given_name`` (``"probs"`` or ``"logits"``) of these shapes; ``event_dim`` is 1
    for the categorical families (last axis: the categories), 0 for the binary ones.

    >>> concrete_shapes("RelaxedOneHotCategorical", (3, 1), "logits", (4, 6), 1)
    ((3, 4), (6,))
    """
    given_shape = tuple(given_shape)
    if len(given_shape) < event_dim:
        raise ValueError(
            f"{dist_name}: `{given_name}` needs a last axis of categories, got a scalar"
        )
    split = len(given_shape) - event_dim
    batch_shape = broadcast_param_shapes(
        dist_name, {"temperature": tuple(temperature_shape), given_name: given_shape[:split]}
    )
    return batch_shape, given_shape[split:]


def given_parameter(dist_name: str, probs, logits) -> tuple[str, object]:
    """``("probs", probs)`` or ``("logits", logits)``, whichever was given; a
    ``ValueError`` unless exactly one was."""
    check_one_parameterization(dist_name, probs, logits)
    return ("probs", probs) if probs is not None else ("logits", logits)


def invalid_parameter_message(dist_name: str, param: str, event_dim: int, bad) -> str:
    """The message for a ``temperature`` that is not finite and positive, or ``probs`` /
    ``logits`` whose logits are not finite: the Concrete density is then degenerate or
    ``nan`` at every draw, so validation rejects them before the backend's constraint
    checks (which let infinities and zero probabilities through)."""
    if param == "temperature":
        allowed = "be finite and > 0"
    elif param == "logits":
        allowed = "be finite"
    elif event_dim:
        allowed = "have every entry in (0, 1] (a category of probability 0 has no density)"
    else:
        allowed = "lie in the open interval (0, 1)"
    flat = np.asarray(bad).reshape(-1)
    preview = np.array2string(flat[:5], precision=6)
    return (
        f"{dist_name}: parameter `{param}` must {allowed}; "
        f"got invalid values {preview}{' ...' if flat.size > 5 else ''}"
    )


def check_parameters(
    dist_name: str,
    event_dim: int,
    checks: Iterable[tuple[str, Any, Any]],
    to_numpy: Callable[[Any], np.ndarray | None],
) -> None:
    """A ``ValueError`` (see :func:`invalid_parameter_message`) for the first
    ``(param, value, ok)`` whose boolean array ``ok`` (the shape of ``value``) is not all
    true. ``to_numpy`` turns a backend array into NumPy, or into ``None`` where its
    values are unknown (a JAX tracer): such a check is skipped."""
    for param, value, ok in checks:
        ok = to_numpy(ok)
        if ok is not None and not ok.all():
            bad = to_numpy(value)[~ok]
            raise ValueError(invalid_parameter_message(dist_name, param, event_dim, bad))
