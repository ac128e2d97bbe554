"""The 2-D, four-component Gaussian mixture of the relaxation acceptance tests: known
parameters, data drawn from them, label matching and the held-out log predictive
density, in NumPy (shared by the Pyro and NumPyro tests)."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

K, D = 4, 2
MEANS = np.array([[-3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [3.0, 3.0]])
WEIGHTS = np.array([0.1, 0.2, 0.3, 0.4])
SCALE = 1.0  # known observation scale
# a start for the component means away from every true mean and label order
INIT_MEANS = np.random.default_rng(5).normal(size=(K, D))


def draw(n: int, seed: int) -> np.ndarray:
    """``n`` points from the mixture."""
    rng = np.random.default_rng(seed)
    z = rng.choice(K, n, p=WEIGHTS)
    return MEANS[z] + SCALE * rng.normal(size=(n, D))


def match_labels(means: np.ndarray) -> np.ndarray:
    """The permutation ``perm`` with ``means[perm]`` closest to :data:`MEANS`."""
    cost = ((MEANS[:, None, :] - np.asarray(means)[None, :, :]) ** 2).sum(-1)
    return linear_sum_assignment(cost)[1]


def heldout_lpd(weights: np.ndarray, means: np.ndarray, x: np.ndarray) -> float:
    """Mean log predictive density of held-out points ``x`` at point estimates."""
    sq = ((x[:, None, :] - np.asarray(means)[None]) ** 2).sum(-1) / SCALE**2
    log_normal = -0.5 * sq - D * np.log(SCALE) - 0.5 * D * np.log(2 * np.pi)
    return float(logsumexp(np.log(weights) + log_normal, axis=-1).mean())
