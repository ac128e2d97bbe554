"""Argument checks shared by both backends (plain Python and NumPy, no backend import)."""

from collections.abc import Mapping, Sequence

import numpy as np


def broadcast_param_shapes(dist_name: str, shapes: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    """The common batch shape of a distribution's parameters, or a ``ValueError`` that
    names each parameter and its shape."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes.values())))
    except ValueError:
        listed = ", ".join(f"{name} has shape {tuple(s)}" for name, s in shapes.items())
        raise ValueError(
            f"{dist_name}: parameter shapes do not broadcast together ({listed})"
        ) from None


def invalid_parameter_message(dist_name: str, param: str, constraint: object, value) -> str:
    """The message for a parameter outside its constraint, with a few offending values."""
    bad = np.asarray(value)
    flat = bad.reshape(-1)
    preview = np.array2string(flat[:5], precision=6)
    return (
        f"{dist_name}: parameter `{param}` must satisfy {constraint}; "
        f"got invalid values {preview}{' ...' if flat.size > 5 else ''}"
    )


def check_one_parameterization(dist_name: str, probs, logits) -> None:
    """A ``ValueError`` unless exactly one of ``probs`` and ``logits`` is given."""
    if (probs is None) == (logits is None):
        got = "both" if probs is not None else "neither"
        raise ValueError(f"{dist_name}: pass exactly one of `probs` or `logits` (got {got})")


RELAXED_DENSITIES = ("concrete", "categorical")


def check_relaxed_density(owner: str, density) -> str:
    """``density`` if it names a way to score relaxed draws (see
    :data:`RELAXED_DENSITIES`), else a ``ValueError`` naming the allowed values."""
    if density not in RELAXED_DENSITIES:
        allowed = ", ".join(repr(d) for d in RELAXED_DENSITIES)
        raise ValueError(f"{owner}: `density` must be one of {allowed}, got {density!r}")
    return density
