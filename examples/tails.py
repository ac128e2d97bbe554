"""Pathwise gradients of truncated-normal draws as the interval moves into the tail:
the textbook inverse-CDF chain rule against ppl_reparam's ``TruncatedNormal``, in either
backend, both against a 50-digit mpmath reference.

A draw of ``TruncatedNormal(loc, 1, low=k, high=k + 1)`` at fixed noise ``u`` is
``x = loc + z`` with ``F(z) = F(a) + u (F(b) - F(a))``, ``a = k - loc``, ``b = k + 1 - loc``;
its pathwise derivative is ``dx/dloc = 1 - ((1 - u) f(a) + u f(b)) / f(z)``. The naive
way differentiates the textbook formula ``loc + ndtri(ndtr(a) + u (ndtr(b) - ndtr(a)))``
by autodiff (what a user writes by hand; it loses everything once ``ndtr(a)`` rounds to
1, from k ~ 8); ppl_reparam's ``icdf`` works in log space with an implicit gradient. The
reference solves for ``z`` and evaluates the formula above in mpmath at 50 digits.

``--steps`` is the number of interval positions k, evenly spaced from 0 to 30 (default
16; the SVI examples' step count has no meaning here). Run: ``ppl-reparam examples run
tails --backend pyro|numpyro``. Writes ``tails_<backend>_gradient_error.png`` (largest
relative error of dx/dloc over five noise values, against k) and ``..._summary.json``.
Needs mpmath (installed with torch, or ``pip install mpmath``).
"""

import functools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "tails"
DESCRIPTION = "truncated normal far in the tail: dx/dloc error of the textbook chain rule vs ours"
DEFAULT_STEPS = 16
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 42, "pyro": 29}

NOISE = (0.001, 0.1, 0.5, 0.9, 0.999)
FARTHEST = 30.0


def reference_dx_dloc(u: float, low: float, high: float) -> float:
    """``dx/dloc`` at ``loc = 0`` and noise ``u``, from the exact formula in mpmath."""
    try:
        import mpmath as mp
    except ImportError:
        from examples._common import ExampleError

        raise ExampleError("the tails example needs mpmath: pip install mpmath") from None
    with mp.workdps(50):
        a, b, u = mp.mpf(low), mp.mpf(high), mp.mpf(u)

        def sf(z):
            return mp.ncdf(-z)

        target = (1 - u) * sf(a) + u * sf(b)  # the survival function of the draw
        z = mp.findroot(lambda z: mp.log(sf(z)) - mp.log(target), (a, b), solver="anderson")
        z = mp.findroot(lambda z: mp.log(sf(z)) - mp.log(target), z)
        return float(1 - ((1 - u) * mp.npdf(a) + u * mp.npdf(b)) / mp.npdf(z))


def numpyro_gradients(u: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """``(naive, ours)`` dx/dloc at loc 0 for each noise value in ``u``, float64."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    naive, ours = _numpyro_compiled()
    args = (jnp.asarray(0.0), jnp.asarray(u), jnp.asarray(low), jnp.asarray(high))
    return np.asarray(naive(*args)), np.asarray(ours(*args))


@functools.cache
def _numpyro_compiled():
    """The two gradients, vectorised over the noise and compiled once for every interval."""
    import jax
    from jax.scipy.special import ndtr, ndtri

    from ppl_reparam.numpyro.distributions import TruncatedNormal

    def naive(loc, u, low, high):
        a, b = low - loc, high - loc
        return loc + ndtri(ndtr(a) + u * (ndtr(b) - ndtr(a)))

    def ours(loc, u, low, high):
        return TruncatedNormal(loc, 1.0, low, high).icdf(u)

    return tuple(jax.jit(jax.vmap(jax.grad(f), (None, 0, None, None))) for f in (naive, ours))


def pyro_gradients(u: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """``(naive, ours)`` dx/dloc at loc 0 for each noise value in ``u``, float64."""
    import torch

    from ppl_reparam.pyro.distributions import TruncatedNormal

    def naive(loc, u):
        a, b = low - loc, high - loc
        p = torch.special.ndtr(a) + u * (torch.special.ndtr(b) - torch.special.ndtr(a))
        return loc + torch.special.ndtri(p)

    def ours(loc, u):
        one = torch.ones_like(loc)
        return TruncatedNormal(loc, one, low * one, high * one).icdf(u)

    out = []
    for f in (naive, ours):
        u_t = torch.as_tensor(u, dtype=torch.float64)
        loc = torch.zeros_like(u_t, requires_grad=True)
        (grad,) = torch.autograd.grad(f(loc, u_t).sum(), loc)
        out.append(grad.cpu().numpy())
    return tuple(out)


def relative_error(got: np.ndarray, want: np.ndarray) -> float | None:
    """The largest relative error; ``None`` where a value is NaN or infinite."""
    if not np.all(np.isfinite(got)):
        return None
    return float(np.max(np.abs(got - want) / np.abs(want)))


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Compute, write the figure under ``out``, return the summary (see _common.py)."""
    from examples._common import pyplot, save

    gradients = numpyro_gradients if backend == "numpyro" else pyro_gradients
    u = np.asarray(NOISE)
    rows = []
    for k in np.linspace(0.0, FARTHEST, steps):
        want = np.array([reference_dx_dloc(v, k, k + 1.0) for v in NOISE])
        naive, ours = gradients(u, float(k), float(k) + 1.0)
        rows.append(
            {
                "interval": [float(k), float(k) + 1.0],
                "reference_dx_dloc": want,
                "naive_relative_error": relative_error(naive, want),
                "naive_non_finite": int(np.sum(~np.isfinite(naive))),
                "ours_relative_error": relative_error(ours, want),
            }
        )
    ks = [r["interval"][0] for r in rows]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    floor = 1e-17  # an exact result, drawn at the bottom of the log axis
    for key, label, style in (
        ("naive_relative_error", "textbook chain rule (autodiff)", "C3o-"),
        ("ours_relative_error", "ppl_reparam TruncatedNormal", "C0s-"),
    ):
        errors = [np.nan if r[key] is None else max(r[key], floor) for r in rows]
        ax.semilogy(ks, errors, style, ms=4, label=label)
    broken = [k for k, r in zip(ks, rows, strict=True) if r["naive_relative_error"] is None]
    if broken:
        ax.plot(broken, [1e1] * len(broken), "C3x", ms=7, label="textbook: NaN or inf")
    ax.set_xlabel("interval [k, k + 1] (standard deviations from the mean)")
    ax.set_ylabel("largest relative error of dx/dloc")
    ax.set_title(f"truncated-normal pathwise gradient ({backend}, float64)", fontsize=9)
    ax.legend(fontsize=8)
    figure = f"{NAME}_{backend}_gradient_error.png"
    save(fig, out / figure)
    ours_worst = max(r["ours_relative_error"] for r in rows)
    return {
        "figures": [figure],
        "noise_values": NOISE,
        "intervals": rows,
        "ours_worst_relative_error": ours_worst,
        "naive_fails_from_k": min(broken) if broken else None,
    }


if __name__ == "__main__":
    from examples._common import main

    main(sys.modules[__name__])
