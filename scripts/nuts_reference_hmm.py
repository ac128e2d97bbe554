"""Long NUTS run (NumPyro) giving the reference posterior of the two-state Gaussian HMM
of ``benchmarks/hmm.py``, with the hidden states marginalised by the forward algorithm.

The model (data: ``data/hmm_example-hmm_example.data.json``, posteriordb's
``hmm_example``, N = 100, K = 2), posteriordb's: transition rows ``theta[k] ~
Dirichlet(1, 1)``, emission means ``mu`` positive and ordered with ``mu[0] ~ Normal(3,
1)``, ``mu[1] ~ Normal(10, 1)``, initial state uniform, ``z[t] ~
Categorical(theta[z[t-1]])``, ``y[t] ~ Normal(mu[z[t]], 1)``. (Without the ordering the
posterior has a second mode with the labels swapped, ~exp(-40) times less probable, where
chains and SVI fits from a random start can stick.)

Runs 4 chains x 2000 draws after 1000 warmup (one after the other, float64) and writes
``data/nuts_reference_hmm.json``: per latent site the posterior mean and sd (per
element), r_hat and n_eff, the number of divergences and the wall time.
Run: ``python scripts/nuts_reference_hmm.py``.
"""

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.diagnostics import summary
from numpyro.distributions.constraints import positive_ordered_vector
from numpyro.infer import MCMC, NUTS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "hmm_example-hmm_example.data.json"
OUT = ROOT / "data" / "nuts_reference_hmm.json"
SETTINGS = {
    "sampler": "NumPyro NUTS, target_accept_prob=0.9, states marginalised (forward algorithm)",
    "num_warmup": 1000,
    "num_samples": 2000,
    "num_chains": 4,
    "seed": 0,
    "dtype": "float64",
}
LATENTS = ("theta", "mu")


def marginal_model(y: jax.Array) -> None:
    """The HMM with the states summed out: log p(y | theta, mu) by the forward algorithm."""
    theta = numpyro.sample("theta", dist.Dirichlet(jnp.ones((2, 2))).to_event(1))
    # posteriordb's positive_ordered mu, with its Normal(3, 1) and Normal(10, 1) priors
    mu = numpyro.sample("mu", dist.ImproperUniform(positive_ordered_vector, (), (2,)))
    numpyro.factor("mu_prior", dist.Normal(jnp.array([3.0, 10.0]), 1.0).log_prob(mu).sum())
    emission = dist.Normal(mu, 1.0).log_prob(y[:, None])  # (N, K)
    log_theta = jnp.log(theta)

    def forward(log_alpha, emission_t):
        # log_alpha[j] + log theta[j, k], summed over the previous state j
        log_alpha = logsumexp(log_alpha[:, None] + log_theta, 0) + emission_t
        return log_alpha, None

    log_alpha, _ = jax.lax.scan(forward, jnp.log(0.5) + emission[0], emission[1:])
    numpyro.factor("y", logsumexp(log_alpha))


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    y = jnp.asarray(json.loads(DATA.read_text())["y"])
    mcmc = MCMC(
        NUTS(marginal_model, target_accept_prob=0.9),
        num_warmup=SETTINGS["num_warmup"],
        num_samples=SETTINGS["num_samples"],
        num_chains=SETTINGS["num_chains"],
        chain_method="sequential",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(SETTINGS["seed"]), y)
    samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - start
    diagnostics = summary(samples)
    sites = {}
    for name in LATENTS:
        flat = np.asarray(samples[name]).reshape((-1,) + samples[name].shape[2:])
        sites[name] = {
            "mean": flat.mean(0).tolist(),
            "sd": flat.std(0).tolist(),
            "r_hat_max": float(np.max(diagnostics[name]["r_hat"])),
            "n_eff_min": float(np.min(diagnostics[name]["n_eff"])),
        }
    divergences = int(mcmc.get_extra_fields()["diverging"].sum())
    result = {"settings": SETTINGS, "sites": sites, "divergences": divergences, "wall_time_s": wall}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    worst = max(site["r_hat_max"] for site in sites.values())
    print(f"hmm: {wall:.0f} s, max r_hat {worst:.4f}, divergences {divergences}")
    for name, site in sites.items():
        print(name, np.round(site["mean"], 4).tolist(), np.round(site["sd"], 4).tolist())


if __name__ == "__main__":
    main()
