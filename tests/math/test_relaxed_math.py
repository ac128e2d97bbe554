"""The shared relaxed formulas on NumPy: the binary and the two-category densities agree
in log space far beyond where the simplex point rounds, and the guarded logs are finite
at the boundary."""

import numpy as np
import pytest
import scipy.stats

from ppl_reparam.math import relaxed as _r
from tests.backends import numpy_xp as xp


@pytest.mark.parametrize("tau", [1.0, 0.5, 0.1, 0.05, 0.01])
def test_binary_density_is_the_two_category_density_in_log_space(tau):
    # z up to 1e4: x = sigmoid(z) is exactly 0 or 1 in float64, log space is not.
    z = np.array([-1e4, -300.0, -20.0, -1.0, 0.0, 0.3, 5.0, 40.0, 700.0, 1e4])
    logit = 0.8
    log_x = np.stack([-np.logaddexp(0, -z), -np.logaddexp(0, z)], -1)  # log sigmoid(+-z)
    two = _r.log_prob(xp, log_x, np.array([logit, 0.0]), np.array([tau]))
    binary = _r.binary_log_prob(xp, z, logit, tau)
    np.testing.assert_allclose(binary, two, rtol=1e-12, atol=1e-9)
    # and the logit itself is Logistic(logit / tau, 1 / tau)
    expected = scipy.stats.logistic.logpdf(z, loc=logit / tau, scale=1 / tau)
    np.testing.assert_allclose(_r.logit_log_prob(xp, z, logit, tau), expected, rtol=1e-12)


def test_guarded_logs_are_finite_at_the_boundary():
    x = np.array([0.0, 1e-320, 0.5, 1.0])
    assert np.all(np.isfinite(_r.safe_log(xp, x)))
    assert np.all(np.isfinite(_r.safe_logit(xp, x)))
    np.testing.assert_allclose(_r.safe_logit(xp, np.array([0.25, 0.5])), [np.log(1 / 3), 0.0])


def test_noise_transforms_are_finite_over_the_whole_uniform_range():
    for dtype in [np.float32, np.float64]:
        info = np.finfo(dtype)
        u = np.array([info.tiny, 1e-30, 0.5, 1 - info.eps], dtype=dtype)
        assert np.all(np.isfinite(_r.gumbel(xp, u))) and np.all(np.isfinite(_r.logistic(xp, u)))
