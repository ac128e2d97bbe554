"""Pathwise gradients of truncated samples as the interval moves out into the tail.

For intervals [k, k+1] and [k, inf) (in scale units, loc 0, scale 1) and a grid of noise
values u, prints the largest |dx/dloc| of a sample x at fixed u:

- naive: autodiff through the textbook inverse CDF, x = F^-1(F(a) + u (F(b) - F(a))),
  in float64 torch (what a user writes by hand, and what NumPyro's TruncatedNormal does);
- ours:  ppl_reparam's TruncatedNormal / TruncatedLogistic (implicit gradient in log space),

and the largest error of both against mpmath (50 digits) on a few u values. The column
"max 1/f(z)" is the textbook pathwise factor dz/dp = 1/f(z) at the draws.
The normal's density ratio f(a)/f(z) = exp((z - a)(z + a)/2) grows with the distance k,
so the naive chain rule (dz/dp = 1/f(z)) overflows and F(a) rounds to 1 from k ~ 8; the
logistic's ratio is at most exp(z - a) wherever the interval is, so its naive gradients
stay finite far longer (until sigmoid(a) rounds to 1 near k ~ 37), only inaccurate.
A logistic tail is nearly exponential, hence nearly memoryless: there the true dx/dloc is
O(e^-k), which ours computes from the exact form u (1-u) (F(b) - F(a))^2 / f(z), so it
stays accurate in relative terms too.

Run: python benchmarks/tails.py   (a few seconds)
"""

import math
import time

import mpmath as mp
import numpy as np
import torch

from ppl_reparam.pyro.distributions import TruncatedLogistic, TruncatedNormal

torch.set_default_dtype(torch.float64)
INF = math.inf
GRID = torch.linspace(0.0005, 0.9995, 2000, dtype=torch.float64)
CHECK = [0.001, 0.1, 0.5, 0.9, 0.999]
INTERVALS = [(k, k + 1.0) for k in (0.0, 2.0, 4.0, 8.0, 12.0, 20.0, 30.0)] + [
    (k, INF) for k in (0.0, 8.0, 30.0)
]


def naive_normal(u, loc, low, high):
    a, b = low - loc, high - loc
    p = torch.special.ndtr(a) + u * (torch.special.ndtr(b) - torch.special.ndtr(a))
    return loc + torch.special.ndtri(p)


def naive_logistic(u, loc, low, high):
    a, b = low - loc, high - loc
    p = torch.sigmoid(a) + u * (torch.sigmoid(b) - torch.sigmoid(a))
    return loc + torch.log(p) - torch.log1p(-p)


FAMILIES = {
    "normal": (naive_normal, TruncatedNormal, mp.ncdf, lambda z: mp.ncdf(-z)),
    "logistic": (
        naive_logistic,
        TruncatedLogistic,
        lambda z: 1 / (1 + mp.exp(-z)),
        lambda z: 1 / (1 + mp.exp(z)),
    ),
}
LOG_PDF = {
    "normal": lambda z: -0.5 * z * z - 0.5 * math.log(2 * math.pi),
    "logistic": lambda z: -torch.nn.functional.softplus(z) - torch.nn.functional.softplus(-z),
}


def reference_dx_dloc(family, u, low, high):
    """d/dloc of the 50-digit inverse-CDF draw at fixed u (numerical derivative)."""
    _, _, cdf, sf = FAMILIES[family]

    def x_of(loc):
        a = mp.mpf(low) - loc
        b = mp.mpf(high) - loc if high < INF else mp.inf
        target = sf(b) + (1 - u) * (sf(a) - sf(b))
        lo, hi = a, (b if b < mp.inf else a + 60)
        z = mp.findroot(lambda z: mp.log(sf(z)) - mp.log(target), (lo, hi), solver="anderson")
        return loc + mp.findroot(lambda z: mp.log(sf(z)) - mp.log(target), z)

    with mp.workdps(50):
        return float(mp.diff(x_of, mp.mpf(0)))


def dx_dloc(fn, u, low, high):
    loc = torch.zeros_like(u, requires_grad=True)
    x = fn(u, loc, torch.full_like(u, low), torch.full_like(u, high))
    (grad,) = torch.autograd.grad(x.sum(), loc)
    return grad


def ours(cls):
    def fn(u, loc, low, high):
        return cls(loc, torch.ones_like(loc), low, high).icdf(u)

    return fn


def largest(g):
    bad = ~torch.isfinite(g)
    if bad.any():
        return f"nan/inf {100 * bad.double().mean():5.1f}%"
    return f"{g.abs().max().item():.3e}"


def errors(got, want):
    """Largest relative and absolute error, as text."""
    got, want = np.asarray(got), np.asarray(want)
    if not np.all(np.isfinite(got)):
        return "nan/inf", "nan/inf"
    err = np.abs(got - want)
    return f"{np.max(err / np.maximum(np.abs(want), 1e-300)):.1e}", f"{np.max(err):.1e}"


def textbook_ratio(family, cls, low, high):
    """The largest 1/f(z) over the grid: the factor dz/dp of the naive chain rule."""
    with torch.no_grad():
        z = cls(torch.zeros(()), torch.ones(()), low, high).icdf(GRID)
        return f"1e{(-LOG_PDF[family](z)).max().item() / math.log(10):.0f}"


def main():
    start = time.perf_counter()
    header = (
        f"{'family':9} {'interval':>12} {'max 1/f(z)':>10} | {'naive max|dx/dloc|':>19}"
        f" {'ours max|dx/dloc|':>18} | {'naive rel err':>13} {'ours rel err':>12}"
        f" {'ours abs err':>12}"
    )
    print(header)
    print("-" * len(header))
    for family, (naive, cls, _, _) in FAMILIES.items():
        for low, high in INTERVALS:
            g_naive = dx_dloc(naive, GRID, low, high)
            g_ours = dx_dloc(ours(cls), GRID, low, high)
            u = torch.tensor(CHECK)
            want = [reference_dx_dloc(family, mp.mpf(v), low, high) for v in CHECK]
            rel_naive, _ = errors(dx_dloc(naive, u, low, high).numpy(), want)
            rel_ours, abs_ours = errors(dx_dloc(ours(cls), u, low, high).numpy(), want)
            label = f"[{low:g}, {high:g}]" if high < INF else f"[{low:g}, inf)"
            print(
                f"{family:9} {label:>12} {textbook_ratio(family, cls, low, high):>10} |"
                f" {largest(g_naive):>19} {largest(g_ours):>18} | {rel_naive:>13}"
                f" {rel_ours:>12} {abs_ours:>12}"
            )
    print(
        f"\n(noise grid: {GRID.numel()} values of u in (0, 1); errors on u = {CHECK}; "
        f"{time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
