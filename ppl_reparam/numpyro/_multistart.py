"""The NumPyro side of fit's multi-start phase (the logic: :mod:`ppl_reparam._multistart`)."""

import math

import jax
import numpyro
from numpyro import handlers
from numpyro.infer import SVI, init_to_sample
from numpyro.primitives import Messenger

from ppl_reparam import _multistart
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


def init(svi: SVI, rng_key, args, kwargs, fresh: bool = False):
    """``svi.init`` with validation off, so that an initialisation whose ODE solve fails
    (NaN log density) is redrawn by NumPyro's search for a finite start instead of
    raising. ``fresh``: the guide draws new initial values from the prior (an autoguide
    set up again with ``init_to_sample``; any other guide keeps its own)."""
    guide = svi.guide
    reset = fresh and hasattr(guide, "prototype_trace") and hasattr(guide, "init_loc_fn")
    saved = guide.init_loc_fn if reset else None
    if reset:
        guide.prototype_trace, guide.init_loc_fn = None, init_to_sample
    try:
        with numpyro.validation_enabled(False):
            return svi.init(rng_key, *args, **kwargs)
    finally:
        if reset:
            guide.init_loc_fn = saved


def multistart(svi: SVI, state, model, seed: int, num_starts, num_steps: int, args, kwargs):
    """The state to start the main loop from, and the losses of the steps it took:
    ``(state, [])`` when there is no multi-start phase."""
    key = jax.random.PRNGKey(seed)
    num_starts = _multistart.resolve_num_starts(num_starts, solves_ode(model, key, args, kwargs))
    if num_starts == 1 or num_steps == 0:
        return state, []
    update = jax.jit(lambda s: svi.update(s, *args, **kwargs))

    def run(start: int, steps: int):
        if start == 0:
            run_state = state
        else:
            run_state = init(svi, jax.random.fold_in(key, start), args, kwargs, fresh=True)
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
