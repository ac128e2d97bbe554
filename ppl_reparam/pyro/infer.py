"""An SVI loop that loses nothing (Pyro): progress bar, annealing, checkpoints, and a
clear error naming the sites where the loss or a gradient stopped being finite."""

import math
import sys

import pyro
import pyro.infer.util
import torch
from pyro import poutine
from pyro.infer import ELBO
from pyro.optim import Adam, PyroOptim

from ppl_reparam import _fit
from ppl_reparam._fit import FitResult, NonFiniteLossError
from ppl_reparam._guides import PathwiseGuide
from ppl_reparam.pyro._multistart import multistart, probe
from ppl_reparam.pyro.estimators import (  # noqa: F401
    RelaxedControlVariateELBO,
    default_loss,
    loss_for_trace,
)

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


def _count_non_finite(x) -> tuple[int, int]:
    x = torch.as_tensor(x)
    return int((~torch.isfinite(x)).sum()), x.numel()


def _non_finite_sites(model, guide, args, kwargs) -> dict[str, list[str]]:
    """Sample sites of model and guide whose log density is not finite, for one draw,
    with the reason (see :func:`ppl_reparam._fit.non_finite_sites`).

    Validation is off while tracing, so a parameter gone out of its support shows up as
    a non-finite density at its site rather than as an exception here. A guide that
    cannot run (an autoguide initialised on NaN data) leaves the model's prior draw."""
    with pyro.validation_enabled(False), torch.no_grad():
        traces = []
        try:
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            traces.append(("guide", guide_trace.nodes.items()))
            model = poutine.replay(model, trace=guide_trace)
        except (ValueError, RuntimeError):
            pass
        try:
            traces.append(("model", poutine.trace(model).get_trace(*args, **kwargs).nodes.items()))
        except (ValueError, RuntimeError):
            pass
        return _fit.non_finite_sites(traces, _count_non_finite)


def _ode_failure(model, guide, args, kwargs) -> str:
    """The failed ODE solves of one draw, as text ('' when none failed)."""
    ode = sys.modules.get("ppl_reparam.pyro.ode")  # not imported: no model solved an ODE
    return "" if ode is None else ode.failure_report(model, guide, args, kwargs)


def _checkpoint_state(optim: PyroOptim, average: "_fit.IterateAverage | None") -> dict:
    return {
        "params": pyro.get_param_store().get_state(),
        "optim": optim.get_state(),
        "rng": torch.get_rng_state(),
        **(average.checkpoint() if average is not None else {}),
    }


def _params() -> dict:
    store = pyro.get_param_store()
    return {name: store[name].detach().clone() for name in store.keys()}


def _unconstrained() -> dict:
    return {name: p.detach().clone() for name, p in pyro.get_param_store().named_parameters()}


def _set_unconstrained(values: dict) -> None:
    """Put ``values`` (unconstrained) into the param store, so the guide uses them."""
    with torch.no_grad():
        for name, p in pyro.get_param_store().named_parameters():
            if name in values:
                p.copy_(values[name])


def _loop(call: _fit.FitCall) -> FitResult:
    model, guide, args = call.model, call.guide, call.args
    optim = Adam({"lr": 0.01}) if call.optim is None else call.optim
    trace, solves_ode = probe(model, args, call.step_kwargs(0))  # one prior run for both
    loss = loss_for_trace(trace) if call.loss is None else call.loss
    discrete = isinstance(loss, RelaxedControlVariateELBO)
    call = _fit.resolve_defaults(call, solves_ode, discrete)
    losses: list[float] = []
    start = 0
    checkpoint = _fit.load_checkpoint(call.checkpoint_path) if call.checkpoint_path else None
    if checkpoint is not None:
        pyro.get_param_store().set_state(checkpoint["params"])
        optim.set_state(checkpoint["optim"])
        torch.set_rng_state(checkpoint["rng"])
        losses, start = list(checkpoint["losses"]), checkpoint["step"]
    else:
        pyro.set_rng_seed(call.seed)
        losses = multistart(
            model,
            guide,
            loss,
            optim,
            call.num_starts,
            call.num_steps,
            args,
            call.step_kwargs(0),
            discrete,
        )
        start = len(losses)
    average = call.iterate_average(checkpoint)

    def result() -> FitResult:
        kept = call.result_kwargs(len(losses))
        return FitResult(_params(), list(losses), model, guide, args, kept)

    # the step before which the guide's plate-local discrete sites are refreshed
    refresh_at = call.refresh_step() if discrete and isinstance(guide, PathwiseGuide) else None
    bar = _fit.progress_bar(range(start, call.num_steps), call.progress_bar)
    for step in bar:
        call_kwargs = call.step_kwargs(step)
        if step == refresh_at:
            guide.refresh_discrete(*args, **call_kwargs)  # the optimizer's moments kept
        rng = torch.get_rng_state()
        try:
            with poutine.trace(param_only=True) as capture:
                value = loss.loss_and_grads(model, guide, *args, **call_kwargs)
        except (ValueError, RuntimeError) as err:
            # Pyro's validation stops at the first non-finite argument or value it meets
            torch.set_rng_state(rng)
            sites = _non_finite_sites(model, guide, args, call_kwargs)
            if not sites:
                raise
            torch.set_rng_state(rng)
            message = _fit.failed_step_message(step, sites, err)
            message += _ode_failure(model, guide, args, call_kwargs)
            raise NonFiniteLossError(message, result(), list(sites)) from err
        params = {name: site["value"].unconstrained() for name, site in capture.trace.nodes.items()}
        bad_grads = [
            name
            for name, p in params.items()
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
        ]
        value = float(value)
        if not math.isfinite(value) or bad_grads:
            pyro.infer.util.zero_grads(set(params.values()))
            torch.set_rng_state(rng)
            sites = _non_finite_sites(model, guide, args, call_kwargs)
            torch.set_rng_state(rng)
            # the optimizer has not stepped: the store still holds the last finite values
            message = _fit.non_finite_message(step, value, sites, bad_grads)
            message += _ode_failure(model, guide, args, call_kwargs)
            raise NonFiniteLossError(message, result(), list(sites))
        optim(set(params.values()))
        pyro.infer.util.zero_grads(set(params.values()))
        if average is not None:
            average.add(step, _unconstrained)
        call.record(step, value, losses, bar, lambda: _checkpoint_state(optim, average))
    if average is not None and average.count:
        _set_unconstrained(average.mean())
    return result()


fit = _fit.fit_function(
    _loop,
    "pyro",
    PyroOptim,
    ELBO,
    optim='a Pyro optimizer (default ``Adam({"lr": 0.01})``).',
    temperature_note="",
    checkpoint="parameters, optimizer state, RNG state, losses",
    seed="seeds Pyro's RNGs at the start of a fresh run.",
    returns="",
    num_starts=(
        "Default: 8 for a model that solves an ODE with ``ode.solve``, or when the loss "
        "is ``RelaxedControlVariateELBO`` (the default for discrete latent sites); their "
        "ELBOs have spurious optima that a single start falls into. 1 (none) for any other."
    ),
    average_note=("The param store holds the average after the fit (the guide samples from it)."),
    extra="\n    Uses the global Pyro param store, like :class:`pyro.infer.SVI`.\n",
)
