r"""The Kumaraswamy distribution on (0, 1), concentrations ``a`` (concentration1) and
``b`` (concentration0):

.. math::
    f(x) = a b x^{a-1} (1 - x^a)^{b-1}, \qquad F(x) = 1 - (1 - x^a)^b.

Everything is computed in log space. With ``y = x^a`` the law of ``y`` is Beta(1, b),
and ``log(1 - x^a) = log1mexp(a log x)`` is accurate even where ``x^a`` rounds to 1.
"""

from math import log

from ppl_reparam.math.namespace import Array, ArrayNamespace
from ppl_reparam.math.special import (
    CVZ_WEIGHTS,
    EULER_GAMMA,
    clip_to_open_unit_interval,
    gamma_ratio_series,
    hurwitz_zeta_scaled,
    log1mexp,
    log_beta,
    log_gamma_difference,
)


def log_icdf_from_log_survival(xp: ArrayNamespace, log_s: Array, a: Array, b: Array) -> Array:
    """``log F^-1(1 - s)`` from ``log s``: ``log x = log1mexp(log(s) / b) / a``.

    Taking the survival probability ``s`` (rather than ``q = 1 - s``) as input lets
    uniform noise near 0 reach the upper tail of x without rounding ``1 - s`` to 1.
    """
    return log1mexp(xp, log_s / b) / a


def sample(xp: ArrayNamespace, u: Array, a: Array, b: Array) -> Array:
    """Reparameterized draw from uniform noise ``u`` in (0, 1); strictly inside (0, 1)."""
    return clip_to_open_unit_interval(xp, xp.exp(log_icdf_from_log_survival(xp, xp.log(u), a, b)))


def sample_with_partials(
    xp: ArrayNamespace, u: Array, a: Array, b: Array
) -> tuple[Array, Array, Array]:
    """The draw of :func:`sample` and its pathwise derivatives ``dx/da``, ``dx/db`` at
    fixed noise, in closed form (for backends that attach their own gradient rule).

    With ``t = log(u)/b`` and ``L = log1mexp(t) = a log x``:
    ``dx/da = -x L / a^2`` and ``dx/db = x t exp(t - L) / (a b)`` (from
    ``dL/dt = -e^t / (1 - e^t) = -exp(t - L)``); every factor is finite for ``u`` in
    ``[tiny, 1)``.
    """
    t = xp.log(u) / b
    big_l = log1mexp(xp, t)
    x = clip_to_open_unit_interval(xp, xp.exp(big_l / a))
    d_a = -x * big_l / (a * a)
    d_b = x * t * xp.exp(t - big_l) / (a * b)
    return x, d_a, d_b


def log_prob(xp: ArrayNamespace, x: Array, a: Array, b: Array) -> Array:
    log_x = xp.log(x)
    # log(1 - x^a) from a*log(x): stays finite for x just below 1 and huge a.
    return xp.log(a) + xp.log(b) + (a - 1.0) * log_x + (b - 1.0) * log1mexp(xp, a * log_x)


def log_survival(xp: ArrayNamespace, x: Array, a: Array, b: Array) -> Array:
    """``log(1 - F(x)) = b log(1 - x^a)``."""
    return b * log1mexp(xp, a * xp.log(x))


def cdf(xp: ArrayNamespace, x: Array, a: Array, b: Array) -> Array:
    return -xp.expm1(log_survival(xp, x, a, b))


def icdf(xp: ArrayNamespace, q: Array, a: Array, b: Array) -> Array:
    return xp.exp(log_icdf_from_log_survival(xp, xp.log1p(-q), a, b))


def log_moment(xp: ArrayNamespace, k_over_a: Array, b: Array) -> Array:
    """``log E[x^k] = log(b B(1 + k/a, b))`` (since ``x^a ~ Beta(1, b)``).

    Written with the smaller argument as the increment of a log-gamma difference, so it
    stays accurate when ``k/a`` or ``b`` is huge.
    """
    h = 1.0 + k_over_a
    # b B(h, b) = Gamma(b+1) Gamma(h)/Gamma(h+b)  =  b Gamma(h) Gamma(b)/Gamma(b+h)
    b_small = xp.lgamma(b + 1.0) + log_gamma_difference(xp, b, h)
    h_small = xp.log(b) + xp.lgamma(h) + log_gamma_difference(xp, h, b)
    return xp.where(b < h, b_small, h_small)


