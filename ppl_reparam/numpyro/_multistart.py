"""The NumPyro side of fit's multi-start phase (the logic: :mod:`ppl_reparam._multistart`)."""

import math

import jax
import numpyro
from numpyro import handlers
from numpyro.infer import SVI
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


def multistart(svi: SVI, state, model, seed: int, num_starts, num_steps: int, args, kwargs):
    """The state to start the main loop from, and the losses of the steps it took:
    ``(state, [])`` when there is no multi-start phase."""
    key = jax.random.PRNGKey(seed)
    num_starts = _multistart.resolve_num_starts(num_starts, solves_ode(model, key, args, kwargs))
    if num_starts == 1 or num_steps == 0:
        return state, []
    update = jax.jit(lambda s: svi.update(s, *args, **kwargs))

    def run(start: int, steps: int):
        fresh = start > 0
        run_state = svi.init(jax.random.fold_in(key, start), *args, **kwargs) if fresh else state
        losses = []
        for _ in range(steps):
            new_state, loss = update(run_state)
            losses.append(float(loss))
            if not math.isfinite(losses[-1]):
                break  # keep the last finite state; the run scores inf
            run_state = new_state
        return run_state, losses

    best, losses, _ = _multistart.best_start(run, num_starts, _multistart.start_steps(num_steps))
    return best, losses
