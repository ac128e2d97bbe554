"""Posterior accuracy of ``fit`` with its default loss for discrete latent sites
(RelaxedControlVariateELBO) and AutoPathwiseGuide from its default start, on the 2-D,
K = 4 Gaussian mixture of ``tests/mixture_reference.py`` (1000 points, known scale,
Dirichlet(1) weights, Normal(0, 5) means), against NUTS on the model with the labels
enumerated (marginalised).

Printed per seed: for each of the 8 mean coordinates and 4 weights (components matched
to the reference by their means), the error of the SVI posterior mean in reference
posterior sds, and the ratio of SVI to reference posterior sd; then the worst |error|
and the range of sd ratios. Targets: |error| < 0.3 and sd ratio in [0.8, 1.25].

Usage: ``PYTHONPATH=. python benchmarks/discrete_mixture.py [--backend numpyro|pyro]
[--steps 4000] [--seeds 0 1 2] [--lr 0.01] [--decay] [--num-starts N] [--average-last N]
[--nuts]``. ``--decay``: Adam's learning rate (``--lr``, default 0.01 as fit's) decays to
5% of it over the fit (NumPyro: cosine, Pyro: geometric); ``--num-starts`` and
``--average-last``: fit's multi-start phase and iterate averaging; ``--average N``: plain
NumPyro SVI (same loss and guide) with the parameters averaged over the last N steps.
The reference is ``data/nuts_reference_mixture.json`` (NUTS, 4000 draws, labels
enumerated, same data; ``benchmarks/guides.py --make-mixture-reference`` makes it);
``--nuts`` runs a shorter NUTS (500 + 1000 draws) here instead.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tests import mixture_reference as mix

N = 1000
REFERENCE = Path(__file__).resolve().parent.parent / "data" / "nuts_reference_mixture.json"


def nuts_reference(x: np.ndarray) -> dict:
    """Posterior draws of ``means`` and ``w`` by NUTS with the labels enumerated."""
    import jax
    import jax.numpy as jnp
    from numpyro.contrib.funsor import config_enumerate
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.initialization import init_to_value

    init = init_to_value(values={"means": jnp.asarray(mix.INIT_MEANS)})
    nuts = NUTS(config_enumerate(_numpyro_model), init_strategy=init)
    mcmc = MCMC(nuts, num_warmup=500, num_samples=1000, progress_bar=False)
    mcmc.run(jax.random.key(1), jnp.asarray(x))
    draws = mcmc.get_samples()
    return {"means": np.asarray(draws["means"]), "w": np.asarray(draws["w"])}


def _numpyro_model(x):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.relax import choose

    w = numpyro.sample("w", dist.Dirichlet(jnp.ones(mix.K)))
    means = numpyro.sample("means", dist.Normal(0.0, 5.0).expand([mix.K, mix.D]).to_event(2))
    with numpyro.plate("data", x.shape[0]):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("x", dist.Normal(choose(z, means), mix.SCALE).to_event(1), obs=x)


def numpyro_fit(
    x: np.ndarray, steps: int, seed: int, decay: bool, num_starts=None, lr=0.01, average_last=None
) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    guide = AutoPathwiseGuide(_numpyro_model)
    optim = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05) if decay else lr)
    result = fit(
        _numpyro_model,
        guide,
        jnp.asarray(x),
        num_steps=steps,
        optim=optim,
        seed=seed,
        progress_bar=False,
        num_starts=num_starts,
        average_last=average_last,
    )
    draws = guide.sample_posterior(jax.random.key(seed), result.params, sample_shape=(2000,))
    return {"means": np.asarray(draws["means"]), "w": np.asarray(draws["w"])}


def numpyro_averaged_fit(x: np.ndarray, steps: int, seed: int, lr: float, average: int) -> dict:
    """SVI with the same loss and guide, and the parameters averaged over the last
    ``average`` steps (Polyak averaging: the final iterate jitters with the noise of the
    gradient estimate)."""
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import SVI

    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide

    guide = AutoPathwiseGuide(_numpyro_model)
    svi = SVI(_numpyro_model, guide, optax.adam(lr), RelaxedControlVariateELBO())
    xs = jnp.asarray(x)
    state = svi.init(jax.random.key(seed), xs)
    update = jax.jit(lambda s: svi.update(s, xs)[0])
    total = None
    for step in range(steps):
        state = update(state)
        if step >= steps - average:
            p = svi.get_params(state)
            total = p if total is None else jax.tree_util.tree_map(jnp.add, total, p)
    params = jax.tree_util.tree_map(lambda v: v / average, total)
    draws = guide.sample_posterior(jax.random.key(seed), params, sample_shape=(2000,))
    return {"means": np.asarray(draws["means"]), "w": np.asarray(draws["w"])}


def pyro_fit(
    x: np.ndarray, steps: int, seed: int, decay: bool, num_starts=None, lr=0.01, average_last=None
) -> dict:
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit
    from ppl_reparam.pyro.relax import choose

    def model(x):
        w = pyro.sample("w", dist.Dirichlet(torch.ones(mix.K)))
        means = pyro.sample("means", dist.Normal(0.0, 5.0).expand([mix.K, mix.D]).to_event(2))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Categorical(w))
            pyro.sample("x", dist.Normal(choose(z, means), mix.SCALE).to_event(1), obs=x)

    pyro.clear_param_store()
    guide = AutoPathwiseGuide(model)
    xt = torch.as_tensor(x, dtype=torch.float32)
    # ClippedAdam's lrd: the learning rate decays geometrically to 5% over the fit
    decaying = pyro.optim.ClippedAdam({"lr": lr, "lrd": 0.05 ** (1 / steps)})
    optim = decaying if decay else pyro.optim.Adam({"lr": lr})  # fit's default at lr 0.01
    fit(
        model,
        guide,
        xt,
        num_steps=steps,
        optim=optim,
        seed=seed,
        progress_bar=False,
        num_starts=num_starts,
        average_last=average_last,
    )
    with torch.no_grad():
        draws = [guide(xt) for _ in range(2000)]
    return {k: np.stack([d[k].numpy() for d in draws]) for k in ("means", "w")}


def summary(draws: dict) -> dict:
    """``{site: (mean, sd)}`` of ``means`` and ``w``, components relabelled so that their
    means are closest to the true ones (the order of the stored reference)."""
    perm = mix.match_labels(draws["means"].mean(0))
    return {n: (draws[n][:, perm].mean(0), draws[n][:, perm].std(0)) for n in ("means", "w")}


def stored_reference() -> dict:
    """The NUTS reference of ``data/nuts_reference_mixture.json`` (4000 draws, labels
    enumerated, same data), as :func:`summary` gives it."""
    sites = json.loads(REFERENCE.read_text())["mixture_2d"]["sites"]
    return {n: (np.asarray(sites[n]["mean"]), np.asarray(sites[n]["sd"])) for n in ("means", "w")}


def compare(ref: dict, svi: dict) -> tuple[np.ndarray, np.ndarray]:
    """Errors of the SVI means in reference sds and SVI / reference sd ratios, for the
    8 mean coordinates and 4 weights (``ref``: a :func:`summary`)."""
    svi = summary(svi)
    errors, ratios = [], []
    for name in ("means", "w"):
        (r_mean, r_sd), (s_mean, s_sd) = ref[name], svi[name]
        errors.append(np.ravel((s_mean - r_mean) / r_sd))
        ratios.append(np.ravel(s_sd / r_sd))
    return np.concatenate(errors), np.concatenate(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpyro", choices=["numpyro", "pyro"])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's (initial) rate")
    parser.add_argument(
        "--average", type=int, help="NumPyro SVI averaging the last N steps' parameters"
    )
    parser.add_argument("--num-starts", type=int, help="fit's multi-start phase")
    parser.add_argument("--average-last", type=int, help="fit's iterate averaging")
    parser.add_argument(
        "--nuts", action="store_true", help="run NUTS here instead of the stored reference"
    )
    parser.add_argument(
        "--decay", action="store_true", help="learning rate 0.01 decaying to 5%% (default: fit's)"
    )
    args = parser.parse_args()
    np.set_printoptions(precision=2, suppress=True)
    x = mix.draw(N, 0)
    start = time.perf_counter()
    ref = summary(nuts_reference(x)) if args.nuts else stored_reference()
    print(f"NUTS reference (labels enumerated): {time.perf_counter() - start:.0f} s")
    run = numpyro_fit if args.backend == "numpyro" else pyro_fit
    for seed in args.seeds:
        start = time.perf_counter()
        if args.average:
            draws = numpyro_averaged_fit(x, args.steps, seed, args.lr, args.average)
        else:
            options = {"average_last": args.average_last} if args.average_last else {}
            draws = run(x, args.steps, seed, args.decay, args.num_starts, args.lr, **options)
        errors, ratios = compare(ref, draws)
        seconds = time.perf_counter() - start
        schedule = f"Adam lr {args.lr}" + (" decaying" if args.decay else "")
        schedule += f", num_starts={args.num_starts}" if args.num_starts else ""
        schedule += f", average_last={args.average_last}" if args.average_last else ""
        schedule += f", averaged over the last {args.average} steps" if args.average else ""
        print(f"\n{args.backend} seed {seed}: {args.steps} steps, {schedule}, {seconds:.0f} s")
        print("error / sd (means, w):", errors)
        print("sd ratio   (means, w):", ratios)
        print(
            f"worst |error| {np.abs(errors).max():.2f}, "
            f"sd ratios {ratios.min():.2f} to {ratios.max():.2f}"
        )


if __name__ == "__main__":
    main()
