r"""The Concrete (Gumbel-Softmax) relaxations of categorical and Bernoulli variables.

With logits :math:`\ell` (:math:`\alpha = e^{\ell}`), temperature :math:`\tau > 0` and
Gumbel noise :math:`g_k`, the ExpConcrete draw (Maddison, Mnih and Teh, 2017) is

.. math::
    y = \operatorname{log\_softmax}\big((\ell + g) / \tau\big), \qquad
    \log p(y) = \log\Gamma(K) + (K-1)\log\tau + \sum_k (\ell_k - \tau y_k)
        - K \operatorname{logsumexp}_k(\ell_k - \tau y_k),

and the Concrete draw is :math:`x = e^{y}` on the simplex, with
:math:`\log p(x) = \log p(y) - \sum_k y_k` (density with respect to Lebesgue measure
on the first K - 1 coordinates). The binary Concrete is parameterized by its logit
:math:`z = (\ell + L)/\tau` with logistic noise :math:`L`: :math:`z` is Logistic with
location :math:`\ell/\tau` and scale :math:`1/\tau`, and :math:`x = \sigma(z)`.

Every function works on the log-space value (``y`` or ``z``), never on the rounded
point ``x``: at temperature 0.01 most components of ``x`` underflow to 0 (or, binary,
round to 0 or 1) in float32 while ``y`` and ``z`` stay finite. Division by the
temperature happens only in log space, where the result is at most ``|logits + g| /
tau``, a few thousand, far from overflow.

Shapes: the categorical functions take values and logits of shape ``(..., K)`` and a
temperature of shape ``(..., 1)`` (broadcastable against them); the binary functions
broadcast all arguments elementwise.
"""

from math import lgamma

from ppl_reparam.math.namespace import Array, ArrayNamespace
from ppl_reparam.math.special import clip_to_open_unit_interval, log1mexp


def gumbel(xp: ArrayNamespace, u: Array) -> Array:
    """Standard Gumbel noise ``-log(-log u)`` from uniform ``u`` in ``[tiny, 1)``.

    ``-log u`` is at least ``eps/2`` for ``u < 1``, so the outer log is finite.
    """
    return -xp.log(-xp.log(u))


def logistic(xp: ArrayNamespace, u: Array) -> Array:
    """Standard logistic noise ``log u - log(1 - u)`` from uniform ``u`` in ``[tiny, 1)``."""
    return xp.log(u) - xp.log1p(-u)


def normalize_logits(xp: ArrayNamespace, logits: Array) -> Array:
    """Logits shifted so that ``logsumexp(logits) = 0`` (the density does not change)."""
    return xp.log_softmax(logits, -1)


def log_sample(xp: ArrayNamespace, gumbel_noise: Array, logits: Array, tau: Array) -> Array:
    """The ExpConcrete draw ``y = log_softmax((logits + g) / tau)`` (a log-probability
    vector). ``log_softmax`` subtracts the maximum first, so the largest components keep
    full precision even when ``(logits + g) / tau`` is in the thousands."""
    return xp.log_softmax((logits + gumbel_noise) / tau, -1)


def simplex_point(xp: ArrayNamespace, y: Array) -> Array:
    """The Concrete draw ``x = exp(y)`` on the simplex, from its log-space value ``y``.

    ``y = s - logsumexp(s)`` is computed in the array's dtype, and the rounding of that
    shift is common to every component, so ``sum(exp(y))`` drifts from 1 by several
    ulp: up to 1e-6 in float32 with 1000 categories, the tolerance of the backends'
    simplex check. Dividing by that sum brings it back within two ulp. The density
    stays that of ``y``: the two points differ by that rounding only.
    """
    x = xp.exp(y)
    return x / xp.sum(x, -1)[..., None]


def exp_log_prob(xp: ArrayNamespace, y: Array, logits: Array, tau: Array) -> Array:
    """ExpConcrete log density at the log-space value ``y``, shape ``(...)``."""
    k = y.shape[-1]
    # logits - tau * y is O(|logits + g|): tau multiplies y back down, no overflow.
    scaled = logits - tau * y
    log_tau = xp.log(tau)
    return (
        lgamma(k)
        + xp.sum(scaled + log_tau, -1)
        - xp.sum(log_tau, -1)
        - k * xp.logsumexp(scaled, -1)
    )


def log_prob(xp: ArrayNamespace, y: Array, logits: Array, tau: Array) -> Array:
    """Concrete log density of the simplex point ``x = exp(y)``, from ``y``."""
    return exp_log_prob(xp, y, logits, tau) - xp.sum(y, -1)


