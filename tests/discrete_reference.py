"""Two small discrete-latent models whose ELBO gradient with respect to the guide logits
is exact by enumeration (NumPy/SciPy), for the REBAR / RELAX estimator's tests and
``benchmarks/discrete.py``.

- ``"bernoulli"``: one bit ``b ~ Bernoulli(P1)``, observations ``x_j ~ Normal(2b - 1, 1)``
  (``BERNOULLI_X``), a guide ``Bernoulli(logits=theta)``.
- ``"mixture"``: three points ``x_n ~ Normal(MEANS[z_n], 1)``, ``z_n ~
  Categorical(WEIGHTS)``, K = 3, a guide ``Categorical(logits=theta_n)`` per point.
"""

import numpy as np
from scipy.special import log_softmax
from scipy.stats import norm

P1 = 0.3
BERNOULLI_X = np.array([0.7, 1.2, -0.3, 2.0])
WEIGHTS = np.array([0.2, 0.3, 0.5])
MEANS = np.array([-2.0, 0.0, 2.0])
MIXTURE_X = np.array([-1.5, 0.4, 2.8])
# a guide away from the uniform one, for the checks at non-zero logits
BERNOULLI_LOGITS = np.array(1.2)
MIXTURE_LOGITS = np.array([[0.5, -1.0, 0.3], [2.0, 0.0, -1.5], [-0.7, 0.2, 1.1]])


def log_joint(model: str) -> np.ndarray:
    """``log p(x, b)`` for every configuration of one datum's latent: shape (2,) for the
    Bernoulli model (b = 0, 1), (3, 3) for the mixture (point, component)."""
    if model == "bernoulli":
        prior = np.log([1.0 - P1, P1])
        return prior + np.array([norm.logpdf(BERNOULLI_X, 2 * b - 1, 1).sum() for b in (0, 1)])
    return np.log(WEIGHTS) + norm.logpdf(MIXTURE_X[:, None], MEANS, 1.0)


def exact_gradient(model: str, logits: np.ndarray) -> np.ndarray:
    r"""The gradient of the ELBO :math:`\sum_b q(b)[\log p(x, b) - \log q(b)]` with respect
    to the guide logits, shape of ``logits``: :math:`q_k (f_k - \sum_j q_j f_j)` with
    :math:`f = \log p - \log q` (categorical; the bit is its two-category case)."""
    logits = np.asarray(logits, dtype=np.float64)
    if model == "bernoulli":
        log_q = log_softmax(np.stack([np.zeros_like(logits), logits], -1), -1)
    else:
        log_q = log_softmax(logits, -1)
    q, f = np.exp(log_q), log_joint(model) - log_q
    grad = q * (f - (q * f).sum(-1, keepdims=True))
    return grad[..., 1] if model == "bernoulli" else grad
