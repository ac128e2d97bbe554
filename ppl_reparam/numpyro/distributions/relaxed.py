r"""Relaxed (Concrete / Gumbel-Softmax) categorical and Bernoulli families for NumPyro.

The formulas live in :mod:`ppl_reparam.math.relaxed`. Each instance remembers the
log-space value (``y = log x`` for the categorical families, the logit ``z`` for the
binary ones) of its last draw, like a torch ``Transform`` with ``cache_size=1``:
``log_prob`` of that draw (the very array ``sample`` returned, also under ``jit``, where
it is the same tracer) is computed from the log-space value, exactly, even where the
float32 point has components that rounded to 0 (or 1). For any other value the log is
taken of the value clipped to the smallest normal float, which keeps ``log_prob``
finite but is only an approximation where the value has already lost those digits.
The remembered draw is not part of the pytree. For an ELBO with a relaxed categorical
latent, prefer :class:`ExpRelaxedOneHotCategorical` in both model and guide: its values
are the log-space draws themselves.

``temperature`` is a distribution parameter (a pytree leaf), so a jitted step that
takes it as an argument is compiled once for all temperatures.
"""

import jax
import jax.numpy as jnp
from jax import random
from numpyro.distributions import constraints
from numpyro.distributions.util import lazy_property, validate_sample

from ppl_reparam._validation import (
    broadcast_param_shapes,
    check_one_parameterization,
    check_relaxed_density,
)
from ppl_reparam.math import relaxed as _r
from ppl_reparam.numpyro import _xp
from ppl_reparam.numpyro.distributions._base import ValidatedDistribution


def _float_params(name: str, temperature, param, param_name: str, min_dim: int):
    """``temperature`` and ``param`` as arrays of one floating dtype."""
    dtype = jnp.result_type(float, temperature, param)
    param = jnp.asarray(param, dtype=dtype)
    if param.ndim < min_dim:
        raise ValueError(f"{name}: `{param_name}` needs a last axis of categories, got a scalar")
    return jnp.asarray(temperature, dtype=dtype), param


class _Relaxed(ValidatedDistribution):
    """The remembered last draw and ``expand`` to an instance of the same class (so a
    plate keeps the memory working)."""

    def expand(self, batch_shape):
        batch_shape = tuple(batch_shape)
        if batch_shape == self.batch_shape:
            return self
        params = {"temperature": jnp.broadcast_to(self.temperature, batch_shape)}
        name = "probs" if "probs" in self.__dict__ else "logits"
        params[name] = jnp.broadcast_to(self.__dict__[name], batch_shape + self.event_shape)
        if "density" in self.__dict__:
            params["density"] = self.density
        return type(self)(**params, validate_args=self._validate_args)

    def _remember(self, value: jax.Array, log_value: jax.Array) -> jax.Array:
        self._last_draw = (value, log_value)
        return value

    def _recall(self, value: jax.Array) -> jax.Array | None:
        last = self.__dict__.get("_last_draw")
        if last is not None and value is last[0]:
            return last[1]
        return None


class _WithDensity(_Relaxed):
    """The ``density`` keyword of the log-space relaxations (see
    :class:`ExpRelaxedOneHotCategorical`), validated and kept as static pytree data
    (NumPyro gathers ``pytree_aux_fields`` from Distribution subclasses only). Mixed in
    before the relaxation's base class."""

    pytree_aux_fields = ("density",)

    def __init__(
        self, temperature, probs=None, logits=None, *, density="concrete", validate_args=None
    ):
        self.density = check_relaxed_density(type(self).__name__, density)
        super().__init__(temperature, probs, logits, validate_args=validate_args)


