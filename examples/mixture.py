"""A 2-D Gaussian mixture with discrete labels, fitted by relaxed SVI in either backend:
the fitted clusters over the data, and the weights against exact enumeration.

1000 points from four components (means at (+-3, +-3), weights 0.1, 0.2, 0.3, 0.4,
known scale 1); ``w ~ Dirichlet(1)``, ``means ~ Normal(0, 5)``, ``z_n ~ Categorical(w)``,
``x_n ~ Normal(means[z_n], 1)``. The model is written with a discrete ``z`` and
``choose(z, means)``; ``relax(model, ExponentialDecay(1, rate, floor=0.1),
density="categorical")`` turns ``z`` into a Concrete site (the categorical density is
the accurate one for learned weights) and ``fit`` anneals its temperature from the
relaxed model's own schedule. ``AutoPathwiseGuide(relaxed)`` learns one set of logits
per point; ``relax.assignments`` reads the posterior class probabilities and MAP labels
off it.

The reference is exact enumeration of ``z``: EM on the same model (the E-step sums over
the four labels of every point), from the same start. Run: ``ppl-reparam examples run
mixture --backend pyro|numpyro [--steps N]``. Writes ``mixture_<backend>_clusters.png``
(points coloured by MAP label, shaded by its probability; fitted and enumeration means),
``mixture_<backend>_weights.png`` and ``..._summary.json``.
"""

import importlib
import itertools
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "mixture"
DESCRIPTION = "2-D Gaussian mixture by relaxed SVI: clusters, assignments, weights vs enumeration"
DEFAULT_STEPS = 3000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 126, "pyro": 166}

