"""Truncated and soft-truncated distributions for Pyro (PyTorch)."""

import math

import pyro.distributions as upstream
import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions.utils import broadcast_all

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
from ppl_reparam.pyro import _xp
from ppl_reparam.pyro.distributions import constraints
from ppl_reparam.pyro.distributions._util import sum_to_shape
from ppl_reparam.pyro.distributions.transforms import SoftClipTransform


class _InverseCdfSample(torch.autograd.Function):
    """``x = loc + scale F^-1(F(a) + u (F(b) - F(a)))`` with the implicit derivative of
    :func:`ppl_reparam.math.truncated.sample_partials` as its backward."""

    @staticmethod
    def forward(ctx, family, u, loc, scale, low, high):
        x = _t.sample(_xp, family, u, loc, scale, low, high)
        ctx.family = family
        ctx.save_for_backward(u, x, loc, scale, low, high)
        return x

    @staticmethod
    def backward(ctx, grad):
        u, x, loc, scale, low, high = ctx.saved_tensors
        partials = _t.sample_partials(_xp, ctx.family, u, x, loc, scale, low, high)
        inputs = (u, loc, scale, low, high)
        grads = tuple(
            sum_to_shape(grad * d, t.shape) if needs else None
            for d, t, needs in zip(partials, inputs, ctx.needs_input_grad[1:], strict=True)
        )
        return (None, *grads)


def _equals_everywhere(x, value: float) -> bool:
    return bool((torch.as_tensor(x) == value).all())


def _check_interval(name: str, low: torch.Tensor, high: torch.Tensor) -> None:
    bad = ~(low < high)
    if bool(bad.any()):
        lo, hi = torch.broadcast_tensors(low, high)
        raise ValueError(
            f"{name}: need low < high; got low={lo[bad][:5].tolist()}, high={hi[bad][:5].tolist()}"
        )


