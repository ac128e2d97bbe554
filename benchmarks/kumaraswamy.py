"""Time the pathwise gradient of the sum of 1e6 reparameterized draws.

For each backend, ours against the upstream Kumaraswamy and the upstream Beta, measured
side by side in one run (interleaved repeats, median of each). Prints a table of times
and ratios. Run: ``python benchmarks/kumaraswamy.py [--draws N] [--repeats R]``.
"""

import argparse
import statistics
import time


def _interleaved(fns: dict, repeats: int) -> dict:
    """Median time of each function, running them in turns so drift hits all alike."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def pyro_timings(draws: int, repeats: int) -> dict:
    import pyro.distributions as upstream
    import torch

    from ppl_reparam.pyro.distributions import Kumaraswamy

    torch.manual_seed(0)
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)

    def grad_of_sum(family):
        def run():
            x = family(a, b).rsample((draws,))
            return torch.autograd.grad(x.sum(), (a, b))

        return run

    return _interleaved(
        {
            "ours": grad_of_sum(Kumaraswamy),
            "upstream Kumaraswamy": grad_of_sum(upstream.Kumaraswamy),
            "upstream Beta": grad_of_sum(upstream.Beta),
        },
        repeats,
    )


def numpyro_timings(draws: int, repeats: int) -> dict:
    import jax
    import numpyro.distributions as upstream

    from ppl_reparam.numpyro.distributions import Kumaraswamy

    key = jax.random.PRNGKey(0)

    def grad_of_sum(family):
        grad = jax.jit(jax.grad(lambda a, b: family(a, b).rsample(key, (draws,)).sum(), (0, 1)))

        def run():
            return jax.block_until_ready(grad(2.0, 3.0))

        return run

    return _interleaved(
        {
            "ours": grad_of_sum(Kumaraswamy),
            "upstream Kumaraswamy": grad_of_sum(upstream.Kumaraswamy),
            "upstream Beta": grad_of_sum(upstream.Beta),
        },
        repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"gradient of sum of {args.draws:,} rsampled draws, median of {args.repeats}")
    print(f"{'backend':<9}{'family':<22}{'time [ms]':>10}{'ours / this':>13}")
    for name, timings in (
        ("pyro", pyro_timings(args.draws, args.repeats)),
        ("numpyro", numpyro_timings(args.draws, args.repeats)),
    ):
        ours = timings["ours"]
        for family, t in timings.items():
            print(f"{name:<9}{family:<22}{1e3 * t:>10.2f}{ours / t:>13.3f}")


if __name__ == "__main__":
    main()
