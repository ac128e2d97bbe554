"""Cost of one `fit` step with AutoPathwiseGuide against one step of the backend's own
AutoNormal with Trace_ELBO, on an all-real model (so both guides are mean-field Normal).

Baselines: Pyro ``SVI.step``; NumPyro a jitted ``SVI.update`` called once per step
(what a user writes to control every step). Steps are timed in interleaved blocks, the
median block per method is reported. A ``fit`` block is timed as a run of ``steps + 1``
steps minus a run of 1 step, so the per-step figure excludes fit's one-off set-up
(SVI initialisation and, in NumPyro, compiling the step).
Run: ``python benchmarks/guide_overhead.py``.
"""

import argparse
import statistics
import time

import numpy as np

N, D = 500, 20


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    beta = rng.normal(size=D)
    return x, x @ beta + rng.normal(size=N)


def _median_blocks(runners: dict, blocks: int, steps: int) -> dict:
    """Median over interleaved blocks of each runner's seconds per step; a runner takes
    the number of steps and returns the seconds those steps took."""
    times = {name: [] for name in runners}
    for _ in range(blocks):
        for name, run in runners.items():
            times[name].append(run(steps) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def _timed(loop):
    def run(steps):
        start = time.perf_counter()
        loop(steps)
        return time.perf_counter() - start

    return run


def _fit_steps(run_fit):
    """Seconds of ``steps`` fit steps without fit's set-up: (steps + 1) minus 1 step."""

    def run(steps):
        one, more = _timed(run_fit)(1), _timed(run_fit)(steps + 1)
        return more - one

    return run


def pyro_timings(blocks: int, steps: int) -> dict:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoNormal
    from pyro.optim import Adam

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit

    x, y = (torch.tensor(a, dtype=torch.float32) for a in _data())

    def model(x, y):
        beta = pyro.sample("beta", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
        bias = pyro.sample("bias", dist.Normal(0.0, 5.0))
        with pyro.plate("data", N):
            pyro.sample("y", dist.Normal(x @ beta + bias, 1.0), obs=y)

    pyro.clear_param_store()
    baseline = SVI(model, AutoNormal(model), Adam({"lr": 0.01}), Trace_ELBO())
    baseline.step(x, y)
    guide = AutoPathwiseGuide(model)

    def run_baseline(steps):
        for _ in range(steps):
            baseline.step(x, y)

    return _median_blocks(
        {
            "AutoNormal + SVI.step": _timed(run_baseline),
            "AutoPathwiseGuide + fit": _fit_steps(
                lambda n: fit(model, guide, x, y, num_steps=n, progress_bar=False)
            ),
        },
        blocks,
        steps,
    )


def numpyro_timings(blocks: int, steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    x, y = (jnp.asarray(a, dtype=jnp.float32) for a in _data())

    def model(x, y):
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([D]).to_event(1))
        bias = numpyro.sample("bias", dist.Normal(0.0, 5.0))
        with numpyro.plate("data", N):
            numpyro.sample("y", dist.Normal(x @ beta + bias, 1.0), obs=y)

    svi = SVI(model, AutoNormal(model), optax.adam(0.01), Trace_ELBO())
    state = [svi.init(jax.random.PRNGKey(0), x, y)]
    update = jax.jit(svi.update)
    update(state[0], x, y)
    guide = AutoPathwiseGuide(model)

    def run_baseline(steps):
        for _ in range(steps):
            state[0], loss = update(state[0], x, y)
            float(loss)  # a loop that records its losses, as fit does

    return _median_blocks(
        {
            "AutoNormal + SVI.update": _timed(run_baseline),
            "AutoPathwiseGuide + fit": _fit_steps(
                lambda n: fit(model, guide, x, y, num_steps=n, progress_bar=False)
            ),
        },
        blocks,
        steps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(
        f"all-real Bayesian regression (N={N}, D={D}); "
        f"median of {args.blocks} blocks of {args.steps} steps"
    )
    print(f"{'backend':<9}{'method':<28}{'per step [ms]':>14}{'ratio':>8}")
    for name, timings in (
        ("pyro", pyro_timings(args.blocks, args.steps)),
        ("numpyro", numpyro_timings(args.blocks, args.steps)),
    ):
        base = next(iter(timings.values()))
        for method, t in timings.items():
            print(f"{name:<9}{method:<28}{1e3 * t:>14.3f}{t / base:>8.3f}")


if __name__ == "__main__":
    main()
