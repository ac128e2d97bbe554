"""Kumaraswamy in both backends: values, samples, gradients and KL against mpmath."""

import itertools

import numpy as np
import pytest

from tests import mp_reference as ref
from tests.backends import get_backend

# Concentrations span the whole legitimate range, including the extremes where the
# upstream implementations return 0/1 samples and infinite log densities.
EXTREME = [0.01, 0.1, 0.7, 1.0, 4.5, 100.0]
GRID = list(itertools.product(EXTREME, EXTREME))
POINTS = [1e-30, 1e-6, 0.2, 0.5, 0.9, 1 - 1e-6]

# float64 matches mpmath to a few ulps times the condition number of each quantity;
# float32 results are compared at float32-representable inputs with float32 precision.
RTOL = {"float64": 1e-10, "float32": 2e-4}


def _assert_close(actual, expected, dtype, rtol_scale=1.0, atol=0.0):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype] * rtol_scale, atol=atol)


def _params(backend, dtype, pairs=GRID):
    a = backend.array([p[0] for p in pairs], dtype)
    b = backend.array([p[1] for p in pairs], dtype)
    return a, b


def test_samples_strictly_inside_and_log_prob_finite(backend, dtype):
    a, b = _params(backend, dtype)
    d = backend.dist.Kumaraswamy(a, b)
    x = backend.sample(d, (4000,), seed=1)
    xn = backend.numpy(x)
    assert xn.dtype == np.dtype(dtype)
    assert np.all(xn > 0) and np.all(xn < 1), "sample on the boundary of (0, 1)"
    assert np.all(np.isfinite(backend.numpy(d.log_prob(x))))


def test_log_prob_cdf_icdf_match_mpmath(backend, dtype):
    pairs = [(a, b, x) for (a, b) in GRID for x in POINTS if dtype == "float64" or x > 1e-20]
    a = backend.array([p[0] for p in pairs], dtype)
    b = backend.array([p[1] for p in pairs], dtype)
    x = backend.array([p[2] for p in pairs], dtype)
    d = backend.dist.Kumaraswamy(a, b)
    # References at the inputs as the dtype represents them.
    an, bn, xn = backend.numpy(a), backend.numpy(b), backend.numpy(x)
    expected_lp = [ref.kumaraswamy_logpdf(*v) for v in zip(xn, an, bn, strict=True)]
    expected_cdf = [ref.kumaraswamy_cdf(*v) for v in zip(xn, an, bn, strict=True)]
    # log densities near 0 are sums of terms of size ~|log x|: compare with that scale.
    scale = 1 + np.abs(np.log(xn.astype(float))) * (np.abs(an - 1) + np.abs(bn - 1))
    err = np.abs(backend.numpy(d.log_prob(x)) - expected_lp) / scale
    assert err.max() < RTOL[dtype] * 10
    # CDF values below the smallest normal float are correctly returned as (near) 0.
    tiny = float(np.finfo(dtype).tiny)
    _assert_close(backend.numpy(d.cdf(x)), expected_cdf, dtype, rtol_scale=10, atol=tiny)

    q = backend.array([0.0001, 0.3, 0.5, 0.97], dtype)[:, None]
    d2 = backend.dist.Kumaraswamy(*_params(backend, dtype))
    got = backend.numpy(d2.icdf(q))
    qn = backend.numpy(q)[:, 0]
    an, bn = backend.numpy(d2.concentration1), backend.numpy(d2.concentration0)
    expected = np.array(
        [[ref.kumaraswamy_icdf(qq, aa, bb) for aa, bb in zip(an, bn, strict=True)] for qq in qn]
    )
    # icdf's condition number is |q f'(q)/f|, up to 1/(a b) here.
    mask = expected > np.finfo(dtype).tiny
    rel = np.abs(got[mask] - expected[mask]) / expected[mask]
    cond = np.broadcast_to(1 / (an * bn), expected.shape)[mask]
    assert np.all(rel <= RTOL[dtype] * 10 * np.maximum(cond, 1))


