"""What both backends' truncated distributions share (plain Python, no backend import)."""

from collections.abc import Callable, Mapping
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


TRUNCATED_DOC = r"""``base`` truncated to ``[low, high]`` (``None`` for an open end).

    ``base`` must be a univariate distribution with ``cdf`` and ``icdf``. A Normal,
    Logistic, Laplace or Gumbel base gives a :class:`TruncatedNormal` etc. (log-space,
    tail-stable); any other base a :class:`GenericTruncated`. Like NumPyro's
    ``TruncatedDistribution``, this is a function that picks the class.

    Example::

        >>> import {dist_module} as dist
        >>> type(Truncated(dist.Normal(0.0, 1.0), low=0.0)).__name__  # support [0, inf)
        'TruncatedNormal'
        >>> type(Truncated(dist.Cauchy(0.0, 1.0), low=1.0, high=3.0)).__name__
        'GenericTruncated'
    """


def dispatch_truncated(
    dedicated: Mapping[type, type],
    generic: type,
    base: Any,
    low: Any,
    high: Any,
    validate_args: bool | None,
) -> Any:
    """What ``Truncated(base, low, high)`` builds (see :data:`TRUNCATED_DOC`): the class
    ``dedicated[type(base)]`` from the base's ``loc`` and ``scale``, else ``generic``."""
    family = dedicated.get(type(base))
    if family is not None:
        return family(base.loc, base.scale, low, high, validate_args=validate_args)
    return generic(base, low, high, validate_args=validate_args)


GENERIC_TRUNCATED_DOC = r"""``base`` truncated to ``[low, high]`` (``None`` for an open end),
    for any univariate ``base`` with ``cdf`` and ``icdf``; :func:`Truncated` builds it.

    Sampled by ``icdf(F(low) + u (F(high) - F(low)))`` (from the upper end when the
    interval is in the upper half), with gradients by implicit differentiation through
    ``base.cdf``. The support is as for :class:`TruncatedNormal`, or the base's own when
    neither end bounds it.
    """

SOFT_CLIP_TRANSFORM_DOC = r"""A smooth, strictly increasing bijection from the real line onto
    ``(low, high)``.

    .. math::
        y = low + s\,[\mathrm{softplus}((x - low)/s) - \mathrm{softplus}((x - high)/s)]

    with softness ``s > 0``: the identity well inside the interval (to ``O(s e^{-d/s})``
    at distance ``d`` from the ends), saturating smoothly at ``low`` and ``high``, and
    tending to ``clip(x, low, high)`` as ``s -> 0``. Its slope is positive everywhere, so
    gradients never vanish as they do through a hard clip. Pass ``low=None`` or
    ``high=None`` for a one-sided soft clip onto ``(-inf, high)`` or ``(low, inf)``.

    Example::

        >>> t = SoftClipTransform(0.0, 1.0, softness=0.01)
        >>> [round(float(v), 4) for v in t({array}([-5.0, 0.5, 5.0]))]
        [0.0, 0.5, 1.0]
    """