N, K, D, SCALE = 1000, 4, 2, 1.0
MEANS = np.array([[-3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [3.0, 3.0]])
WEIGHTS = np.array([0.1, 0.2, 0.3, 0.4])
# a start for the component means away from every true mean and label order
INIT_MEANS = np.random.default_rng(5).normal(size=(K, D))


def draw(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return MEANS[rng.choice(K, n, p=WEIGHTS)] + SCALE * rng.normal(size=(n, D))


def numpyro_model(x):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.relax import choose

    w = numpyro.sample("w", dist.Dirichlet(jnp.ones(K)))
    means = numpyro.sample("means", dist.Normal(0.0, 5.0).expand([K, D]).to_event(2))
    with numpyro.plate("data", x.shape[0]):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("x", dist.Normal(choose(z, means), SCALE).to_event(1), obs=x)


def pyro_model(x):
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.relax import choose

    w = pyro.sample("w", dist.Dirichlet(torch.ones(K, dtype=x.dtype)))
    prior = dist.Normal(torch.zeros((), dtype=x.dtype), 5.0).expand([K, D])
    means = pyro.sample("means", prior.to_event(2))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Categorical(w))
        pyro.sample("x", dist.Normal(choose(z, means), SCALE).to_event(1), obs=x)


def enumeration_em(x: np.ndarray, means: np.ndarray, iterations: int = 500):
    """Maximum-likelihood weights and means by EM, every label enumerated exactly;
    returns ``(weights, means, responsibilities (N, K))``."""
    weights = np.full(K, 1.0 / K)
    for _ in range(iterations):
        log_r = np.log(weights) - 0.5 * ((x[:, None] - means[None]) ** 2).sum(-1) / SCALE**2
        r = np.exp(log_r - log_r.max(-1, keepdims=True))
        r /= r.sum(-1, keepdims=True)
        weights, means = r.mean(0), (r.T @ x) / r.sum(0)[:, None]
    return weights, means, r


def best_permutation(means: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The relabelling ``perm`` with ``means[perm]`` closest to ``target``."""
    perms = [np.array(p) for p in itertools.permutations(range(K))]
    return min(perms, key=lambda p: ((means[p] - target) ** 2).sum())


def plot(x, labels, probs, means, em_means, weights, em_weights, out: Path, stem: str, title):
    from examples._common import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    colours = plt.get_cmap("tab10")(labels)
    colours[:, 3] = 0.15 + 0.85 * (probs.max(-1) - 1 / K) / (1 - 1 / K)
    ax.scatter(x[:, 0], x[:, 1], c=colours, s=8, linewidths=0)
    ax.plot(*means.T, "kx", ms=10, mew=2, label="relaxed SVI means")
    ax.plot(*em_means.T, "r+", ms=12, mew=1.5, label="enumeration (EM) means")
    ax.legend(fontsize=8, loc="center")
    ax.set_title(f"{title}\ncolour: MAP label; shade: its probability", fontsize=9)
    save(fig, out / f"{stem}_clusters.png")
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    positions = np.arange(K)
    for i, (label, w) in enumerate(
        (("relaxed SVI", weights), ("enumeration (EM)", em_weights), ("true", WEIGHTS))
    ):
        ax.bar(positions + (i - 1) * 0.27, w, width=0.27, label=label)
    ax.set_xticks(positions, [f"component {k}" for k in range(K)])
    ax.set_ylabel("weight")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    save(fig, out / f"{stem}_weights.png")


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figures under ``out``, return the summary (see examples/_common.py)."""
    from examples._common import fit_autoguide, to_numpy
    from ppl_reparam.schedules import ExponentialDecay

    relax = importlib.import_module(f"ppl_reparam.{backend}.relax")
    x = draw(N, seed)
    # the temperature reaches its floor of 0.1 at two thirds of the steps
    schedule = ExponentialDecay(1.0, math.log(10) / (2 * steps / 3), floor=0.1)
    model = numpyro_model if backend == "numpyro" else pyro_model
    relaxed = relax.relax(model, schedule, density="categorical")
    result, guide = fit_autoguide(
        backend, relaxed, (x,), {}, steps, seed, lr=0.05, init_values={"means": INIT_MEANS}
    )
    probs, labels = relax.assignments(guide, result.params, *result.args, **result.kwargs)["z"]
    probs, labels = to_numpy(probs), to_numpy(labels)
    medians = guide.median(result.params) if backend == "numpyro" else guide.median(*result.args)
    weights, means = (to_numpy(medians[k]).astype(float) for k in ("w", "means"))
    em_weights, em_means, responsibilities = enumeration_em(x, INIT_MEANS.copy())
    # the labels of both fits in the order of the true components, for the tables
    perm, em_perm = best_permutation(means, MEANS), best_permutation(em_means, MEANS)
    relabel = np.argsort(perm)  # SVI label -> true component
    stem = f"{NAME}_{backend}"
    title = f"relaxed SVI ({backend}, {steps} steps), {N} points"
    plot(
        x,
        relabel[labels],
        probs[:, perm],
        means[perm],
        em_means[em_perm],
        weights[perm],
        em_weights[em_perm],
        out,
        stem,
        title,
    )
    em_labels = np.argsort(em_perm)[responsibilities.argmax(-1)]
    return {
        "figures": [f"{stem}_clusters.png", f"{stem}_weights.png"],
        "final_loss": float(np.mean(result.losses[-100:])),
        "final_temperature": float(result.kwargs["relax_temperature"]),
        "weights": {
            "relaxed_svi": weights[perm],
            "enumeration": em_weights[em_perm],
            "true": WEIGHTS,
        },
        "means": {"relaxed_svi": means[perm], "enumeration": em_means[em_perm], "true": MEANS},
        "assignments": {
            "agreement_with_enumeration_map_labels": float(np.mean(relabel[labels] == em_labels)),
            "mean_abs_probability_difference": float(
                np.mean(np.abs(probs[:, perm] - responsibilities[:, em_perm]))
            ),
            "points_with_map_probability_below_0.9": int(np.sum(probs.max(-1) < 0.9)),
        },
    }


if __name__ == "__main__":
    from examples._common import main

    main(sys.modules[__name__])
