"""High-precision references computed with mpmath, independent of ppl_reparam.math."""

from functools import cache

import mpmath as mp

DPS = 40


def _mpf(x):
    return mp.mpf(float(x))


# --- Kumaraswamy(a, b) ---------------------------------------------------------------


def kumaraswamy_logpdf(x, a, b) -> float:
    with mp.workdps(DPS):
        x, a, b = _mpf(x), _mpf(a), _mpf(b)
        return float(mp.log(a * b) + (a - 1) * mp.log(x) + (b - 1) * mp.log1p(-(x**a)))


def kumaraswamy_cdf(x, a, b) -> float:
    with mp.workdps(DPS):
        x, a, b = _mpf(x), _mpf(a), _mpf(b)
        return float(-mp.expm1(b * mp.log1p(-(x**a))))


def kumaraswamy_icdf(q, a, b) -> float:
    with mp.workdps(DPS):
        q, a, b = _mpf(q), _mpf(a), _mpf(b)
        return float((-mp.expm1(mp.log1p(-q) / b)) ** (1 / a))


def kumaraswamy_moment(k, a, b) -> float:
    """E[x^k] = b B(1 + k/a, b)."""
    with mp.workdps(DPS):
        a, b = _mpf(a), _mpf(b)
        return b * mp.beta(1 + k / a, b)


def kumaraswamy_mean(a, b) -> float:
    with mp.workdps(DPS):
        return float(kumaraswamy_moment(1, a, b))


def kumaraswamy_variance(a, b) -> float:
    with mp.workdps(DPS):
        m1 = kumaraswamy_moment(1, a, b)
        return float(kumaraswamy_moment(2, a, b) - m1**2)


@cache
def kumaraswamy_expectations(a: float, b: float) -> tuple:
    """(E[log f(x)], E[log x], E[log(1 - x)]) by quadrature over the uniform noise.

    With x = (1 - u^(1/b))^(1/a) and u ~ U(0, 1), each expectation is an integral over
    (0, 1) whose only singularities are logarithmic, at the end points; the breakpoints
    resolve the regions where x sits within 1e-30 of 0 or 1.
    """
    with mp.workdps(DPS):
        a, b = _mpf(a), _mpf(b)

        cache = {}

        def logs(u):
            # the three integrals share their nodes: evaluate each node once
            if u not in cache:
                cache[u] = _logs(u)
            return cache[u]

        def _logs(u):
            log_x = mp.log1p(-mp.exp(mp.log(u) / b)) / a
            log_1mx = mp.log(-mp.expm1(log_x))
            log_1mxa = mp.log(u) / b
            log_f = mp.log(a * b) + (a - 1) * log_x + (b - 1) * log_1mxa
            return log_f, log_x, log_1mx

        points = [0, mp.mpf("1e-30"), mp.mpf("1e-10"), mp.mpf("1e-3"), 0.5, 1 - mp.mpf("1e-3"), 1]
        out = []
        for i in range(3):
            out.append(mp.quad(lambda u, i=i: logs(u)[i], points))
        return tuple(out)


def kumaraswamy_entropy(a, b) -> float:
    """The closed form (1 - 1/b) + (1 - 1/a)(gamma + psi(b + 1)) - log(a b) in 40 digits;
    the KL test checks the same expectations by quadrature."""
    with mp.workdps(DPS):
        a, b = _mpf(a), _mpf(b)
        return float((1 - 1 / b) + (1 - 1 / a) * (mp.euler + mp.digamma(b + 1)) - mp.log(a * b))


def kl_kumaraswamy_beta(a, b, alpha, beta) -> float:
    """KL(Kumaraswamy(a, b) || Beta(alpha, beta)) = E[log k(x) - log p(x)], by quadrature."""
    e_logf, e_logx, e_log1mx = kumaraswamy_expectations(float(a), float(b))
    with mp.workdps(DPS):
        alpha, beta = _mpf(alpha), _mpf(beta)
        log_beta_fn = mp.log(mp.beta(alpha, beta))
        return float(e_logf - (alpha - 1) * e_logx - (beta - 1) * e_log1mx + log_beta_fn)
