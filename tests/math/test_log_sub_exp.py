"""log_sub_exp, the log of a difference of exponentials, against mpmath."""

import mpmath as mp
import numpy as np
import pytest

from ppl_reparam.math import special
from tests.backends import numpy_xp

mp.mp.dps = 40
INF = float("inf")


@pytest.mark.parametrize(
    ("x", "y"),
    [(0.0, -1e-12), (0.0, -0.5), (-3.0, -40.0), (-700.0, -700.0001), (50.0, 49.0), (0.0, -INF)],
)
def test_log_sub_exp_matches_mpmath(x, y):
    expected = float(mp.log(mp.exp(mp.mpf(x)) - mp.exp(mp.mpf(y))))
    got = special.log_sub_exp(numpy_xp, np.float64(x), np.float64(y))
    assert got == pytest.approx(expected, rel=1e-15)


def test_log_sub_exp_empty_difference_is_never_nan(backend):
    x = backend.array([0.0, -INF, 2.0])
    y = backend.array([0.0, -INF, 3.0])
    value = backend.numpy(special.log_sub_exp(backend.xp, x, y))
    np.testing.assert_array_equal(value, [0.0, -INF, 2.0])
    grads = backend.grad(lambda a, b: special.log_sub_exp(backend.xp, a, b).sum(), x, y)
    assert all(not np.any(np.isnan(backend.numpy(g))) for g in grads)
