"""An SVI loop that loses nothing (Pyro): progress bar, annealing, checkpoints, and a
clear error naming the sites where the loss or a gradient stopped being finite."""

import math
from collections.abc import Callable

import pyro
import pyro.infer.util
import torch
from pyro import poutine
from pyro.infer import ELBO, Trace_ELBO
from pyro.optim import Adam, PyroOptim
from tqdm.auto import tqdm

from ppl_reparam import _fit
from ppl_reparam._fit import FitResult, NonFiniteLossError
from ppl_reparam.schedules import Schedule

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
    _fit.check_fit_args(num_steps, checkpoint_every, checkpoint_path)
    optim = Adam({"lr": 0.01}) if optim is None else optim
    loss = Trace_ELBO() if loss is None else loss
    schedule = _fit.temperature_schedule(temperature, model, range(num_steps))
    losses: list[float] = []
    start = 0
    checkpoint = _fit.load_checkpoint(checkpoint_path) if checkpoint_path else None
    if checkpoint is not None:
        pyro.get_param_store().set_state(checkpoint["params"])
        optim.set_state(checkpoint["optim"])
        torch.set_rng_state(checkpoint["rng"])
        losses, start = list(checkpoint["losses"]), checkpoint["step"]
    else:
        pyro.set_rng_seed(seed)

    def result() -> FitResult:
        kept = _fit.result_kwargs(kwargs, schedule, len(losses))
        return FitResult(_params(), list(losses), model, guide, args, kept)

    bar = tqdm(range(start, num_steps), disable=not progress_bar, desc="fit")
    for step in bar:
        call_kwargs = _fit.step_kwargs(kwargs, schedule, step)
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
            message = _fit.failed_step_message(step, sites, err)
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
            # the optimizer has not stepped: the store still holds the last finite values
            message = _fit.non_finite_message(step, value, sites, bad_grads)
            raise NonFiniteLossError(message, result(), list(sites))
        optim(set(params.values()))
        pyro.infer.util.zero_grads(set(params.values()))
        losses.append(value)
        if progress_bar and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")
        if checkpoint_every and (step + 1) % checkpoint_every == 0:
            _fit.save_checkpoint(
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


fit.__doc__ = _fit.FIT_DOC.format(
    backend="pyro",
    optim='a Pyro optimizer (default ``Adam({"lr": 0.01})``).',
    temperature_note="",
    checkpoint="parameters, optimizer state, RNG state, losses",
    seed="seeds Pyro's RNGs at the start of a fresh run.",
    returns="",
    extra="Uses the global Pyro param store, like :class:`pyro.infer.SVI`.\n",
)
