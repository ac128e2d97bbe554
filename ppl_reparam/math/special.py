"""Special functions the families share, each stable over the whole argument range.

Constants (Bernoulli numbers, series weights) are computed once, exactly, in Python at
import; the functions themselves use only the array namespace ``xp``.
"""

from fractions import Fraction
from math import comb, log, log1p, sqrt

from ppl_reparam.math.namespace import Array, ArrayNamespace

EULER_GAMMA = 0.57721566490153286061
LOG_2 = log(2.0)


def _bernoulli_numbers(n: int) -> list[Fraction]:
    """B_0 .. B_n with the convention B_1 = -1/2 (exact rationals)."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return b


BERNOULLI = _bernoulli_numbers(24)


def clip_to_open_unit_interval(xp: ArrayNamespace, x: Array) -> Array:
    """Clip to ``[tiny, 1 - eps/2]``: the closed set of floats strictly inside (0, 1).

    ``1 - eps/2`` is the largest float below one; ``tiny`` the smallest normal float.
    """
    info = xp.finfo(x)
    return xp.clip(x, info.tiny, 1.0 - info.eps / 2)


def log1mexp(xp: ArrayNamespace, x: Array) -> Array:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate everywhere (Maechler, 2012).

    Near 0 ``1 - exp(x)`` cancels, so use ``log(-expm1(x))``; far below, ``exp(x)`` is
    tiny and ``log1p(-exp(x))`` keeps it. Each branch gets an input that is safe for it,
    so the branch not taken never feeds inf/NaN into the gradient.
    """
    near_zero = x > -LOG_2
    x_near = xp.where(near_zero, x, -LOG_2)
    x_far = xp.where(near_zero, -LOG_2, x)
    return xp.where(near_zero, xp.log(-xp.expm1(x_near)), xp.log1p(-xp.exp(x_far)))


# Stirling correction lgamma(t) - [(t - 1/2) log t - t + log(2 pi)/2]
# = sum_k B_2k / (2k (2k-1) t^(2k-1)); eight terms reach 1e-17 relative for t >= 8.
_STIRLING = [float(BERNOULLI[2 * k] / (2 * k * (2 * k - 1))) for k in range(1, 9)]
_SHIFT = 8


def _stirling_correction(xp: ArrayNamespace, t: Array) -> Array:
    inv_t2 = 1.0 / (t * t)
    acc = _STIRLING[-1]
    for c in reversed(_STIRLING[:-1]):
        acc = c + inv_t2 * acc
    return acc / t


def log_gamma_difference(xp: ArrayNamespace, x: Array, y: Array) -> Array:
    """``lgamma(y) - lgamma(y + x)`` for ``x >= 0``, ``y > 0``, without cancellation.

    The naive difference loses all precision when ``y`` is large (``lgamma(1e6)`` is
    ``1.3e7``, so float32 keeps no digit of a difference of order 10). Shift ``y`` up by
    eight with the recurrence (each step a ``log1p``), then use Stirling's series with the
    large terms cancelled analytically, as in TensorFlow Probability's ``lbeta``.
    """
    shift = 0.0
    for j in range(_SHIFT):
        shift = shift + xp.log1p(x / (y + j))
    big = y + _SHIFT
    stirling = -x * xp.log(big) - (big + x - 0.5) * xp.log1p(x / big) + x
    correction = _stirling_correction(xp, big) - _stirling_correction(xp, big + x)
    return stirling + correction + shift


def log_beta(xp: ArrayNamespace, x: Array, y: Array) -> Array:
    """``log B(x, y)``, accurate when either argument is large."""
    small = xp.where(x < y, x, y)
    large = xp.where(x < y, y, x)
    return xp.lgamma(small) + log_gamma_difference(xp, small, large)


def _cvz_weights(n: int) -> list[float]:
    """Weights w_k with sum_k (-1)^k mu_k ~= sum_k w_k mu_k for a moment sequence mu.

    Algorithm 1 of Cohen, Rodriguez Villegas and Zagier (2000), "Convergence
    acceleration of alternating series": error at most 2 mu_0 / 5.83^n.
    """
    d = (3 + sqrt(8)) ** n
    d = (d + 1 / d) / 2
    b, c, weights = -1.0, -d, []
    for k in range(n):
        c = b - c
        weights.append(c / d)
        b = (k + n) * (k - n) * b / ((k + 0.5) * (k + 1))
    return weights


