"""What the ODE examples share: fit by SVI with AutoPathwiseGuide in either backend,
compare with the NUTS reference, draw the figures and write the summary.

An example module provides ``NAME``, ``LATENTS`` (site -> element labels), ``SPECIES``
(labels of the observed columns), ``PREDICTED`` (the observed site drawn for the bands),
``load_data()``, ``model_args(data, observed=True)``, ``observed(data)`` and
``numpyro_model`` / ``pyro_model``.
"""

import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "nuts_reference_ode.json"


def reference(example) -> dict | None:
    """The example's NUTS reference (see ``scripts/nuts_reference_ode.py``), if made."""
    if not REFERENCE.exists():
        return None
    return json.loads(REFERENCE.read_text()).get(example.NAME)


def _numpyro_fit(example, steps: int, seed: int, draws: int, predict: bool, correlation):
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit

    jax.config.update("jax_enable_x64", True)
    data = example.load_data()
    kwargs = {k: jnp.asarray(v) for k, v in example.model_args(data).items()}
    guide = AutoPathwiseGuide(example.numpyro_model, correlation=correlation)
    start = time.perf_counter()
    result = fit(
        example.numpyro_model, guide, num_steps=steps, seed=seed, progress_bar=False, **kwargs
    )
    latents = guide.sample_posterior(
        jax.random.PRNGKey(seed + 1), result.params, sample_shape=(draws,), **kwargs
    )
    jax.block_until_ready(latents)
    wall = time.perf_counter() - start
    if not predict:
        return {k: np.asarray(latents[k]) for k in example.LATENTS}, None, wall, result.losses
    free = {
        k: None if v is None else jnp.asarray(v)
        for k, v in example.model_args(data, observed=False).items()
    }
    predictive = Predictive(example.numpyro_model, posterior_samples=latents)
    predicted = predictive(jax.random.PRNGKey(seed + 2), **free)[example.PREDICTED]
    latents = {k: np.asarray(latents[k]) for k in example.LATENTS}
    return latents, np.asarray(predicted), wall, result.losses


def _pyro_fit(example, steps: int, seed: int, draws: int, predict: bool, correlation):
    import pyro
    import torch
    from pyro.infer import Predictive

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit

    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    data = example.load_data()

    def tensors(kwargs):
        return {
            k: None if v is None else torch.as_tensor(v, dtype=torch.float64)
            for k, v in kwargs.items()
        }

    kwargs = tensors(example.model_args(data))
    guide = AutoPathwiseGuide(example.pyro_model, correlation=correlation)
    start = time.perf_counter()
    result = fit(
        example.pyro_model, guide, num_steps=steps, seed=seed, progress_bar=False, **kwargs
    )
    with torch.no_grad():
        latents = Predictive(guide, num_samples=draws)(**kwargs)
    wall = time.perf_counter() - start
    if not predict:
        return {k: latents[k].numpy() for k in example.LATENTS}, None, wall, result.losses
    with torch.no_grad():
        predictive = Predictive(example.pyro_model, posterior_samples=latents)
        predicted = predictive(**tensors(example.model_args(data, observed=False)))[
            example.PREDICTED
        ]
    latents = {k: latents[k].numpy() for k in example.LATENTS}
    return latents, predicted.numpy(), wall, result.losses


def fit_posterior(
    example,
    backend: str,
    steps: int,
    seed: int = 0,
    draws: int = 4000,
    predict: bool = True,
    correlation="auto",
):
    """Fit the example's model with ``fit(model, AutoPathwiseGuide(model,
    correlation=correlation), ..., num_steps=steps)`` (every other setting at its
    default; the guide's default ``"auto"`` is the full-rank copula for these ODE
    models, ``None`` the mean-field guide) and return the latent draws (site -> (draws,
    ...)), posterior predictive draws of ``PREDICTED`` (``None`` with ``predict=False``:
    Pyro draws them one model run, one solve, at a time), the wall time of fitting and
    drawing the latents, and the losses."""
    run = {"numpyro": _numpyro_fit, "pyro": _pyro_fit}[backend]
    return run(example, steps, seed, draws, predict, correlation)


