"""A three-step, two-state hidden Markov model whose ELBO gradient with respect to a
mean-field guide's logits is exact by enumeration of its 8 state paths (NumPy/SciPy),
for the tests of discrete latent sites in sequential models (NumPyro ``scan``,
``markov``; Pyro ``markov``).

At each step t: an observation ``a[t] ~ Normal(A_LOCS[z[t-1]], 1)`` that depends on the
previous state (``A_INIT`` at t = 0) and comes *before* the state in program order, the
state ``z[t] ~ Categorical(TRANS[z[t-1]])`` (``INIT`` at t = 0), and an observation
``y[t] ~ Normal(LOCS[z[t]], 1)``.
"""

import itertools

import numpy as np
from scipy.special import log_softmax
from scipy.stats import norm

INIT = np.array([0.6, 0.4])
TRANS = np.array([[0.8, 0.2], [0.3, 0.7]])
LOCS = np.array([-1.0, 1.5])
A_INIT = 0.0
A_LOCS = np.array([0.5, -0.5])
A = np.array([0.3, -0.9, 0.6])
Y = np.array([-0.4, 1.8, 0.9])
# a guide away from the uniform one
LOGITS = np.array([[0.4, -0.3], [-0.8, 0.5], [0.2, 0.9]])


def log_joint(path) -> float:
    """``log p(a, y, z)`` for one state path ``z`` (a tuple of T states)."""
    total, probs, a_mean = 0.0, INIT, A_INIT
    for t, z in enumerate(path):
        total += norm.logpdf(A[t], a_mean, 1.0) + np.log(probs[z]) + norm.logpdf(Y[t], LOCS[z], 1.0)
        probs, a_mean = TRANS[z], A_LOCS[z]
    return total


def exact_gradient(logits: np.ndarray) -> np.ndarray:
    r"""The gradient of the ELBO :math:`\sum_z q(z)[\log p(a, y, z) - \log q(z)]` with
    respect to the logits of the guide :math:`q(z) = \prod_t
    \operatorname{softmax}(\theta_t)_{z_t}`, shape (T, K): :math:`\sum_z q(z) f(z)
    (e_{z_t} - q_t)`."""
    log_q = log_softmax(logits, -1)
    q = np.exp(log_q)
    grad = np.zeros_like(logits)
    for path in itertools.product(range(len(INIT)), repeat=len(A)):
        steps = np.arange(len(A))
        log_q_path = log_q[steps, path].sum()
        f = log_joint(path) - log_q_path
        onehot = np.eye(len(INIT))[list(path)]
        grad += np.exp(log_q_path) * f * (onehot - q)
    return grad
