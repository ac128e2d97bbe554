"""RelaxedControlVariateELBO (REBAR with RELAX-tuned scale and temperature) against the
exact enumerated gradient, the relaxed (Concrete) estimator and the score-function
estimator, on the two small models of ``tests/discrete_reference.py``: one bit with four
observations, and a three-point, K = 3 mixture. Every configuration of their latents is
enumerated, so the exact ELBO gradient with respect to the guide logits is known.

For each backend, model and guide logits (0, and the non-zero logits of the reference),
REPS independent draws of the gradient estimate (the model replicated in a plate, one
copy of the logits per replicate) for:

- ``rebar``: scale 1 and temperature 0.5 (the defaults, untuned);
- ``rebar tuned``: after TUNE Adam steps (lr 0.05) of the scale and log temperature on
  the squared estimate, the logits fixed;
- ``relaxed``: the pathwise gradient of the relaxed ELBO at temperature 0.5 (biased);
- ``score``: the score-function estimator with the same per-element costs, no baseline
  (Rao-Blackwellised: each label's learning signal is its own point's terms);
- the backend's own ELBOs on the same model, one model run per draw
  (``tests/discrete_draws.upstream_draws``): Pyro's ``Trace_ELBO`` (its score-function
  learning signal is summed to the site's plates: with the mixture's labels in a data
  plate, each label's own point's terms; the same costs as ``score``); NumPyro's
  ``Trace_ELBO`` (no score-function term at all: biased for a discrete guide site) and
  ``TraceGraph_ELBO`` (per-plate costs, as ``score``); and, on the mixture, the same ELBO
  on the model written without a data plate (``no plate``: labels and observations as
  ``to_event(1)`` sites), whose learning signal for every label is the whole run's ELBO:
  the plain score-function estimator, ``plain`` below (on the bit, the site has no plate
  and the backend's ELBO is already that one).

Printed per row: the largest |mean - exact| / standard error over the logits' elements
(below 3 for an unbiased estimator), the variance averaged over elements, the variance of
the plain score-function estimator over this one (``plain/this``) and that of ``score``
over this one (``score/this``). ``rebar tuned`` is followed by its mean, standard error
and the exact gradient for each element.

Usage: ``PYTHONPATH=. python benchmarks/discrete.py [--reps 4000] [--tune 200]
[--backends pyro numpyro]``.
"""

import argparse
import time

import numpy as np

from tests.discrete_draws import numpyro_draws, pyro_draws, upstream_draws
from tests.discrete_reference import BERNOULLI_LOGITS, MIXTURE_LOGITS, exact_gradient

# the backend's own ELBO rows: (label, loss, data plate); the last is ``plain``
UPSTREAM = {
    ("pyro", "bernoulli"): [("Trace_ELBO", "Trace_ELBO", True)],
    ("numpyro", "bernoulli"): [
        ("Trace_ELBO", "Trace_ELBO", True),
        ("TraceGraph_ELBO", "TraceGraph_ELBO", True),
    ],
    ("pyro", "mixture"): [
        ("Trace_ELBO", "Trace_ELBO", True),
        ("Trace_ELBO no plate", "Trace_ELBO", False),
    ],
    ("numpyro", "mixture"): [
        ("Trace_ELBO", "Trace_ELBO", True),
        ("TraceGraph_ELBO", "TraceGraph_ELBO", True),
        ("TraceGraph no plate", "TraceGraph_ELBO", False),
    ],
}
LOGITS = {
    "bernoulli": {"0": 0.0, "non-zero": BERNOULLI_LOGITS},
    "mixture": {"0": np.zeros((3, 3)), "non-zero": MIXTURE_LOGITS},
}


def _row(g: np.ndarray, exact: np.ndarray, start: float) -> tuple[float, float, float]:
    """Max |mean - exact| / standard error, mean variance over elements, seconds."""
    mean, se = g.mean(0), g.std(0) / np.sqrt(len(g))
    return np.max(np.abs(mean - exact) / se), g.var(0).mean(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--tune", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["pyro", "numpyro"])
    args = parser.parse_args()
    if "numpyro" in args.backends:
        import jax

        jax.config.update("jax_enable_x64", True)
    draws_of = {"pyro": pyro_draws, "numpyro": numpyro_draws}
    np.set_printoptions(precision=3, suppress=True)
    for backend in args.backends:
        for model, settings in LOGITS.items():
            for label, logits in settings.items():
                exact = np.asarray(exact_gradient(model, np.asarray(logits)))
                print(f"\n{backend}  {model}  logits {label}  (reps {args.reps})")
                print(
                    f"{'estimator':<20} {'max |z|':>8} {'variance':>10} {'plain/this':>11} "
                    f"{'score/this':>11} {'s':>6}"
                )
                rows = {}
                for name, estimator, tune in [
                    ("rebar", "rebar", 0),
                    ("rebar tuned", "rebar", args.tune),
                    ("relaxed", "relaxed", 0),
                    ("score", "score", 0),
                ]:
                    start = time.perf_counter()
                    g = draws_of[backend](model, logits, estimator, args.reps, tune_steps=tune)
                    rows[name] = _row(g, exact, start)
                    if name == "rebar tuned":
                        tuned = (g.mean(0), g.std(0) / np.sqrt(len(g)))
                for name, loss, plate in UPSTREAM[backend, model]:
                    start = time.perf_counter()
                    g = upstream_draws(backend, model, logits, loss, args.reps, data_plate=plate)
                    rows[name] = _row(g, exact, start)
                plain, score = rows[name][1], rows["score"][1]
                for name, (z, variance, seconds) in rows.items():
                    print(
                        f"{name:<20} {z:8.2f} {variance:10.4f} {plain / variance:11.1f} "
                        f"{score / variance:11.1f} {seconds:6.1f}"
                    )
                print("rebar tuned mean:", np.ravel(tuned[0]))
                print("            se:  ", np.ravel(tuned[1]))
                print("exact:           ", np.ravel(exact))


if __name__ == "__main__":
    main()
