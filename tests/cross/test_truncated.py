"""Truncated families in both backends against mpmath, SciPy and finite differences."""

import math

import numpy as np
import pytest
import scipy.stats

from tests import truncated_reference as ref

INF = math.inf
LOC, SCALE = 0.3, 1.7
# Intervals in standard units, from the body out to 40 standard deviations.
TAIL = [(3.0, 4.0), (8.0, 9.0), (20.0, 21.0), (-40.0, -39.0), (0.0, INF), (30.0, INF)]
NOISE = [0.01, 0.3, 0.7, 0.99]
FAMILY_CLASSES = {
    "Normal": "TruncatedNormal",
    "Logistic": "TruncatedLogistic",
    "Gumbel": "TruncatedGumbel",
    "Laplace": "TruncatedLaplace",
}


def _bounds(lo, hi):
    return LOC + SCALE * lo, LOC + SCALE * hi


def _cases(intervals, noise=NOISE):
    return [(u, *_bounds(lo, hi)) for lo, hi in intervals for u in noise]


def _icdf_and_grads(backend, family, cases, dtype="float64"):
    """x = icdf(u) and dx/d(loc, scale, low, high), one case per batch element."""
    n = len(cases)
    u = backend.array([c[0] for c in cases], dtype)
    params = [
        backend.array([LOC] * n, dtype),
        backend.array([SCALE] * n, dtype),
        backend.array([c[1] for c in cases], dtype),
        backend.array([c[2] for c in cases], dtype),
    ]
    cls = getattr(backend.dist, FAMILY_CLASSES[family])
    x = cls(*params).icdf(u)
    grads = backend.grad(lambda *p: cls(*p).icdf(u).sum(), *params)
    return backend.numpy(x), [backend.numpy(g) for g in grads]