CVZ_WEIGHTS = _cvz_weights(16)


def _hurwitz_em_coefficients(terms: int) -> list[float]:
    return [float(BERNOULLI[2 * i] / _factorial(2 * i)) for i in range(1, terms + 1)]


def _factorial(n: int) -> int:
    out = 1
    for k in range(2, n + 1):
        out *= k
    return out


_HURWITZ_EM = _hurwitz_em_coefficients(8)
_HURWITZ_DIRECT = 8


def hurwitz_zeta_scaled(xp: ArrayNamespace, s: Array, n: int) -> Array:
    """``n**s * zeta(s, n)`` for ``s > 1`` and an integer ``n >= 1``.

    ``zeta(s, n) = sum_{m >= n} m^-s``. The first eight terms are summed directly and
    the rest by Euler-Maclaurin from ``n + 8``. Scaling by ``n**s`` keeps the result of
    order ``n / (s - 1)``, so callers combine it in log space; unlike the backends' own
    ``zeta`` it is differentiable in ``s``. The remainder is of the order of the first
    omitted term, ``B_18 / 18! (s)_17 (n+8)^-17``: below 1e-10 relative for
    ``s <= n + 8`` when ``n >= 16``.
    """
    head = 0.0
    for j in range(_HURWITZ_DIRECT):
        head = head + xp.exp(-s * log1p(j / n))
    m = n + _HURWITZ_DIRECT
    acc = m / (s - 1.0) + 0.5
    rising = s  # s (s+1) ... (s+2i-2)
    power = float(m)
    for i, coeff in enumerate(_HURWITZ_EM):
        acc = acc + coeff * rising / power
        rising = rising * (s + 2 * i + 1) * (s + 2 * i + 2)
        power = power * m * m
    return head + xp.exp(-s * log1p(_HURWITZ_DIRECT / n)) * acc


def _gamma_ratio_expansion_polynomials(order: int) -> list[list[float]]:
    """Coefficients (in powers of b) of the Stirling exponents e_1..e_order of
    ``log[Gamma(z+1) / Gamma(z+1+b)] + b log z = sum_n e_n(b) z^-n``, where
    ``e_n(b) = (-1)^n / (n (n+1)) sum_{k=0}^{n} C(n+1, k) B_k(1) b^(n+1-k)``."""
    bern_at_one = list(BERNOULLI)
    bern_at_one[1] = Fraction(1, 2)
    polys = []
    for n in range(1, order + 1):
        scale = Fraction((-1) ** n, n * (n + 1))
        # coefficient of b^p for p = 0..n+1, lowest first
        coeffs = [Fraction(0)] * (n + 2)
        for k in range(n + 1):
            coeffs[n + 1 - k] += scale * comb(n + 1, k) * bern_at_one[k]
        polys.append([float(c) for c in coeffs])
    return polys


GAMMA_RATIO_EXPONENTS = _gamma_ratio_expansion_polynomials(8)


def gamma_ratio_series(xp: ArrayNamespace, b: Array) -> list[Array]:
    """Coefficients c_0..c_K of ``Gamma(z+1)/Gamma(z+1+b) ~ z^-b sum_k c_k z^-k``.

    The exponent series e_n(b) is Stirling's; the coefficients of its exponential follow
    from ``c_k = (1/k) sum_j j e_j c_{k-j}``.
    """
    exponents = []
    for coeffs in GAMMA_RATIO_EXPONENTS:
        acc = coeffs[-1]
        for c in reversed(coeffs[:-1]):
            acc = c + b * acc
        exponents.append(acc)
    series = [1.0]
    for k in range(1, len(exponents) + 1):
        term = 0.0
        for j in range(1, k + 1):
            term = term + j * exponents[j - 1] * series[k - j]
        series.append(term / k)
    return series


HALF_LOG_2PI = 0.5 * log(2.0 * 3.14159265358979323846)
SQRT_HALF = sqrt(0.5)
SQRT_HALF_PI = sqrt(0.5 * 3.14159265358979323846)


