"""The JAX array namespace for :mod:`ppl_reparam.math`."""

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp

exp = jnp.exp
log = jnp.log
log1p = jnp.log1p
expm1 = jnp.expm1
sqrt = jnp.sqrt
abs = jnp.abs
where = jnp.where
clip = jnp.clip
lgamma = jsp.gammaln
digamma = jsp.digamma
erfc = jsp.erfc
erfcx = jsp.erfcx
ndtri = jsp.ndtri
stop_gradient = jax.lax.stop_gradient
softplus = jax.nn.softplus


def finfo(x: jax.Array) -> jnp.finfo:
    return jnp.finfo(jnp.result_type(x))


def sum(x: jax.Array, axis: int) -> jax.Array:
    return jnp.sum(x, axis=axis)


def constant(values, like: jax.Array) -> jax.Array:
    out = jnp.asarray(list(values), dtype=jnp.result_type(like))
    return out.reshape((-1,) + (1,) * jnp.ndim(like))


def logsumexp(x: jax.Array, axis: int) -> jax.Array:
    return jsp.logsumexp(x, axis=axis)


def log_softmax(x: jax.Array, axis: int) -> jax.Array:
    return jax.nn.log_softmax(x, axis=axis)


def one_hot_argmax(x: jax.Array) -> jax.Array:
    return jax.nn.one_hot(jnp.argmax(x, axis=-1), x.shape[-1], dtype=jnp.result_type(x))


def argmax(x: jax.Array, axis: int) -> jax.Array:
    return jnp.argmax(x, axis=axis)