@pytest.mark.parametrize("family", ["Normal", "Logistic"])
def test_tail_sample_and_pathwise_derivatives_match_mpmath(backend, family):
    cases = _cases(TAIL)
    x, grads = _icdf_and_grads(backend, family, cases)
    expected = np.array(
        [ref.sample_and_derivatives(family, u, LOC, SCALE, low, high) for u, low, high in cases]
    )
    np.testing.assert_allclose(x, expected[:, 0], rtol=1e-13)
    # dx/dloc, dx/dscale, dx/dlow, dx/dhigh to 1e-6 relative (the bar), also
    # where the logistic's nearly memoryless tail makes dx/dloc O(e^-|a|).
    for got, want in zip(grads, expected[:, 1:].T, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("family", ["Gumbel", "Laplace"])
def test_other_families_sample_derivatives_match_mpmath(backend, family):
    cases = _cases([(-2.0, 1.0), (3.0, 4.0), (8.0, INF), (-INF, -3.0)], noise=[0.1, 0.8])
    x, grads = _icdf_and_grads(backend, family, cases)
    expected = np.array(
        [ref.sample_and_derivatives(family, u, LOC, SCALE, low, high) for u, low, high in cases]
    )
    np.testing.assert_allclose(x, expected[:, 0], rtol=1e-12)
    # A Laplace tail is exactly exponential (memoryless): there dx/dloc is exactly 0,
    # which float64 reaches to within rounding of the O(1) terms it is made of.
    for got, want in zip(grads, expected[:, 1:].T, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("family", ["Normal", "Logistic"])
def test_tail_mean_variance_entropy_match_mpmath(backend, family):
    lows = [LOC + SCALE * lo for lo, _ in TAIL]
    highs = [LOC + SCALE * hi for _, hi in TAIL]
    cls = getattr(backend.dist, FAMILY_CLASSES[family])
    d = cls(*(backend.array(v) for v in ([LOC] * len(TAIL), [SCALE] * len(TAIL), lows, highs)))
    expected = np.array([ref.moments(family, lo, hi) for lo, hi in TAIL])
    np.testing.assert_allclose(backend.numpy(d.mean), LOC + SCALE * expected[:, 0], rtol=1e-8)
    np.testing.assert_allclose(backend.numpy(d.variance), SCALE**2 * expected[:, 1], rtol=1e-8)
    np.testing.assert_allclose(
        backend.numpy(d.entropy()), expected[:, 2] + math.log(SCALE), rtol=1e-8, atol=1e-10
    )


@pytest.mark.parametrize("family", ["Gumbel", "Laplace"])
def test_other_families_moments_match_mpmath(backend, family):
    intervals = [(-2.0, 1.0), (3.0, 4.0), (1.0, INF), (-INF, -3.0)]
    cls = getattr(backend.dist, FAMILY_CLASSES[family])
    d = cls(
        backend.array(0.0),
        backend.array(1.0),
        backend.array([i[0] for i in intervals]),
        backend.array([i[1] for i in intervals]),
    )
    expected = np.array([ref.moments(family, lo, hi) for lo, hi in intervals])
    # The Laplace quantile has a kink at 0 (inside (-2, 1)), which slows the quadrature.
    rtol = 1e-5 if family == "Laplace" else 1e-9
    np.testing.assert_allclose(backend.numpy(d.mean), expected[:, 0], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(backend.numpy(d.variance), expected[:, 1], rtol=rtol)


FLOAT32_INTERVALS = [
    (3.0, 4.0),
    (8.0, 9.0),
    (20.0, 21.0),
    (29.0, 30.0),
    (-30.0, -29.0),
    (0.0, INF),
    (30.0, INF),
    (-INF, -30.0),
    (-0.5, 0.5),
]


@pytest.mark.parametrize("family", list(FAMILY_CLASSES))
def test_samples_inside_and_everything_finite_up_to_30_sigma(backend, dtype, family):
    lows = [lo for lo, _ in FLOAT32_INTERVALS]
    highs = [hi for _, hi in FLOAT32_INTERVALS]
    cls = getattr(backend.dist, FAMILY_CLASSES[family])
    params = [
        backend.array([0.0] * len(lows), dtype),
        backend.array([1.0] * len(lows), dtype),
        backend.array(lows, dtype),
        backend.array(highs, dtype),
    ]
    d = cls(*params)
    x = backend.sample(d, (500,), seed=3)
    xn = backend.numpy(x)
    assert xn.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(xn))
    assert np.all((xn >= np.array(lows)) & (xn <= np.array(highs))), "sample outside [low, high]"
    assert np.all(np.isfinite(backend.numpy(d.log_prob(x))))

    def total(*p):
        d = cls(*p)
        y = backend.sample(d, (500,), seed=3)
        return (y + d.log_prob(y)).sum()

    for g in backend.grad(total, *params):
        assert np.all(np.isfinite(backend.numpy(g))), "non-finite pathwise gradient"


def test_far_tail_samples_average_inside_the_interval(backend):
    """NumPyro's own TruncatedNormal(0, 1, 20, 21) draws average 12.9 with d mean/d loc = 1."""
    d = backend.dist.TruncatedNormal(backend.array(0.0), backend.array(1.0), 20.0, 21.0)
    x = backend.numpy(backend.sample(d, (20000,), seed=0))
    mean, var, _ = ref.moments("Normal", 20.0, 21.0)
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / x.size)
    grad = backend.grad(
        lambda loc: backend.sample(
            backend.dist.TruncatedNormal(loc, 1.0, 20.0, 21.0), (20000,), 0
        ).mean(),
        backend.array(0.0),
    )[0]
    # d E[x] / d loc = Var[x] / scale^2 for a truncated normal (a Stein identity).
    assert abs(float(backend.numpy(grad)) - var) < 0.05 * var


@pytest.mark.parametrize("family", list(FAMILY_CLASSES))
def test_log_prob_and_cdf_match_mpmath(backend, family):
    intervals = [(-1.0, 2.0), (3.0, 4.0), (20.0, 21.0), (-INF, -8.0), (0.5, INF)]
    rows = []
    for lo, hi in intervals:
        low, high = _bounds(lo, hi)
        span_lo = lo if lo > -INF else hi - 3
        span_hi = hi if hi < INF else lo + 3
        for t in (0.0, 0.1, 0.5, 0.97):
            rows.append((LOC + SCALE * (span_lo + t * (span_hi - span_lo)), low, high))
    x = backend.array([r[0] for r in rows])
    low = backend.array([r[1] for r in rows])
    high = backend.array([r[2] for r in rows])
    loc, scale = backend.array(LOC), backend.array(SCALE)
    d = getattr(backend.dist, FAMILY_CLASSES[family])(loc, scale, low, high)
    want_lp = [ref.log_prob(family, xx, LOC, SCALE, lo, hi) for xx, lo, hi in rows]
    want_cdf = [ref.cdf(family, xx, LOC, SCALE, lo, hi) for xx, lo, hi in rows]
    np.testing.assert_allclose(backend.numpy(d.log_prob(x)), want_lp, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(backend.numpy(d.cdf(x)), want_cdf, rtol=1e-9, atol=1e-15)
    outside = backend.array([r[1] - 1.0 if r[1] > -INF else r[2] + 1.0 for r in rows])
    unchecked = getattr(backend.dist, FAMILY_CLASSES[family])(
        loc, scale, low, high, validate_args=False
    )
    assert np.all(backend.numpy(unchecked.log_prob(outside)) == -np.inf)


def test_log_prob_gradient_matches_finite_differences(backend):
    lo, hi = _bounds(3.0, 4.0)
    x = 0.5 * (lo + hi)
    params = [backend.array(v) for v in (LOC, SCALE, lo, hi)]
    grads = backend.grad(
        lambda *p: backend.dist.TruncatedNormal(*p).log_prob(backend.array(x)), *params
    )
    h = 1e-6
    for i, g in enumerate(grads):
        plus = [LOC, SCALE, lo, hi]
        minus = list(plus)
        plus[i] += h
        minus[i] -= h
        fd = (ref.log_prob("Normal", x, *plus) - ref.log_prob("Normal", x, *minus)) / (2 * h)
        np.testing.assert_allclose(float(backend.numpy(g)), fd, rtol=1e-6)


def test_samples_follow_the_truncated_normal(backend):
    low, high = -1.0, 2.0
    d = backend.dist.TruncatedNormal(backend.array(LOC), backend.array(SCALE), low, high)
    x = backend.numpy(backend.sample(d, (4000,), seed=5))
    a, b = (low - LOC) / SCALE, (high - LOC) / SCALE
    result = scipy.stats.kstest(x, scipy.stats.truncnorm(a, b, loc=LOC, scale=SCALE).cdf)
    assert result.pvalue > 1e-3


def test_truncated_dispatches_location_scale_bases(backend):
    for base, name in [
        (backend.upstream.Normal(0.0, 2.0), "TruncatedNormal"),
        (backend.upstream.Logistic(0.0, 2.0), "TruncatedLogistic"),
        (backend.upstream.Laplace(0.0, 2.0), "TruncatedLaplace"),
        (backend.upstream.Gumbel(0.0, 2.0), "TruncatedGumbel"),
    ]:
        d = backend.dist.Truncated(base, low=1.0)
        assert type(d).__name__ == name
        assert float(backend.numpy(backend.sample(d, (100,), seed=0)).min()) >= 1.0


def test_generic_base_matches_scipy_and_finite_differences(backend):
    low, high = 0.5, 2.0
    scale = backend.array(1.3)
    d = backend.dist.Truncated(backend.upstream.HalfNormal(scale), low=low, high=high)
    assert isinstance(d, backend.dist.GenericTruncated)
    ref_dist = scipy.stats.truncnorm(low / 1.3, high / 1.3, scale=1.3)
    x = backend.sample(d, (2000,), seed=2)
    xn = backend.numpy(x)
    assert np.all((xn >= low) & (xn <= high))
    # HalfNormal on [0.5, 2] is a Normal on [0.5, 2], up to the factor 2 in both masses.
    np.testing.assert_allclose(backend.numpy(d.log_prob(x)), ref_dist.logpdf(xn), rtol=1e-10)
    np.testing.assert_allclose(backend.numpy(d.cdf(x)), ref_dist.cdf(xn), rtol=1e-9, atol=1e-12)
    assert scipy.stats.kstest(xn, ref_dist.cdf).pvalue > 1e-3
    # Pathwise gradient at fixed noise against a central difference with the same noise.
    grad = backend.grad(
        lambda s: backend.sample(
            backend.dist.Truncated(backend.upstream.HalfNormal(s), low=low, high=high), (50,), 7
        ).sum(),
        scale,
    )[0]
    h = 1e-6

    def total(s):
        d = backend.dist.Truncated(backend.upstream.HalfNormal(backend.array(s)), low, high)
        return float(backend.numpy(backend.sample(d, (50,), 7)).sum())

    fd = (total(1.3 + h) - total(1.3 - h)) / (2 * h)
    np.testing.assert_allclose(float(backend.numpy(grad)), fd, rtol=1e-6)


def test_bad_arguments_raise_clear_errors(backend):
    with pytest.raises(ValueError, match="low < high"):
        backend.dist.TruncatedNormal(backend.array(0.0), backend.array(1.0), 2.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        backend.dist.TruncatedLogistic(backend.array(0.0), backend.array(1.0), 1.0, 1.0)
    with pytest.raises(ValueError, match="scale"):
        backend.dist.TruncatedNormal(
            backend.array(0.0), backend.array(-1.0), 0.0, 1.0, validate_args=True
        )
    with pytest.raises(TypeError, match="VonMises"):
        backend.dist.Truncated(backend.upstream.VonMises(0.0, 1.0), low=0.0, high=1.0)
    with pytest.raises(ValueError, match="low < high"):
        backend.dist.Truncated(backend.upstream.HalfNormal(1.0), low=2.0, high=1.0)
