"""High-precision references for truncated and soft-clipped families, with mpmath.

Independent of ppl_reparam.math: each quantity is computed from its definition (a root
of the CDF equation, a numerical derivative, an integral of the density) at 50 digits.
"""

from functools import cache

import mpmath as mp

DPS = 50
INF = float("inf")


def _mp(x):
    return mp.inf if x == INF else (-mp.inf if x == -INF else mp.mpf(float(x)))


def _normal():
    return {
        "pdf": mp.npdf,
        "cdf": mp.ncdf,
        "sf": lambda z: mp.ncdf(-z),
    }


def _logistic():
    def pdf(z):
        return mp.exp(-z) / (1 + mp.exp(-z)) ** 2 if z > 0 else mp.exp(z) / (1 + mp.exp(z)) ** 2

    return {
        "pdf": pdf,
        "cdf": lambda z: 1 / (1 + mp.exp(-z)),
        "sf": lambda z: 1 / (1 + mp.exp(z)),
    }


def _gumbel():
    return {
        "pdf": lambda z: mp.exp(-z - mp.exp(-z)),
        "cdf": lambda z: mp.exp(-mp.exp(-z)),
        "sf": lambda z: -mp.expm1(-mp.exp(-z)),
    }


def _laplace():
    return {
        "pdf": lambda z: mp.exp(-abs(z)) / 2,
        "cdf": lambda z: mp.exp(z) / 2 if z < 0 else 1 - mp.exp(-z) / 2,
        "sf": lambda z: mp.exp(-z) / 2 if z > 0 else 1 - mp.exp(z) / 2,
    }


FAMILIES = {"Normal": _normal, "Logistic": _logistic, "Gumbel": _gumbel, "Laplace": _laplace}


def _x_of(fam, u, loc, scale, low, high):
    """The inverse-CDF draw at noise u, solved to 50 digits."""
    f = FAMILIES[fam]()
    a = (low - loc) / scale
    b = (high - loc) / scale
    if a + b > 0:  # solve S(z) = S(b) + (1 - u)(S(a) - S(b)) in log form
        target = f["sf"](b) + (1 - u) * (f["sf"](a) - f["sf"](b))

        def eq(z):
            return mp.log(f["sf"](z)) - mp.log(target)

    else:
        target = f["cdf"](a) + u * (f["cdf"](b) - f["cdf"](a))

        def eq(z):
            return mp.log(f["cdf"](z)) - mp.log(target)

    lo = a if a > -mp.inf else b - 60
    hi = b if b < mp.inf else a + 60
    z = mp.findroot(eq, (lo, hi), solver="anderson")
    z = mp.findroot(eq, z)
    return loc + scale * z


@cache
def sample_and_derivatives(fam, u, loc, scale, low, high) -> tuple[float, ...]:
    """``x, dx/dloc, dx/dscale, dx/dlow, dx/dhigh`` at fixed noise ``u`` (numerical
    derivatives of the 50-digit solution)."""
    with mp.workdps(DPS):
        args = [_mp(v) for v in (u, loc, scale, low, high)]
        x = _x_of(fam, *args)
        out = [x]
        for i in (1, 2, 3, 4):
            if abs(args[i]) == mp.inf:
                out.append(mp.mpf(0))
                continue

            def f(v, i=i):
                shifted = list(args)
                shifted[i] = v
                return _x_of(fam, *shifted)

            out.append(mp.diff(f, args[i]))
        return tuple(float(v) for v in out)


def _normal_moments(a, b):
    """The textbook closed forms, at 50 digits (no cancellation problem at that precision)."""
    mass = (mp.ncdf(-a) - mp.ncdf(-b)) if a + b > 0 else (mp.ncdf(b) - mp.ncdf(a))
    pa = mp.npdf(a) / mass if a > -mp.inf else mp.mpf(0)
    pb = mp.npdf(b) / mass if b < mp.inf else mp.mpf(0)
    apa = a * pa if a > -mp.inf else mp.mpf(0)
    bpb = b * pb if b < mp.inf else mp.mpf(0)
    mean = pa - pb
    var = 1 + apa - bpb - mean**2
    ent = mp.log(mp.sqrt(2 * mp.pi * mp.e) * mass) + (apa - bpb) / 2
    return mean, var, ent


