"""What both backends' truncated distributions share (plain Python, no backend import)."""

from collections.abc import Callable
from typing import Any

INF = float("inf")


def bounding_ends(
    low: Any, high: Any, equals_everywhere: Callable[[Any, float], bool]
) -> tuple[bool, bool]:
    """Whether ``low`` and ``high`` bound the support: an end that is ``None``, or
    ``-inf`` (``+inf``) in every batch element, does not.

    ``equals_everywhere(x, v)`` is the backend's ``all(x == v)``; it answers ``False``
    where it cannot know (a traced JAX array), so such an end counts as bounding.
    """
    return (
        low is not None and not equals_everywhere(low, -INF),
        high is not None and not equals_everywhere(high, INF),
    )


def truncated_support(
    constraints: Any, low: Any, high: Any, ends: tuple[bool, bool], unbounded: Any
) -> Any:
    """The support of a law truncated to ``[low, high]``, whose bounding ``ends`` are as
    :func:`bounding_ends` says: ``interval(low, high)``, ``greater_than_eq(low)``,
    ``less_than_eq(high)`` or, with neither end, ``unbounded``. The ends are closed, as
    in NumPyro's ``TruncatedDistribution``: a draw can round onto an end, and its
    density there is finite. ``constraints`` is the backend's constraints module."""
    has_low, has_high = ends
    if has_low and has_high:
        return constraints.interval(low, high)
    if has_low:
        return constraints.greater_than_eq(low)
    if has_high:
        return constraints.less_than_eq(high)
    return unbounded
