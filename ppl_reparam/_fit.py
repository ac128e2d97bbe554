"""Backend-neutral pieces of the fit loop (no torch or jax import)."""

import dataclasses
import math
import pickle
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from ppl_reparam._multistart import check_num_starts, resolve_num_starts
from ppl_reparam._relax import TEMPERATURE_KWARG, RelaxedModel
from ppl_reparam.schedules import Constant, Schedule

FIT_DOC = """Fit ``guide`` to ``model`` by SVI for ``num_steps`` steps.

    :param optim: {optim}
    :param loss: an ELBO (default: ``RelaxedControlVariateELBO()`` if the model has
        unobserved discrete sites neither enumerated nor relaxed, else ``Trace_ELBO()``).
    :param temperature: a number > 0 or a :class:`~ppl_reparam.schedules.Schedule`; if
        given, each step passes ``relax_temperature=temperature(step)`` to model and
        guide{temperature_note}. For a model made by
        :func:`~ppl_reparam.{backend}.relax.relax` the temperature is the model's own
        (a schedule is annealed step by step): leave ``temperature`` out, or give the
        same values; a ``temperature`` that disagrees with the model's at a step this
        fit runs is a ``ValueError``.
    :param checkpoint_path: file to write every ``checkpoint_every`` steps ({checkpoint})
        and to resume from if it exists: a run interrupted and resumed gives the same
        losses as an uninterrupted one.
    :param seed: {seed}
    :param num_starts: runs of a multi-start phase (see :mod:`ppl_reparam._multistart`):
        the guide's own start and the best prior draws by log joint density, a tenth of
        the budget each (100 to 500 steps), the best by ELBO continued; its steps count
        against ``num_steps``. {num_starts}
    :param average_last: an integer ``n`` in ``[1, num_steps]``: return the Polyak
        average of the iterates after each of the last ``n`` steps instead of the last
        iterate (SVI's iterates jitter by about the learning rate around the optimum;
        their average does not). ``0``: the last iterate. ``None`` (default): automatic,
        the last ``num_steps // 10`` iterates for a model that solves an ODE with
        ``ode.solve`` (whose posterior ridges the last iterate wanders along), the last
        ``num_steps // 4`` when the loss is ``RelaxedControlVariateELBO`` (the default
        for discrete latent sites: its one-draw estimates leave the iterates jittering;
        an ``AutoPathwiseGuide``'s plate-local discrete sites are also set once to their
        conditional law given its other sites' medians, at the start of the window or
        3/4 through the fit, whichever comes first), the last iterate for any other.
        The average is taken in the unconstrained space the optimizer works in, and
        mapped to the constrained space once: a positive parameter is the exp/softplus
        of its mean unconstrained value. ``losses`` stay per step. {average_note}
    :returns: a :class:`FitResult`{returns}.
    :raises NonFiniteLossError: when the loss or a gradient becomes NaN/inf, or a step
        (or the initialisation) fails on non-finite values (the backend's own error is
        chained as ``__cause__``). The message names each sample site whose log density is not
        finite and says why: non-finite observed data, or which arguments of the
        site's distribution (``loc``, ``scale``, ...) are non-finite. ``sites`` lists
        those sites (``"y (model)"``), ``result`` holds the parameters of the last
        finite step.
    {extra}"""


