"""Transforms for Pyro (PyTorch): :class:`SoftClipTransform`."""

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from ppl_reparam._docs import copy_docs_from
from ppl_reparam._truncated import SOFT_CLIP_TRANSFORM_DOC
from ppl_reparam.math import soft_clip as _sc
from ppl_reparam.pyro import _xp


def _common_dtype(*values) -> torch.dtype:
    for v in values:
        if torch.is_tensor(v) and v.is_floating_point():
            return v.dtype
    return torch.get_default_dtype()


def _as_bound(value, dtype):
    return None if value is None else torch.as_tensor(value, dtype=dtype)


@copy_docs_from(SOFT_CLIP_TRANSFORM_DOC, array="torch.tensor")
class SoftClipTransform(Transform):
    bijective = True
    sign = +1

    def __init__(self, low=None, high=None, softness=1.0, cache_size=0):
        if low is None and high is None:
            raise ValueError("SoftClipTransform: give at least one of `low` and `high`")
        dtype = _common_dtype(low, high, softness)
        self.softness = torch.as_tensor(softness, dtype=dtype)
        self.low = _as_bound(low, dtype)
        self.high = _as_bound(high, dtype)
        if self.low is not None and self.high is not None and bool((self.low >= self.high).any()):
            raise ValueError(
                f"SoftClipTransform: need low < high; got low={self.low.tolist()}, "
                f"high={self.high.tolist()}"
            )
        if bool((self.softness <= 0).any()):
            raise ValueError(
                f"SoftClipTransform: softness must be positive; got {self.softness.tolist()}"
            )
        super().__init__(cache_size=cache_size)

    domain = constraints.real

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def codomain(self):
        if self.high is None:
            return constraints.greater_than(self.low)
        if self.low is None:
            return constraints.less_than(self.high)
        return constraints.interval(self.low, self.high)

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return SoftClipTransform(self.low, self.high, self.softness, cache_size=cache_size)

    def _params(self, x):
        # In the dtype of x: an end nudged by one float64 ulp must not round in float32.
        return tuple(
            None if p is None else p.to(dtype=x.dtype, device=x.device)
            for p in (self.low, self.high, self.softness)
        )

    def _call(self, x):
        return _sc.forward(_xp, x, *self._params(x))

    def _inverse(self, y):
        return _sc.inverse(_xp, y, *self._params(y))

    def log_abs_det_jacobian(self, x, y):
        return _sc.log_abs_det_jacobian(_xp, x, *self._params(x))

    def forward_shape(self, shape):
        # Batched ends or softness broadcast against the input, as in NumPyro.
        bounds = (p.shape for p in (self.low, self.high, self.softness) if p is not None)
        return torch.broadcast_shapes(shape, *bounds)

    def inverse_shape(self, shape):
        return self.forward_shape(shape)


__all__ = ["SoftClipTransform"]
