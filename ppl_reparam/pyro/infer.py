"""An SVI loop that loses nothing (Pyro): progress bar, annealing, checkpoints, and a
clear error naming the sites where the loss or a gradient stopped being finite."""

import math
import sys
from collections.abc import Callable

import pyro
import pyro.infer.util
import torch
from pyro import poutine
from pyro.infer import ELBO, Trace_ELBO
from pyro.optim import Adam, PyroOptim
from tqdm.auto import tqdm

from ppl_reparam._fit import (
    FitResult,
    NonFiniteLossError,
    as_schedule,
    check_fit_args,
    load_checkpoint,
    non_finite_message,
    result_kwargs,
    save_checkpoint,
    step_kwargs,
)
from ppl_reparam.schedules import Schedule

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


def _non_finite_sites(model, guide, args, kwargs) -> list[str]:
    """Sample sites of model and guide whose log density is not finite, for one draw.

    Validation is off while tracing, so a parameter gone out of its support shows up as
    a non-finite density at its site rather than as an exception here."""
    with pyro.validation_enabled(False):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        replayed = poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args, **kwargs)
    bad = []
    for prefix, trace in (("guide", guide_trace), ("model", model_trace)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample":
                continue
            with pyro.validation_enabled(False):
                log_p = site["fn"].log_prob(site["value"])
            if not bool(torch.isfinite(log_p).all()):
                bad.append(f"{name} ({prefix})")
    return bad


def _ode_failure(model, guide, args, kwargs) -> str:
    """The failed ODE solves of one draw, as text ('' when none failed)."""
    ode = sys.modules.get("ppl_reparam.pyro.ode")  # not imported: no model solved an ODE
    return "" if ode is None else ode.failure_report(model, guide, args, kwargs)


def _params() -> dict:
    store = pyro.get_param_store()
    return {name: store[name].detach().clone() for name in store.keys()}


def fit(
    model: Callable,
    guide: Callable,
    *args,
    num_steps: int,
    optim: PyroOptim | None = None,
    loss: ELBO | None = None,
    temperature: "float | Schedule | None" = None,
    checkpoint_path: str | None = None,
    checkpoint_every: int | None = None,
    seed: int = 0,
    progress_bar: bool = True,
    **kwargs,
) -> FitResult:
    """Fit ``guide`` to ``model`` by SVI for ``num_steps`` steps.

    :param optim: a Pyro optimizer (default ``Adam({"lr": 0.01})``).
    :param loss: an ELBO (default ``Trace_ELBO()``).
    :param temperature: a number or :class:`~ppl_reparam.schedules.Schedule`; if given,
        each step passes ``relax_temperature=temperature(step)`` to model and guide (see
        :func:`ppl_reparam.pyro.relax.relax`).
    :param checkpoint_path: file to write every ``checkpoint_every`` steps (parameters,
        optimizer state, RNG state, losses) and to resume from if it exists: a run
        interrupted and resumed gives the same losses as an uninterrupted one.
    :param seed: seeds Pyro's RNGs at the start of a fresh run.
    :returns: a :class:`FitResult`.
    :raises NonFiniteLossError: when the loss or a gradient becomes NaN/inf; its
        ``result`` holds the parameters of the last finite step and ``sites`` the sample
        sites whose log density was non-finite.

    Uses the global Pyro param store, like :class:`pyro.infer.SVI`.
    """
    check_fit_args(num_steps, checkpoint_every, checkpoint_path)
    optim = Adam({"lr": 0.01}) if optim is None else optim
    loss = Trace_ELBO() if loss is None else loss
    schedule = as_schedule(temperature)
    losses: list[float] = []
    start = 0
    checkpoint = load_checkpoint(checkpoint_path) if checkpoint_path else None
    if checkpoint is not None:
        pyro.get_param_store().set_state(checkpoint["params"])
        optim.set_state(checkpoint["optim"])
        torch.set_rng_state(checkpoint["rng"])
        losses, start = list(checkpoint["losses"]), checkpoint["step"]
    else:
        pyro.set_rng_seed(seed)

    def result() -> FitResult:
        kept = result_kwargs(kwargs, schedule, len(losses))
        return FitResult(_params(), list(losses), model, guide, args, kept)

    bar = tqdm(range(start, num_steps), disable=not progress_bar, desc="fit")
    for step in bar:
        call_kwargs = step_kwargs(kwargs, schedule, step)
        rng = torch.get_rng_state()
        try:
            with poutine.trace(param_only=True) as capture:
                value = loss.loss_and_grads(model, guide, *args, **call_kwargs)
        except ValueError:
            # validation rejects the NaN of a failed ODE solve: report it as non-finite
            torch.set_rng_state(rng)
            if not _ode_failure(model, guide, args, call_kwargs):
                raise
            value = math.nan
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
            message = non_finite_message(step, value, sites, bad_grads)
            message += _ode_failure(model, guide, args, call_kwargs)
            # the optimizer has not stepped: the store still holds the last finite values
            raise NonFiniteLossError(message, result(), sites)
        optim(set(params.values()))
        pyro.infer.util.zero_grads(set(params.values()))
        losses.append(value)
        if progress_bar and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")
        if checkpoint_every and (step + 1) % checkpoint_every == 0:
            save_checkpoint(
                checkpoint_path,
                {
                    "params": pyro.get_param_store().get_state(),
                    "optim": optim.get_state(),
                    "rng": torch.get_rng_state(),
                    "losses": list(losses),
                    "step": step + 1,
                },
            )
    return result()
