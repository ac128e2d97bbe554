r"""Families driven by standard-normal noise, for a Gaussian copula: a draw ``x`` as a
function of ``z ~ N(0, 1)`` and the log Jacobian term
:math:`\log q(x) - \log\phi(z) = -\log|dx/dz|` that the copula's density needs.
"""

from ppl_reparam.math.namespace import Array, ArrayNamespace
from ppl_reparam.math.special import HALF_LOG_2PI, clip_to_open_unit_interval, log1mexp, log_ndtr


def log_normal_density(xp: ArrayNamespace, z: Array) -> Array:
    r""":math:`\log\phi(z)`, the standard normal log density."""
    return -0.5 * z * z - HALF_LOG_2PI


def kumaraswamy_from_normal(
    xp: ArrayNamespace, z: Array, a: Array, b: Array
) -> tuple[Array, Array]:
    r"""The Kumaraswamy(a, b) draw :math:`x = F^{-1}(\Phi(z))` and
    :math:`\log q(x) - \log\phi(z)`, both from ``z`` without forming :math:`\Phi(z)`.

    The survival probability is :math:`s = 1 - \Phi(z) = \Phi(-z)`, so
    :math:`\log s` = ``log_ndtr(-z)`` keeps the upper tail of ``x`` that ``1 - u`` would
    round away. With :math:`t = \log s / b` and :math:`L = \log(1 - e^t) = a \log x`:
    :math:`1 - x^a = e^t`, so :math:`\log q(x) = \log a + \log b + (1 - 1/a) L + (b - 1) t`
    exactly, with no round trip through ``x``.
    """
    info = xp.finfo(z)
    # t >= 0 only where log s rounds to 0 (z below -37 in float64, -13 in float32);
    # capping it at -tiny keeps L and its derivative -1/expm1(-t) finite there.
    t = xp.clip(log_ndtr(xp, -z) / b, -float("inf"), -info.tiny)
    big_l = log1mexp(xp, t)
    x = clip_to_open_unit_interval(xp, xp.exp(big_l / a))
    log_q = xp.log(a) + xp.log(b) + (1.0 - 1.0 / a) * big_l + (b - 1.0) * t
    return x, log_q - log_normal_density(xp, z)