@cache
def moments(fam, low, high) -> tuple[float, float, float]:
    """Mean, variance and entropy of the standard member truncated to [low, high]: closed
    forms for the normal, otherwise integrals of the density."""
    with mp.workdps(DPS):
        a, b = _mp(low), _mp(high)
        if fam == "Normal":
            return tuple(float(v) for v in _normal_moments(a, b))
        f = FAMILIES[fam]()
        mass = (f["sf"](a) - f["sf"](b)) if a + b > 0 else (f["cdf"](b) - f["cdf"](a))
        # Break points every unit (these densities vary on a unit scale) and at the kink 0.
        lo = a if a > -mp.inf else b - 40
        hi = b if b < mp.inf else a + 40
        # The Gumbel density below -7 is exp(-e^7) ~ e^-1097 relative: cut it off there
        # (mpmath slows to a crawl on exp(-e^40)).
        left_cut = fam == "Gumbel" and a == -mp.inf
        lo = max(lo, mp.mpf(-7)) if left_cut else lo
        pts = sorted(set(mp.linspace(lo, hi, int(hi - lo) + 2)) | ({0} if lo < 0 < hi else set()))
        pts = ([-mp.inf] if a == -mp.inf and not left_cut else []) + pts
        pts = pts + ([mp.inf] if b == mp.inf else [])

        def integral(g):
            return mp.quad(lambda z: g(z) * f["pdf"](z), pts) / mass

        mean = integral(lambda z: z)
        var = integral(lambda z: (z - mean) ** 2)
        ent = mp.log(mass) - integral(lambda z: mp.log(f["pdf"](z)))
        return float(mean), float(var), float(ent)


def log_prob(fam, x, loc, scale, low, high) -> float:
    with mp.workdps(DPS):
        f = FAMILIES[fam]()
        x, loc, scale, low, high = (_mp(v) for v in (x, loc, scale, low, high))
        a, b, z = (low - loc) / scale, (high - loc) / scale, (x - loc) / scale
        mass = (f["sf"](a) - f["sf"](b)) if a + b > 0 else (f["cdf"](b) - f["cdf"](a))
        return float(mp.log(f["pdf"](z)) - mp.log(mass) - mp.log(scale))


def cdf(fam, x, loc, scale, low, high) -> float:
    with mp.workdps(DPS):
        f = FAMILIES[fam]()
        x, loc, scale, low, high = (_mp(v) for v in (x, loc, scale, low, high))
        a, b, z = (low - loc) / scale, (high - loc) / scale, (x - loc) / scale
        if a + b > 0:  # from the survival function: F(.) rounds to 1 far up, at 50 digits too
            return float((f["sf"](a) - f["sf"](z)) / (f["sf"](a) - f["sf"](b)))
        return float((f["cdf"](z) - f["cdf"](a)) / (f["cdf"](b) - f["cdf"](a)))


# --- soft clip, from its definition as an integral of sigmoids -----------------------


def soft_clip(x, low, high, s) -> float:
    with mp.workdps(DPS):
        return float(_soft_clip_mp(_mp(x), low, high, s))


def soft_clip_log_slope(x, low, high, s) -> float:
    """log dy/dx = log(sigmoid(u1) - sigmoid(u2)) (the derivative of the definition),
    written as sigmoid(-u2) - sigmoid(-u1) above so mpmath keeps the e^-u tails."""
    with mp.workdps(DPS):
        x, s = _mp(x), _mp(s)
        u1 = (x - _mp(low)) / s if low is not None else mp.inf
        u2 = (x - _mp(high)) / s if high is not None else -mp.inf

        def sig(v):
            return 1 / (1 + mp.exp(-v))

        slope = sig(-u2) - sig(-u1) if u2 > 0 else sig(u1) - sig(u2)
        return float(mp.log(slope))


def _soft_clip_mp(x, low, high, s):
    """``low + s [softplus((x - low)/s) - softplus((x - high)/s)]``; one-sided when an end
    is None."""
    s = _mp(s)
    y = x
    if low is not None:
        y = _mp(low) + s * mp.log1p(mp.exp((x - _mp(low)) / s))
    if high is not None:
        # with low None this is x - s softplus((x - high)/s) = high - s softplus((high - x)/s)
        y = y - s * mp.log1p(mp.exp((x - _mp(high)) / s))
    return y


def soft_clip_inverse(y, low, high, s) -> float:
    with mp.workdps(DPS):
        y = _mp(y)
        width = 100 * _mp(s) + 10  # y is at least 1e-9 (relative) from an end: x is inside

        def eq(v):
            return _soft_clip_mp(v, low, high, s) - y

        lo, hi = y - width, y + width
        for _ in range(240):  # bisection: the map is increasing; 240 halvings reach 1e-60
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if eq(mid) < 0 else (lo, mid)
        return float((lo + hi) / 2)
