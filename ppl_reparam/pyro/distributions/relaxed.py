r"""Relaxed (Concrete / Gumbel-Softmax) categorical and Bernoulli families for Pyro.

The formulas live in :mod:`ppl_reparam.math.relaxed`. Each instance remembers the
log-space value (``y = log x`` for the categorical families, the logit ``z`` for the
binary ones) of its last draw, like a torch ``Transform`` with ``cache_size=1``:
``log_prob`` of that draw is computed from the log-space value, exactly, even where the
float32 point has components that rounded to 0 (or 1). For any other value the log is
taken of the value clipped to the smallest normal float, which keeps ``log_prob``
finite but is only an approximation where the value has already lost those digits.
For an ELBO with a relaxed categorical latent, prefer :class:`ExpRelaxedOneHotCategorical`
in both model and guide: its values are the log-space draws themselves.
"""

import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions.utils import lazy_property

from ppl_reparam._validation import (
    broadcast_param_shapes,
    check_one_parameterization,
    check_relaxed_density,
)
from ppl_reparam.math import relaxed as _r
from ppl_reparam.pyro import _xp


def _float_params(name: str, temperature, param, param_name: str, min_dim: int):
    """``temperature`` and ``param`` as tensors of one floating dtype and device."""
    if not isinstance(param, torch.Tensor):
        param = torch.as_tensor(param, dtype=torch.get_default_dtype())
    if not param.is_floating_point():
        param = param.to(torch.get_default_dtype())
    if param.dim() < min_dim:
        raise ValueError(f"{name}: `{param_name}` needs a last axis of categories, got a scalar")
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


class _RelaxedCategorical(TorchDistribution):
    """Parameters, shapes and the log-space draw shared by the categorical relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        name = type(self).__name__
        check_one_parameterization(name, probs, logits)
        given, given_name = (probs, "probs") if probs is not None else (logits, "logits")
        temperature, given = _float_params(name, temperature, given, given_name, 1)
        batch_shape = torch.Size(
            broadcast_param_shapes(
                name, {"temperature": temperature.shape, given_name: given.shape[:-1]}
            )
        )
        event_shape = given.shape[-1:]
        if probs is not None:
            self.probs = given.expand(batch_shape + event_shape)
            given = torch.log(given)
        self.logits = _r.normalize_logits(_xp, given).expand(batch_shape + event_shape)
        self.temperature = temperature.expand(batch_shape)
        self._last_draw = None
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @lazy_property
    def probs(self):
        return torch.softmax(self.logits, -1)

    def expand(self, batch_shape, _instance=None):
        # type(self): subclasses with their own __init__ (a `density`) expand here too
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.temperature = self.temperature.expand(batch_shape)
        new.logits = self.logits.expand(batch_shape + self.event_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape + self.event_shape)
        if "density" in self.__dict__:
            new.density = self.density
        new._last_draw = None
        super(_RelaxedCategorical, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _log_rsample(self, sample_shape) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        # u in [tiny, 1): the Gumbel noise -log(-log u) is finite.
        u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
        u = u.clamp_min(torch.finfo(logits.dtype).tiny)
        return _r.log_sample(_xp, _r.gumbel(_xp, u), logits, self.temperature.unsqueeze(-1))

    def _remember(self, value: torch.Tensor, log_value: torch.Tensor) -> torch.Tensor:
        self._last_draw = (value, log_value)
        return value

    def _log_value(self, value: torch.Tensor) -> torch.Tensor:
        """The log-space value of ``value``: exact for the last draw, else ``log`` of
        ``value`` clipped to the smallest normal float."""
        if self._last_draw is not None and value is self._last_draw[0]:
            return self._last_draw[1]
        return _r.safe_log(_xp, value)


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
    :class:`ExpRelaxedOneHotCategorical` draw ``y``; ``log_prob`` of the last draw is
    computed from ``y``, so it is finite even where components underflowed to 0 in
    float32 (temperature 0.01, 1000 categories). Other values are evaluated at ``log``
    of the value clipped to the smallest normal float: finite, approximate where a
    component is 0.

    Example::

        >>> q = RelaxedOneHotCategorical(0.1, logits=torch.zeros(10))
        >>> x = q.rsample((100,))
        >>> bool(torch.isfinite(q.log_prob(x)).all())
        True
    """

    support = constraints.simplex

    def rsample(self, sample_shape=torch.Size()):
        y = self._log_rsample(sample_shape)
        return self._remember(torch.exp(y), y)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = self._log_value(value)
        return _r.log_prob(_xp, y, self.logits, self.temperature.unsqueeze(-1))


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    r"""Straight-through Gumbel-Softmax: the value is the one-hot vector of the argmax
    of a :class:`RelaxedOneHotCategorical` draw (a draw from Categorical(probs)), the
    gradient is that of the relaxed draw.

    ``log_prob`` of the last draw is the Concrete density of the relaxed value that
    produced it (the convention of Pyro's own straight-through class); any other
    one-hot value is treated as a simplex point whose zeros are clipped to the
    smallest normal float.
    """

    def rsample(self, sample_shape=torch.Size()):
        y = self._log_rsample(sample_shape)
        value = _r.straight_through(_xp, _r.hard_sample(_xp, y), torch.exp(y))
        return self._remember(value, y)


