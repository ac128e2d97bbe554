"""A two-minute tour: robust Kumaraswamy sampling, an exact KL, and SVI in both backends.

Run: ``python examples/demo.py`` (after ``bash scripts/setup.sh``).
"""

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as ndist
import optax
import pyro
import pyro.distributions as pdist
import torch
from numpyro.infer import SVI as NumPyroSVI
from numpyro.infer import TraceMeanField_ELBO as NumPyroMeanField
from pyro.infer import SVI as PyroSVI
from pyro.infer import TraceMeanField_ELBO as PyroMeanField
from pyro.optim import ClippedAdam

from ppl_reparam.numpyro.distributions import Kumaraswamy as NKumaraswamy
from ppl_reparam.pyro.distributions import Kumaraswamy as PKumaraswamy

DATA = [1.0] * 15 + [0.0] * 35  # 15 successes in 50 trials, Beta(2, 2) prior


def sampling_at_extreme_concentrations() -> None:
    print("1. Kumaraswamy(0.1, 0.1), float32, 100,000 draws")
    a = torch.tensor(0.1)
    for name, d in (
        ("torch upstream", pdist.Kumaraswamy(a, a)),
        ("ppl_reparam", PKumaraswamy(a, a)),
    ):
        x = d.rsample((100_000,))
        on_boundary = int(((x <= 0) | (x >= 1)).sum())
        bad_lp = int((~torch.isfinite(d.log_prob(x.clamp(0, 1)))).sum())
        print(f"   {name:<15} draws on 0 or 1: {on_boundary:>6}   non-finite log_prob: {bad_lp:>6}")


def exact_kl() -> None:
    print("2. KL(Kumaraswamy(a, b) || Beta(a, b)), NumPyro")
    for a, b in ((2.0, 3.0), (0.5, 0.5)):
        beta = ndist.Beta(a, b)
        upstream = float(ndist.kl_divergence(ndist.Kumaraswamy(a, b), beta))
        ours = float(ndist.kl_divergence(NKumaraswamy(a, b), beta))
        print(f"   a={a}, b={b}: upstream 10-term series {upstream:.6f}   exact {ours:.6f}")


STEPS = 2000


def svi_in_both_backends() -> None:
    # the posterior is Beta(2 + 15, 2 + 35): its mean and sd in closed form
    a, b = 2 + 15, 2 + 35
    mean, sd = a / (a + b), (a * b / ((a + b) ** 2 * (a + b + 1))) ** 0.5
    print(
        "3. SVI with a Kumaraswamy guide for the success probability p of 15 successes in 50\n"
        f"   trials (Beta(2, 2) prior), {STEPS} Adam steps; posterior mean +- sd of p:\n"
        f"   {'exact (the Beta(17, 37) posterior)':<40} {mean:.4f} +- {sd:.4f}"
    )

    def pyro_model(y):
        p = pyro.sample("p", pdist.Beta(2.0, 2.0))
        with pyro.plate("data", len(y)):
            pyro.sample("y", pdist.Bernoulli(probs=p), obs=y)

    def pyro_guide(y):
        a = pyro.param("a", torch.tensor(1.0), constraint=pdist.constraints.positive)
        b = pyro.param("b", torch.tensor(1.0), constraint=pdist.constraints.positive)
        pyro.sample("p", PKumaraswamy(a, b))

    pyro.set_rng_seed(0)
    y = torch.tensor(DATA)
    optim = ClippedAdam({"lr": 0.1, "lrd": 0.01 ** (1 / STEPS), "clip_norm": 1e6})
    svi = PyroSVI(pyro_model, pyro_guide, optim, PyroMeanField())
    for _ in range(STEPS):
        svi.step(y)
    fitted = PKumaraswamy(pyro.param("a"), pyro.param("b"))
    _report("Pyro", fitted.mean.item(), fitted.variance.sqrt().item())

    def numpyro_model(y):
        p = numpyro.sample("p", ndist.Beta(2.0, 2.0))
        with numpyro.plate("data", len(y)):
            numpyro.sample("y", ndist.Bernoulli(probs=p), obs=y)

    def numpyro_guide(y):
        a = numpyro.param("a", 1.0, constraint=ndist.constraints.positive)
        b = numpyro.param("b", 1.0, constraint=ndist.constraints.positive)
        numpyro.sample("p", NKumaraswamy(a, b))

    schedule = optax.exponential_decay(0.1, transition_steps=STEPS, decay_rate=0.01)
    svi = NumPyroSVI(numpyro_model, numpyro_guide, optax.adam(schedule), NumPyroMeanField())
    result = svi.run(jax.random.PRNGKey(0), STEPS, jnp.asarray(DATA), progress_bar=False)
    fitted = NKumaraswamy(result.params["a"], result.params["b"])
    _report("NumPyro", float(fitted.mean), float(jnp.sqrt(fitted.variance)))


def _report(backend: str, mean: float, sd: float) -> None:
    print(f"   {backend + ' (the fitted Kumaraswamy guide)':<40} {mean:.4f} +- {sd:.4f}")


if __name__ == "__main__":
    sampling_at_extreme_concentrations()
    exact_kl()
    svi_in_both_backends()
