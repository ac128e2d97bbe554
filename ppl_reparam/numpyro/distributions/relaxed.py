r"""Relaxed (Concrete / Gumbel-Softmax) categorical and Bernoulli families for NumPyro.

The formulas live in :mod:`ppl_reparam.math.relaxed`. The families whose values live on
the simplex (or in [0, 1]) return the log-space value of a draw as its intermediate,
the way NumPyro's ``TransformedDistribution`` does: ``sample_with_intermediates(key,
shape)`` gives ``(x, [y])`` with ``y`` the log-space value (``x = exp(y)`` renormalised,
categorical; the logit ``z`` with ``x = sigmoid(z)``, binary; for straight-through
values, that of the relaxed draw behind the hard value), and ``log_prob(x, [y])``
computes the density from ``y``, exactly, even where float32 components rounded to 0
(or 1). NumPyro passes a sample site's intermediates to its own ``log_prob`` (in
``log_density`` and every ELBO), so a guide's relaxed site is scored exactly. Without
intermediates (``sample``, observed values, the model's density of a replayed guide
draw) the log is taken of the value clipped to the smallest normal float, which keeps
``log_prob`` finite but is only an approximation where the value has already lost
those digits. For an ELBO with a relaxed categorical latent, prefer
:class:`ExpRelaxedOneHotCategorical` in both model and guide: its values are the
log-space draws themselves.

``temperature`` is a distribution parameter (a pytree leaf), so a jitted step that
takes it as an argument is compiled once for all temperatures.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.distributions import constraints
from numpyro.distributions.distribution import ExpandedDistribution
from numpyro.distributions.util import lazy_property, validate_sample
from numpyro.util import not_jax_tracer

from ppl_reparam._concrete import check_parameters, concrete_shapes, given_parameter
from ppl_reparam._validation import check_relaxed_density
from ppl_reparam.math import relaxed as _r
from ppl_reparam.numpyro import _xp
from ppl_reparam.numpyro.distributions._base import ValidatedDistribution


def _float_params(temperature, param):
    """``temperature`` and ``param`` as arrays of one floating dtype."""
    dtype = jnp.result_type(float, temperature, param)
    return jnp.asarray(temperature, dtype=dtype), jnp.asarray(param, dtype=dtype)


def _concrete_values(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` under ``jit`` (nothing to check there)."""
    return np.asarray(x) if not_jax_tracer(x) else None


