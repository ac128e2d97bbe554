"""Seconds `to_inference_data` takes for 500 to 4000 posterior draws of a fitted eight
schools model, per backend: a cold call (NumPyro: the compiled draws cleared first, so it
includes XLA compilation) and a second call of the same size (compiled draws reused).

The fit (AutoNormal, 300 steps) and importing ArviZ are not timed. Export time should
grow linearly with the number of draws, and a second call should not pay compilation
again.
Run: ``python benchmarks/export.py [--draws 500 1000 2000 4000] [--backend pyro]``.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples import models  # noqa: E402
from tests.datasets import eight_schools  # noqa: E402


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _times(export, result, draws: list[int], clear) -> dict[int, tuple[float, float]]:
    """(cold, second) seconds of an export of each number of draws."""
    times = {}
    for n in draws:
        clear()
        times[n] = tuple(_timed(lambda n=n: export(result, num_samples=n)) for _ in range(2))
    return times


def pyro_times(draws: list[int]) -> dict[int, tuple[float, float]]:
    import pyro
    import torch
    from pyro.infer.autoguide import AutoNormal

    from ppl_reparam.pyro.arviz import to_inference_data
    from ppl_reparam.pyro.infer import fit

    pyro.clear_param_store()
    y, sigma = (torch.tensor(a) for a in eight_schools())
    model = models.pyro_eight_schools
    result = fit(model, AutoNormal(model), sigma, y=y, num_steps=300, progress_bar=False)
    return _times(to_inference_data, result, draws, lambda: None)  # nothing compiled


def numpyro_times(draws: list[int]) -> dict[int, tuple[float, float]]:
    import jax.numpy as jnp
    from numpyro.infer.autoguide import AutoNormal

    import ppl_reparam.numpyro.arviz as arviz
    from ppl_reparam.numpyro.infer import fit

    y, sigma = (jnp.asarray(a) for a in eight_schools())
    model = models.numpyro_eight_schools
    result = fit(model, AutoNormal(model), sigma, y=y, num_steps=300, progress_bar=False)
    # a version without the cache has nothing to clear
    clear = getattr(arviz, "_compiled", {}).clear
    return _times(arviz.to_inference_data, result, draws, clear)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--backend", choices=["pyro", "numpyro"], nargs="+")
    opts = parser.parse_args()
    backends = opts.backend or ["pyro", "numpyro"]
    import arviz  # noqa: F401  (imported by the first export otherwise, and timed with it)

    runs = {"pyro": pyro_times, "numpyro": numpyro_times}
    times = {name: runs[name](opts.draws) for name in backends}
    header = "draws " + "".join(f"| {b + ' cold':>13} | {b + ' again':>13} " for b in backends)
    print(header)
    print("-" * len(header))
    for n in opts.draws:
        cells = "".join(f"| {times[b][n][0]:13.3f} | {times[b][n][1]:13.3f} " for b in backends)
        print(f"{n:5d} {cells}")


if __name__ == "__main__":
    main()
