"""The Pyro side of fit's multi-start phase (the logic: :mod:`ppl_reparam._multistart`).

Pyro keeps the parameters in the global param store, so a start is a param store
state: each start runs in a store reset to what it held when ``fit`` began (an
autoguide is set up again at the start's latent values), and the best start's
parameters, the very tensors its optimizer state is keyed by, are put back for the
main loop. A guide other than an autoguide starts again from its ``pyro.param`` inits;
one that holds its parameters as ``PyroModule`` attributes cannot be re-initialised
from outside and continues from the previous start's values instead."""

import math

import numpy as np
import pyro
import pyro.infer.util
import torch
from pyro import poutine
from pyro.infer.autoguide.initialization import InitMessenger, init_to_value
from pyro.poutine.messenger import Messenger

from ppl_reparam import _multistart, _rebar

# the errors a step of a diverging start raises with validation off (torchdiffeq, linalg)
_STEP_ERRORS = (ValueError, RuntimeError, AssertionError)


class collect_status(Messenger):
    """Keep the status messages of the ODE solves run under it (``.records``). Defined
    here, not in :mod:`ppl_reparam.pyro.ode`, so that a model that imports that module
    only when it runs is still seen to solve an ODE."""

    def __init__(self):
        self.records = []
        super().__init__()

    def _pyro_ode_status(self, msg) -> None:
        self.records.append(msg)


def probe(model, args, kwargs) -> tuple:
    """One run of ``model`` with its latents drawn from the prior: its trace (``None``
    when it fails; fit's first step raises the failure again, diagnosed) and whether it
    solved an ODE. Leaves torch's RNG as it found it, so a fit runs as if never asked;
    ``fit`` reads both its default loss and its ODE defaults off this one run."""
    rng = torch.get_rng_state()
    try:
        with pyro.validation_enabled(False), torch.no_grad(), collect_status() as collector:
            trace = poutine.trace(model).get_trace(*args, **kwargs)
    except Exception:  # noqa: BLE001 - fit's first step raises it again, diagnosed
        return None, False
    finally:
        torch.set_rng_state(rng)
    return trace, bool(collector.records)


def solves_ode(model, args, kwargs) -> bool:
    """Whether one run of ``model`` (latents drawn from the prior) solves an ODE (see
    :func:`probe`)."""
    return probe(model, args, kwargs)[1]


def screened_draws(
    model, k: int, num_draws: int, args, kwargs, discrete: bool = False
) -> list[dict]:
    """The ``k`` prior draws of the latent sites with the highest log joint density
    among ``num_draws`` (one model run each: Pyro cannot map a model over a batch of
    draws); a draw whose ODE solve failed is out. ``discrete``: each draw's discrete
    latent sites are first set to their conditional modes given its other values
    (:func:`ppl_reparam._rebar.conditional_modes`: one more model run per category)."""
    draws, joint = [], np.full(num_draws, -np.inf)
    with pyro.validation_enabled(False), torch.no_grad():
        for i in range(len(joint)):
            with collect_status() as collector:
                trace = poutine.trace(model).get_trace(*args, **kwargs)
            if discrete:
                trace = _at_conditional_modes(model, trace, args, kwargs)
            draws.append(
                {
                    name: site["value"]
                    for name, site in trace.nodes.items()
                    if site["type"] == "sample" and not site["is_observed"]
                }
            )
            if not any(bool(torch.as_tensor(r["value"]).any()) for r in collector.records):
                joint[i] = float(trace.log_prob_sum())
    return [draws[i] for i in _multistart.best_draws(joint, k)]


def rerun(model, trace, values: dict, args, kwargs):
    """The trace of ``model`` replaying ``trace`` with the sites in ``values`` set to
    them."""
    changed = trace.copy()
    for name, value in values.items():
        changed.nodes[name] = {**changed.nodes[name], "value": value}
    return poutine.trace(poutine.replay(model, trace=changed)).get_trace(*args, **kwargs)