class NonFiniteLossError(FloatingPointError):
    """The loss or a gradient became NaN/inf. ``result`` holds the fit up to the last
    step whose loss and gradients were finite (its parameters are those before the bad
    step); ``sites`` names the sample sites whose log density was non-finite there, as
    ``"name (model)"`` or ``"name (guide)"``; the message says for each whether its
    observed data or which of its distribution's arguments are non-finite."""

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
        were fitted to (what posterior sampling and ArviZ export need); when the fit
        passed a temperature (``temperature=`` or a relaxed model's own), ``kwargs``
        carries ``relax_temperature`` at the last step run.
    """

    params: dict
    losses: list[float]
    model: Any
    guide: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    state: Any = None  # backend optimizer state (NumPyro SVIState), for continuing


@dataclass
class FitCall:
    """One call of ``fit`` with its arguments checked: what a backend's SVI loop runs.
    ``schedule`` is the temperature of each step (``None``: no annealing)."""

    model: Any
    guide: Any
    args: tuple
    kwargs: dict
    num_steps: int
    optim: Any
    loss: Any
    schedule: Callable | None
    checkpoint_path: "str | Path | None"
    checkpoint_every: int | None
    seed: int
    progress_bar: bool
    num_starts: int | None
    average_last: int | None = None

    def iterate_average(
        self, checkpoint: dict | None, tree_map: "Callable | None" = None
    ) -> "IterateAverage | None":
        """The running average of this fit's last iterates (``None``: no averaging),
        resumed from ``checkpoint`` if given; ``tree_map`` maps over nested parameters
        (default: a flat ``name -> array`` dict)."""
        if not self.average_last:  # None or 0: no averaging
            return None
        average = IterateAverage(self.num_steps - self.average_last, tree_map or _dict_map)
        if checkpoint is not None:
            average.resume(checkpoint, self.average_last)
        return average

    def refresh_step(self) -> int:
        """See :func:`refresh_step` (call it after :func:`resolve_defaults`)."""
        return refresh_step(self.num_steps, self.average_last)

    def step_kwargs(self, step: int) -> dict:
        """The keyword arguments of one step: the user's, plus the temperature."""
        return step_kwargs(self.kwargs, self.schedule, step)

    def result_kwargs(self, steps_run: int) -> dict:
        """The keyword arguments a fit result keeps: those of its last step."""
        return result_kwargs(self.kwargs, self.schedule, steps_run)

    def record(
        self, step: int, value: float, losses: list, bar: Any, payload: Callable[[], dict]
    ) -> None:
        """Book a finite step: its loss, the progress bar, and the checkpoint if one is
        due (``payload()``: the backend's state, to which the losses and step are added)."""
        losses.append(value)
        if self.progress_bar and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")
        if self.checkpoint_every and (step + 1) % self.checkpoint_every == 0:
            save_checkpoint(
                self.checkpoint_path, {**payload(), "losses": list(losses), "step": step + 1}
            )


class _LogProgress:
    """Progress on a non-interactive stream (a log file, CI): a line when the loop starts
    and one when it ends, where a bar would write a line per refresh."""

    def __init__(self, steps: range, stream: Any):
        self.steps, self.stream, self.postfix = steps, stream, {}

    def set_postfix(self, **postfix: Any) -> None:
        self.postfix = postfix

    def __iter__(self):
        print(f"fit: steps {self.steps.start} to {self.steps.stop}", file=self.stream)
        begin = time.perf_counter()
        yield from self.steps
        loss = f", loss {self.postfix['loss']}" if "loss" in self.postfix else ""
        seconds = time.perf_counter() - begin
        print(f"fit: {len(self.steps)} steps done in {seconds:.1f} s{loss}", file=self.stream)


def progress_bar(steps: range, enabled: bool) -> Any:
    """What ``fit`` iterates over: a tqdm bar updating in place on a terminal or in a
    notebook, two summary lines (see :class:`_LogProgress`) on any other stderr, nothing
    when ``enabled`` is false."""
    from tqdm.auto import tqdm

    interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
    if enabled and not interactive:
        return _LogProgress(steps, sys.stderr)
    return tqdm(steps, disable=not enabled, desc="fit")


def fit_function(
    loop: Callable[[FitCall], FitResult], backend: str, optim_type: type, loss_type: type, **doc
) -> Callable[..., FitResult]:
    """The public ``fit`` of a backend: one signature, argument checks and docstring for
    both, around the backend's SVI ``loop``; ``doc`` fills :data:`FIT_DOC`."""

    def fit(
        model: Callable,
        guide: Callable,
        *args,
        num_steps: int,
        optim=None,
        loss=None,
        temperature: "float | Schedule | None" = None,
        checkpoint_path: "str | Path | None" = None,
        checkpoint_every: int | None = None,
        seed: int = 0,
        progress_bar: bool = True,
        num_starts: int | None = None,
        average_last: int | None = None,
        **kwargs,
    ) -> FitResult:
        check_fit_args(num_steps, checkpoint_every, checkpoint_path)
        check_num_starts(num_starts)
        check_average_last(average_last, num_steps)
        schedule = temperature_schedule(temperature, model, range(num_steps))
        return loop(
            FitCall(
                model,
                guide,
                args,
                kwargs,
                num_steps,
                optim,
                loss,
                schedule,
                checkpoint_path,
                checkpoint_every,
                seed,
                progress_bar,
                num_starts,
                average_last,
            )
        )

    fit.__annotations__.update(optim=optim_type | None, loss=loss_type | None)
    fit.__doc__ = FIT_DOC.format(backend=backend, **doc)
    fit.__module__ = f"ppl_reparam.{backend}.infer"
    return fit


def relaxed_model_temperature(model: Any) -> Any:
    """The temperature a relaxed model (see ``relax``) was built with: a number, an
    array or a :class:`~ppl_reparam.schedules.Schedule`; ``None`` for any other model."""
    return model.temperature if isinstance(model, RelaxedModel) else None


def _check_temperature(temperature: Any) -> Schedule:
    if isinstance(temperature, Schedule):
        return temperature
    if (
        isinstance(temperature, Real)
        and not isinstance(temperature, bool)
        and math.isfinite(temperature)
        and temperature > 0
    ):
        return Constant(temperature)
    raise ValueError(
        "fit: `temperature` must be a finite number > 0 or a "
        f"ppl_reparam.schedules.Schedule, got {temperature!r}"
    )


def _as_numpy(x: Any) -> np.ndarray:
    return np.asarray(x.tolist() if hasattr(x, "tolist") else x)


def temperature_schedule(temperature: Any, model: Any, steps: Iterable[int]) -> Callable | None:
    """The temperature of each step (``step -> value``), or ``None`` for no annealing.

    ``temperature`` is fit's argument; a relaxed ``model`` brings its own, which is used
    when ``temperature`` is ``None``. Given both, they must agree at every step in
    ``steps``: one setting, one value."""
    own = relaxed_model_temperature(model)
    if temperature is None:
        return None if own is None else model.temperature_at
    schedule = _check_temperature(temperature)
    if own is not None and own is not temperature:
        for step in steps:
            given, built = schedule(step), model.temperature_at(step)
            if not np.all(_as_numpy(given) == _as_numpy(built)):
                raise ValueError(
                    f"fit: `temperature` gives {given!r} at step {step} but the relaxed "
                    f"model was built with temperature {own!r}, which gives {built!r}; "
                    "leave `temperature` out to use the model's"
                )
    return schedule


def result_kwargs(kwargs: dict, schedule: Callable | None, steps_run: int) -> dict:
    """The keyword arguments a fit result keeps: those of its last step."""
    return dict(step_kwargs(kwargs, schedule, max(steps_run - 1, 0)))


def step_kwargs(kwargs: dict, schedule: Callable | None, step: int) -> dict:
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


def check_average_last(average_last: int | None, num_steps: int) -> None:
    if average_last is None:
        return
    if (
        isinstance(average_last, bool)
        or not isinstance(average_last, int)
        or not 0 <= average_last <= num_steps
    ):
        raise ValueError(
            f"fit: `average_last` must be None (automatic), 0 (no averaging) or an "
            f"integer in [1, num_steps] = [1, {num_steps}], got {average_last!r}"
        )


#: fraction of the steps whose iterates ``fit`` averages by default for a model that
#: solves an ODE, and for a fit with ``RelaxedControlVariateELBO`` (see
#: :func:`resolve_average_last`)
ODE_AVERAGE_FRACTION = 10
DISCRETE_AVERAGE_FRACTION = 4


def resolve_average_last(
    average_last: int | None, solves_ode: bool, num_steps: int, discrete: bool = False
) -> int | None:
    """The number of last iterates to average (``None``: none), from fit's argument.

    ``None`` is automatic: the last ``num_steps // 10`` (at least 1) for a model that
    solves an ODE, the last ``num_steps // 4`` for a fit whose loss is
    ``RelaxedControlVariateELBO`` (``discrete``), none for any other. ``0`` turns
    averaging off.

    Why for ODE models: their posterior is often a narrow curved ridge (SIR's beta /
    gamma at fixed R0), along which Adam's last iterate wanders by several tenths of a
    posterior sd while the loss has long converged; the mean of the last 10% of the
    iterates sits on the optimum (SIR, 5 seeds: worst error 0.20-0.31 sd with the last
    iterate, 0.06-0.10 with the average). A longer window would reach back to iterates
    still converging (Lotka-Volterra's slow initial state: the last 25% misses where the
    last 10% meets the bar). Why for the discrete estimator: its one-draw gradient
    estimates leave the iterates jittering around the optimum (measured on a mixture in
    docs/guide/discrete_gradients.md)."""
    if average_last == 0:
        return None
    if average_last is not None:
        return average_last
    if num_steps == 0:
        return None
    if solves_ode:
        return max(num_steps // ODE_AVERAGE_FRACTION, 1)
    if discrete:
        return max(num_steps // DISCRETE_AVERAGE_FRACTION, 1)
    return None


def refresh_step(num_steps: int, average_last: int | None) -> int:
    """The step before which a fit with ``RelaxedControlVariateELBO`` and an
    ``AutoPathwiseGuide`` sets the guide's discrete sites, once, to their conditional law
    given the other sites at the guide's medians (``refresh_discrete``): the first step
    of the averaging window (``average_last``, resolved), or the step 3/4 through the
    fit if that comes first or nothing is averaged. Not done when the multi-start phase
    has used up the steps before it.

    Why: a label whose logits went confidently wrong while its cluster moved (an early
    start, a component taking over another's points) has a vanishing gradient and stays
    wrong to the end; measured on the K = 4 mixture (NumPyro, seed 2, 8000 steps): one
    point's label, and a component mean 0.53 posterior sd off. Done at the end of the
    multi-start phase instead, while the weights still lag the labels, it emptied a
    component (Pyro, seed 2); by the averaging window the continuous sites have
    converged (docs/guide/discrete_gradients.md)."""
    late = num_steps - num_steps // DISCRETE_AVERAGE_FRACTION
    return min(late, num_steps - average_last) if average_last else late


def resolve_defaults(call: "FitCall", solves_ode: bool, discrete: bool = False) -> "FitCall":
    """``call`` with its automatic settings (``num_starts``, ``average_last`` given as
    ``None``) resolved for a model that does or does not solve an ODE, and a fit whose
    loss is or is not ``RelaxedControlVariateELBO`` (``discrete``)."""
    return dataclasses.replace(
        call,
        num_starts=resolve_num_starts(call.num_starts, solves_ode, discrete),
        average_last=resolve_average_last(call.average_last, solves_ode, call.num_steps, discrete),
    )


def _dict_map(f: Callable, *dicts: dict) -> dict:
    return {name: f(*(d[name] for d in dicts)) for name in dicts[0]}


class IterateAverage:
    """The running mean of the unconstrained parameters after each step from ``first``
    on (``name -> array`` of the backend, or nested containers of arrays that
    ``tree_map(f, *trees)`` maps over; sums in the parameters' own dtype)."""

    def __init__(self, first: int, tree_map: Callable = _dict_map):
        self.first = first
        self.tree_map = tree_map
        self.total: dict | None = None
        self.count = 0

    def add(self, step: int, unconstrained: Callable[[], dict]) -> None:
        """Count the iterate after ``step`` if it is in the window (``unconstrained()``:
        the parameters now, copies the optimizer will not change in place)."""
        if step < self.first:
            return
        params = unconstrained()
        if self.total is None:
            self.total = dict(params)
        else:
            self.total = self.tree_map(lambda total, value: total + value, self.total, params)
        self.count += 1

    def mean(self) -> dict | None:
        """The average so far (``None`` before the window)."""
        if self.total is None:
            return None
        return self.tree_map(lambda total: total / self.count, self.total)

    def checkpoint(self, to_host: Callable = lambda x: x) -> dict:
        """What a checkpoint keeps of the average (``to_host`` copies arrays off device)."""
        total = None if self.total is None else to_host(self.total)
        return {"average": {"first": self.first, "total": total, "count": self.count}}

    def resume(self, checkpoint: dict, average_last: int) -> None:
        saved = checkpoint.get("average")
        if saved is None or saved["first"] != self.first:
            raise ValueError(
                f"fit: the checkpoint was written by a fit with another `average_last` "
                f"or num_steps; resume with the same ones (average_last={average_last} "
                "here)"
            )
        self.total, self.count = saved["total"], saved["count"]


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


# (number of non-finite entries, number of entries) of an array of the backend
CountNonFinite = Callable[[Any], tuple[int, int]]


def _distribution_arguments(fn: Any) -> list[tuple[str, Any]]:
    """The arguments (``arg_constraints``) of a distribution and of the distributions it
    wraps (``Independent``, ``Masked``, ``Expanded``, transformed), outermost first."""
    found, seen = [], set()
    while fn is not None:
        for name in getattr(fn, "arg_constraints", {}):
            if name not in seen:
                seen.add(name)
                try:
                    found.append((name, getattr(fn, name)))
                except Exception:  # a lazily derived argument that cannot be computed
                    continue
        fn = getattr(fn, "base_dist", None)
    return found


def innermost(fn: Any) -> Any:
    while getattr(fn, "base_dist", None) is not None:
        fn = fn.base_dist
    return fn


def _count(count: CountNonFinite, x: Any) -> tuple[int, int]:
    if x is None:
        return 0, 0
    try:
        return count(x)
    except (TypeError, ValueError):  # not an array of numbers (a transform, a string)
        return 0, 0


def _counted(bad: int, total: int) -> str:
    return f"{bad} of {total} value{'s' if total != 1 else ''}"


def _site_problems(site: dict, count: CountNonFinite) -> list[str]:
    """Why one sample site has a non-finite log density (empty if it has not)."""
    fn, value = site["fn"], site["value"]
    problems = []
    bad, total = _count(count, value)
    if bad:
        if not site.get("is_observed"):
            what = "its sampled value is"
        elif type(innermost(fn)).__name__ == "Delta":
            what = "its deterministic value is"
        else:
            what = "its observed data are"
        problems.append(f"{what} non-finite ({_counted(bad, total)} NaN or inf)")
    arguments = []
    for name, argument in _distribution_arguments(fn):
        bad_arg, total_arg = _count(count, argument)
        if bad_arg:
            arguments.append(f"`{name}` ({_counted(bad_arg, total_arg)})")
    if arguments:
        problems.append(
            f"the arguments of its {type(innermost(fn)).__name__} are non-finite: "
            + ", ".join(arguments)
        )
    if problems:
        return problems
    try:
        bad, total = count(fn.log_prob(value))
    except Exception as err:  # validation the diagnosis cannot switch off
        return [f"its log density raised {type(err).__name__}: {str(err).splitlines()[0]}"]
    if bad:
        return [
            f"its log density is non-finite at {_counted(bad, total)} (a value outside "
            "the support, or an observation of probability zero)"
        ]
    return []


def non_finite_sites(
    traces: Iterable[tuple[str, Iterable[tuple[str, dict]]]], count: CountNonFinite
) -> dict[str, list[str]]:
    """``{"name (origin)": [why, ...]}`` for every sample site whose log density is not
    finite, from ``(origin, ((name, site), ...))`` pairs of traced sites (``origin`` is
    ``"model"`` or ``"guide"``); sites with non-finite observed data come first."""
    found = {}
    for origin, sites in traces:
        for name, site in sites:
            if site["type"] == "sample":
                problems = _site_problems(site, count)
                if problems:
                    found[f"{name} ({origin})"] = problems
    data_first = sorted(found, key=lambda label: "observed data" not in found[label][0])
    return {label: found[label] for label in data_first}


def _site_lines(sites: dict[str, list[str]]) -> list[str]:
    return [f"site {label}: {'; '.join(problems)}" for label, problems in sites.items()]


def non_finite_message(
    step: int, loss: float, sites: dict[str, list[str]], bad_grads: list[str]
) -> str:
    parts = [f"fit: non-finite loss or gradient at step {step} (loss={loss})"]
    parts += _site_lines(sites)
    if bad_grads:
        parts.append(f"parameters with a non-finite gradient: {', '.join(bad_grads)}")
    parts.append("the last finite parameters are in the error's `result`")
    return "; ".join(parts)


def failed_step_message(step: int, sites: dict[str, list[str]], err: BaseException) -> str:
    parts = [f"fit: step {step} failed on non-finite values (the {type(err).__name__} is chained)"]
    parts += _site_lines(sites)
    return "; ".join(parts)
