"""An SVI loop that loses nothing (NumPyro): progress bar, annealing without
recompilation, checkpoints, and a clear error naming the sites where the loss or a
gradient stopped being finite."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.elbo import ELBO
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
from ppl_reparam._multistart import check_num_starts
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.numpyro._multistart import init, multistart
from ppl_reparam.schedules import Schedule

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


def _non_finite_sites(model, guide, params, rng_key, args, kwargs) -> list[str]:
    """Sample sites of model and guide whose log density is not finite, for one draw.

    Validation is off while tracing, so a parameter gone out of its support shows up as
    a non-finite density at its site rather than as an exception here."""
    with numpyro.validation_enabled(False):
        return _non_finite_sites_unvalidated(model, guide, params, rng_key, args, kwargs)


def _non_finite_sites_unvalidated(model, guide, params, rng_key, args, kwargs) -> list[str]:
    guide_trace = handlers.trace(
        handlers.seed(handlers.substitute(guide, data=params), rng_key)
    ).get_trace(*args, **kwargs)
    model_trace = handlers.trace(
        handlers.replay(
            handlers.substitute(handlers.seed(model, rng_key), data=params), guide_trace
        )
    ).get_trace(*args, **kwargs)
    bad = []
    for prefix, trace in (("guide", guide_trace), ("model", model_trace)):
        for name, site in trace.items():
            if site["type"] != "sample":
                continue
            log_p = site["fn"].log_prob(site["value"])
            if not bool(jnp.all(jnp.isfinite(log_p))):
                bad.append(f"{name} ({prefix})")
    return bad


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def fit(
    model: Callable,
    guide: Callable,
    *args,
    num_steps: int,
    optim: optax.GradientTransformation | None = None,
    loss: ELBO | None = None,
    temperature: "float | Schedule | None" = None,
    checkpoint_path: str | None = None,
    checkpoint_every: int | None = None,
    seed: int = 0,
    progress_bar: bool = True,
    num_starts: int | None = None,
    **kwargs,
) -> FitResult:
    """Fit ``guide`` to ``model`` by SVI for ``num_steps`` steps.

    :param optim: an optax transformation or NumPyro optimizer (default
        ``optax.adam(0.01)``).
    :param loss: an ELBO (default ``Trace_ELBO()``).
    :param temperature: a number or :class:`~ppl_reparam.schedules.Schedule`; if given,
        each step passes ``relax_temperature=temperature(step)`` to model and guide as a
        traced argument of the one compiled step (no recompilation as it changes).
    :param checkpoint_path: file to write every ``checkpoint_every`` steps (the whole
        SVI state, RNG key included, and the losses) and to resume from if it exists: a
        run interrupted and resumed gives the same losses as an uninterrupted one.
    :param seed: the PRNG seed of a fresh run.
    :param num_starts: runs of a multi-start phase (see :mod:`ppl_reparam._multistart`):
        the guide's own start and the best prior draws by log joint density, a tenth of
        the budget each (100 to 500 steps), the best by ELBO continued. Default: 8 for a
        model that solves an ODE with ``ode.solve`` (its ELBO has spurious optima that
        a single start falls into), 1 (none) for any other.
    :returns: a :class:`FitResult`; ``state`` is the final SVI state.
    :raises NonFiniteLossError: when the loss or a gradient becomes NaN/inf; its
        ``result`` holds the parameters of the last finite step and ``sites`` the sample
        sites whose log density was non-finite.
    """
    check_fit_args(num_steps, checkpoint_every, checkpoint_path)
    check_num_starts(num_starts)
    optim = optax.adam(0.01) if optim is None else optim
    svi = SVI(model, guide, optim, Trace_ELBO() if loss is None else loss)
    schedule = as_schedule(temperature)
    # init also sets up SVI's constraint transforms, which a resumed run needs too
    state = init(svi, jax.random.PRNGKey(seed), args, step_kwargs(kwargs, schedule, 0))
    losses, start = [], 0
    checkpoint = load_checkpoint(checkpoint_path) if checkpoint_path else None
    if checkpoint is not None:
        state = checkpoint["state"]
        losses, start = list(checkpoint["losses"]), checkpoint["step"]
    else:
        first = step_kwargs(kwargs, schedule, 0)
        state, losses = multistart(svi, state, model, seed, num_starts, num_steps, args, first)
        start = len(losses)

    @jax.jit
    def guarded_update(state, temperature):
        # only the temperature is traced; data and user keywords are closed over
        call_kwargs = (
            kwargs
            if temperature is None
            else step_kwargs(kwargs, schedule, 0) | {TEMPERATURE_KWARG: temperature}
        )
        new_state, value = svi.update(state, *args, **call_kwargs)
        ok = jnp.isfinite(value) & _all_finite(svi.get_params(new_state))
        kept = jax.tree_util.tree_map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        return kept, value, ok

    def result(state) -> FitResult:
        kept = result_kwargs(kwargs, schedule, len(losses))
        return FitResult(svi.get_params(state), list(losses), model, guide, args, kept, state)

    bar = tqdm(range(start, num_steps), disable=not progress_bar, desc="fit")
    for step in bar:
        call_kwargs = step_kwargs(kwargs, schedule, step)
        temperature = None if schedule is None else call_kwargs[TEMPERATURE_KWARG]
        new_state, value, ok = guarded_update(state, temperature)
        value = float(value)
        if not bool(ok):
            params = svi.get_params(state)
            step_key = jax.random.split(state.rng_key)[1]
            sites = _non_finite_sites(model, guide, params, step_key, args, call_kwargs)
            bad_grads = _non_finite_gradients(svi, state, args, call_kwargs)
            from ppl_reparam.numpyro.ode import failure_report  # diffrax only when needed

            message = non_finite_message(step, value, sites, bad_grads)
            message += failure_report(model, guide, params, step_key, args, call_kwargs)
            raise NonFiniteLossError(message, result(state), sites)
        state = new_state
        losses.append(value)
        if progress_bar and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")
        if checkpoint_every and (step + 1) % checkpoint_every == 0:
            save_checkpoint(
                checkpoint_path,
                {"state": jax.device_get(state), "losses": list(losses), "step": step + 1},
            )
    return result(state)


def _non_finite_gradients(svi: SVI, state, args, kwargs) -> list[str]:
    """Names of parameters whose value after the failing step would be non-finite."""
    with numpyro.validation_enabled(False):
        new_state, _ = svi.update(state, *args, **kwargs)
    return sorted(
        name
        for name, value in svi.get_params(new_state).items()
        if not np.all(np.isfinite(np.asarray(value)))
    )
