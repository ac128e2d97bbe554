"""The two backends give the same numbers for the truncated and soft-clipped families."""

import math

import numpy as np
import pytest

from tests.backends import BACKEND_NAMES, get_backend

INF = math.inf
LOWS = [-1.0, 3.0, 20.0, -INF, 30.0]
HIGHS = [2.0, 4.0, 21.0, -39.0, INF]


def _evaluate(backend, cls_name):
    cls = getattr(backend.dist, cls_name)
    highs = list(HIGHS)
    if cls_name == "TruncatedGumbel":
        # Gumbel mass below -23 scales is exp(-e^23): log_prob there has condition number
        # e^23, so the backends' last-ulp differences show; compare a sane lower tail.
        highs[3] = -3.0
    params = [backend.array(v) for v in ([0.3] * 5, [1.7] * 5, LOWS, highs)]
    u = backend.array([0.05, 0.3, 0.5, 0.8, 0.99])
    d = cls(*params)
    x = d.icdf(u)
    grads = backend.grad(lambda *p: cls(*p).icdf(u).sum(), *params)
    out = [x, d.log_prob(x), d.cdf(x), d.mean, d.variance, d.entropy(), *grads]
    return [backend.numpy(v) for v in out]


@pytest.mark.parametrize("cls_name", ["TruncatedNormal", "TruncatedLogistic", "TruncatedGumbel"])
def test_truncated_families_agree_across_backends(cls_name):
    pyro_out, numpyro_out = (_evaluate(get_backend(n), cls_name) for n in BACKEND_NAMES)
    # erfcx, ndtri and friends differ in the last ulp between torch and jax; the tail
    # moments and derivatives amplify that by up to a^4 (~1e5 at 20 scales out).
    for a, b in zip(pyro_out, numpyro_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


def test_soft_clip_agrees_across_backends():
    outs = []
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        t = backend.dist.SoftClipTransform(
            backend.array(-1.0), backend.array(2.0), backend.array(0.1)
        )
        x = backend.array(np.linspace(-5, 6, 23))
        y = t(x)
        (g,) = backend.grad(lambda v, t=t: t(v).sum(), x)
        outs.append([backend.numpy(v) for v in (y, t.inv(y), t.log_abs_det_jacobian(x, y), g)])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
