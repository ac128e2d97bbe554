"""Cost of one SVI step with AutoPathwiseGuide(correlation="full" | k) against the
backend's own AutoMultivariateNormal / AutoLowRankMultivariateNormal(rank=k) on the same
model, with the same loop: Pyro ``SVI.step``, NumPyro a jitted ``SVI.update`` called once
per step. Models: eight schools (non-centred, 10 latent coordinates) and rat tumours
(73). Steps are timed (process CPU time) in interleaved blocks; the median block per
guide is reported, and the ratio of each correlated AutoPathwiseGuide to its upstream
counterpart; the mean-field AutoPathwiseGuide is listed for scale. ``--kumaraswamy``
gives rat tumours' 72 unit-interval coordinates the Kumaraswamy family instead of the
default logit-normal (the upstream guides' family there): that family costs more per
coordinate, with or without correlation.
Run: ``PYTHONPATH=. python benchmarks/copula_cost.py``.
"""

import argparse
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.guide_overhead import _median_blocks  # noqa: E402
from examples import models  # noqa: E402
from tests.datasets import eight_schools, rat_tumors  # noqa: E402

RANK = 3
KUMARASWAMY = {"m": "kumaraswamy", "theta": "kumaraswamy"}


def _timed(loop):
    """``steps -> CPU seconds of this process`` for ``loop(steps)``: on a shared machine
    wall time would count the other processes' load (single-threaded runs: set
    ``OMP_NUM_THREADS=1`` and ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``)."""

    def run(steps):
        start = time.process_time()
        loop(steps)
        return time.process_time() - start

    return run


def _problems(kumaraswamy: bool):
    """(model name, args, kwargs, AutoPathwiseGuide's families) per model."""
    y, sigma = eight_schools()
    tumors, rats = rat_tumors()
    return [
        ("eight_schools", (sigma,), {"y": y}, None),
        ("rat_tumors", (rats,), {"tumors": tumors}, KUMARASWAMY if kumaraswamy else None),
    ]


def _guides(upstream, ours):
    """(label, guide factory) in the order of the table: each upstream guide first, then
    the AutoPathwiseGuide it is compared with."""
    return [
        ("AutoMultivariateNormal", upstream.AutoMultivariateNormal),
        ('AutoPathwiseGuide("full")', lambda m: ours(m, correlation="full")),
        (
            f"AutoLowRankMVN(rank={RANK})",
            lambda m: upstream.AutoLowRankMultivariateNormal(m, rank=RANK),
        ),
        (f"AutoPathwiseGuide({RANK})", lambda m: ours(m, correlation=RANK)),
        ("AutoPathwiseGuide(None)", ours),
    ]


def _pyro_loop(svi, args: tuple, kwargs: dict):
    import pyro

    store = pyro.get_param_store()
    saved = [store.get_state()]

    def run(steps):
        store.set_state(saved[0])
        for _ in range(steps):
            svi.step(*args, **kwargs)
        saved[0] = store.get_state()

    return run


def pyro_timings(blocks: int, steps: int, kumaraswamy: bool) -> dict:
    import pyro
    import pyro.infer.autoguide as upstream
    import torch
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam

    from ppl_reparam.pyro.guides import AutoPathwiseGuide

    out = {}
    for name, args, kwargs, families in _problems(kumaraswamy):
        model = getattr(models, f"pyro_{name}")
        args = tuple(torch.tensor(a, dtype=torch.float32) for a in args)
        kwargs = {k: torch.tensor(v, dtype=torch.float32) for k, v in kwargs.items()}
        runners = {}
        for label, make in _guides(upstream, partial(AutoPathwiseGuide, families=families)):
            # each guide runs on its own param store (three share the name AutoPathwiseGuide)
            pyro.clear_param_store()
            svi = SVI(model, make(model), Adam({"lr": 0.01}), Trace_ELBO())
            svi.step(*args, **kwargs)
            runners[label] = _timed(_pyro_loop(svi, args, kwargs))
        out[name] = _median_blocks(runners, blocks, steps)
    return out


def numpyro_timings(blocks: int, steps: int, kumaraswamy: bool) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro.infer.autoguide as upstream
    import optax
    from numpyro.infer import SVI, Trace_ELBO

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide

    out = {}
    for name, args, kwargs, families in _problems(kumaraswamy):
        model = getattr(models, f"numpyro_{name}")
        args = tuple(jnp.asarray(a, dtype=jnp.float32) for a in args)
        kwargs = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in kwargs.items()}
        runners = {}
        for label, make in _guides(upstream, partial(AutoPathwiseGuide, families=families)):
            svi = SVI(model, make(model), optax.adam(0.01), Trace_ELBO())
            state = [svi.init(jax.random.PRNGKey(0), *args, **kwargs)]
            update = jax.jit(svi.update)
            state[0], _ = update(state[0], *args, **kwargs)

            def run(steps, update=update, state=state, args=args, kwargs=kwargs):
                for _ in range(steps):
                    state[0], loss = update(state[0], *args, **kwargs)
                    float(loss)  # a loop that records its losses

            runners[label] = _timed(run)
        out[name] = _median_blocks(runners, blocks, steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument(
        "--kumaraswamy",
        action="store_true",
        help="give rat tumours' unit-interval sites (m, theta) the Kumaraswamy family",
    )
    args = parser.parse_args()
    print(f"median of {args.blocks} blocks of {args.steps} steps; ratio: to the upstream guide")
    print(f"{'backend':<9}{'model':<15}{'guide':<28}{'per step [ms]':>14}{'ratio':>8}")
    for backend, timings in (
        ("pyro", pyro_timings(args.blocks, args.steps, args.kumaraswamy)),
        ("numpyro", numpyro_timings(args.blocks, args.steps, args.kumaraswamy)),
    ):
        for model, per_guide in timings.items():
            labels = list(per_guide)
            for i, label in enumerate(labels):
                t = per_guide[label]
                # each AutoPathwiseGuide against the upstream guide just above it
                base = per_guide[labels[i - 1]] if i in (1, 3) else None
                ratio = f"{t / base:>8.2f}" if base else f"{'':>8}"
                print(f"{backend:<9}{model:<15}{label:<28}{1e3 * t:>14.3f}{ratio}")


if __name__ == "__main__":
    main()
