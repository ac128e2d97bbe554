r"""Relaxed (Concrete / Gumbel-Softmax) categorical and Bernoulli families for Pyro.

The formulas live in :mod:`ppl_reparam.math.relaxed`. A draw on the simplex (or in
[0, 1]) carries its log-space value as an attribute of the returned tensor, the way
Pyro's own straight-through classes attach ``_unquantize``: ``x._exact_log`` (``y`` with
``x = exp(y)`` renormalised, categorical) or ``x._exact_logit`` (``z`` with
``x = sigmoid(z)``, binary), and on a straight-through value the log-space value of the
relaxed draw behind it, ``_soft_log`` / ``_soft_logit``. ``log_prob`` of a tensor that
carries one is computed from it, exactly, even where float32 components rounded to 0
(or 1); the attribute belongs to the value, so the model's density of a guide's draw is
exact too. A value without one (observed data, a sliced or detached draw) is evaluated
at the log of the value clipped to the smallest normal float: finite, but only an
approximation where the value has already lost those digits. For an ELBO with a relaxed
categorical latent, prefer :class:`ExpRelaxedOneHotCategorical` in both model and guide:
its values are the log-space draws themselves.
"""

from functools import partial

import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions.utils import lazy_property

from ppl_reparam._concrete import check_parameters, concrete_shapes, given_parameter
from ppl_reparam._validation import check_relaxed_density
from ppl_reparam.math import relaxed as _r
from ppl_reparam.pyro import _xp

# Attributes a draw carries: the log-space value of the tensor itself, or (straight
# through) of the relaxed draw behind it; categorical draws keep a log, binary a logit.
EXACT_LOG, SOFT_LOG = "_exact_log", "_soft_log"
EXACT_LOGIT, SOFT_LOGIT = "_exact_logit", "_soft_logit"


def _float_params(temperature, param):
    """``temperature`` and ``param`` as tensors of one floating dtype and device."""
    if not isinstance(param, torch.Tensor):
        param = torch.as_tensor(param, dtype=torch.get_default_dtype())
    if not param.is_floating_point():
        param = param.to(torch.get_default_dtype())
    if isinstance(temperature, torch.Tensor) and temperature.is_floating_point():
        dtype = torch.promote_types(param.dtype, temperature.dtype)
    else:
        dtype = param.dtype
    temperature = torch.as_tensor(temperature, dtype=dtype, device=param.device)
    return temperature, param.to(dtype)


class _WithDensity:
    """The ``density`` keyword of the log-space relaxations (see
    :class:`ExpRelaxedOneHotCategorical`), validated. Mixed in before the relaxation's
    base class."""

    def __init__(
        self, temperature, probs=None, logits=None, validate_args=None, *, density="concrete"
    ):
        self.density = check_relaxed_density(type(self).__name__, density)
        super().__init__(temperature, probs, logits, validate_args=validate_args)


