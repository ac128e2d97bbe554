r"""A smooth, strictly increasing bijection from the real line onto ``(low, high)``.

With softness ``s``, ``u_1 = (x - low)/s``, ``u_2 = (x - high)/s`` and ``w = high - low``:

.. math::
    y = low + s\,[\mathrm{softplus}(u_1) - \mathrm{softplus}(u_2)], \qquad
    \frac{dy}{dx} = \sigma(u_1) - \sigma(u_2) > 0,

the integral of the difference of two sigmoids: ``y -> low`` as ``x -> -inf``,
``y -> high`` as ``x -> inf``, ``y = x`` up to ``O(s e^{-d/s})`` at a distance ``d`` from
both ends, and ``y -> clip(x, low, high)`` as ``s -> 0``. The slope is positive
everywhere, so, unlike a hard clip, it never stops a gradient; its log is

.. math::
    \log \frac{dy}{dx} = \log(1 - e^{-w/s}) - \mathrm{softplus}(-u_1)
        - \mathrm{softplus}(u_2),

finite wherever ``x`` is. The inverse is
``x = y + s [log(1 - e^{-(y-low)/s}) - log(1 - e^{-(high-y)/s})]``.
One-sided versions (``low`` or ``high`` None) drop the other end's terms.
"""

from ppl_reparam.math.namespace import Array, ArrayNamespace
from ppl_reparam.math.special import log1mexp


def _strictly_inside(xp: ArrayNamespace, y: Array, low: Array | None, high: Array | None) -> Array:
    """``y`` moved at most an ulp or two off an end it rounded onto, so ``inverse`` and
    ``log_prob`` stay finite (an end is reached in floating point once the distance to
    it is below the end's resolution). The move carries no gradient: the slope is the
    smooth one."""
    info = xp.finfo(y)
    inside = y
    if low is not None:
        inside = xp.where(inside > low, inside, low + xp.abs(low) * info.eps + info.tiny)
    if high is not None:
        inside = xp.where(inside < high, inside, high - xp.abs(high) * info.eps - info.tiny)
    return y + xp.stop_gradient(inside - y)


def forward(
    xp: ArrayNamespace, x: Array, low: Array | None, high: Array | None, softness: Array
) -> Array:
    """``y`` strictly inside ``(low, high)``; each end's distance is computed relative to
    that end, so ``y - low`` (or ``high - y``) keeps full relative precision near it."""
    if high is None:
        y = low + softness * xp.softplus((x - low) / softness)
    elif low is None:
        y = high - softness * xp.softplus((high - x) / softness)
    else:
        u1 = (x - low) / softness
        u2 = (x - high) / softness
        log_c = log1mexp(xp, -(high - low) / softness)
        # softplus(u1) - softplus(u2) = log(1 + c e^{u1} / (1 + e^{u2})), a softplus of
        # log(c) + u1 - softplus(u2) <= w/s: no exp overflows, in value or gradient.
        from_low = low + softness * xp.softplus(log_c + u1 - xp.softplus(u2))
        from_high = high - softness * xp.softplus(log_c - u2 - xp.softplus(-u1))
        y = xp.where(x < 0.5 * (low + high), from_low, from_high)
    return _strictly_inside(xp, y, low, high)


def inverse(
    xp: ArrayNamespace, y: Array, low: Array | None, high: Array | None, softness: Array
) -> Array:
    """``x`` with ``forward(x) = y``, for ``y`` strictly inside the interval."""
    x = y
    if low is not None:
        x = x + softness * log1mexp(xp, -(y - low) / softness)
    if high is not None:
        x = x - softness * log1mexp(xp, -(high - y) / softness)
    return x


def log_abs_det_jacobian(
    xp: ArrayNamespace, x: Array, low: Array | None, high: Array | None, softness: Array
) -> Array:
    """``log dy/dx`` from ``x``; never -inf for finite ``x`` (no slope underflows)."""
    out = 0.0 * x
    if low is not None:
        out = out - xp.softplus(-(x - low) / softness)
    if high is not None:
        out = out - xp.softplus((x - high) / softness)
    if low is not None and high is not None:
        out = out + log1mexp(xp, -(high - low) / softness)
    return out


__all__ = ["forward", "inverse", "log_abs_det_jacobian"]