def _at_conditional_modes(model, trace, args, kwargs):
    """``trace`` run again with its discrete latent sites at their conditional modes."""
    from ppl_reparam.pyro.estimators import OPS  # it imports this module

    def run_model(values: dict) -> list:
        return list(rerun(model, trace, values, args, kwargs).nodes.values())

    modes = _rebar.conditional_modes(OPS, list(trace.nodes.values()), run_model)
    return rerun(model, trace, modes, args, kwargs) if modes else trace


def _reset_guide(guide, model, values: dict, args, kwargs) -> None:
    """Set an autoguide up again, its latent sites initialised at ``values`` (the sites
    not in ``values`` by the guide's own ``init_loc_fn``)."""
    adapt = getattr(guide, "_adapt_init_loc_fn", lambda init: init)
    init = adapt(init_to_value(values=values, fallback=guide.init_loc_fn))
    saved = guide._model  # the model wrapped in the guide's own init handler
    guide._model = (InitMessenger(init)(model),)
    guide.prototype_trace = None
    try:
        with pyro.validation_enabled(False):
            guide._setup_prototype(*args, **kwargs)
    finally:
        guide._model = saved


def _step(loss, optim, model, guide, args, kwargs) -> float:
    """One SVI step; a non-finite loss or gradient takes none (NaN is returned)."""
    try:
        with poutine.trace(param_only=True) as capture:
            value = float(loss.loss_and_grads(model, guide, *args, **kwargs))
    except _STEP_ERRORS:
        value = math.nan
    params = {site["value"].unconstrained() for site in capture.trace.nodes.values()}
    grads = [p.grad for p in params if p.grad is not None]
    if math.isfinite(value) and all(bool(torch.isfinite(g).all()) for g in grads):
        optim(params)
    else:
        value = math.nan
    pyro.infer.util.zero_grads(params)
    return value


def multistart(
    model, guide, loss, optim, num_starts, num_steps: int, args, kwargs, discrete: bool = False
) -> list:
    """Run the phase in the global param store and leave the best start's parameters
    there (their optimizer state in ``optim``); returns the losses of its steps, which
    the main loop continues (``[]`` when there is no phase). ``num_starts``: an integer
    (see :func:`ppl_reparam._multistart.resolve_num_starts`); ``discrete``: the loss is
    ``RelaxedControlVariateELBO`` (the screen sets the discrete sites of each draw to
    their conditional modes)."""
    if num_starts == 1 or num_steps == 0:
        return []
    store = pyro.get_param_store()
    initial = store.get_state()
    initial["params"] = {k: v.detach().clone() for k, v in initial["params"].items()}
    num_draws = _multistart.sequential_screen_draws(num_steps)
    starts = screened_draws(model, num_starts - 1, num_draws, args, kwargs, discrete)
    reset = hasattr(guide, "init_loc_fn") and hasattr(guide, "_setup_prototype")
    prefix = getattr(guide, "_pyro_name", None)

    def run(start: int, steps: int):
        if start > 0:
            # a fresh copy of what the store held at the start, less the guide's own
            # parameters when the guide is set up again at the start's values
            values = None
            if reset:  # no finite draw: the guide's own initialisation again
                values = starts[(start - 1) % len(starts)] if starts else {}
            store.clear()
            store.set_state(
                {
                    "params": {
                        name: value.clone().requires_grad_()
                        for name, value in initial["params"].items()
                        if values is None or not name.startswith(f"{prefix}.")
                    },
                    "constraints": dict(initial["constraints"]),
                }
            )
            if values is not None:
                _reset_guide(guide, model, values, args, kwargs)
        losses = []
        with pyro.validation_enabled(False):
            for _ in range(steps):
                value = _step(loss, optim, model, guide, args, kwargs)
                if not math.isfinite(value):
                    # the run scores inf; if kept, the main loop meets the failure
                    # again and diagnoses it
                    return store.get_state(), losses + [math.inf]
                losses.append(value)
        return store.get_state(), losses

    best, losses, _ = _multistart.best_start(run, num_starts, _multistart.start_steps(num_steps))
    store.clear()
    store.set_state(best)
    for param in [p for p in optim.optim_objs if store.param_name(p) is None]:
        del optim.optim_objs[param]  # the optimizer states of the other starts
        optim.grad_clip.pop(param, None)
    return [x for x in losses if math.isfinite(x)]  # the marker of a failed run
