"""The shared special functions against mpmath, on NumPy and on both backends."""

import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest

from ppl_reparam.math import special
from tests.backends import numpy_xp

mp.mp.dps = 40


@pytest.mark.parametrize(
    "x", [-1e-300, -1e-20, -1e-8, -0.1, -0.6931471805599453, -0.7, -5.0, -40.0, -800.0]
)
def test_log1mexp_matches_mpmath(x):
    expected = float(mp.log(-mp.expm1(mp.mpf(x))))
    got = special.log1mexp(numpy_xp, np.float64(x))
    assert got == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_log1mexp_gradient_continuous_at_the_branch_point(backend, dtype):
    """At x = -log 2 the formula switches branch; the derivative there must be the true
    -exp(x)/(1 - exp(x)) = -1 from both sides, not a one-sided or NaN value."""
    for x0 in (-np.log(2.0), -np.log(2.0) * (1 + 1e-6), -np.log(2.0) * (1 - 1e-6)):
        x = backend.array(x0, dtype)
        (g,) = backend.grad(lambda t: special.log1mexp(backend.xp, t), x)
        expected = -np.exp(x0) / -np.expm1(x0)
        assert float(backend.numpy(g)) == pytest.approx(expected, rel=1e-5)


def test_log1mexp_has_finite_gradient_far_from_zero(backend):
    x = backend.array([-1e-12, -800.0, -1e5])
    (g,) = backend.grad(lambda t: special.log1mexp(backend.xp, t).sum(), x)
    assert np.all(np.isfinite(backend.numpy(g)))


@pytest.mark.parametrize(
    "x, y",
    [(0.5, 0.01), (100.0, 0.01), (1e-3, 1e6), (3.0, 2.0), (100.0, 100.0), (0.01, 1e8), (7.0, 8.0)],
)
def test_log_gamma_difference_matches_mpmath(x, y):
    expected = float(mp.loggamma(mp.mpf(y)) - mp.loggamma(mp.mpf(y) + mp.mpf(x)))
    got = special.log_gamma_difference(numpy_xp, np.float64(x), np.float64(y))
    assert got == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("x, y", [(0.1, 0.2), (0.5, 300.0), (1e4, 3.0), (50.0, 60.0)])
def test_log_beta_matches_mpmath(x, y):
    expected = float(mp.log(mp.beta(mp.mpf(x), mp.mpf(y))))
    assert special.log_beta(numpy_xp, np.float64(x), np.float64(y)) == pytest.approx(
        expected, rel=1e-13
    )


@pytest.mark.parametrize("s", [1.05, 2.0, 9.0, 20.0, 30.0])
def test_hurwitz_zeta_scaled_matches_mpmath(s):
    n = 16
    expected = float(mp.zeta(mp.mpf(s), n) * mp.mpf(n) ** s)
    assert special.hurwitz_zeta_scaled(numpy_xp, np.float64(s), n) == pytest.approx(
        expected, rel=1e-13
    )


def test_cvz_weights_sum_the_alternating_harmonic_series():
    # sum_k (-1)^k / (k + 1) = log 2, with moments mu_k = 1/(k+1) of the uniform measure
    approx = sum(w / (k + 1) for k, w in enumerate(special.CVZ_WEIGHTS))
    assert approx == pytest.approx(np.log(2.0), rel=1e-13)


@pytest.mark.parametrize("b, z", [(0.05, 10.0), (0.7, 50.0), (3.0, 200.0), (10.0, 1e3)])
def test_gamma_ratio_series_matches_mpmath(b, z):
    coeffs = special.gamma_ratio_series(numpy_xp, np.float64(b))
    approx = sum(c * z**-k for k, c in enumerate(coeffs)) * z**-b
    expected = float(mp.gamma(z + 1) / mp.gamma(z + 1 + mp.mpf(b)))
    # truncation after 8 terms: error of order ((1 + b) / z)^9
    assert approx == pytest.approx(expected, rel=max(1e-13, 10 * ((1 + b) / z) ** 9))


def test_importing_the_package_imports_no_backend():
    code = (
        "import sys, ppl_reparam, ppl_reparam.math.kumaraswamy; "
        "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