def mean(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    return xp.exp(log_moment(xp, 1.0 / a, b))


def variance(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    """``E[x^2] - E[x]^2 = E[x]^2 expm1(D)`` with ``D = log E[x^2] - 2 log E[x]``.

    With ``h = 1/a``, ``D`` is the second difference of lgamma with step ``h`` at 1 minus
    the one at ``1 + b``. For large ``a`` it is of order ``h^2`` while the log-gamma
    values are of order ``log b``; writing each second difference as two log-gamma
    differences (each accurate to relative precision) keeps float32 meaningful where the
    direct form loses every digit.
    """
    h = 1.0 / a
    log_m1 = log_moment(xp, h, b)
    one = 1.0 + 0.0 * h
    d = (log_gamma_difference(xp, h, one) - log_gamma_difference(xp, h, one + h)) - (
        log_gamma_difference(xp, h, 1.0 + b) - log_gamma_difference(xp, h, 1.0 + b + h)
    )
    # log(expm1(d)) = d + log1mexp(-d): no overflow for large d, no cancellation for small.
    return xp.exp(2.0 * log_m1 + d + log1mexp(xp, -d))


def mean_log(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    """``E[log x] = (psi(1) - psi(b + 1)) / a``."""
    return -(EULER_GAMMA + xp.digamma(b + 1.0)) / a


def entropy(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    return (
        (1.0 - 1.0 / b)
        + (1.0 - 1.0 / a) * (EULER_GAMMA + xp.digamma(b + 1.0))
        - xp.log(a)
        - xp.log(b)
    )


# --- E[-log(1 - x)], the one term of KL(Kumaraswamy || Beta) with no closed form ------
#
# E[-log(1 - x)] = sum_{m>=1} E[x^m] / m, whose terms decay like m^-(1+b): far too slowly
# to truncate when b is small. It is summed exactly in three moves:
#  1. halving: with w = x^2 ~ Kumaraswamy(a/2, b), -log(1-x) = -log(1-w) + log(1+x), so
#     S(a) = S(a/2) + E[log(1+x)]; repeated until a is small;
#  2. E[log(1+x)] = sum_k (-1)^k E[x^(k+1)]/(k+1) is alternating over a moment sequence,
#     summed to 1e-12 with 16 terms by the Cohen-Villegas-Zagier acceleration;
#  3. once a is small, E[x^m]/m = Gamma(b+1) Gamma(1+m/a)/Gamma(1+m/a+b) / m has an
#     asymptotic expansion in a/m from the first few m on; its tail is a sum of Hurwitz
#     zeta functions, evaluated by Euler-Maclaurin.
_HALVINGS = 12  # exact to 1e-10 for a <= A_MAX_EXACT
_BASE_A_MAX = 0.125
A_MAX_EXACT = _BASE_A_MAX * 2**_HALVINGS
_DIRECT_TERMS = 16


def _log1p_x_expectation(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    """``E[log(1 + x)]`` by the accelerated alternating series, for every ``a`` along a
    leading axis at once."""
    k = xp.constant(range(1, len(CVZ_WEIGHTS) + 1), a)
    weights = xp.constant([w / (i + 1) for i, w in enumerate(CVZ_WEIGHTS)], a)
    return xp.sum(weights * xp.exp(log_moment(xp, k / a, b)), 0)


def _neg_log1m_x_expectation_small_a(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    """``E[-log(1 - x)]`` for ``a <= 1/8``: direct terms, then the asymptotic tail."""
    m = xp.constant(range(1, _DIRECT_TERMS), a)
    head = xp.sum(xp.exp(log_moment(xp, m / a, b)) / m, 0)
    n = _DIRECT_TERMS
    # The expansion converges for (1 + b) a / n < 1; where it does not, the tail is
    # below exp(-70) relative to the head (E[x^n] decays like (1 + b)^(-n/a)).
    usable = (1.0 + b) * a < 0.5 * n
    b_safe = xp.where(usable, b, 0.5)
    log_scale = xp.lgamma(b_safe + 1.0) + b_safe * xp.log(a) - (1.0 + b_safe) * log(n)
    coeffs = gamma_ratio_series(xp, b_safe)
    # One Hurwitz zeta evaluation for all orders k along a leading axis.
    zetas = hurwitz_zeta_scaled(xp, 1.0 + b_safe + xp.constant(range(len(coeffs)), b_safe), n)
    tail = 0.0
    for k, coeff in enumerate(coeffs):
        tail = tail + coeff * (a / n) ** k * zetas[k]
    return head + xp.where(usable, xp.exp(log_scale) * tail, 0.0)


def neg_log1m_x_expectation(xp: ArrayNamespace, a: Array, b: Array) -> Array:
    """``E[-log(1 - x)]`` for x ~ Kumaraswamy(a, b), exact to ~1e-12 relative in float64
    for ``a <= A_MAX_EXACT`` (512) and any ``b > 0``."""
    a, b = a + 0.0 * b, b + 0.0 * a  # one batch shape, so a new leading axis lines up
    a_levels = a * xp.constant([0.5**level for level in range(_HALVINGS)], a)
    halvings = xp.sum(_log1p_x_expectation(xp, a_levels, b), 0)
    return halvings + _neg_log1m_x_expectation_small_a(xp, a * 0.5**_HALVINGS, b)


def kl_beta(xp: ArrayNamespace, a: Array, b: Array, alpha: Array, beta: Array) -> Array:
    r"""``KL(Kumaraswamy(a, b) || Beta(alpha, beta))``, summed exactly.

    .. math::
        \mathrm{KL} = \log(ab) + (a - \alpha)\, E[\log x] - \frac{b-1}{b}
        + \log B(\alpha, \beta) - (\beta - 1)\, E[\log(1 - x)]

    (Nalisnick and Smyth, 2017, eq. 12, with the infinite series summed rather than
    truncated; see :func:`neg_log1m_x_expectation`).
    """
    return (
        xp.log(a)
        + xp.log(b)
        + (a - alpha) * mean_log(xp, a, b)
        - (b - 1.0) / b
        + log_beta(xp, alpha, beta)
        + (beta - 1.0) * neg_log1m_x_expectation(xp, a, b)
    )


__all__ = [
    "A_MAX_EXACT",
    "cdf",
    "entropy",
    "icdf",
    "kl_beta",
    "log_icdf_from_log_survival",
    "log_moment",
    "log_prob",
    "log_survival",
    "mean",
    "mean_log",
    "neg_log1m_x_expectation",
    "sample",
    "sample_with_partials",
    "variance",
]
