"""SVI with AutoPathwiseGuide on the ODE examples against NUTS, in both backends.

For each example (lynx-hare Lotka-Volterra, boarding-school SIR), backend and guide
(``--guides``: ``full``, the full-rank copula that is the guide's default
``correlation="auto"`` for a model that solves an ODE, and ``mean-field``,
``AutoPathwiseGuide(model, correlation=None)``), fits
``fit(model, guide, ..., num_steps=N)`` from the default start
(every other setting at its default) for several seeds and prints, against the long
NUTS reference ``data/nuts_reference_ode.json``: the worst |mean - ref| / ref sd over
the latent elements (the bar is 0.3), the worst sd ratio (guide sd / NUTS sd, the
one farthest from 1), and the wall time of SVI (fit and 4000 posterior draws) next to
that of a plain NUTS run (NumPyro, 1 chain, 1000 warmup + 1000 draws, float64,
compilation included) timed here with ``--time-nuts`` (otherwise estimated as the
reference run's time x 2000 / 12000), and of the reference run itself; then one line
per example, backend and guide: seeds within the bar and SVI's time as a fraction of NUTS's.
Run: ``python benchmarks/ode.py [--steps N] [--seeds 0,1,2,3,4] [--examples ...]
[--backends numpyro,pyro] [--guides full,mean-field]``; ``--json PATH`` also writes the rows.
"""

import argparse
import importlib
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples import _ode_runner  # noqa: E402

BAR = 0.3


def nuts_wall_time(example) -> float:
    import jax
    from numpyro.infer import MCMC, NUTS, init_to_median

    jax.config.update("jax_enable_x64", True)
    mcmc = MCMC(
        NUTS(example.numpyro_model, init_strategy=init_to_median),
        num_warmup=1000,
        num_samples=1000,
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), **example.model_args(example.load_data()))
    jax.block_until_ready(mcmc.get_samples())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--examples", default="lotka_volterra,sir")
    parser.add_argument("--backends", default="numpyro,pyro")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--time-nuts", action="store_true")
    parser.add_argument(
        "--guides",
        default="full,mean-field",
        help="AutoPathwiseGuide correlations to fit: full (the default for ODE models), "
        "mean-field, or a rank k",
    )
    opts = parser.parse_args()
    guides = opts.guides.split(",")
    seeds = [int(s) for s in opts.seeds.split(",")]
    rows = []
    for name in opts.examples.split(","):
        example = importlib.import_module(f"examples.{name}")
        ref = _ode_runner.reference(example)
        if ref is None:
            raise SystemExit(f"no NUTS reference for {name}: run scripts/nuts_reference_ode.py")
        nuts = nuts_wall_time(example) if opts.time_nuts else ref["wall_time_s"] * 2000 / 12000
        for backend, guide, seed in itertools.product(opts.backends.split(","), guides, seeds):
            latents, _, wall, _ = _ode_runner.fit_posterior(
                example, backend, opts.steps, seed, predict=False, correlation=_correlation(guide)
            )
            c = _ode_runner.compare(example, latents, ref)
            rows.append(
                {
                    "example": name,
                    "backend": backend,
                    "guide": guide,
                    "seed": seed,
                    "steps": opts.steps,
                    "worst_mean_error_in_sd": c["worst_mean_error_in_sd"],
                    "worst_sd_ratio": c["worst_sd_ratio"],
                    "worst_element": max(
                        c["elements"], key=lambda k: c["elements"][k]["mean_error_in_sd"]
                    ),
                    "elements": c["elements"],
                    "svi_s": wall,
                    "nuts_s": nuts,
                    "nuts_reference_s": ref["wall_time_s"],
                }
            )
            print(_format(rows[-1]), flush=True)
    print()
    print(
        f"{'example':<16}{'backend':<9}{'guide':<11}{'seed':>5}"
        f"{'|mean-ref|/sd':>15}{'sd ratio':>10}"
        f"{'SVI s':>8}{'NUTS s':>8}{'ref s':>8}  bar 0.3, SVI <= NUTS/10"
    )
    for row in rows:
        print(_format(row))
    print()
    nuts_kind = "timed here" if opts.time_nuts else "estimated: reference run x 2000/12000"
    print(f"per example and backend (NUTS: one chain of 2000 iterations, {nuts_kind}):")
    for key in dict.fromkeys((r["example"], r["backend"], r["guide"]) for r in rows):
        print(_summary([r for r in rows if (r["example"], r["backend"], r["guide"]) == key]))
    if opts.json is not None:
        opts.json.write_text(json.dumps(rows, indent=1) + "\n")


def _correlation(guide: str):
    """``AutoPathwiseGuide``'s ``correlation`` for a ``--guides`` entry."""
    if guide == "mean-field":
        return None
    return guide if guide == "full" else int(guide)


def _format(row: dict) -> str:
    ok_mean = row["worst_mean_error_in_sd"] <= BAR
    ok_time = row["svi_s"] <= row["nuts_s"] / 10
    verdict = ("yes" if ok_mean else "NO") + ", " + ("yes" if ok_time else "NO")
    return (
        f"{row['example']:<16}{row['backend']:<9}{row['guide']:<11}{row['seed']:>5}"
        f"{row['worst_mean_error_in_sd']:>15.3f}{row['worst_sd_ratio']:>10.2f}"
        f"{row['svi_s']:>8.1f}{row['nuts_s']:>8.1f}{row['nuts_reference_s']:>8.0f}  {verdict}"
        f"  (worst: {row['worst_element']})"
    )


def _summary(rows: list[dict]) -> str:
    """One line for the seeds of one example and backend: how many reach the bar, the
    worst error and sd ratio, and SVI's wall time against NUTS's (the verdict says
    honestly whether SVI takes at most a tenth of NUTS's time)."""
    passed = sum(r["worst_mean_error_in_sd"] <= BAR for r in rows)
    worst = max(r["worst_mean_error_in_sd"] for r in rows)
    ratio = max((r["worst_sd_ratio"] for r in rows), key=lambda x: abs(math.log(x)))
    svi = statistics.median(r["svi_s"] for r in rows)
    nuts = rows[0]["nuts_s"]
    verdict = "<= 1/10 of NUTS" if svi <= nuts / 10 else "NOT <= 1/10 of NUTS"
    return (
        f"  {rows[0]['example']} {rows[0]['backend']} {rows[0]['guide']} "
        f"({rows[0]['steps']} steps): "
        f"{passed} of {len(rows)} seeds within {BAR}, worst {worst:.3f}, worst sd ratio "
        f"{ratio:.2f}; SVI {svi:.0f} s (median) vs NUTS {nuts:.0f} s = {svi / nuts:.2f} "
        f"of NUTS's time, {verdict}"
    )


if __name__ == "__main__":
    main()