def logaddexp(xp: ArrayNamespace, x: Array, y: Array) -> Array:
    """``log(exp(x) + exp(y))``; exact when one argument is ``-inf``."""
    big = xp.where(x > y, x, y)
    small = xp.where(x > y, y, x)
    # exp(small - big) <= 1; it is exp(-inf) = 0 when small is -inf.
    return big + xp.log1p(xp.exp(small - xp.where(big > -float("inf"), big, 0.0)))


def log_sub_exp(xp: ArrayNamespace, x: Array, y: Array) -> Array:
    """``log(exp(x) - exp(y))`` for ``y < x``, as ``x + log1mexp(y - x)``: no cancellation
    when ``y`` is close to ``x``, no overflow or underflow of either exponential.

    Where ``y >= x`` (an empty difference rounded from a tiny one, or both ``-inf``) the
    subtrahend is dropped and ``x`` returned, so the result and its gradient are never
    NaN.
    """
    return x + log1mexp(xp, xp.where(y < x, y - x, -float("inf")))


def normal_mills_ratio(xp: ArrayNamespace, x: Array) -> Array:
    """Mills' ratio ``(1 - Phi(x)) / phi(x) = sqrt(pi/2) erfcx(x / sqrt(2))``, relative
    accuracy of a few ulp for ``x > -37`` (no ratio of two underflowing numbers)."""
    return SQRT_HALF_PI * xp.erfcx(x * SQRT_HALF)


def log_ndtr(xp: ArrayNamespace, x: Array) -> Array:
    """``log Phi(x)`` to a few ulp relative everywhere (the backends' own lose up to 1e-11
    relative near x = -20).

    Below -1 it is ``log(erfcx(-x/sqrt 2) / 2) - x^2/2``: no underflow, since erfcx is a
    scaled function. Above, ``log1p(-erfc(x/sqrt 2) / 2)`` keeps the tiny upper-tail mass.
    """
    lower = x < -1.0
    x_low = xp.where(lower, x, -1.0)
    x_high = xp.where(lower, -1.0, x)
    low = xp.log(0.5 * xp.erfcx(-x_low * SQRT_HALF)) - 0.5 * x_low * x_low
    high = xp.log1p(-0.5 * xp.erfc(x_high * SQRT_HALF))
    return xp.where(lower, low, high)


_NEWTON_STEPS = 3


def _log_ndtr_inverse_lower(xp: ArrayNamespace, log_p: Array) -> Array:
    """Solve ``log Phi(x) = log_p`` for ``log_p <= log(1/2)`` (so ``x <= 0``)."""
    info = xp.finfo(log_p)
    underflows = log_p < log(info.tiny) + 1.0
    # Initial guess: ndtri where exp(log_p) is a normal float, otherwise the asymptotic
    # log Phi(x) ~ -x^2/2 - log(-x) - log(2 pi)/2 solved to first order in log(x^2).
    p = xp.exp(xp.where(underflows, -1.0, log_p))
    t = -2.0 * xp.where(underflows, log_p, -1000.0) - 2.0 * HALF_LOG_2PI
    x = xp.where(underflows, -xp.sqrt(t - xp.log(t)), xp.ndtri(p))
    for _ in range(_NEWTON_STEPS):
        # Newton on the concave log Phi: its slope phi/Phi = 1/Mills(-x) >= 0.79 for x <= 0.
        x = x - (log_ndtr(xp, x) - log_p) * normal_mills_ratio(xp, -x)
    return x


def log_ndtr_inverse(xp: ArrayNamespace, log_p: Array) -> Array:
    """``x`` with ``log Phi(x) = log_p``, accurate to a few ulp down to the smallest
    ``log_p`` the dtype holds (``ndtri(exp(log_p))`` underflows below ``log(tiny)``).

    Above ``log(1/2)`` it solves the mirror image ``log Phi(-x) = log(1 - p)``, so the
    upper quantiles keep full precision too.
    """
    upper = log_p > -LOG_2
    lower_arg = xp.where(upper, log1mexp(xp, xp.where(upper, log_p, -1.0)), log_p)
    x = _log_ndtr_inverse_lower(xp, lower_arg)
    return xp.where(upper, -x, x)