class _Relaxed(ValidatedDistribution):
    """Parameters, shapes, validation, ``expand`` to an instance of the same class (so a
    plate keeps the intermediates working) and the log-space value of a value, shared by
    the relaxed families. A family sets ``_event_dim`` (1: a last axis of categories)
    and how probabilities become logits; one whose values are not in log space sets
    ``_log_value_of`` (the log-space value of a value without intermediates)."""

    reparametrized_params = ["temperature", "probs", "logits"]
    pytree_data_fields = ("temperature", "probs", "logits")
    _event_dim: int

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        name = type(self).__name__
        given_name, given = given_parameter(name, probs, logits)
        temperature, given = _float_params(temperature, given)
        batch_shape, event_shape = concrete_shapes(
            name, jnp.shape(temperature), given_name, given.shape, self._event_dim
        )
        raw_logits = self._logits_from_probs(given) if given_name == "probs" else given
        if self._validate_args if validate_args is None else validate_args:
            with jax.ensure_compile_time_eval():
                finite_positive = jnp.isfinite(temperature) & (temperature > 0)
                checks = [
                    ("temperature", temperature, finite_positive),
                    (given_name, given, jnp.isfinite(raw_logits)),
                ]
                check_parameters(name, self._event_dim, checks, _concrete_values)
        shape = batch_shape + event_shape
        if given_name == "probs":
            self.probs = jnp.broadcast_to(given, shape)
        self.logits = jnp.broadcast_to(self._normalize_logits(raw_logits), shape)
        self.temperature = jnp.broadcast_to(temperature, batch_shape)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @classmethod
    def infer_shapes(cls, temperature=(), probs=None, logits=None):
        """``(batch_shape, event_shape)`` of an instance built from parameters of these
        shapes (give the shape of exactly one of ``probs`` / ``logits``)."""
        given_name, given_shape = given_parameter(cls.__name__, probs, logits)
        return concrete_shapes(cls.__name__, temperature, given_name, given_shape, cls._event_dim)

    def expand(self, batch_shape):
        batch_shape = tuple(batch_shape)
        if batch_shape == self.batch_shape:
            return self
        # NumPyro's own check: an impossible shape fails as its other families fail
        ExpandedDistribution._broadcast_shape(self.batch_shape, batch_shape)
        params = {"temperature": jnp.broadcast_to(self.temperature, batch_shape)}
        name = "probs" if "probs" in self.__dict__ else "logits"
        params[name] = jnp.broadcast_to(self.__dict__[name], batch_shape + self.event_shape)
        if "density" in self.__dict__:
            params["density"] = self.density
        return type(self)(**params, validate_args=self._validate_args)

    def _log_value(self, value: jax.Array, intermediates) -> jax.Array:
        """The log-space value of a draw from its intermediates, else computed from it."""
        return intermediates[0] if intermediates else self._log_value_of(value)


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
    """Parameters and the log-space draw of the categorical relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    _event_dim = 1
    _logits_from_probs = staticmethod(jnp.log)

    _normalize_logits = staticmethod(partial(_r.normalize_logits, _xp))
    _log_value_of = staticmethod(partial(_r.safe_log, _xp))

    @lazy_property
    def probs(self):
        return jax.nn.softmax(self.logits, -1)

    def _log_sample(self, key, sample_shape) -> jax.Array:
        shape = sample_shape + self.batch_shape + self.event_shape
        dtype = jnp.result_type(self.logits)
        # u in [tiny, 1): the Gumbel noise -log(-log u) is finite.
        u = random.uniform(key, shape, dtype=dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        return _r.log_sample(_xp, _r.gumbel(_xp, u), self.logits, self.temperature[..., None])


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
    :class:`ExpRelaxedOneHotCategorical` draw ``y``, renormalised so that it sums to 1
    within the backend's simplex tolerance; ``sample_with_intermediates`` returns
    ``(x, [y])`` and ``log_prob(x, [y])`` is computed from ``y``, so it is finite even
    where components underflowed to 0 in float32 (temperature 0.01, 1000 categories).
    Without intermediates a value is evaluated at ``log`` of the value clipped to the
    smallest normal float: finite, approximate where a component is 0.

    Example::

        >>> q = RelaxedOneHotCategorical(0.1, logits=jnp.zeros(10))
        >>> x, intermediates = q.sample_with_intermediates(jax.random.PRNGKey(0), (100,))
        >>> bool(jnp.isfinite(q.log_prob(x, intermediates)).all())
        True
    """

    support = constraints.simplex

    def sample_with_intermediates(self, key, sample_shape=()):
        y = self._log_sample(key, sample_shape)
        return _r.simplex_point(_xp, y), [y]

    def sample(self, key, sample_shape=()):
        return self.sample_with_intermediates(key, sample_shape)[0]

    @validate_sample
    def log_prob(self, value, intermediates=None):
        y = self._log_value(value, intermediates)
        return _r.log_prob(_xp, y, self.logits, self.temperature[..., None])


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    r"""Straight-through Gumbel-Softmax: the value is the one-hot vector of the argmax
    of a :class:`RelaxedOneHotCategorical` draw (a draw from Categorical(probs)), the
    gradient is that of the relaxed draw.

    ``sample_with_intermediates`` returns the log-space value of the relaxed draw behind
    the hard value as the intermediate, and ``log_prob`` with it is the Concrete density
    of that relaxed value (the convention of Pyro's straight-through class); without
    intermediates a one-hot value is treated as a simplex point whose zeros are clipped
    to the smallest normal float.
    """

    def sample_with_intermediates(self, key, sample_shape=()):
        y = self._log_sample(key, sample_shape)
        value = _r.straight_through(_xp, _r.hard_sample(_xp, y), _r.simplex_point(_xp, y))
        return value, [y]


