"""The NumPyro side of fit's multi-start phase (the logic: :mod:`ppl_reparam._multistart`)."""

import math

import jax
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.infer import SVI, Predictive, init_to_value
from numpyro.infer.util import log_density
from numpyro.primitives import Messenger

from ppl_reparam import _multistart, _rebar
from ppl_reparam._ode import STATUS_TYPE


class collect_status(Messenger):
    """Keep the status messages of the ODE solves run under it (``.records``)."""

    def __init__(self, fn=None):
        self.records = []
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == STATUS_TYPE:
            self.records.append(msg)


def solves_ode(model, rng_key, args, kwargs) -> bool:
    """Whether one run of ``model`` (latents drawn from the prior) solves an ODE."""
    collector = collect_status()
    with numpyro.validation_enabled(False), collector:
        handlers.seed(model, rng_key)(*args, **kwargs)
    return bool(collector.records)


def init(svi: SVI, rng_key, args, kwargs, values: dict | None = None):
    """``svi.init`` with validation off, so that an initialisation whose ODE solve fails
    (NaN log density) is redrawn by NumPyro's search for a finite start instead of
    raising. ``values``: an autoguide is set up again starting at these latent values
    (any other guide keeps its own initialisation)."""
    guide = svi.guide
    reset = values is not None and hasattr(guide, "prototype_trace")
    saved = getattr(guide, "init_loc_fn", None)
    if reset:
        guide.prototype_trace, guide.init_loc_fn = None, init_to_value(values=values)
    try:
        with numpyro.validation_enabled(False):
            return svi.init(rng_key, *args, **kwargs)
    finally:
        if reset:
            guide.init_loc_fn = saved


def screened_draws(model, rng_key, k: int, args, kwargs, discrete: bool = False) -> list[dict]:
    """The ``k`` prior draws of the latent sites with the highest log joint density
    among :data:`~ppl_reparam._multistart.SCREEN_DRAWS`. ``discrete``: each draw's
    discrete latent sites are first set to their conditional modes given its other
    values (:func:`ppl_reparam._rebar.conditional_modes`, mapped over the draws)."""
    with numpyro.validation_enabled(False):
        prior = handlers.trace(handlers.seed(model, rng_key)).get_trace(*args, **kwargs)
        names = [n for n, s in prior.items() if s["type"] == "sample" and not s["is_observed"]]
        draws = Predictive(model, num_samples=_multistart.SCREEN_DRAWS, return_sites=names)(
            rng_key, *args, **kwargs
        )
        if discrete:
            draws = jax.vmap(lambda v: _at_conditional_modes(model, v, args, kwargs))(draws)
        joint = jax.vmap(lambda v: log_density(model, args, kwargs, v)[0])(draws)
    best = _multistart.best_draws(np.asarray(joint), k)
    return [{n: draws[n][i] for n in names} for i in best]


def _at_conditional_modes(model, values: dict, args, kwargs) -> dict:
    """``values`` (one draw of the latent sites) with the discrete latent sites at their
    conditional modes."""
    from ppl_reparam.numpyro import _scan
    from ppl_reparam.numpyro.estimators import OPS  # it imports this module

    def run_model(changed: dict) -> list:
        substituted = handlers.substitute(model, data={**values, **changed})
        return _scan.labelled_run(substituted, "fit", args, kwargs)

    return {**values, **_rebar.conditional_modes(OPS, run_model({}), run_model)}


def multistart(
    svi: SVI,
    state,
    model,
    seed: int,
    num_starts,
    num_steps: int,
    args,
    kwargs,
    discrete: bool = False,
):
    """The state to start the main loop from, and the losses of the steps it took:
    ``(state, [])`` when there is no multi-start phase. ``num_starts``: an integer (see
    :func:`ppl_reparam._multistart.resolve_num_starts`); ``discrete``: the loss is
    ``RelaxedControlVariateELBO`` (the screen sets the discrete sites of each draw to
    their conditional modes)."""
    key = jax.random.PRNGKey(seed)
    if num_starts == 1 or num_steps == 0:
        return state, []
    update = jax.jit(lambda s: svi.update(s, *args, **kwargs))
    starts = screened_draws(
        model, jax.random.fold_in(key, 1), num_starts - 1, args, kwargs, discrete
    )

    def run(start: int, steps: int):
        if start == 0:
            run_state = state
        else:
            values = starts[(start - 1) % len(starts)] if starts else None
            run_state = init(svi, jax.random.fold_in(key, start), args, kwargs, values)
        losses = []
        for _ in range(steps):
            new_state, loss = update(run_state)
            if not math.isfinite(float(loss)):
                # stop at the last finite state: the run scores inf, and if it is kept
                # the main loop meets the failure again and diagnoses it
                return run_state, losses + [math.inf]
            losses.append(float(loss))
            run_state = new_state
        return run_state, losses

    best, losses, _ = _multistart.best_start(run, num_starts, _multistart.start_steps(num_steps))
    return best, [x for x in losses if math.isfinite(x)]  # the marker of a failed run