class _TruncatedLocationScale(TorchDistribution):
    family: _t.StandardFamily

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        # checked together (low < high); event_dim given so shapes can be inferred
        "low": constraints.dependent(is_discrete=False, event_dim=0),
        "high": constraints.dependent(is_discrete=False, event_dim=0),
    }
    has_rsample = True

    def __init__(self, loc, scale, low=None, high=None, validate_args=None):
        name = type(self).__name__
        self._ends = bounding_ends(low, high, _equals_everywhere)
        low = -math.inf if low is None else low
        high = math.inf if high is None else high
        broadcast_param_shapes(
            name,
            {
                k: torch.as_tensor(v).shape
                for k, v in zip(self.arg_constraints, (loc, scale, low, high), strict=True)
            },
        )
        self.loc, self.scale, self.low, self.high = broadcast_all(loc, scale, low, high)
        super().__init__(self.loc.shape, validate_args=validate_args)
        if self._validate_args:
            _check_interval(name, self.low, self.high)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return truncated_support(constraints, self.low, self.high, self._ends, constraints.real)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        for name in ("loc", "scale", "low", "high"):
            setattr(new, name, getattr(self, name).expand(batch_shape))
        new._ends = self._ends
        super(_TruncatedLocationScale, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _params(self):
        return self.loc, self.scale, self.low, self.high

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        return _InverseCdfSample.apply(self.family, u, *self._params())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return _t.log_prob(_xp, self.family, value, *self._params())

    def cdf(self, value):
        return _t.cdf(_xp, self.family, value, *self._params())

    def icdf(self, value):
        value = torch.as_tensor(value, dtype=self.loc.dtype, device=self.loc.device)
        return _InverseCdfSample.apply(self.family, value, *self._params())

    @property
    def mean(self):
        return _t.moments(_xp, self.family, *self._params())[0]

    @property
    def variance(self):
        return _t.moments(_xp, self.family, *self._params())[1]

    def entropy(self):
        return _t.moments(_xp, self.family, *self._params())[2]


class TruncatedNormal(_TruncatedLocationScale):
    r"""Normal(loc, scale) truncated to ``[low, high]`` (either end may be None/inf).

    .. math::
        f(x) = \frac{\phi((x - \mu)/\sigma)}{\sigma\,(\Phi(b) - \Phi(a))}, \qquad
        a = (low - \mu)/\sigma,\; b = (high - \mu)/\sigma.

    ``rsample`` inverts the CDF from the tail nearer the interval, in log space, so
    draws stay inside ``[low, high]`` and are accurate even 40 standard deviations out;
    gradients with respect to loc, scale, low and high come from implicit
    differentiation in log space (no ``1/f(z)`` overflow). ``mean``, ``variance`` and
    ``entropy`` are closed forms, accurate in the far tails.

    The support is ``interval(low, high)``, ``greater_than_eq(low)`` with only ``low``,
    ``less_than_eq(high)`` with only ``high``, ``real`` with neither; an end that is
    ``None`` or infinite in every batch element does not count, so ``biject_to`` of the
    support maps onto the half line. With ``validate_args``, ``low >= high`` is a
    ``ValueError``.

    Example::

        >>> d = TruncatedNormal(0.0, 1.0, low=20.0, high=21.0)
        >>> bool(((d.rsample((1000,)) >= 20) & (d.rsample((1000,)) <= 21)).all())
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
class GenericTruncated(TorchDistribution):
    arg_constraints = {}
    has_rsample = True

    def __init__(self, base, low=None, high=None, validate_args=None):
        if not isinstance(base, torch.distributions.Distribution) or any(
            getattr(type(base), m) is getattr(torch.distributions.Distribution, m)
            for m in ("cdf", "icdf")
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
        has_low, has_high = bounding_ends(low, high, _equals_everywhere)
        # icdf is required anyway; its output carries the base's dtype and device.
        dtype = base.icdf(torch.tensor(0.5)).dtype
        self.low = torch.as_tensor(low, dtype=dtype) if has_low else None
        self.high = torch.as_tensor(high, dtype=dtype) if has_high else None
        shapes = {"base": base.batch_shape}
        shapes.update(
            {k: v.shape for k, v in (("low", self.low), ("high", self.high)) if v is not None}
        )
        batch_shape = torch.Size(broadcast_param_shapes("Truncated", shapes))
        self.base = base.expand(batch_shape)
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and self.low is not None and self.high is not None:
            _check_interval("Truncated", self.low, self.high)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        ends = (self.low is not None, self.high is not None)
        return truncated_support(constraints, self.low, self.high, ends, self.base.support)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GenericTruncated, _instance)
        batch_shape = torch.Size(batch_shape)
        new.base = self.base.expand(batch_shape)
        new.low = None if self.low is None else self.low.expand(batch_shape)
        new.high = None if self.high is None else self.high.expand(batch_shape)
        super(GenericTruncated, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _cdf_bounds(self):
        probe = self.base.icdf(torch.tensor(0.5))
        dtype, device = probe.dtype, probe.device
        low = torch.zeros((), dtype=dtype, device=device) if self.low is None else None
        high = torch.ones((), dtype=dtype, device=device) if self.high is None else None
        return (
            self.base.cdf(self.low) if low is None else low,
            self.base.cdf(self.high) if high is None else high,
        )

    def _inside(self, value):
        inside = torch.ones_like(value, dtype=torch.bool)
        if self.low is not None:
            inside = inside & (value >= self.low)
        if self.high is not None:
            inside = inside & (value <= self.high)
        return inside

    def _clip(self, x):
        if self.low is not None:
            x = torch.maximum(x, self.low)
        if self.high is not None:
            x = torch.minimum(x, self.high)
        return x

    def icdf(self, value):
        cdf_low, cdf_high = self._cdf_bounds()
        return self._clip(self.base.icdf(_t.generic_icdf_argument(_xp, value, cdf_low, cdf_high)))

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        probe = self.base.icdf(torch.tensor(0.5))
        u = torch.rand(shape, dtype=probe.dtype, device=probe.device)
        with torch.no_grad():
            z = self.icdf(u)
        cdf_low, cdf_high = self._cdf_bounds()
        return _t.implicit_reparameterization(
            _xp, z, self.base.cdf(z), cdf_low, cdf_high, self.base.log_prob(z)
        )

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cdf_low, cdf_high = self._cdf_bounds()
        inside = self._inside(value)
        log_p = self.base.log_prob(self._clip(value)) - torch.log(cdf_high - cdf_low)
        return torch.where(inside, log_p, -math.inf)

    def cdf(self, value):
        cdf_low, cdf_high = self._cdf_bounds()
        return ((self.base.cdf(self._clip(value)) - cdf_low) / (cdf_high - cdf_low)).clamp(0, 1)


# Pyro wraps torch's classes; a base of either kind is dispatched.
_DISPATCH = {
    upstream.Normal: TruncatedNormal,
    torch.distributions.Normal: TruncatedNormal,
    upstream.Logistic: TruncatedLogistic,
    upstream.Laplace: TruncatedLaplace,
    torch.distributions.Laplace: TruncatedLaplace,
    upstream.Gumbel: TruncatedGumbel,
    torch.distributions.Gumbel: TruncatedGumbel,
}


def Truncated(base, low=None, high=None, validate_args=None) -> TorchDistribution:
    return dispatch_truncated(_DISPATCH, GenericTruncated, base, low, high, validate_args)


# One docstring for both backends, as Pyro's copy_docs_from does.
Truncated.__doc__ = fill(TRUNCATED_DOC, dist_module="pyro.distributions")


class SoftTruncated(upstream.TransformedDistribution):
    """``base`` pushed through :class:`SoftClipTransform` ``(low, high, softness)``: a
    reparameterizable distribution on ``(low, high)`` with exact ``log_prob``, whose
    samples tend to ``clip(base sample, low, high)`` as ``softness -> 0``. Unlike a hard
    clip, gradients of a sample with respect to the base's parameters never vanish.
    """

    def __init__(self, base, low=None, high=None, softness=1.0, validate_args=None):
        super().__init__(base, [SoftClipTransform(low, high, softness)], validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SoftTruncated, _instance)
        return super().expand(batch_shape, _instance=new)

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
