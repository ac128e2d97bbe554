"""Long NUTS runs (NumPyro) giving the reference posteriors of the ODE examples.

For each example in ``examples/`` named on the command line (default: all of
``lotka_volterra`` and ``sir``), runs NUTS (4 chains x 2000 draws after 1000 warmup,
chains one after the other, float64) on the example's ``numpyro_model`` and writes into
``data/nuts_reference_ode.json``, under the example's name: per latent site the
posterior mean and sd (per element), r_hat and n_eff, 1000 thinned draws (for plots),
the number of divergences and the wall time. Other examples' entries are kept.
Run: ``python scripts/nuts_reference_ode.py [lotka_volterra] [sir]``.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from numpyro.diagnostics import summary
from numpyro.infer import MCMC, NUTS, init_to_median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "data" / "nuts_reference_ode.json"
SETTINGS = {
    "sampler": "NumPyro NUTS, target_accept_prob=0.9, init_to_median",
    "num_warmup": 1000,
    "num_samples": 2000,
    "num_chains": 4,
    "seed": 0,
    "dtype": "float64",
}
KEPT_DRAWS = 1000


def run(example) -> dict:
    data = example.load_data()
    model_args = example.model_args(data)
    mcmc = MCMC(
        NUTS(example.numpyro_model, target_accept_prob=0.9, init_strategy=init_to_median),
        num_warmup=SETTINGS["num_warmup"],
        num_samples=SETTINGS["num_samples"],
        num_chains=SETTINGS["num_chains"],
        chain_method="sequential",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(SETTINGS["seed"]), **model_args)
    samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - start
    diagnostics = summary(samples)
    sites = {}
    for name in example.LATENTS:
        draws = np.asarray(samples[name])
        flat = draws.reshape((-1,) + draws.shape[2:])
        keep = np.linspace(0, len(flat) - 1, KEPT_DRAWS).astype(int)
        sites[name] = {
            "mean": flat.mean(0).tolist(),
            "sd": flat.std(0).tolist(),
            "r_hat_max": float(np.max(diagnostics[name]["r_hat"])),
            "n_eff_min": float(np.min(diagnostics[name]["n_eff"])),
            "draws": flat[keep].tolist(),
        }
    divergences = int(mcmc.get_extra_fields()["diverging"].sum())
    return {"sites": sites, "divergences": divergences, "wall_time_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("examples", nargs="*", default=["lotka_volterra", "sir"])
    names = parser.parse_args().examples
    jax.config.update("jax_enable_x64", True)
    for name in names:
        example = importlib.import_module(f"examples.{name}")
        result = run(example)
        reference = json.loads(OUT.read_text()) if OUT.exists() else {}
        reference["settings"] = SETTINGS
        reference[name] = result
        OUT.write_text(json.dumps(reference, indent=1) + "\n")
        worst = max(site["r_hat_max"] for site in result["sites"].values())
        print(
            f"{name}: {result['wall_time_s']:.0f} s, max r_hat {worst:.4f}, "
            f"divergences {result['divergences']}"
        )


if __name__ == "__main__":
    main()