class _RelaxedCategorical(_Relaxed):
    """Parameters, shapes and the log-space draw shared by the categorical relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    reparametrized_params = ["temperature", "probs", "logits"]
    pytree_data_fields = ("temperature", "probs", "logits")

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        name = type(self).__name__
        check_one_parameterization(name, probs, logits)
        given, given_name = (probs, "probs") if probs is not None else (logits, "logits")
        temperature, given = _float_params(name, temperature, given, given_name, 1)
        batch_shape = broadcast_param_shapes(
            name, {"temperature": jnp.shape(temperature), given_name: given.shape[:-1]}
        )
        event_shape = given.shape[-1:]
        if probs is not None:
            self.probs = jnp.broadcast_to(given, batch_shape + event_shape)
            given = jnp.log(given)
        self.logits = jnp.broadcast_to(_r.normalize_logits(_xp, given), batch_shape + event_shape)
        self.temperature = jnp.broadcast_to(temperature, batch_shape)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @lazy_property
    def probs(self):
        return jax.nn.softmax(self.logits, -1)

    def _log_sample(self, key, sample_shape) -> jax.Array:
        shape = sample_shape + self.batch_shape + self.event_shape
        dtype = jnp.result_type(self.logits)
        # u in [tiny, 1): the Gumbel noise -log(-log u) is finite.
        u = random.uniform(key, shape, dtype=dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        return _r.log_sample(_xp, _r.gumbel(_xp, u), self.logits, self.temperature[..., None])

    def _log_value(self, value: jax.Array) -> jax.Array:
        """The log-space value of ``value``: exact for the last draw, else ``log`` of
        ``value`` clipped to the smallest normal float."""
        y = self._recall(value)
        return _r.safe_log(_xp, value) if y is None else y


class ExpRelaxedOneHotCategorical(_WithDensity, _RelaxedCategorical):
    r"""ExpConcrete distribution: the log of a Concrete (Gumbel-Softmax) draw.

    .. math::
        y = \operatorname{log\_softmax}((\ell + g) / \tau), \quad g_k \sim
        \mathrm{Gumbel}(0, 1), \qquad
        \log p(y) = \log\Gamma(K) + (K-1)\log\tau + \sum_k (\ell_k - \tau y_k)
            - K \log\sum_k e^{\ell_k - \tau y_k}

    (Maddison, Mnih and Teh, 2017). Give ``temperature`` (> 0, a float or an array of
    batch shape) and exactly one of ``probs`` / ``logits`` (last axis: the K
    categories). Values are log-probability vectors, finite at every temperature, so
    this is the numerically safest relaxation to put in an ELBO.

    ``density="categorical"`` keeps the draws and scores them instead with the
    categorical log-mass extended linearly to the relaxed one-hot,
    :math:`\sum_k e^{y_k} \log \pi_k` (:func:`ppl_reparam.math.relaxed.categorical_mass`).
    Use it in model *and* guide when the prior probabilities are learned (mixture
    weights): the ELBO then tends to the discrete ELBO as the temperature falls, which
    with the Concrete density it does not. It is not a normalised density.

    Example::

        >>> q = ExpRelaxedOneHotCategorical(0.01, logits=jnp.zeros(1000))
        >>> y = q.sample(jax.random.PRNGKey(0), (10,))
        >>> bool(jnp.isfinite(q.log_prob(y)).all())
        True
    """

    support = constraints.real_vector

    def sample(self, key, sample_shape=()):
        return self._log_sample(key, sample_shape)

    @validate_sample
    def log_prob(self, value):
        if self.density == "categorical":
            return _r.categorical_mass(_xp, value, self.logits)
        return _r.exp_log_prob(_xp, value, self.logits, self.temperature[..., None])


class RelaxedOneHotCategorical(_RelaxedCategorical):
    r"""Concrete (Gumbel-Softmax) distribution on the simplex.

    .. math::
        x = \operatorname{softmax}((\ell + g) / \tau), \qquad
        p(x) = \Gamma(K)\, \tau^{K-1} \prod_k \frac{e^{\ell_k} x_k^{-\tau-1}}
            {\sum_j e^{\ell_j} x_j^{-\tau}}

    (density over the first K - 1 coordinates). A draw is ``exp(y)`` of an
    :class:`ExpRelaxedOneHotCategorical` draw ``y``; ``log_prob`` of the last draw is
    computed from ``y``, so it is finite even where components underflowed to 0 in
    float32 (temperature 0.01, 1000 categories). Other values are evaluated at ``log``
    of the value clipped to the smallest normal float: finite, approximate where a
    component is 0.

    Example::

        >>> q = RelaxedOneHotCategorical(0.1, logits=jnp.zeros(10))
        >>> x = q.sample(jax.random.PRNGKey(0), (100,))
        >>> bool(jnp.isfinite(q.log_prob(x)).all())
        True
    """

    support = constraints.simplex

    def sample(self, key, sample_shape=()):
        y = self._log_sample(key, sample_shape)
        return self._remember(jnp.exp(y), y)

    @validate_sample
    def log_prob(self, value):
        y = self._log_value(value)
        return _r.log_prob(_xp, y, self.logits, self.temperature[..., None])


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    r"""Straight-through Gumbel-Softmax: the value is the one-hot vector of the argmax
    of a :class:`RelaxedOneHotCategorical` draw (a draw from Categorical(probs)), the
    gradient is that of the relaxed draw.

    ``log_prob`` of the last draw is the Concrete density of the relaxed value that
    produced it (the convention of Pyro's straight-through class); any other one-hot
    value is treated as a simplex point whose zeros are clipped to the smallest normal
    float.
    """

    def sample(self, key, sample_shape=()):
        y = self._log_sample(key, sample_shape)
        value = _r.straight_through(_xp, _r.hard_sample(_xp, y), jnp.exp(y))
        return self._remember(value, y)


class _RelaxedBinary(_Relaxed):
    """Parameters, shapes and the logit-space draw shared by the binary relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    support = constraints.unit_interval
    reparametrized_params = ["temperature", "probs", "logits"]
    pytree_data_fields = ("temperature", "probs", "logits")

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        name = type(self).__name__
        check_one_parameterization(name, probs, logits)
        given, given_name = (probs, "probs") if probs is not None else (logits, "logits")
        temperature, given = _float_params(name, temperature, given, given_name, 0)
        batch_shape = broadcast_param_shapes(
            name, {"temperature": jnp.shape(temperature), given_name: given.shape}
        )
        if probs is not None:
            self.probs = jnp.broadcast_to(given, batch_shape)
            given = jnp.log(given) - jnp.log1p(-given)
        self.logits = jnp.broadcast_to(given, batch_shape)
        self.temperature = jnp.broadcast_to(temperature, batch_shape)
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def probs(self):
        return jax.nn.sigmoid(self.logits)

    def _logit_sample(self, key, sample_shape) -> jax.Array:
        shape = sample_shape + self.batch_shape
        dtype = jnp.result_type(self.logits)
        # u in [tiny, 1): the logistic noise log(u) - log(1 - u) is finite.
        u = random.uniform(key, shape, dtype=dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        return _r.logit_sample(_xp, _r.logistic(_xp, u), self.logits, self.temperature)

    def sample(self, key, sample_shape=()):
        z = self._logit_sample(key, sample_shape)
        return self._remember(self._value_from_logit(z), z)

    @validate_sample
    def log_prob(self, value):
        z = self._recall(value)
        if z is None:
            z = _r.safe_logit(_xp, value)
        return _r.binary_log_prob(_xp, z, self.logits, self.temperature)


class RelaxedBernoulli(_RelaxedBinary):
    r"""Binary Concrete distribution on [0, 1] (the K = 2 case of
    :class:`RelaxedOneHotCategorical`).

    .. math::
        x = \sigma\big((\ell + L)/\tau\big), \quad L \sim \mathrm{Logistic}(0, 1),
        \qquad p(x) = \frac{\tau e^{\ell} x^{-\tau-1} (1-x)^{-\tau-1}}
            {(e^{\ell} x^{-\tau} + (1-x)^{-\tau})^2}.

    Give ``temperature`` (> 0) and exactly one of ``probs`` / ``logits``. At low
    temperature float32 draws round to exactly 0 or 1; ``log_prob`` of the last draw
    is computed from its logit, so it stays finite. Other values are clipped into
    ``[tiny, 1 - eps/2]`` first.

    Example::

        >>> q = RelaxedBernoulli(0.01, probs=0.3)
        >>> x = q.sample(jax.random.PRNGKey(0), (100,))
        >>> bool(jnp.isfinite(q.log_prob(x)).all())
        True
    """

    def _value_from_logit(self, z: jax.Array) -> jax.Array:
        return _r.sigmoid(_xp, z)


class RelaxedBernoulliStraightThrough(_RelaxedBinary):
    r"""Straight-through binary Concrete: the value is ``1`` where the relaxed draw
    exceeds 1/2 (a draw from Bernoulli(probs)), the gradient is that of the relaxed
    draw. ``log_prob`` of the last draw is the density of the relaxed value that
    produced it; any other value is clipped into ``[tiny, 1 - eps/2]``.
    """

    def _value_from_logit(self, z: jax.Array) -> jax.Array:
        return _r.straight_through(_xp, _r.hard_binary_sample(_xp, z), _r.sigmoid(_xp, z))


class LogitRelaxedBernoulli(_WithDensity, _RelaxedBinary):
    r"""The logit of a binary Concrete draw: ``z = (logits + L) / temperature`` with
    standard logistic noise ``L``, i.e. ``Logistic(logits / temperature, 1 / temperature)``
    on the real line; ``sigmoid(z)`` is a :class:`RelaxedBernoulli` draw. The binary
    counterpart of :class:`ExpRelaxedOneHotCategorical`, and what
    :func:`~ppl_reparam.numpyro.relax.relax` puts at relaxed Bernoulli sites.

    ``density="categorical"`` scores a draw with the Bernoulli log-mass extended
    linearly to the relaxed bit, :math:`x \log p + (1 - x) \log(1 - p)` with
    :math:`x = \sigma(z)` (see :class:`ExpRelaxedOneHotCategorical` for when to use it).
    """

    support = constraints.real

    def sample(self, key, sample_shape=()):
        return self._logit_sample(key, sample_shape)

    @validate_sample
    def log_prob(self, value):
        if self.density == "categorical":
            return _r.binary_mass(_xp, value, self.logits)
        return _r.logit_log_prob(_xp, value, self.logits, self.temperature)
