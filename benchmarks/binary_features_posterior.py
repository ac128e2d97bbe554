"""How close the discrete guide can come to the exact posterior of the 20-binary-feature
model, and how close ``fit`` comes to that.

The model of ``benchmarks/binary_features.py`` (K = 20 binary features per point,
``x_n ~ Normal(z_n W, 0.5)``, ``W`` fixed, prior ``P(z = 1) = 0.3``) on its first
``--points`` points. Printed, per (point, feature):

- the exact posterior marginals ``p = P(z_nk = 1 | x_n)``, by enumerating the 2^20
  configurations of each point;
- the best mean-field Bernoulli guide (the family ``AutoPathwiseGuide`` gives a
  Bernoulli site): the mean-field ELBO maximised by coordinate ascent (exact updates)
  from 20 random starts, the best kept;
- ``fit(model, AutoPathwiseGuide(model), x, num_steps=N)`` with every default
  (``RelaxedControlVariateELBO``, NumPyro), ``--seeds``;

each as |q - p| / sd_p (``sd_p = sqrt(p (1 - p))``, the bar is 0.3) and the ratio of
Bernoulli sds ``sqrt(q (1 - q)) / sd_p`` (the bar is 0.8-1.25), and for ``fit`` also
|q - q_best| against the best mean-field guide.

Run: ``python benchmarks/binary_features_posterior.py [--points 10]
[--steps 4000] [--seeds 0 1 2]``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.binary_features import D, K, N, _problem  # noqa: E402

NOISE = 0.5
PRIOR = 0.3


def exact_marginals(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``P(z_nk = 1 | x_n)`` for each row of ``x``, by enumeration of 2^K configurations."""
    configs = ((np.arange(2**K)[:, None] >> np.arange(K)) & 1).astype(np.float64)
    means = configs @ w
    ones = configs.sum(1)
    log_prior = ones * np.log(PRIOR) + (K - ones) * np.log(1 - PRIOR)
    rows = []
    for xn in x:
        log_p = -0.5 * ((means - xn) ** 2).sum(1) / NOISE**2 + log_prior
        p = np.exp(log_p - log_p.max())
        rows.append(p @ configs / p.sum())
    return np.array(rows)


def mean_field_elbo(w: np.ndarray, xn: np.ndarray, q: np.ndarray) -> float:
    q = np.clip(q, 1e-300, 1 - 1e-16)
    mean, var = q @ w, (q * (1 - q)) @ (w**2)
    expected = -0.5 * (((xn - mean) ** 2).sum() + var.sum()) / NOISE**2
    prior = (q * np.log(PRIOR) + (1 - q) * np.log(1 - PRIOR)).sum()
    entropy = -(q * np.log(q) + (1 - q) * np.log1p(-q)).sum()
    return float(expected + prior + entropy)


def best_mean_field(w: np.ndarray, xn: np.ndarray, starts: int = 20, sweeps: int = 200):
    """The mean-field Bernoulli guide of highest ELBO among coordinate-ascent runs."""
    best = None
    for s in range(starts):
        q = np.random.default_rng(s).random(K)
        for _ in range(sweeps):
            for k in range(K):
                rest = q @ w - q[k] * w[k]
                delta = (-0.5 * w[k] @ w[k] + (xn - rest) @ w[k]) / NOISE**2
                q[k] = 1 / (1 + np.exp(-(np.log(PRIOR / (1 - PRIOR)) + delta)))
        elbo = mean_field_elbo(w, xn, q)
        if best is None or elbo > best[0]:
            best = (elbo, q.copy())
    return best[1]


def fit_marginals(w: np.ndarray, x: np.ndarray, steps: int, seed: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    jax.config.update("jax_enable_x64", True)
    wj = jnp.asarray(w)

    def model(x):
        # the features in a plate: the discrete guide takes no to_event dims
        with numpyro.plate("data", x.shape[0], dim=-2):
            with numpyro.plate("features", K, dim=-1):
                z = numpyro.sample("z", dist.Bernoulli(PRIOR))
            mean = (z @ wj)[:, None, :]  # batch (points, 1), event (D,)
            numpyro.sample("x", dist.Normal(mean, NOISE).to_event(1), obs=x[:, None, :])

    guide = AutoPathwiseGuide(model)
    result = fit(model, guide, jnp.asarray(x), num_steps=steps, seed=seed, progress_bar=False)
    logits = result.params[f"z_{guide.prefix}_logits"]
    return np.asarray(jax.nn.sigmoid(logits)).reshape(x.shape[0], K)


def report(label: str, q: np.ndarray, p: np.ndarray) -> None:
    sd = np.sqrt(p * (1 - p))
    errors = np.abs(q - p) / np.maximum(sd, 1e-12)
    ratios = np.sqrt(q * (1 - q)) / np.maximum(sd, 1e-12)
    ok = (errors < 0.3) & (ratios > 0.8) & (ratios < 1.25)
    print(
        f"{label:<28}{np.median(errors):>9.3f}{np.quantile(errors, 0.9):>9.3f}"
        f"{np.mean(errors < 0.3):>10.2f}{np.median(ratios):>10.3f}"
        f"{np.mean((ratios > 0.8) & (ratios < 1.25)):>10.2f}{np.mean(ok.all(1)):>10.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    w, x = _problem()
    x = x[: args.points]
    start = time.perf_counter()
    p = exact_marginals(w, x)
    print(
        f"{args.points} of {N} points, K = {K} features, D = {D}; enumeration "
        f"{time.perf_counter() - start:.1f} s; exact marginals in (0.05, 0.95): "
        f"{np.mean((p > 0.05) & (p < 0.95)):.2f}"
    )
    print(
        f"{'guide':<28}{'med err':>9}{'90% err':>9}{'err<0.3':>10}{'med sd r':>10}"
        f"{'sd r ok':>10}{'pts ok':>10}"
    )
    best = np.array([best_mean_field(w, xn) for xn in x])
    report("best mean-field (CAVI)", best, p)
    for seed in args.seeds:
        q = fit_marginals(w, x, args.steps, seed)
        report(f"fit, defaults, seed {seed}", q, p)
        gap = np.abs(q - best)
        print(f"{'':<28}|q - q_best|: median {np.median(gap):.3f}, max {gap.max():.3f}")


if __name__ == "__main__":
    main()