@pytest.mark.parametrize("quantity", ["mean", "variance", "entropy"])
def test_moments_and_entropy_match_mpmath(backend, dtype, quantity):
    a, b = _params(backend, dtype)
    d = backend.dist.Kumaraswamy(a, b)
    got = backend.numpy(d.entropy() if quantity == "entropy" else getattr(d, quantity))
    fn = {
        "mean": ref.kumaraswamy_mean,
        "variance": ref.kumaraswamy_variance,
        "entropy": ref.kumaraswamy_entropy,
    }[quantity]
    an, bn = backend.numpy(a), backend.numpy(b)
    expected = np.array([fn(aa, bb) for aa, bb in zip(an, bn, strict=True)])
    if quantity == "entropy":
        # entropy is a sum of O(1/a + 1/b) terms: relative to that scale.
        scale = 1 + 1 / an + 1 / bn + np.abs(np.log(an * bn))
        assert np.max(np.abs(got - expected) / scale) < RTOL[dtype]
    else:
        # Moments are exp(log-gamma differences) of size up to ~|log b| / a, which sets
        # their condition number. The float32 variance is additionally a difference of two
        # second differences of log-gamma that nearly cancel when b is small: measured
        # worst case 2.4e-3 relative at (a, b) = (100, 0.01), hence its own bound.
        cond = 1 + np.abs(np.log(bn)) / an + (1 / an if quantity == "variance" else 0)
        rtol = RTOL[dtype] * 10 * cond
        if quantity == "variance" and dtype == "float32":
            rtol = np.maximum(rtol, 5e-3)
        mask = expected > 1e3 * np.finfo(dtype).tiny
        rel = np.abs(got[mask] - expected[mask]) / expected[mask]
        assert np.all(rel <= rtol[mask])


@pytest.mark.parametrize("wrt", [0, 1])
def test_pathwise_gradient_matches_finite_difference_at_fixed_noise(backend, wrt):
    """d sample / d concentration by autodiff equals the central difference of the
    inverse CDF at the same noise (same seed), in float64."""
    pairs = [(a, b) for a, b in GRID if 0.05 < a < 50 and 0.05 < b < 50]
    a, b = _params(backend, "float64", pairs)

    def draw(a, b):
        return backend.sample(backend.dist.Kumaraswamy(a, b), (64,), seed=7)

    grads = backend.grad(lambda a, b: draw(a, b).sum(), a, b)[wrt]
    params = [backend.numpy(a), backend.numpy(b)]
    h = 1e-6 * params[wrt]
    plus, minus = [p.copy() for p in params], [p.copy() for p in params]
    plus[wrt] = plus[wrt] + h
    minus[wrt] = minus[wrt] - h
    fd = (
        backend.numpy(draw(*(backend.array(p) for p in plus)))
        - backend.numpy(draw(*(backend.array(p) for p in minus)))
    ).sum(0) / (2 * h)
    np.testing.assert_allclose(backend.numpy(grads), fd, rtol=1e-5, atol=1e-9)


def test_gradients_finite_at_extreme_concentrations(backend, dtype):
    a, b = _params(backend, dtype)

    def loss(a, b):
        d = backend.dist.Kumaraswamy(a, b)
        x = backend.sample(d, (256,), seed=3)
        return d.log_prob(x).sum() + x.sum()

    for g in backend.grad(loss, a, b):
        assert np.all(np.isfinite(backend.numpy(g)))


# --- KL(Kumaraswamy || Beta) ---------------------------------------------------------

KL_AB = [0.05, 0.4, 1.0, 3.7, 25.0, 100.0]
KL_ALPHA_BETA = [0.1, 0.9, 1.0, 4.0, 100.0]


def _kl_grid():
    return [
        (a, b, al, be)
        for a, b in itertools.product(KL_AB, KL_AB)
        for al, be in itertools.product(KL_ALPHA_BETA, KL_ALPHA_BETA)
    ]


@pytest.fixture(scope="module")
def kl_reference():
    grid = _kl_grid()
    return grid, np.array([ref.kl_kumaraswamy_beta(*g) for g in grid])


def test_kl_matches_mpmath_quadrature_to_1e6(backend, kl_reference):
    grid, expected = kl_reference
    cols = [backend.array([g[i] for g in grid]) for i in range(4)]
    kl = backend.kl_divergence(
        backend.dist.Kumaraswamy(cols[0], cols[1]), backend.upstream.Beta(cols[2], cols[3])
    )
    got = backend.numpy(kl)
    # KL is exactly 0 at Kumaraswamy(1, b) = Beta(1, b); there only an absolute bound
    # is meaningful.
    rel = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-6)
    worst = int(np.argmax(rel))
    assert rel.max() < 1e-6, (grid[worst], got[worst], expected[worst])


def test_upstream_series_is_what_we_fix():
    """Pins the upstream defect our KL removes: NumPyro's truncated series is off by
    a third at K(2, 3) || Beta(2, 3). If upstream is fixed this test says so."""
    numpyro = get_backend("numpyro")
    exact = ref.kl_kumaraswamy_beta(2.0, 3.0, 2.0, 3.0)
    upstream = float(
        numpyro.kl_divergence(
            numpyro.upstream.Kumaraswamy(2.0, 3.0), numpyro.upstream.Beta(2.0, 3.0)
        )
    )
    ours = float(
        numpyro.kl_divergence(numpyro.dist.Kumaraswamy(2.0, 3.0), numpyro.upstream.Beta(2.0, 3.0))
    )
    assert abs(ours - exact) < 1e-9 * exact
    assert abs(upstream - exact) > 0.2 * exact


