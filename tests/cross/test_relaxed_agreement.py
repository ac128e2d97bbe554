"""The relaxed families agree across backends, and with a 40-digit reference, at fixed
noise: the same Gumbel / logistic draws give the same samples, hard samples and log
densities in PyTorch and JAX."""

import numpy as np
import pytest

from ppl_reparam.math import relaxed as _r
from tests import relaxed_reference as ref
from tests.backends import BACKEND_NAMES, get_backend
from tests.backends import numpy_xp as xp64

BACKENDS = [get_backend(name) for name in BACKEND_NAMES]


def _noise(k: int, dtype: str, seed: int = 11):
    rng = np.random.default_rng(seed)
    logits = np.asarray(3.0 * rng.standard_normal(k), dtype=dtype)
    u = np.asarray(rng.uniform(size=(4, k)), dtype=dtype)
    return logits, u


@pytest.mark.parametrize("tau", [1.0, 0.1, 0.01])
@pytest.mark.parametrize("k", [2, 10, 1000])
def test_log_space_draw_from_fixed_noise_agrees_with_reference(dtype, tau, k):
    logits, u = _noise(k, dtype)
    gumbel = -np.log(-np.log(u.astype(float)))
    tau_d = float(np.asarray(tau, dtype))
    expected = np.stack([ref.exp_concrete_draw(g, logits.astype(float), tau_d) for g in gumbel])
    draws = []
    for b in BACKENDS:
        t = b.array(np.asarray(tau, dtype)[..., None], dtype)
        g = _r.gumbel(b.xp, b.array(u, dtype))
        y = b.numpy(_r.log_sample(b.xp, g, b.array(logits, dtype), t))
        assert y.dtype == np.dtype(dtype)
        draws.append(y.astype(float))
        hard = b.numpy(_r.hard_sample(b.xp, b.array(y, dtype)))
        np.testing.assert_array_equal(hard, np.eye(k)[expected.argmax(-1)])
    # The noise, the sum and the division by tau each round to eps relative to
    # (|logits| + |g|) / tau: the absolute accuracy every component of y can have.
    eps = float(np.finfo(dtype).eps)
    scale = 1.0 + (np.abs(logits.astype(float)) + np.abs(gumbel)).max(-1, keepdims=True) / tau_d
    tol = 8 * eps * scale
    for y in draws:
        assert np.all(np.abs(y - expected) <= tol)
    assert np.all(np.abs(draws[0] - draws[1]) <= tol)


@pytest.mark.parametrize(
    "name",
    [
        "ExpRelaxedOneHotCategorical",
        "RelaxedOneHotCategorical",
        "RelaxedBernoulli",
        "RelaxedBernoulliStraightThrough",
    ],
)
@pytest.mark.parametrize("tau", [1.0, 0.1, 0.01])
def test_log_prob_agrees_across_backends(dtype, name, tau):
    k = 10
    logits, u = _noise(k, dtype, seed=12)
    if name == "ExpRelaxedOneHotCategorical":
        values = np.log(u) - np.log(u.sum(-1, keepdims=True))
    elif name == "RelaxedOneHotCategorical":
        values = u / u.sum(-1, keepdims=True)
    else:
        values = u
    values = np.asarray(values, dtype=dtype)
    out = []
    for b in BACKENDS:
        d = getattr(b.dist, name)(b.array(tau, dtype), logits=b.array(logits, dtype))
        out.append(b.numpy(d.log_prob(b.array(values, dtype))).astype(float))
    scale = 1.0 + np.abs(out[0])
    if "Categorical" in name:
        scale = scale + k * (np.abs(logits).max() + tau * np.abs(np.log(u)).max() + 1)
    np.testing.assert_array_less(np.abs(out[0] - out[1]), 8 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize(
    ("kind", "tau"),
    [("log", 1.0), ("log", 0.1), ("log", 0.01), ("simplex", 1.0), ("simplex", 0.1)]
    + [("binary", 1.0), ("binary", 0.1)],
)
def test_pathwise_gradients_in_each_dtype_match_float64_finite_differences(dtype, kind, tau):
    k = 6
    logits, u = _noise(k, dtype, seed=13)
    w = np.random.default_rng(14).standard_normal(u.shape)

    def draw(xp, logits, u, w):
        if kind == "binary":
            value = _r.sigmoid(xp, _r.logit_sample(xp, _r.logistic(xp, u), logits, tau))
        else:
            y = _r.log_sample(xp, _r.gumbel(xp, u), logits, tau)
            value = xp.exp(y) if kind == "simplex" else y
        return xp.sum(xp.sum(value * w, -1), 0)

    # float64 central differences of the same map, at the noise the dtype holds
    u64, logits64 = u.astype(float), logits.astype(float)
    h = 1e-6
    fd = np.array(
        [
            (draw(xp64, logits64 + h * e, u64, w) - draw(xp64, logits64 - h * e, u64, w)) / (2 * h)
            for e in np.eye(k)
        ]
    )
    for b in BACKENDS:
        (g,) = b.grad(
            lambda lg, b=b: draw(b.xp, lg, b.array(u, dtype), b.array(w, dtype)),
            b.array(logits, dtype),
        )
        rtol = 1e-6 if dtype == "float64" else 1e-4
        np.testing.assert_allclose(b.numpy(g), fd, rtol=rtol, atol=rtol * np.abs(fd).max())
