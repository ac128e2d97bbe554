"""Backend-neutral pieces of the fit loop (no torch or jax import)."""

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.schedules import Constant, Schedule


class NonFiniteLossError(FloatingPointError):
    """The loss or a gradient became NaN/inf. ``result`` holds the fit up to the last
    step whose loss and gradients were finite (its parameters are those before the bad
    step); ``sites`` names the sample sites whose log density was non-finite there."""

    def __init__(self, message: str, result: "Any", sites: list[str]):
        super().__init__(message)
        self.result = result
        self.sites = sites


@dataclass
class FitResult:
    """What :func:`fit` returns.

    :ivar params: the fitted parameters, constrained (name -> array).
    :ivar losses: the loss at every step run, resumed steps included.
    :ivar model: the model, :ivar guide: the guide, :ivar args/kwargs: the data they
        were fitted to (what posterior sampling and ArviZ export need); when a
        temperature was given, ``kwargs`` carries ``relax_temperature`` at the last step
        run.
    """

    params: dict
    losses: list[float]
    model: Any
    guide: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    state: Any = None  # backend optimizer state (NumPyro SVIState), for continuing


def as_schedule(temperature: "float | Schedule | None") -> Schedule | None:
    if temperature is None or isinstance(temperature, Schedule):
        return temperature
    return Constant(temperature)


def result_kwargs(kwargs: dict, schedule: Schedule | None, steps_run: int) -> dict:
    """The keyword arguments a fit result keeps: those of its last step."""
    return dict(step_kwargs(kwargs, schedule, max(steps_run - 1, 0)))


def step_kwargs(kwargs: dict, schedule: Schedule | None, step: int) -> dict:
    """The keyword arguments of one step: the user's, plus the temperature if annealing."""
    if schedule is None:
        return kwargs
    return {**kwargs, TEMPERATURE_KWARG: schedule(step)}


def check_fit_args(num_steps: int, checkpoint_every: int | None, checkpoint_path) -> None:
    if not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"fit: num_steps must be an integer >= 0, got {num_steps!r}")
    if checkpoint_every is not None:
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(
                f"fit: checkpoint_every must be an integer >= 1, got {checkpoint_every!r}"
            )
        if checkpoint_path is None:
            raise ValueError("fit: checkpoint_every needs checkpoint_path")


def save_checkpoint(path: "str | Path", payload: dict) -> None:
    """Write atomically: a crash mid-write never leaves a truncated checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(payload, f)
    tmp.replace(path)


def load_checkpoint(path: "str | Path") -> dict | None:
    path = Path(path)
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return pickle.load(f)


def non_finite_message(step: int, loss: float, sites: list[str], bad_grads: list[str]) -> str:
    parts = [f"fit: non-finite loss or gradient at step {step} (loss={loss})"]
    if sites:
        parts.append(f"sample sites with a non-finite log density: {', '.join(sites)}")
    if bad_grads:
        parts.append(f"parameters with a non-finite gradient: {', '.join(bad_grads)}")
    parts.append("the last finite parameters are in the error's `result`")
    return "; ".join(parts)