@pytest.mark.parametrize("wrt", [0, 1])
def test_kl_gradient_matches_finite_difference(backend, wrt):
    pairs = [(0.05, 0.05), (0.3, 2.0), (1.0, 1.0), (2.0, 0.3), (7.0, 40.0), (90.0, 0.07)]
    a, b = _params(backend, "float64", pairs)
    alpha, beta = backend.array([0.5] * len(pairs)), backend.array([3.0] * len(pairs))

    def kl(a, b):
        return backend.kl_divergence(
            backend.dist.Kumaraswamy(a, b), backend.upstream.Beta(alpha, beta)
        )

    grad = backend.numpy(backend.grad(lambda a, b: kl(a, b).sum(), a, b)[wrt])
    params = [backend.numpy(a), backend.numpy(b)]
    h = 1e-5 * params[wrt]
    plus, minus = [p.copy() for p in params], [p.copy() for p in params]
    plus[wrt] += h
    minus[wrt] -= h
    fd = (
        backend.numpy(kl(*map(backend.array, plus))) - backend.numpy(kl(*map(backend.array, minus)))
    ) / (2 * h)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_kl_float32_is_finite_and_close(backend):
    grid = _kl_grid()[::7]
    cols = [backend.array([g[i] for g in grid], "float32") for i in range(4)]
    kl = backend.numpy(
        backend.kl_divergence(
            backend.dist.Kumaraswamy(cols[0], cols[1]), backend.upstream.Beta(cols[2], cols[3])
        )
    )
    expected = np.array([ref.kl_kumaraswamy_beta(*g) for g in grid])
    assert np.all(np.isfinite(kl))
    scale = np.maximum(np.abs(expected), 1.0)
    assert np.max(np.abs(kl - expected) / scale) < 1e-4


# --- conventions -----------------------------------------------------------------------


def test_batch_shapes_broadcast_and_expand(backend):
    d = backend.dist.Kumaraswamy(backend.array(np.ones((3, 1))), backend.array(np.ones(4)))
    assert tuple(d.batch_shape) == (3, 4)
    assert tuple(d.event_shape) == ()
    assert tuple(backend.sample(d, (2,)).shape) == (2, 3, 4)
    e = d.expand((5, 3, 4))
    assert tuple(e.batch_shape) == (5, 3, 4)
    assert tuple(backend.sample(e).shape) == (5, 3, 4)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
@pytest.mark.parametrize("param", ["concentration1", "concentration0"])
def test_invalid_concentration_raises_naming_the_parameter(backend, bad, param):
    kwargs = {"concentration1": backend.array([1.0, 2.0]), "concentration0": backend.array(1.0)}
    kwargs[param] = backend.array([1.0, bad])
    with pytest.raises(ValueError, match=param):
        backend.dist.Kumaraswamy(**kwargs, validate_args=True)


def test_incompatible_shapes_raise_naming_both_parameters(backend):
    with pytest.raises(ValueError, match="concentration1.*concentration0"):
        backend.dist.Kumaraswamy(backend.array(np.ones(2)), backend.array(np.ones(3)))


def test_log_prob_outside_support_follows_backend_convention(backend):
    """Pyro raises on an out-of-support value; NumPyro warns and returns -inf."""
    d = backend.dist.Kumaraswamy(backend.array(2.0), backend.array(3.0), validate_args=True)
    if backend.name == "pyro":
        with pytest.raises(ValueError):
            d.log_prob(backend.array(1.5))
    else:
        with pytest.warns(UserWarning, match="Out-of-support"):
            assert backend.numpy(d.log_prob(backend.array(1.5))) == -np.inf


# --- both backends give the same numbers ---------------------------------------------------


def test_backends_agree():
    pyro, numpyro = get_backend("pyro"), get_backend("numpyro")
    out = {}
    for be in (pyro, numpyro):
        a, b = _params(be, "float64")
        x = be.array(np.linspace(0.01, 0.99, len(GRID)))
        d = be.dist.Kumaraswamy(a, b)
        kl = be.kl_divergence(d, be.upstream.Beta(be.array(0.7), be.array(2.0)))
        out[be.name] = [
            be.numpy(v)
            for v in (d.log_prob(x), d.cdf(x), d.icdf(x), d.mean, d.variance, d.entropy(), kl)
        ]
    # The two backends' lgamma/digamma differ in the last bits; the variance at
    # (a, b) = (100, 0.01) amplifies that by its condition number (~1e4).
    rtols = [1e-12, 1e-12, 1e-12, 1e-12, 1e-10, 1e-12, 1e-12]
    for p, n, rtol in zip(out["pyro"], out["numpyro"], rtols, strict=True):
        np.testing.assert_allclose(p, n, rtol=rtol, atol=0)