def categorical_mass(xp: ArrayNamespace, y: Array, logits: Array) -> Array:
    r"""The categorical log-mass extended linearly to the relaxed value ``x = exp(y)``:
    :math:`\sum_k x_k \log \pi_k`, with :math:`\log \pi` = ``log_softmax(logits)``.

    At a vertex (a one-hot ``x``) it is the categorical log-mass of that category, and as
    the temperature falls an ELBO that scores prior and guide draws with it tends to the
    discrete ELBO. The ExpConcrete density does not have that limit: the KL divergence
    between two ExpConcrete laws of one temperature does not depend on the temperature,
    and differs from the KL divergence of the categoricals (1.22 against 0.52 nats for
    probabilities (0.7, 0.2, 0.1) against (0.25, 0.25, 0.5)). This is a score, not a
    density: it does not integrate to 1 over the simplex.
    """
    return xp.sum(xp.exp(y) * xp.log_softmax(logits, -1), -1)


def binary_mass(xp: ArrayNamespace, z: Array, logits: Array) -> Array:
    r"""The Bernoulli log-mass extended linearly to the relaxed bit ``x = sigmoid(z)``:
    :math:`x \log p + (1 - x) \log(1 - p)` with ``p = sigmoid(logits)``, in softplus
    form (finite for logits of any size). The binary case of :func:`categorical_mass`."""
    return -(sigmoid(xp, z) * xp.softplus(-logits) + sigmoid(xp, -z) * xp.softplus(logits))


def safe_log(xp: ArrayNamespace, x: Array) -> Array:
    """``log x`` with ``x`` clipped below at the smallest normal float.

    For a point that was rounded before we saw it (a component of a float32 draw that
    underflowed to 0) the log-space value is lost; clipping keeps the density finite
    but it is then only an approximation.
    """
    return xp.log(xp.clip(x, xp.finfo(x).tiny, 1.0))


def hard_sample(xp: ArrayNamespace, y: Array) -> Array:
    """The one-hot vector of the largest component (the Gumbel-max categorical draw)."""
    return xp.one_hot_argmax(y)


def straight_through(xp: ArrayNamespace, hard: Array, soft: Array) -> Array:
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass.

    ``soft - stop_gradient(soft)`` is exactly 0, so the value is exactly ``hard``.
    """
    return hard + (soft - xp.stop_gradient(soft))


def probs_to_logits(xp: ArrayNamespace, probs: Array) -> Array:
    """The logit ``log p - log(1 - p)`` of a Bernoulli probability: finite inside (0, 1)."""
    return xp.log(probs) - xp.log1p(-probs)


def logit_sample(xp: ArrayNamespace, logistic_noise: Array, logits: Array, tau: Array) -> Array:
    """The logit ``z = (logits + L) / tau`` of a binary Concrete draw."""
    return (logits + logistic_noise) / tau


def sigmoid(xp: ArrayNamespace, z: Array) -> Array:
    """``1 / (1 + exp(-z))`` as ``exp(-softplus(-z))``: no overflow for either sign."""
    return xp.exp(-xp.softplus(-z))


def logit_log_prob(xp: ArrayNamespace, z: Array, logits: Array, tau: Array) -> Array:
    """Log density of the logit ``z``: Logistic(logits / tau, 1 / tau).

    With ``t = tau z - logits``: ``log tau - t - 2 softplus(-t)``; softplus keeps it
    finite for ``|t|`` in the thousands.
    """
    t = tau * z - logits
    return xp.log(tau) - t - 2.0 * xp.softplus(-t)


def binary_log_prob(xp: ArrayNamespace, z: Array, logits: Array, tau: Array) -> Array:
    """Binary Concrete log density of ``x = sigmoid(z)``, from ``z``.

    The change of variables adds ``-log x - log(1 - x) = softplus(-z) + softplus(z)``.
    """
    return logit_log_prob(xp, z, logits, tau) + xp.softplus(-z) + xp.softplus(z)


def safe_logit(xp: ArrayNamespace, x: Array) -> Array:
    """``log x - log(1 - x)`` with ``x`` clipped into ``[tiny, 1 - eps/2]``.

    As for :func:`safe_log`, a point that already rounded to 0 or 1 has lost its
    logit; clipping keeps the density finite.
    """
    log_x = xp.log(clip_to_open_unit_interval(xp, x))
    return log_x - log1mexp(xp, log_x)


def hard_binary_sample(xp: ArrayNamespace, z: Array) -> Array:
    """``1`` where ``z > 0`` (a Bernoulli(sigmoid(logits)) draw), else ``0``."""
    return xp.where(z > 0, 1.0, 0.0)


__all__ = [
    "binary_log_prob",
    "binary_mass",
    "categorical_mass",
    "exp_log_prob",
    "gumbel",
    "hard_binary_sample",
    "hard_sample",
    "log_prob",
    "log_sample",
    "logistic",
    "logit_log_prob",
    "logit_sample",
    "normalize_logits",
    "probs_to_logits",
    "safe_log",
    "safe_logit",
    "sigmoid",
    "simplex_point",
    "straight_through",
]
