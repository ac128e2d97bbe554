"""What the eight-schools and rat-tumour examples share: fit by AutoPathwiseGuide, draw
the posterior through the ArviZ export, compare with the NUTS reference
(``data/nuts_reference.json``, made by ``scripts/nuts_reference.py``), plot."""

import json
from pathlib import Path

import numpy as np

from examples import models
from examples._common import fit_autoguide, posterior_draws, pyplot, save

ROOT = Path(__file__).resolve().parent.parent
DRAWS = 4000


def load_csv(name: str) -> np.ndarray:
    """The table ``data/<name>.csv`` as a structured array (columns by name)."""
    return np.genfromtxt(ROOT / "data" / f"{name}.csv", delimiter=",", names=True, dtype=None)


def against_nuts(draws: dict, reference: dict) -> dict:
    """Per latent site: SVI and NUTS means and sds (lists over the site's elements), the
    largest |SVI mean - NUTS mean| / NUTS sd and the sd ratio farthest from 1."""
    out = {}
    for site, ref in reference["sites"].items():
        mean, sd = draws[site].mean(0), draws[site].std(0)
        error = np.abs(mean - np.asarray(ref["mean"])) / np.asarray(ref["sd"])
        ratio = np.ravel(sd / np.asarray(ref["sd"]))
        out[site] = {
            "svi_mean": mean,
            "svi_sd": sd,
            "nuts_mean": ref["mean"],
            "nuts_sd": ref["sd"],
            "worst_mean_error_in_nuts_sd": float(np.max(error)),
            "worst_sd_ratio": float(ratio[np.argmax(np.abs(np.log(ratio)))]),
        }
    return out


def plot(comparison: dict, path: Path, title: str) -> None:
    """One panel per site: SVI mean +- sd beside NUTS mean +- sd for each element (a
    forest), or SVI against NUTS means (a scatter with +- sd bars) for sites of more than
    ten elements."""
    plt = pyplot()
    sites = list(comparison)
    fig, axes = plt.subplots(1, len(sites), figsize=(4 * len(sites), 3.6), squeeze=False)
    for ax, site in zip(axes[0], sites, strict=True):
        c = {k: np.ravel(c) for k, c in comparison[site].items() if k.startswith(("svi", "nuts"))}
        if len(c["svi_mean"]) <= 10:
            rows = np.arange(len(c["svi_mean"]))
            for who, shift, style in (("svi", 0.15, "C0o"), ("nuts", -0.15, "ks")):
                ax.errorbar(
                    c[f"{who}_mean"],
                    rows + shift,
                    xerr=c[f"{who}_sd"],
                    fmt=style,
                    ms=4,
                    elinewidth=1,
                    label="SVI" if who == "svi" else "NUTS",
                )
            ax.set_yticks(rows, [f"{site}[{i}]" if len(rows) > 1 else site for i in rows])
            ax.set_xlabel("posterior mean +- sd")
            ax.set_ylim(-0.6, len(rows) - 0.4)
            ax.legend(fontsize=8)
        else:
            ax.errorbar(
                c["nuts_mean"],
                c["svi_mean"],
                xerr=c["nuts_sd"],
                yerr=c["svi_sd"],
                fmt="o",
                ms=3,
                alpha=0.6,
                elinewidth=0.6,
            )
            lo, hi = ax.get_xlim()
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_xlabel("NUTS mean (bars: sd)")
            ax.set_ylabel("SVI mean (bars: sd)")
        err = comparison[site]["worst_mean_error_in_nuts_sd"]
        ax.set_title(f"{site}: worst |mean error| {err:.2f} NUTS sd", fontsize=9)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def run(
    name: str,
    backend: str,
    out: Path,
    steps: int,
    seed: int,
    args: tuple,
    kwargs: dict,
    families: dict | None = None,
) -> dict:
    """Fit model ``name`` of :mod:`examples.models`, write ``<name>_<backend>_posterior.png``
    and return the summary."""
    model = getattr(models, f"{backend}_{name}")
    result, guide = fit_autoguide(backend, model, args, kwargs, steps, seed, families=families)
    draws = posterior_draws(backend, result, DRAWS, seed)
    reference = json.loads((ROOT / "data" / "nuts_reference.json").read_text())[name]
    comparison = against_nuts(draws, reference)
    figure = f"{name}_{backend}_posterior.png"
    title = f"{name}: AutoPathwiseGuide ({backend}, {steps} steps) against NUTS"
    plot(comparison, out / figure, title)
    return {
        "figures": [figure],
        "guide_families": guide.site_families,
        "final_loss": float(np.mean(result.losses[-100:])),
        "posterior_draws": DRAWS,
        "against_nuts": comparison,
        "worst_mean_error_in_nuts_sd": max(
            c["worst_mean_error_in_nuts_sd"] for c in comparison.values()
        ),
    }