class _RelaxedBinary(TorchDistribution):
    """Parameters, shapes and the logit-space draw shared by the binary relaxations."""

    arg_constraints = {
        "temperature": constraints.positive,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        name = type(self).__name__
        check_one_parameterization(name, probs, logits)
        given, given_name = (probs, "probs") if probs is not None else (logits, "logits")
        temperature, given = _float_params(name, temperature, given, given_name, 0)
        batch_shape = torch.Size(
            broadcast_param_shapes(
                name, {"temperature": temperature.shape, given_name: given.shape}
            )
        )
        if probs is not None:
            self.probs = given.expand(batch_shape)
            given = torch.log(given) - torch.log1p(-given)
        self.logits = given.expand(batch_shape)
        self.temperature = temperature.expand(batch_shape)
        self._last_draw = None
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def probs(self):
        return torch.sigmoid(self.logits)

    def expand(self, batch_shape, _instance=None):
        # type(self): subclasses with their own __init__ (a `density`) expand here too
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.temperature = self.temperature.expand(batch_shape)
        new.logits = self.logits.expand(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
        if "density" in self.__dict__:
            new.density = self.density
        new._last_draw = None
        super(_RelaxedBinary, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _logit_rsample(self, sample_shape) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        # u in [tiny, 1): the logistic noise log(u) - log(1 - u) is finite.
        u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
        u = u.clamp_min(torch.finfo(logits.dtype).tiny)
        return _r.logit_sample(_xp, _r.logistic(_xp, u), logits, self.temperature)

    def rsample(self, sample_shape=torch.Size()):
        z = self._logit_rsample(sample_shape)
        self._last_draw = (self._value_from_logit(z), z)
        return self._last_draw[0]

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        if self._last_draw is not None and value is self._last_draw[0]:
            z = self._last_draw[1]
        else:
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

        >>> q = RelaxedBernoulli(0.01, probs=torch.tensor(0.3))
        >>> x = q.rsample((100,))
        >>> bool(torch.isfinite(q.log_prob(x)).all())
        True
    """

    def _value_from_logit(self, z: torch.Tensor) -> torch.Tensor:
        return _r.sigmoid(_xp, z)


class RelaxedBernoulliStraightThrough(_RelaxedBinary):
    r"""Straight-through binary Concrete: the value is ``1`` where the relaxed draw
    exceeds 1/2 (a draw from Bernoulli(probs)), the gradient is that of the relaxed
    draw. ``log_prob`` of the last draw is the density of the relaxed value that
    produced it; any other value is clipped into ``[tiny, 1 - eps/2]``.
    """

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
