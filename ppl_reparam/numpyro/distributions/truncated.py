"""Truncated and soft-truncated distributions for NumPyro (JAX)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as upstream
from jax import random
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample
from numpyro.util import not_jax_tracer

from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._truncated import (
    GENERIC_TRUNCATED_DOC,
    TRUNCATED_DOC,
    bounding_ends,
    dispatch_truncated,
    truncated_support,
)
from ppl_reparam._validation import broadcast_param_shapes
from ppl_reparam.math import truncated as _t
from ppl_reparam.numpyro import _xp
from ppl_reparam.numpyro.distributions._base import ValidatedDistribution
from ppl_reparam.numpyro.distributions.transforms import SoftClipTransform

# Compiled once per family and shape: run op by op, the long where-guarded log-space
# formulas spend seconds compiling each small op on first use.
_sample = jax.jit(partial(_t.sample, _xp), static_argnums=0)
_sample_partials = jax.jit(partial(_t.sample_partials, _xp), static_argnums=0)
_log_prob = jax.jit(partial(_t.log_prob, _xp), static_argnums=0)
_cdf = jax.jit(partial(_t.cdf, _xp), static_argnums=0)
_moments = jax.jit(partial(_t.moments, _xp), static_argnums=0)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _inverse_cdf_sample(family, u, loc, scale, low, high):
    """``x = loc + scale F^-1(F(a) + u (F(b) - F(a)))`` with the implicit derivative of
    :func:`ppl_reparam.math.truncated.sample_partials` as its JVP."""
    return _sample(family, u, loc, scale, low, high)


@_inverse_cdf_sample.defjvp
def _inverse_cdf_sample_jvp(family, primals, tangents):
    x = _inverse_cdf_sample(family, *primals)
    u, loc, scale, low, high = primals
    partials = _sample_partials(family, u, x, loc, scale, low, high)
    tangent = sum(d * t for d, t in zip(partials, tangents, strict=True))
    return x, jnp.broadcast_to(tangent, jnp.shape(x))


def _equals_everywhere(x, value: float) -> bool:
    with jax.ensure_compile_time_eval():
        same = jnp.all(jnp.asarray(x) == value)
        return not_jax_tracer(same) and bool(same)


def _check_interval(name: str, low, high) -> None:
    with jax.ensure_compile_time_eval():
        ok = jnp.asarray(low) < jnp.asarray(high)
        if not_jax_tracer(ok) and not np.all(ok):
            lo, hi = np.broadcast_arrays(np.asarray(low), np.asarray(high))
            bad = ~np.asarray(ok)
            raise ValueError(
                f"{name}: need low < high; got low={lo[bad][:5].tolist()}, "
                f"high={hi[bad][:5].tolist()}"
            )


class _SampleCheckUnderJit:
    """NumPyro's out-of-support warning, also under ``jit``: ends given as constants
    stay concrete there (see :func:`_concrete`), and compared with a concrete value they
    give a concrete mask, which warns, where a NumPy value against a traced end would
    fail to convert."""

    def _validate_sample(self, value):
        with jax.ensure_compile_time_eval():
            return super()._validate_sample(jnp.asarray(value))


class _Truncated(_SampleCheckUnderJit, ValidatedDistribution):
    """What the truncated classes share: the ``low < high`` check under
    ``validate_args`` and the out-of-support warning under ``jit``."""

    pytree_aux_fields = ("_ends",)

    def validate_args(self, strict: bool = True) -> None:
        super().validate_args(strict)
        if self.low is not None and self.high is not None:
            _check_interval(type(self).__name__, self.low, self.high)


def _concrete(*values, dtype):
    """``values`` as arrays of ``dtype``, broadcast to one rank; constants stay concrete
    under ``jit`` (not traced), so checks on them still run there."""
    with jax.ensure_compile_time_eval():
        return promote_shapes(*(jnp.asarray(v, dtype=dtype) for v in values))


class _TruncatedLocationScale(_Truncated):
    family: _t.StandardFamily

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        # checked together (low < high); event_dim given so shapes can be inferred
        "low": constraints.dependent(is_discrete=False, event_dim=0),
        "high": constraints.dependent(is_discrete=False, event_dim=0),
    }
    reparametrized_params = ["loc", "scale", "low", "high"]
    pytree_data_fields = ("loc", "scale", "low", "high")

    def __init__(self, loc, scale, low=None, high=None, *, validate_args=None):
        name = type(self).__name__
        self._ends = bounding_ends(low, high, _equals_everywhere)
        low = -jnp.inf if low is None else low
        high = jnp.inf if high is None else high
        params = (loc, scale, low, high)
        batch_shape = broadcast_param_shapes(
            name, {k: jnp.shape(v) for k, v in zip(self.arg_constraints, params, strict=True)}
        )
        dtype = jnp.result_type(float, *params)
        self.loc, self.scale, self.low, self.high = _concrete(*params, dtype=dtype)
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return truncated_support(constraints, self.low, self.high, self._ends, constraints.real)

    def _params(self):
        return self.loc, self.scale, self.low, self.high

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        u = random.uniform(key, shape, dtype=jnp.result_type(self.loc))
        return _inverse_cdf_sample(self.family, u, *self._params())

    @validate_sample
    def log_prob(self, value):
        return _log_prob(self.family, value, *self._params())

    def cdf(self, value):
        return _cdf(self.family, value, *self._params())

    def icdf(self, q):
        q = jnp.asarray(q, dtype=jnp.result_type(self.loc))
        return _inverse_cdf_sample(self.family, q, *self._params())

    @property
    def mean(self):
        return _moments(self.family, *self._params())[0]

    @property
    def variance(self):
        return _moments(self.family, *self._params())[1]

    def entropy(self):
        return _moments(self.family, *self._params())[2]


class TruncatedNormal(_TruncatedLocationScale):
    r"""Normal(loc, scale) truncated to ``[low, high]`` (either end may be None/inf).

    .. math::
        f(x) = \frac{\phi((x - \mu)/\sigma)}{\sigma\,(\Phi(b) - \Phi(a))}, \qquad
        a = (low - \mu)/\sigma,\; b = (high - \mu)/\sigma.

    ``sample`` inverts the CDF from the tail nearer the interval, in log space, so
    draws stay inside ``[low, high]`` and are accurate even 40 standard deviations out;
    gradients with respect to loc, scale, low and high come from implicit
    differentiation in log space (a ``jax.custom_jvp``; no ``1/f(z)`` overflow).
    ``mean``, ``variance`` and ``entropy`` are closed forms, accurate in the far tails.

    The support is ``interval(low, high)``, ``greater_than_eq(low)`` with only ``low``,
    ``less_than_eq(high)`` with only ``high``, ``real`` with neither; an end that is
    ``None`` or infinite in every batch element does not count, so ``biject_to`` of the
    support maps onto the half line. With ``validate_args``, ``low >= high`` is a
    ``ValueError``.

    Example::

        >>> d = TruncatedNormal(0.0, 1.0, low=20.0, high=21.0)
        >>> x = d.sample(jax.random.PRNGKey(0), (1000,))
        >>> bool(((x >= 20) & (x <= 21)).all())
        True
    """

    family = _t.NORMAL


class TruncatedLogistic(_TruncatedLocationScale):
    r"""Logistic(loc, scale) truncated to ``[low, high]``; see :class:`TruncatedNormal`.

    ``mean``, ``variance`` and ``entropy`` are integrated numerically (tanh-sinh rule
    over the quantile function, ~1e-12 relative).
    """

    family = _t.LOGISTIC


class TruncatedLaplace(_TruncatedLocationScale):
    """Laplace(loc, scale) truncated to ``[low, high]``; see :class:`TruncatedNormal`.
    Moments are integrated numerically: to ~1e-15 on one side of loc, but only ~1e-6
    (entropy ~1e-4) for an interval containing loc, where the density has a kink."""

    family = _t.LAPLACE


class TruncatedGumbel(_TruncatedLocationScale):
    """Gumbel(loc, scale) truncated to ``[low, high]``; see :class:`TruncatedNormal`.
    Moments are integrated numerically."""

    family = _t.GUMBEL


@copy_docs_from(GENERIC_TRUNCATED_DOC)
class GenericTruncated(_Truncated):
    arg_constraints = {}
    reparametrized_params = []
    pytree_data_fields = ("base", "low", "high")

    def __init__(self, base, low=None, high=None, *, validate_args=None):
        if not isinstance(base, upstream.Distribution) or any(
            getattr(type(base), m) is getattr(upstream.Distribution, m) for m in ("cdf", "icdf")
        ):
            raise TypeError(
                f"Truncated: the base must implement cdf and icdf; {type(base).__name__} does not"
            )
        if base.event_shape:
            raise ValueError(
                f"Truncated: the base must be univariate; {type(base).__name__} has "
                f"event shape {tuple(base.event_shape)}"
            )
        # An infinite end truncates nothing: drop it, so the support stays unbounded there.
        self._ends = bounding_ends(low, high, _equals_everywhere)
        # icdf is required anyway; its output carries the base's dtype.
        dtype = jnp.result_type(base.icdf(0.5))
        self.low = _concrete(low, dtype=dtype)[0] if self._ends[0] else None
        self.high = _concrete(high, dtype=dtype)[0] if self._ends[1] else None
        shapes = {"base": base.batch_shape}
        shapes.update(
            {k: jnp.shape(v) for k, v in (("low", self.low), ("high", self.high)) if v is not None}
        )
        batch_shape = broadcast_param_shapes("Truncated", shapes)
        # Not expanded: NumPyro's ExpandedDistribution has no cdf or icdf; the base
        # broadcasts against the ends.
        self.base = base
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return truncated_support(constraints, self.low, self.high, self._ends, self.base.support)

    def _cdf_bounds(self):
        dtype = jnp.result_type(self.base.icdf(0.5))
        low = jnp.zeros((), dtype) if self.low is None else self.base.cdf(self.low)
        high = jnp.ones((), dtype) if self.high is None else self.base.cdf(self.high)
        return low, high

    def _clip(self, x):
        if self.low is not None:
            x = jnp.maximum(x, self.low)
        if self.high is not None:
            x = jnp.minimum(x, self.high)
        return x

    def icdf(self, q):
        cdf_low, cdf_high = self._cdf_bounds()
        return self._clip(self.base.icdf(_t.generic_icdf_argument(_xp, q, cdf_low, cdf_high)))

    def sample(self, key, sample_shape=()):
        return _generic_sample(self, key, tuple(sample_shape))

    def _sample(self, key, sample_shape):
        u = random.uniform(
            key, sample_shape + self.batch_shape, jnp.result_type(self.base.icdf(0.5))
        )
        z = jax.lax.stop_gradient(self.icdf(u))
        cdf_low, cdf_high = self._cdf_bounds()
        return _t.implicit_reparameterization(
            _xp, z, self.base.cdf(z), cdf_low, cdf_high, self.base.log_prob(z)
        )

    @validate_sample
    def log_prob(self, value):
        cdf_low, cdf_high = self._cdf_bounds()
        inside = value == self._clip(value)
        log_p = self.base.log_prob(self._clip(value)) - jnp.log(cdf_high - cdf_low)
        return jnp.where(inside, log_p, -jnp.inf)

    def cdf(self, value):
        cdf_low, cdf_high = self._cdf_bounds()
        return jnp.clip((self.base.cdf(self._clip(value)) - cdf_low) / (cdf_high - cdf_low), 0, 1)


# One compiled program instead of hundreds of eagerly compiled small ops.
_generic_sample = jax.jit(GenericTruncated._sample, static_argnums=2)


_DISPATCH = {
    upstream.Normal: TruncatedNormal,
    upstream.Logistic: TruncatedLogistic,
    upstream.Laplace: TruncatedLaplace,
    upstream.Gumbel: TruncatedGumbel,
}


def Truncated(base, low=None, high=None, *, validate_args=None) -> upstream.Distribution:
    return dispatch_truncated(_DISPATCH, GenericTruncated, base, low, high, validate_args)


# One docstring for both backends, as Pyro's copy_docs_from does.
Truncated.__doc__ = fill(TRUNCATED_DOC, dist_module="numpyro.distributions")


class SoftTruncated(_SampleCheckUnderJit, upstream.TransformedDistribution):
    """``base`` pushed through :class:`SoftClipTransform` ``(low, high, softness)``: a
    reparameterizable distribution on ``(low, high)`` with exact ``log_prob``, whose
    samples tend to ``clip(base sample, low, high)`` as ``softness -> 0``. Unlike a hard
    clip, gradients of a sample with respect to the base's parameters never vanish.
    """

    def __init__(self, base, low=None, high=None, softness=1.0, *, validate_args=None):
        super().__init__(base, SoftClipTransform(low, high, softness), validate_args=validate_args)

    def _base_unexpanded(self):
        # NumPyro expands the base to batched ends, and its ExpandedDistribution has no
        # cdf or icdf; the base itself broadcasts against the batch.
        base = self.base_dist
        while isinstance(base, upstream.ExpandedDistribution):
            base = base.base_dist
        return base

    def cdf(self, value):
        return self._base_unexpanded().cdf(self.transforms[-1].inv(value))

    def icdf(self, q):
        return self.transforms[-1](self._base_unexpanded().icdf(q))

    @property
    def low(self):
        return self.transforms[-1].low

    @property
    def high(self):
        return self.transforms[-1].high

    @property
    def softness(self):
        return self.transforms[-1].softness


__all__ = [
    "GenericTruncated",
    "SoftTruncated",
    "Truncated",
    "TruncatedGumbel",
    "TruncatedLaplace",
    "TruncatedLogistic",
    "TruncatedNormal",
]
