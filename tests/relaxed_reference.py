"""Independent references for the relaxed (Concrete) families: mpmath closed forms from
Maddison, Mnih and Teh (2017), SciPy's logistic density, and a 40-digit ExpConcrete draw;
and the cases and helpers the relaxed test files share."""

import mpmath as mp
import numpy as np
import scipy.stats

_DIGITS = 40


def _concrete_log_pdf(log_x, logits, tau) -> mp.mpf:
    r"""Concrete log density on the simplex at ``x = exp(log_x)``, Maddison et al. eq. 5:
    ``Gamma(K) tau^(K-1) prod_k alpha_k x_k^(-tau-1) / (sum_k alpha_k x_k^(-tau))^K``."""
    k = len(log_x)
    tau = mp.mpf(float(tau))
    lx = [mp.mpf(float(v)) for v in log_x]
    la = [mp.mpf(float(v)) for v in logits]
    log_num = sum(a - (tau + 1) * v for a, v in zip(la, lx, strict=True))
    log_den = k * mp.log(mp.fsum(mp.exp(a - tau * v) for a, v in zip(la, lx, strict=True)))
    return mp.loggamma(k) + (k - 1) * mp.log(tau) + log_num - log_den


def concrete_log_pdf(log_x, logits, tau) -> float:
    """Concrete log density on the simplex at ``x = exp(log_x)`` (see above)."""
    with mp.workdps(_DIGITS):
        return float(_concrete_log_pdf(log_x, logits, tau))


def exp_concrete_log_pdf(log_x, logits, tau) -> float:
    """ExpConcrete log density at ``y = log_x``: the Concrete one times ``prod_k x_k``
    (the Jacobian of ``x = exp(y)``)."""
    with mp.workdps(_DIGITS):
        log_jacobian = mp.fsum(mp.mpf(float(v)) for v in log_x)
        return float(_concrete_log_pdf(log_x, logits, tau) + log_jacobian)


def exp_concrete_draw(gumbel, logits, tau) -> np.ndarray:
    """``log_softmax((logits + g) / tau)`` in 40-digit arithmetic."""
    with mp.workdps(_DIGITS):
        z = [
            (mp.mpf(float(a)) + mp.mpf(float(g))) / mp.mpf(float(tau))
            for a, g in zip(logits, gumbel, strict=True)
        ]
        lse = mp.log(mp.fsum(mp.exp(v) for v in z))
        return np.array([float(v - lse) for v in z])


def binary_concrete_log_pdf(x, logit, tau):
    """Binary Concrete log density of ``x``: the logit of ``x`` is
    Logistic(logit / tau, 1 / tau); change variables to ``x``."""
    x = np.asarray(x, dtype=float)
    z = np.log(x) - np.log1p(-x)
    return (
        scipy.stats.logistic.logpdf(z, loc=logit / tau, scale=1.0 / tau) - np.log(x) - np.log1p(-x)
    )


# Cases the relaxed test files share.
TEMPERATURES = [1.0, 0.5, 0.1, 0.05, 0.01]
CATEGORICAL = [
    "ExpRelaxedOneHotCategorical",
    "RelaxedOneHotCategorical",
    "RelaxedOneHotCategoricalStraightThrough",
]
BINARY = ["RelaxedBernoulli", "RelaxedBernoulliStraightThrough"]


def grid_logits(k: int) -> np.ndarray:
    """Two rows: the uniform case (where upstream Pyro fails at low temperature) and
    logits spread over a factor exp(20) or so."""
    rng = np.random.default_rng(k)
    return np.stack([np.zeros(k), 3.0 * rng.standard_normal(k)])


def draw_with_log_prob(backend, d, sample_shape=(), seed: int = 0):
    """A reparameterized draw of ``d`` and ``d.log_prob`` of it, scored the way each
    backend scores a sample site's own draw: in Pyro from the log-space value the drawn
    tensor carries, in NumPyro from the intermediates of ``sample_with_intermediates``
    (what its ``log_density`` and ELBOs pass to ``log_prob``)."""
    if backend.name == "pyro":
        value = backend.sample(d, sample_shape, seed)
        return value, d.log_prob(value)
    import jax

    value, intermediates = d.sample_with_intermediates(
        jax.random.PRNGKey(seed), tuple(sample_shape)
    )
    # as NumPyro's own call sites do: a family without intermediates takes none
    return value, d.log_prob(value, intermediates) if intermediates else d.log_prob(value)


def weights(shape, seed: int = 7) -> np.ndarray:
    """Fixed random weights for a scalar ``sum(weights * sample)`` to differentiate."""
    return np.random.default_rng(seed).standard_normal(shape)