def compare(example, latents: dict, ref: dict) -> dict:
    """Per latent element: SVI mean and sd, NUTS mean and sd, |mean - ref| / ref sd and
    sd / ref sd; and the worst of each."""
    rows = {}
    for site, labels in example.LATENTS.items():
        draws = latents[site].reshape(len(latents[site]), -1)
        ref_mean = np.ravel(ref["sites"][site]["mean"])
        ref_sd = np.ravel(ref["sites"][site]["sd"])
        for i, label in enumerate(labels):
            mean, sd = float(draws[:, i].mean()), float(draws[:, i].std())
            rows[label] = {
                "mean": mean,
                "sd": sd,
                "nuts_mean": float(ref_mean[i]),
                "nuts_sd": float(ref_sd[i]),
                "mean_error_in_sd": abs(mean - ref_mean[i]) / ref_sd[i],
                "sd_ratio": sd / ref_sd[i],
            }
    worst_ratio = max((r["sd_ratio"] for r in rows.values()), key=lambda x: abs(np.log(x)))
    return {
        "elements": rows,
        "worst_mean_error_in_sd": max(r["mean_error_in_sd"] for r in rows.values()),
        "worst_sd_ratio": worst_ratio,
    }


def plot_trajectories(example, data: dict, predicted: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = example.observed(data)
    predicted = predicted.reshape(predicted.shape[:2] + (-1,))
    fig, axes = plt.subplots(1, obs.shape[1], figsize=(5 * obs.shape[1], 3.5), squeeze=False)
    for k, ax in enumerate(axes[0]):
        lo, mid, hi = np.percentile(predicted[:, :, k], [5, 50, 95], axis=0)
        ax.fill_between(data["ts"], lo, hi, alpha=0.3, label="90% posterior predictive")
        ax.plot(data["ts"], mid, label="median")
        ax.plot(data["ts"], obs[:, k], "ko", ms=3, label="data")
        ax.set_title(example.SPECIES[k])
        ax.set_xlabel("t")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_marginals(example, fits: dict, ref: dict | None, path: Path) -> None:
    """Histograms of each latent element: one per SVI posterior in ``fits`` (label ->
    latent draws) and the NUTS draws of ``ref``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        (site, i, label) for site, ls in example.LATENTS.items() for i, label in enumerate(ls)
    ]
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.6), squeeze=False)
    for ax, (site, i, label) in zip(axes[0], labels, strict=True):
        for name, latents in fits.items():
            svi = latents[site].reshape(len(latents[site]), -1)[:, i]
            ax.hist(svi, bins=40, density=True, alpha=0.4, label=name)
        if ref is not None:
            nuts = np.asarray(ref["sites"][site]["draws"])
            nuts = nuts.reshape(len(nuts), -1)[:, i]
            ax.hist(nuts, bins=40, density=True, histtype="step", color="k", label="NUTS")
        ax.set_title(label, fontsize=9)
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(example, backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit ``example`` in ``backend`` with the default guide (for an ODE model the
    full-rank copula) and with the mean-field guide (``correlation=None``), write the
    two figures under ``out`` (trajectories of the default fit; marginals of both
    against NUTS) and return the summary (see :func:`examples._common.run_example`):
    the default fit's at the top level, the mean-field fit's under ``"mean_field"``."""
    data = example.load_data()
    # a short run is a quick look: fewer posterior draws (each solves the ODE once)
    draws = min(4000, max(100, steps))
    latents, predicted, wall, losses = fit_posterior(example, backend, steps, seed, draws)
    mean_field, _, mf_wall, mf_losses = fit_posterior(
        example, backend, steps, seed, draws, predict=False, correlation=None
    )
    stem = f"{example.NAME}_{backend}"
    figures = [f"{stem}_trajectories.png", f"{stem}_marginals.png"]
    ref = reference(example)
    plot_trajectories(example, data, predicted, out / figures[0])
    fits = {"SVI default (full-rank)": latents, "SVI mean-field": mean_field}
    plot_marginals(example, fits, ref, out / figures[1])
    summary = _summary(latents, wall, losses, ref, example)
    summary = {"figures": figures, "posterior_draws": draws, "correlation": "full", **summary}
    summary["mean_field"] = {
        "correlation": None,
        **_summary(mean_field, mf_wall, mf_losses, ref, example),
    }
    if ref is not None:
        summary["nuts_wall_time_s"] = ref["wall_time_s"]
    return summary


def _summary(latents: dict, wall: float, losses: list, ref: dict | None, example) -> dict:
    summary = {
        "svi_wall_time_s": wall,
        "final_loss": float(np.mean(losses[-100:])),
        "posterior": {
            site: {"mean": np.mean(v, 0).tolist(), "sd": np.std(v, 0).tolist()}
            for site, v in latents.items()
        },
    }
    if ref is not None:
        summary["against_nuts"] = compare(example, latents, ref)
    return summary


def main(example, argv: list[str] | None = None) -> None:
    """The command line of an ODE example (see :func:`examples._common.main`)."""
    from examples._common import main as common_main

    common_main(example, argv)
