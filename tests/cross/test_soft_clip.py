"""SoftClipTransform and SoftTruncated in both backends, against mpmath."""

import math

import numpy as np
import pytest

from tests import truncated_reference as ref

# (low, high, softness); None is an open end.
CASES = [(-1.0, 2.0, 0.3), (0.0, 1.0, 0.01), (5.0, None, 0.5), (None, -3.0, 2.0)]
XS = [-30.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.0, 1.9, 4.0, 30.0]


def _transform(backend, low, high, s, dtype="float64"):
    def arr(v):
        return None if v is None else backend.array(v, dtype)

    return backend.dist.SoftClipTransform(arr(low), arr(high), backend.array(s, dtype))


@pytest.mark.parametrize("case", CASES)
def test_forward_inverse_and_log_slope_match_mpmath(backend, case):
    low, high, s = case
    t = _transform(backend, low, high, s)
    x = backend.array(XS)
    y = t(x)
    want = np.array([ref.soft_clip(v, low, high, s) for v in XS])
    np.testing.assert_allclose(backend.numpy(y), want, rtol=1e-13, atol=1e-300)
    # log|dy/dx| is finite everywhere: the slope never underflows to 0 in log space.
    log_slope = backend.numpy(t.log_abs_det_jacobian(x, y))
    want_slope = [ref.soft_clip_log_slope(v, low, high, s) for v in XS]
    np.testing.assert_allclose(log_slope, want_slope, rtol=1e-10, atol=1e-12)
    # Round trip wherever y is not rounded onto an end (then the inverse is ill-posed).
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    distinct = (want - lo > 1e-9 * max(1.0, abs(lo))) & (hi - want > 1e-9 * max(1.0, abs(hi)))
    back = backend.numpy(t.inv(y))
    want_back = [ref.soft_clip_inverse(v, low, high, s) for v in want[distinct]]
    np.testing.assert_allclose(back[distinct], want_back, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(back[distinct], np.array(XS)[distinct], rtol=1e-8, atol=1e-10)


def test_values_stay_strictly_inside_and_gradients_never_vanish(backend, dtype):
    t = _transform(backend, 5.0, 6.0, 0.01, dtype)
    x = backend.array([-1e4, -50.0, 4.0, 5.5, 7.0, 50.0, 1e4], dtype)
    y = backend.numpy(t(x))
    assert np.all((y > 5.0) & (y < 6.0)), y
    assert np.all(np.isfinite(backend.numpy(t.log_abs_det_jacobian(x, t(x)))))
    assert np.all(np.isfinite(backend.numpy(t.inv(t(x)))))
    (g,) = backend.grad(lambda v: t(v).sum(), x)
    g = backend.numpy(g)
    assert np.all(np.isfinite(g)) and np.all(g >= 0) and g[3] > 0
    # A hard clip has slope exactly 0 outside; ours is e^(-d/s) at a distance d outside,
    # positive wherever the dtype can hold it (d/s up to ~87 in float32, ~708 in float64).
    (g_out,) = backend.grad(lambda v: t(v).sum(), backend.array([4.7, 6.3], dtype))
    np.testing.assert_allclose(backend.numpy(g_out), [math.exp(-30)] * 2, rtol=1e-3)


def test_identity_inside_and_hard_clip_limit(backend):
    x = backend.array(np.linspace(-3, 4, 71))
    xn = backend.numpy(x)
    for s in (0.1, 0.01, 0.001):
        y = backend.numpy(_transform(backend, -1.0, 2.0, s)(x))
        # |y - clip(x)| <= s log 2, attained at the ends.
        assert np.max(np.abs(y - np.clip(xn, -1.0, 2.0))) <= s * math.log(2) * (1 + 1e-12)
    inner = (xn > -0.5) & (xn < 1.5)
    y = backend.numpy(_transform(backend, -1.0, 2.0, 0.01)(x))
    np.testing.assert_allclose(y[inner], xn[inner], atol=1e-20)


def test_bad_soft_clip_arguments(backend):
    with pytest.raises(ValueError, match="low < high"):
        _transform(backend, 2.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="softness"):
        _transform(backend, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="low"):
        backend.dist.SoftClipTransform(None, None, 1.0)


def test_soft_truncated_log_prob_is_exact(backend):
    low, high, s = -0.5, 1.0, 0.2
    base = backend.upstream.Normal(backend.array(0.3), backend.array(1.0))
    d = backend.dist.SoftTruncated(base, *(backend.array(v) for v in (low, high, s)))
    ys = [-0.49, -0.3, 0.0, 0.5, 0.9, 0.999]
    got = backend.numpy(d.log_prob(backend.array(ys)))
    want = []
    for y in ys:
        x = ref.soft_clip_inverse(y, low, high, s)
        normal = -0.5 * (x - 0.3) ** 2 - 0.5 * math.log(2 * math.pi)
        want.append(normal - ref.soft_clip_log_slope(x, low, high, s))
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_soft_truncated_samples_converge_to_the_hard_clip(backend, dtype):
    base = backend.upstream.Normal(backend.array(0.2, dtype), backend.array(1.5, dtype))
    x = backend.numpy(backend.sample(base, (2000,), seed=4))
    for s in (0.1, 0.01, 0.001):
        d = backend.dist.SoftTruncated(base, -1.0, 1.0, s)
        y = backend.sample(d, (2000,), seed=4)
        yn = backend.numpy(y)
        assert np.all((yn > -1.0) & (yn < 1.0))
        assert np.all(np.isfinite(backend.numpy(d.log_prob(y))))
        assert np.max(np.abs(yn - np.clip(x, -1.0, 1.0))) <= s * math.log(2) + 1e-6


def test_soft_truncated_pathwise_gradient_does_not_vanish(backend):
    """A hard clip of a draw far outside the interval has d/dloc = 0; the soft clip not."""

    def f(loc):
        d = backend.dist.SoftTruncated(backend.upstream.Normal(loc, 0.1), 0.0, 1.0, 0.05)
        return backend.sample(d, (64,), seed=1).sum()

    (g,) = backend.grad(f, backend.array(1.3))
    assert float(backend.numpy(g)) > 0
