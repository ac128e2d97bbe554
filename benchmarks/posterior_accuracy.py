"""AutoPathwiseGuide posterior means against long NUTS runs, in both backends.

For eight schools (non-centered) and the rat-tumour Beta-Binomial, fits the guide with
``fit`` and prints, per latent site, the largest |guide mean - NUTS mean| / NUTS sd over
the site's elements. The NUTS reference is ``data/nuts_reference.json`` (made by
``scripts/nuts_reference.py``). Run: ``python benchmarks/posterior_accuracy.py``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples import models  # noqa: E402
from tests.datasets import eight_schools, rat_tumors  # noqa: E402

REFERENCE = json.loads((ROOT / "data" / "nuts_reference.json").read_text())


def _errors(name: str, draws: dict) -> dict:
    out = {}
    for site, ref in REFERENCE[name]["sites"].items():
        mean = np.asarray(draws[site], dtype=float).mean(0)
        out[site] = float(np.max(np.abs(mean - np.array(ref["mean"])) / np.array(ref["sd"])))
    return out


def _problems():
    y, sigma = eight_schools()
    tumors, rats = rat_tumors()
    return [
        ("eight_schools", "eight_schools", (sigma,), {"y": y}),
        ("rat_tumors", "rat_tumors", (rats,), {"tumors": tumors}),
    ]


def numpyro_errors(steps: int, draws: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    jax.config.update("jax_enable_x64", True)
    out = {}
    for name, model_name, args, kwargs in _problems():
        model = getattr(models, f"numpyro_{model_name}")
        args = tuple(jnp.asarray(a) for a in args)
        kwargs = {k: jnp.asarray(v) for k, v in kwargs.items()}
        guide = AutoPathwiseGuide(model)
        optim = optax.adam(optax.exponential_decay(0.02, steps, 0.05))
        result = fit(
            model, guide, *args, num_steps=steps, optim=optim, progress_bar=False, **kwargs
        )
        sample = guide.sample_posterior(
            jax.random.PRNGKey(1), result.params, *args, sample_shape=(draws,), **kwargs
        )
        out[name] = _errors(name, sample)
    return out


def pyro_errors(steps: int, draws: int) -> dict:
    import pyro
    import torch
    from pyro.infer import Predictive
    from pyro.optim import ClippedAdam

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit

    out = {}
    for name, model_name, args, kwargs in _problems():
        pyro.clear_param_store()
        model = getattr(models, f"pyro_{model_name}")
        args = tuple(torch.as_tensor(a, dtype=torch.float64) for a in args)
        kwargs = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in kwargs.items()}
        guide = AutoPathwiseGuide(model)
        optim = ClippedAdam({"lr": 0.02, "lrd": 0.05 ** (1 / steps), "clip_norm": 1e6})
        fit(model, guide, *args, num_steps=steps, optim=optim, progress_bar=False, **kwargs)
        with torch.no_grad():
            sample = Predictive(guide, num_samples=draws)(*args, **kwargs)
        out[name] = _errors(name, {k: v.numpy() for k, v in sample.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--draws", type=int, default=20_000)
    args = parser.parse_args()
    results = {
        "numpyro": numpyro_errors(args.steps, args.draws),
        "pyro": pyro_errors(args.steps, args.draws),
    }
    print(f"max |guide mean - NUTS mean| / NUTS sd ({args.steps} steps, {args.draws} draws)")
    print(f"{'model':<15}{'site':<12}{'numpyro':>9}{'pyro':>9}")
    for name in REFERENCE:
        if name == "settings":
            continue
        for site in REFERENCE[name]["sites"]:
            row = [results[b][name][site] for b in ("numpyro", "pyro")]
            print(f"{name:<15}{site:<12}{row[0]:>9.3f}{row[1]:>9.3f}")


if __name__ == "__main__":
    main()
