"""Transforms for NumPyro (JAX)."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints
from numpyro.distributions.transforms import Transform
from numpyro.util import not_jax_tracer

from ppl_reparam._docs import copy_docs_from
from ppl_reparam._truncated import SOFT_CLIP_TRANSFORM_DOC
from ppl_reparam.math import soft_clip as _sc
from ppl_reparam.numpyro import _xp


@copy_docs_from(SOFT_CLIP_TRANSFORM_DOC, array="jnp.array")
class SoftClipTransform(Transform):
    domain = constraints.real
    sign = 1

    def __init__(self, low=None, high=None, softness=1.0):
        if low is None and high is None:
            raise ValueError("SoftClipTransform: give at least one of `low` and `high`")
        # Constants stay concrete under jit (not traced), so the checks below and a
        # distribution's out-of-support check against the codomain still run there.
        with jax.ensure_compile_time_eval():
            self.low = None if low is None else jnp.asarray(low)
            self.high = None if high is None else jnp.asarray(high)
            self.softness = jnp.asarray(softness)
            if self.low is not None and self.high is not None:
                ok = self.low < self.high
                if not_jax_tracer(ok) and not np.all(ok):
                    raise ValueError(
                        f"SoftClipTransform: need low < high; got low={np.asarray(self.low)}, "
                        f"high={np.asarray(self.high)}"
                    )
            positive = self.softness > 0
            if not_jax_tracer(positive) and not np.all(positive):
                raise ValueError(
                    f"SoftClipTransform: softness must be positive; got {np.asarray(self.softness)}"
                )

    @property
    def codomain(self):
        if self.high is None:
            return constraints.greater_than(self.low)
        if self.low is None:
            return constraints.less_than(self.high)
        return constraints.interval(self.low, self.high)

    def _params(self, x):
        # In the dtype of x: an end nudged by one ulp must be computed at x's precision.
        dtype = jnp.result_type(x)
        return tuple(
            None if p is None else jnp.asarray(p, dtype=dtype)
            for p in (self.low, self.high, self.softness)
        )

    def __call__(self, x):
        return _sc.forward(_xp, x, *self._params(x))

    def _inverse(self, y):
        return _sc.inverse(_xp, y, *self._params(y))

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return _sc.log_abs_det_jacobian(_xp, x, *self._params(x))

    def _param_shapes(self):
        return [jnp.shape(p) for p in (self.low, self.high, self.softness) if p is not None]

    def forward_shape(self, shape):
        return jax.lax.broadcast_shapes(shape, *self._param_shapes())

    def inverse_shape(self, shape):
        return jax.lax.broadcast_shapes(shape, *self._param_shapes())

    def tree_flatten(self):
        return (self.low, self.high, self.softness), (("low", "high", "softness"), dict())


__all__ = ["SoftClipTransform"]
