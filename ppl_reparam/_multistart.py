"""Backend-neutral multi-start phase of ``fit`` (no torch or jax import).

Why: the ELBO of an ODE model has spurious local optima. On the lynx-hare
Lotka-Volterra model, SVI started from one random initialisation stops at a
wrong optimum, a posterior mean several posterior sds away with sds several times
too small, in most seeds; several short runs from different initialisations,
of which the one with the best ELBO is continued, reach the posterior. Most
models (unimodal posteriors) do not need it and should not pay for it, so by default
``fit`` runs it only for models that solve an ODE (``ode.solve`` in the model) and for
fits with ``RelaxedControlVariateELBO`` (discrete latent sites left to the guide), whose
discrete ELBO has the spurious optima of a mixture (a component left empty); there
``AutoPathwiseGuide``'s discrete sites start at their conditional law given each start's
other values.

The phase: ``num_starts`` runs of ``start_steps`` optimisation steps each: run 0 from
the guide's own initialisation, the others from the ``num_starts - 1`` draws with the
highest log joint density among :data:`SCREEN_DRAWS` draws from the prior (one
vectorised evaluation: a single prior draw lands in the basin of the right optimum
rarely, about 1 in 20 on Lotka-Volterra, the best of a thousand often). The score of a
run is its mean loss (negative ELBO estimate) over its last half; the best run's state
and losses continue in the main loop, whose step budget they count against.

With discrete latent sites the screen first sets each draw's labels to their conditional
modes given its other values (:func:`ppl_reparam._rebar.conditional_modes`): the prior's
labels are random, so their log density ranks draws by the labels' luck. On the K = 4
mixture the best of 8 starts then has every component on a cluster in every seed
measured; with the prior's labels none of seed 0's 8 starts separated the clusters
(docs/guide/discrete_gradients.md).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: starts of the multi-start phase for models that solve an ODE
ODE_NUM_STARTS = 8
#: starts for a fit with ``RelaxedControlVariateELBO`` (fit's default loss for models
#: with discrete latent sites neither enumerated nor relaxed): from a single start, the
#: discrete ELBO of a mixture often stops at an optimum with a component left empty
#: (measured: docs/guide/discrete_gradients.md)
DISCRETE_NUM_STARTS = 8
#: prior draws screened by their log joint density for the starts after the first,
#: where the backend evaluates them all in one vectorised call (NumPyro: ``vmap``)
SCREEN_DRAWS = 1000
#: the same, where each draw costs a model run and its ODE solve in eager Python (Pyro:
#: a forward solve without gradients, a fraction of a step's cost); as many draws as
#: the vectorised screen, since with 100 the best draws missed the posterior's basin
#: on Lotka-Volterra (a 6000-step Pyro fit ended 11.7 sd off, seed 0)
SEQUENTIAL_SCREEN_DRAWS = SCREEN_DRAWS


def best_draws(log_joint: "np.ndarray", k: int) -> list[int]:
    """Indices of the ``k`` draws with the highest finite log joint density, best first
    (fewer when fewer are finite)."""
    log_joint = np.where(np.isfinite(log_joint), log_joint, -np.inf)
    order = np.argsort(-log_joint, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(log_joint[i])]


def check_num_starts(num_starts: "int | None") -> None:
    if num_starts is None:
        return
    if isinstance(num_starts, bool) or not isinstance(num_starts, int) or num_starts < 1:
        raise ValueError(f"fit: num_starts must be None or an integer >= 1, got {num_starts!r}")


def resolve_num_starts(num_starts: "int | None", solves_ode: bool, discrete: bool = False) -> int:
    """``num_starts`` as given, or the default: :data:`ODE_NUM_STARTS` for a model that
    solves an ODE, :data:`DISCRETE_NUM_STARTS` for a fit whose loss is
    ``RelaxedControlVariateELBO`` (``discrete``: discrete latent sites left to the
    guide), 1 (no multi-start phase) for any other."""
    if num_starts is not None:
        return num_starts
    if solves_ode:
        return ODE_NUM_STARTS
    return DISCRETE_NUM_STARTS if discrete else 1


def start_steps(num_steps: int) -> int:
    """Steps of each start: 10% of the budget, between 100 and 500."""
    return min(max(num_steps // 10, 100), 500, num_steps)


def sequential_screen_draws(num_steps: int) -> int:
    """Prior draws a backend that runs the model once per draw screens:
    :data:`SEQUENTIAL_SCREEN_DRAWS`, but no more than ``num_steps`` (a draw costs less
    than a step's forward pass, so the screening never costs more than the fit)."""
    return min(SEQUENTIAL_SCREEN_DRAWS, num_steps)


def score(losses: Sequence[float]) -> float:
    """Mean loss over the last half of a run; a run with a non-finite loss scores inf."""
    tail = list(losses[len(losses) // 2 :])
    if not tail or not all(math.isfinite(x) for x in tail):
        return math.inf
    return sum(tail) / len(tail)


def best_start(
    run: Callable[[int, int], tuple[Any, list[float]]], num_starts: int, steps: int
) -> tuple[Any, list[float], list[float]]:
    """Run ``run(start, steps) -> (state, losses)`` for every start and return the
    best run's state and losses, and every run's score."""
    best, scores = None, []
    for start in range(num_starts):
        state, losses = run(start, steps)
        scores.append(score(losses))
        if best is None or scores[-1] < scores[best[0]]:
            best = (start, state, losses)
    return best[1], best[2], scores
