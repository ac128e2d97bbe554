"""Long NUTS runs (NumPyro) giving the reference posteriors the guide tests compare to.

Writes ``data/nuts_reference.json``: for each model and latent site, the posterior mean and
standard deviation (per element), with the run's settings and convergence diagnostics.
Run: ``python scripts/nuts_reference.py`` (a few minutes on 2 CPU cores).
"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import summary
from numpyro.infer import MCMC, NUTS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.models import numpyro_eight_schools, numpyro_rat_tumors  # noqa: E402
from tests.datasets import eight_schools, rat_tumors  # noqa: E402

NUM_WARMUP, NUM_SAMPLES, NUM_CHAINS = 2000, 5000, 4


def run(model, *args, **kwargs) -> dict:
    mcmc = MCMC(
        NUTS(model, target_accept_prob=0.95),
        num_warmup=NUM_WARMUP,
        num_samples=NUM_SAMPLES,
        num_chains=NUM_CHAINS,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), *args, **kwargs)
    samples = mcmc.get_samples(group_by_chain=True)
    diagnostics = summary(samples)
    out = {}
    for name, draws in samples.items():
        flat = np.asarray(draws).reshape((-1,) + draws.shape[2:])
        out[name] = {
            "mean": flat.mean(0).tolist(),
            "sd": flat.std(0).tolist(),
            "r_hat_max": float(np.max(diagnostics[name]["r_hat"])),
            "n_eff_min": float(np.min(diagnostics[name]["n_eff"])),
        }
    divergences = int(mcmc.get_extra_fields()["diverging"].sum())
    return {"sites": out, "divergences": divergences}


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    y, sigma = eight_schools()
    tumors, rats = rat_tumors()
    reference = {
        "settings": {
            "sampler": "NumPyro NUTS, target_accept_prob=0.95",
            "num_warmup": NUM_WARMUP,
            "num_samples": NUM_SAMPLES,
            "num_chains": NUM_CHAINS,
            "seed": 0,
        },
        "eight_schools": run(numpyro_eight_schools, jnp.asarray(sigma), y=jnp.asarray(y)),
        "rat_tumors": run(numpyro_rat_tumors, jnp.asarray(rats), tumors=jnp.asarray(tumors)),
    }
    path = ROOT / "data" / "nuts_reference.json"
    path.write_text(json.dumps(reference, indent=1))
    for model in ("eight_schools", "rat_tumors"):
        sites = reference[model]["sites"]
        worst = max(s["r_hat_max"] for s in sites.values())
        print(f"{model}: divergences {reference[model]['divergences']}, max r_hat {worst:.4f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