class _Relaxed(TorchDistribution):
    """Parameters, shapes, validation, ``expand`` and the attached log-space value,
    shared by the relaxed families. A family sets ``_event_dim`` (1: a last axis of
    categories), how probabilities become logits, and ``_log_value_of`` (the log-space
    value of a bare tensor); a class whose values are not in log space names the
    attributes it reads in ``_companions`` (the first is the one its draws carry)."""

    has_rsample = True
    _event_dim: int
    _companions: tuple[str, ...] = ()

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        name = type(self).__name__
        given_name, given = given_parameter(name, probs, logits)
        temperature, given = _float_params(temperature, given)
        batch_shape, event_shape = concrete_shapes(
            name, temperature.shape, given_name, given.shape, self._event_dim
        )
        raw_logits = self._logits_from_probs(given) if given_name == "probs" else given
        if self._validate_args if validate_args is None else validate_args:
            finite_positive = torch.isfinite(temperature) & (temperature > 0)
            checks = [
                ("temperature", temperature, finite_positive),
                (given_name, given, torch.isfinite(raw_logits)),
            ]
            check_parameters(name, self._event_dim, checks, lambda x: x.detach().cpu().numpy())
        shape = torch.Size(batch_shape + event_shape)
        if given_name == "probs":
            self.probs = given.expand(shape)
        self.logits = self._normalize_logits(raw_logits).expand(shape)
        self.temperature = temperature.expand(batch_shape)
        super().__init__(
            torch.Size(batch_shape), torch.Size(event_shape), validate_args=validate_args
        )

    @classmethod
    def infer_shapes(cls, temperature=(), probs=None, logits=None):
        """``(batch_shape, event_shape)`` of an instance built from parameters of these
        shapes (give the shape of exactly one of ``probs`` / ``logits``)."""
        given_name, given_shape = given_parameter(cls.__name__, probs, logits)
        batch_shape, event_shape = concrete_shapes(
            cls.__name__, temperature, given_name, given_shape, cls._event_dim
        )
        return torch.Size(batch_shape), torch.Size(event_shape)

    def expand(self, batch_shape, _instance=None):
        # type(self): subclasses with their own __init__ (a `density`) expand here too
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        # logits first: an impossible shape fails as torch's own families fail
        new.logits = self.logits.expand(batch_shape + self.event_shape)
        new.temperature = self.temperature.expand(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape + self.event_shape)
        if "density" in self.__dict__:
            new.density = self.density
        super(_Relaxed, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _attach(self, value: torch.Tensor, log_value: torch.Tensor) -> torch.Tensor:
        """``value``, carrying its log-space value as the attribute ``_companions[0]``."""
        setattr(value, self._companions[0], log_value)
        return value

    def _log_value(self, value: torch.Tensor) -> torch.Tensor:
        """The log-space value ``value`` carries, else the one computed from it."""
        for attribute in self._companions:
            log_value = getattr(value, attribute, None)
            if log_value is not None:
                return log_value
        return self._log_value_of(value)


class _RelaxedCategorical(_Relaxed):
    """Parameters and the log-space draw of the categorical relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    _event_dim = 1
    _logits_from_probs = staticmethod(torch.log)

    _normalize_logits = staticmethod(partial(_r.normalize_logits, _xp))
    _log_value_of = staticmethod(partial(_r.safe_log, _xp))

    @lazy_property
    def probs(self):
        return torch.softmax(self.logits, -1)

    def _log_rsample(self, sample_shape) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        # u in [tiny, 1): the Gumbel noise -log(-log u) is finite.
        u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
        u = u.clamp_min(torch.finfo(logits.dtype).tiny)
        return _r.log_sample(_xp, _r.gumbel(_xp, u), logits, self.temperature.unsqueeze(-1))


class ExpRelaxedOneHotCategorical(_WithDensity, _RelaxedCategorical):
    r"""ExpConcrete distribution: the log of a Concrete (Gumbel-Softmax) draw.

    .. math::
        y = \operatorname{log\_softmax}((\ell + g) / \tau), \quad g_k \sim
        \mathrm{Gumbel}(0, 1), \qquad
        \log p(y) = \log\Gamma(K) + (K-1)\log\tau + \sum_k (\ell_k - \tau y_k)
            - K \log\sum_k e^{\ell_k - \tau y_k}

    (Maddison, Mnih and Teh, 2017). Give ``temperature`` (> 0, a float or a tensor of
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

        >>> q = ExpRelaxedOneHotCategorical(0.01, logits=torch.zeros(1000))
        >>> y = q.rsample((10,))
        >>> bool(torch.isfinite(q.log_prob(y)).all())
        True
    """

    support = constraints.real_vector

    def rsample(self, sample_shape=torch.Size()):
        return self._log_rsample(sample_shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        if self.density == "categorical":
            return _r.categorical_mass(_xp, value, self.logits)
        return _r.exp_log_prob(_xp, value, self.logits, self.temperature.unsqueeze(-1))


class RelaxedOneHotCategorical(_RelaxedCategorical):
    r"""Concrete (Gumbel-Softmax) distribution on the simplex.

    .. math::
        x = \operatorname{softmax}((\ell + g) / \tau), \qquad
        p(x) = \Gamma(K)\, \tau^{K-1} \prod_k \frac{e^{\ell_k} x_k^{-\tau-1}}
            {\sum_j e^{\ell_j} x_j^{-\tau}}

    (density over the first K - 1 coordinates). A draw is ``exp(y)`` of an
    :class:`ExpRelaxedOneHotCategorical` draw ``y``, renormalised so that it sums to 1
    within the backend's simplex tolerance, and carries ``y`` as ``x._exact_log``:
    ``log_prob`` of a draw is computed from ``y``, so it is finite even where components
    underflowed to 0 in float32 (temperature 0.01, 1000 categories). Other values are
    evaluated at ``log`` of the value clipped to the smallest normal float: finite,
    approximate where a component is 0.

    Example::

        >>> q = RelaxedOneHotCategorical(0.1, logits=torch.zeros(10))
        >>> x = q.rsample((100,))
        >>> bool(torch.isfinite(q.log_prob(x)).all())
        True
    """

    support = constraints.simplex
    _companions = (EXACT_LOG,)

    def rsample(self, sample_shape=torch.Size()):
        y = self._log_rsample(sample_shape)
        return self._attach(_r.simplex_point(_xp, y), y)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = self._log_value(value)
        return _r.log_prob(_xp, y, self.logits, self.temperature.unsqueeze(-1))


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    r"""Straight-through Gumbel-Softmax: the value is the one-hot vector of the argmax
    of a :class:`RelaxedOneHotCategorical` draw (a draw from Categorical(probs)), the
    gradient is that of the relaxed draw.

    A draw carries the log-space value of the relaxed draw behind it as
    ``value._soft_log``, and ``log_prob`` of it is the Concrete density of that relaxed
    value (the convention of Pyro's own straight-through class); any other value is
    scored as by :class:`RelaxedOneHotCategorical`, a one-hot vector as a simplex point
    whose zeros are clipped to the smallest normal float.
    """

    _companions = (SOFT_LOG, EXACT_LOG)

    def rsample(self, sample_shape=torch.Size()):
        y = self._log_rsample(sample_shape)
        value = _r.straight_through(_xp, _r.hard_sample(_xp, y), _r.simplex_point(_xp, y))
        return self._attach(value, y)


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
        return torch.sigmoid(self.logits)

    def _logit_rsample(self, sample_shape) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        # u in [tiny, 1): the logistic noise log(u) - log(1 - u) is finite.
        u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
        u = u.clamp_min(torch.finfo(logits.dtype).tiny)
        return _r.logit_sample(_xp, _r.logistic(_xp, u), logits, self.temperature)


class _BinaryConcrete(_RelaxedBinary):
    """The binary relaxations with values in [0, 1]: a draw is ``_value_from_logit`` of
    the logit-space draw and carries that logit; the density is computed from it."""

    support = constraints.unit_interval

    _log_value_of = staticmethod(partial(_r.safe_logit, _xp))

    def rsample(self, sample_shape=torch.Size()):
        z = self._logit_rsample(sample_shape)
        return self._attach(self._value_from_logit(z), z)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = self._log_value(value)
        return _r.binary_log_prob(_xp, z, self.logits, self.temperature)


class RelaxedBernoulli(_BinaryConcrete):
    r"""Binary Concrete distribution on [0, 1] (the K = 2 case of
    :class:`RelaxedOneHotCategorical`).

    .. math::
        x = \sigma\big((\ell + L)/\tau\big), \quad L \sim \mathrm{Logistic}(0, 1),
        \qquad p(x) = \frac{\tau e^{\ell} x^{-\tau-1} (1-x)^{-\tau-1}}
            {(e^{\ell} x^{-\tau} + (1-x)^{-\tau})^2}.

    Give ``temperature`` (> 0) and exactly one of ``probs`` / ``logits``. At low
    temperature float32 draws round to exactly 0 or 1; a draw carries its logit as
    ``x._exact_logit`` and ``log_prob`` of it is computed from the logit, so it stays
    finite. Other values are clipped into ``[tiny, 1 - eps/2]`` first.

    Example::

        >>> q = RelaxedBernoulli(0.01, probs=torch.tensor(0.3))
        >>> x = q.rsample((100,))
        >>> bool(torch.isfinite(q.log_prob(x)).all())
        True
    """

    _companions = (EXACT_LOGIT,)

    def _value_from_logit(self, z: torch.Tensor) -> torch.Tensor:
        return _r.sigmoid(_xp, z)


class RelaxedBernoulliStraightThrough(_BinaryConcrete):
    r"""Straight-through binary Concrete: the value is ``1`` where the relaxed draw
    exceeds 1/2 (a draw from Bernoulli(probs)), the gradient is that of the relaxed
    draw. A draw carries the logit of the relaxed draw behind it as
    ``value._soft_logit``, and ``log_prob`` of it is the density of that relaxed value;
    any other value is scored as by :class:`RelaxedBernoulli` (clipped into
    ``[tiny, 1 - eps/2]``).
    """

    _companions = (SOFT_LOGIT, EXACT_LOGIT)

    def _value_from_logit(self, z: torch.Tensor) -> torch.Tensor:
        return _r.straight_through(_xp, _r.hard_binary_sample(_xp, z), _r.sigmoid(_xp, z))


class LogitRelaxedBernoulli(_WithDensity, _RelaxedBinary):
    r"""The logit of a binary Concrete draw: ``z = (logits + L) / temperature`` with
    standard logistic noise ``L``, i.e. ``Logistic(logits / temperature, 1 / temperature)``
    on the real line; ``sigmoid(z)`` is a :class:`RelaxedBernoulli` draw. The binary
    counterpart of :class:`ExpRelaxedOneHotCategorical`, and what
    :func:`~ppl_reparam.pyro.relax.relax` puts at relaxed Bernoulli sites.

    ``density="categorical"`` scores a draw with the Bernoulli log-mass extended
    linearly to the relaxed bit, :math:`x \log p + (1 - x) \log(1 - p)` with
    :math:`x = \sigma(z)` (see :class:`ExpRelaxedOneHotCategorical` for when to use it).
    """

    support = constraints.real

    def rsample(self, sample_shape=torch.Size()):
        return self._logit_rsample(sample_shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        if self.density == "categorical":
            return _r.binary_mass(_xp, value, self.logits)
        return _r.logit_log_prob(_xp, value, self.logits, self.temperature)
