"""Relaxed categorical and Bernoulli families in both backends over the (temperature,
K, dtype) grid: every draw finite and in the support, ``log_prob`` of every draw finite,
and finite gradients at the lowest temperature."""

import numpy as np
import pytest
import scipy.special as sps

from tests.relaxed_reference import (
    BINARY,
    CATEGORICAL,
    TEMPERATURES,
    draw_with_log_prob,
    grid_logits,
    weights,
)

CATEGORIES = [2, 10, 1000]


def count_grid_failures(backend, dtype: str, tau: float, k: int, n: int) -> dict[str, int]:
    """Number of draws (of ``n`` per batch row) that fail a check, per distribution.

    A draw fails if it is not finite, not in the support to the dtype's tolerance
    (simplex: ``|sum - 1| <= 16 eps`` and the backend's own support check; log-simplex:
    ``|logsumexp(y)| <= 16 eps``; straight-through: exactly one-hot / 0 or 1), or if
    ``log_prob`` of it is not finite.
    """
    tol = 16 * float(np.finfo(dtype).eps)
    logits = backend.array(grid_logits(k), dtype)
    failures = {}
    for name in CATEGORICAL + BINARY:
        d = getattr(backend.dist, name)(
            backend.array(tau, dtype), logits=logits, validate_args=True
        )
        value, lp = draw_with_log_prob(backend, d, (n,), seed=k)
        in_support = d.support.check(value)
        v, lp = backend.numpy(value), backend.numpy(lp)
        assert v.dtype == np.dtype(dtype) and lp.shape == (n, 2) + (k,) * (name in BINARY)
        ok = np.isfinite(v) & (v >= 0) & (v <= 1)
        if name == "ExpRelaxedOneHotCategorical":
            ok = np.isfinite(v).all(-1)
            ok &= np.abs(sps.logsumexp(v.astype(float), axis=-1)) <= tol
        elif name == "RelaxedOneHotCategorical":
            ok = ok.all(-1) & (np.abs(v.astype(float).sum(-1) - 1) <= tol)
            ok &= backend.numpy(in_support).astype(bool)
        elif name == "RelaxedOneHotCategoricalStraightThrough":
            ok = ((v == 0) | (v == 1)).all(-1) & (v.sum(-1) == 1)
        elif name == "RelaxedBernoulliStraightThrough":
            ok = (v == 0) | (v == 1)
        ok &= np.isfinite(lp)
        failures[name] = int((~ok).sum())
    return failures


@pytest.mark.parametrize("k", CATEGORIES)
@pytest.mark.parametrize("tau", TEMPERATURES)
def test_grid_samples_in_support_with_finite_log_prob(backend, dtype, tau, k):
    failures = count_grid_failures(backend, dtype, tau, k, n=100 if k == 1000 else 1000)
    assert failures == dict.fromkeys(CATEGORICAL + BINARY, 0)


def test_gradients_finite_at_lowest_temperature_and_many_categories_float32(backend):
    dtype = "float32"  # where components underflow; float64 has eight times the log range
    logits0 = backend.array(grid_logits(1000), dtype)
    w = backend.array(weights((100, 2, 1000)), dtype)
    for name in CATEGORICAL + BINARY:

        def loss(logits, temperature, name=name):
            d = getattr(backend.dist, name)(temperature, logits=logits)
            # the grid's draws
            value, log_prob = draw_with_log_prob(backend, d, (100,), seed=1000)
            return (value * w).sum() + log_prob.sum()

        for g in backend.grad(loss, logits0, backend.array(0.01, dtype)):
            assert np.all(np.isfinite(backend.numpy(g))), name