class _RelaxedBinary(_Relaxed):
    """Parameters and the logit-space draw of the binary relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    _event_dim = 0

    _logits_from_probs = staticmethod(partial(_r.probs_to_logits, _xp))
    _normalize_logits = staticmethod(lambda logits: logits)  # one logit per bit: no shift

    @lazy_property
    def probs(self):
        return jax.nn.sigmoid(self.logits)

    def _logit_sample(self, key, sample_shape) -> jax.Array:
        shape = sample_shape + self.batch_shape
        dtype = jnp.result_type(self.logits)
        # u in [tiny, 1): the logistic noise log(u) - log(1 - u) is finite.
        u = random.uniform(key, shape, dtype=dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)
        return _r.logit_sample(_xp, _r.logistic(_xp, u), self.logits, self.temperature)


class _BinaryConcrete(_RelaxedBinary):
    """The binary relaxations with values in [0, 1]: a draw is ``_value_from_logit`` of
    the logit-space draw, which is its intermediate; the density is computed from it."""

    support = constraints.unit_interval

    _log_value_of = staticmethod(partial(_r.safe_logit, _xp))

    def sample_with_intermediates(self, key, sample_shape=()):
        z = self._logit_sample(key, sample_shape)
        return self._value_from_logit(z), [z]

    def sample(self, key, sample_shape=()):
        return self.sample_with_intermediates(key, sample_shape)[0]

    @validate_sample
    def log_prob(self, value, intermediates=None):
        z = self._log_value(value, intermediates)
        return _r.binary_log_prob(_xp, z, self.logits, self.temperature)


class RelaxedBernoulli(_BinaryConcrete):
    r"""Binary Concrete distribution on [0, 1] (the K = 2 case of
    :class:`RelaxedOneHotCategorical`).

    .. math::
        x = \sigma\big((\ell + L)/\tau\big), \quad L \sim \mathrm{Logistic}(0, 1),
        \qquad p(x) = \frac{\tau e^{\ell} x^{-\tau-1} (1-x)^{-\tau-1}}
            {(e^{\ell} x^{-\tau} + (1-x)^{-\tau})^2}.

    Give ``temperature`` (> 0) and exactly one of ``probs`` / ``logits``. At low
    temperature float32 draws round to exactly 0 or 1; ``sample_with_intermediates``
    returns ``(x, [z])`` with the logit ``z``, and ``log_prob(x, [z])`` is computed from
    it, so it stays finite. Without intermediates a value is clipped into
    ``[tiny, 1 - eps/2]`` first.

    Example::

        >>> q = RelaxedBernoulli(0.01, probs=0.3)
        >>> x, intermediates = q.sample_with_intermediates(jax.random.PRNGKey(0), (100,))
        >>> bool(jnp.isfinite(q.log_prob(x, intermediates)).all())
        True
    """

    def _value_from_logit(self, z: jax.Array) -> jax.Array:
        return _r.sigmoid(_xp, z)


class RelaxedBernoulliStraightThrough(_BinaryConcrete):
    r"""Straight-through binary Concrete: the value is ``1`` where the relaxed draw
    exceeds 1/2 (a draw from Bernoulli(probs)), the gradient is that of the relaxed
    draw. ``sample_with_intermediates`` returns the logit of the relaxed draw behind the
    hard value as the intermediate, and ``log_prob`` with it is the density of that
    relaxed value; without intermediates a value is clipped into ``[tiny, 1 - eps/2]``.
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
