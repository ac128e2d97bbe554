"""An SVI loop that loses nothing (NumPyro): progress bar, annealing without
recompilation, a compiled step reused across calls, checkpoints, and a clear error
naming the sites where the loss or a gradient stopped being finite."""

import sys
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.elbo import ELBO

from ppl_reparam import _fit
from ppl_reparam._fit import FitResult, NonFiniteLossError
from ppl_reparam._guides import PathwiseGuide
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.numpyro._multistart import init, multistart, solves_ode
from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO, default_loss  # noqa: F401

__all__ = ["FitResult", "NonFiniteLossError", "fit"]

# compiled steps kept for reuse by later fits (least recently used dropped first)
_CACHE_SIZE = 16
_compiled: OrderedDict = OrderedDict()


def _count_non_finite(x) -> tuple[int, int]:
    x = jnp.asarray(x)
    return int(jnp.sum(~jnp.isfinite(x))), int(x.size)


def _non_finite_sites(model, guide, params, rng_key, args, kwargs) -> dict[str, list[str]]:
    """Sample sites of model and guide whose log density is not finite, for one draw,
    with the reason (see :func:`ppl_reparam._fit.non_finite_sites`).

    Validation is off while tracing, so a parameter gone out of its support shows up as
    a non-finite density at its site rather than as an exception here. A guide that
    cannot run (an autoguide that found no valid initial values) leaves the model's
    prior draw."""
    with numpyro.validation_enabled(False):
        traces = []
        model = handlers.substitute(handlers.seed(model, rng_key), data=params)
        try:
            guide_trace = handlers.trace(
                handlers.seed(handlers.substitute(guide, data=params), rng_key)
            ).get_trace(*args, **kwargs)
            traces.append(("guide", guide_trace.items()))
            model = handlers.replay(model, guide_trace)
        except (ValueError, RuntimeError):
            pass
        try:
            traces.append(("model", handlers.trace(model).get_trace(*args, **kwargs).items()))
        except (ValueError, RuntimeError):
            pass
        return _fit.non_finite_sites(traces, _count_non_finite)


def _ode_failure(model, guide, params, rng_key, args, kwargs) -> str:
    """The failed ODE solves of one draw, as text ('' when none failed)."""
    ode = sys.modules.get("ppl_reparam.numpyro.ode")  # not imported: no model solved an ODE
    return "" if ode is None else ode.failure_report(model, guide, params, rng_key, args, kwargs)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _split_arrays(args: tuple, kwargs: dict) -> tuple[list, tuple]:
    """The array leaves of ``(args, kwargs)`` (traced by the compiled step), and the
    structure with every other leaf (closed over, part of the cache key)."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    is_array = [isinstance(leaf, jax.Array | np.ndarray) for leaf in leaves]
    arrays = [leaf for leaf, a in zip(leaves, is_array, strict=True) if a]
    static = tuple(None if a else leaf for leaf, a in zip(leaves, is_array, strict=True))
    return arrays, (treedef, tuple(is_array), static)


def _static_structure(args: tuple, kwargs: dict) -> tuple:
    """A structure (see :func:`_split_arrays`) that closes over every leaf, arrays too."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    return treedef, (False,) * len(leaves), tuple(leaves)


def _join_arrays(arrays: list, structure: tuple) -> tuple[tuple, dict]:
    treedef, is_array, static = structure
    supply = iter(arrays)
    leaves = [next(supply) if a else leaf for a, leaf in zip(is_array, static, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _compile(model, guide, optim, loss, structure) -> tuple[SVI, Callable]:
    """An SVI object and its guarded step, jitted once for all calls of this structure."""
    svi = SVI(
        model,
        guide,
        optax.adam(0.01) if optim is None else optim,
        Trace_ELBO() if loss is None else loss,
    )
    return svi, _guarded_step(svi, structure)


def _guarded_step(svi: SVI, structure: tuple) -> Callable:
    """The jitted SVI step that keeps the old state where the new one is not finite."""

    @jax.jit
    def guarded_update(state, temperature, arrays):
        args, kwargs = _join_arrays(arrays, structure)
        if temperature is not None:  # traced: annealing does not recompile
            kwargs = {**kwargs, TEMPERATURE_KWARG: temperature}
        new_state, value = svi.update(state, *args, **kwargs)
        ok = jnp.isfinite(value) & _all_finite(svi.get_params(new_state))
        kept = jax.tree_util.tree_map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        return kept, value, ok

    return guarded_update


def _checkpoint_state(state, average: "_fit.IterateAverage | None") -> dict:
    saved = {"state": jax.device_get(state)}
    return saved if average is None else {**saved, **average.checkpoint(jax.device_get)}


def _cached_step(model, guide, optim, loss, structure) -> tuple[SVI, Callable]:
    key = (model, guide, optim, loss, structure)
    try:
        hash(key)
    except TypeError:  # an unhashable non-array argument: compile for this call only
        return _compile(model, guide, optim, loss, structure)
    if key not in _compiled:
        _compiled[key] = _compile(model, guide, optim, loss, structure)
        if len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    _compiled.move_to_end(key)
    return _compiled[key]


def _loop(call: _fit.FitCall) -> FitResult:
    model, guide, args, kwargs = call.model, call.guide, call.args, call.kwargs
    arrays, structure = _split_arrays(args, kwargs)
    loss = default_loss(model, args, call.step_kwargs(0)) if call.loss is None else call.loss
    svi, guarded_update = _cached_step(model, guide, call.optim, loss, structure)
    losses, start = [], 0
    init_kwargs = call.step_kwargs(0)
    key = jax.random.PRNGKey(call.seed)
    discrete = isinstance(loss, RelaxedControlVariateELBO)
    call = _fit.resolve_defaults(call, solves_ode(model, key, args, init_kwargs), discrete)

    def result(state, averaged: dict | None = None) -> FitResult:
        kept = call.result_kwargs(len(losses))
        params = {} if state is None else svi.get_params(state)
        if averaged is not None:
            params = svi.constrain_fn(averaged)
        return FitResult(params, list(losses), model, guide, args, kept, state)

    # init also sets up SVI's constraint transforms, which a resumed run needs too
    try:
        # validation off: a start whose ODE solve fails is redrawn, not raised
        state = init(svi, key, args, init_kwargs)
    except (ValueError, RuntimeError) as err:
        # e.g. an autoguide's "Cannot find valid initial parameters", naming no site
        sites = _non_finite_sites(model, guide, {}, key, args, init_kwargs)
        if not sites:
            raise
        message = _fit.failed_step_message(0, sites, err)
        raise NonFiniteLossError(message, result(None), list(sites)) from err
    checkpoint = _fit.load_checkpoint(call.checkpoint_path) if call.checkpoint_path else None
    if checkpoint is not None:
        state = checkpoint["state"]
        losses, start = list(checkpoint["losses"]), checkpoint["step"]
    else:
        state, losses = multistart(
            svi,
            state,
            model,
            call.seed,
            call.num_starts,
            call.num_steps,
            args,
            init_kwargs,
            discrete,
        )
        start = len(losses)
    average = call.iterate_average(checkpoint, jax.tree_util.tree_map)

    # the step before which the guide's plate-local discrete sites are refreshed
    refresh_at = call.refresh_step() if discrete and isinstance(guide, PathwiseGuide) else None
    bar = _fit.progress_bar(range(start, call.num_steps), call.progress_bar)
    for step in bar:
        call_kwargs = call.step_kwargs(step)
        if step == refresh_at:
            state = _refreshed(svi, guide, state, args, call_kwargs)
        temperature = call_kwargs.get(TEMPERATURE_KWARG) if call.schedule else None
        try:
            new_state, value, ok = guarded_update(state, temperature, arrays)
        except jax.errors.JAXTypeError:
            if step != start:
                raise
            # the model needs concrete data (a size computed from it): close over them
            guarded_update = _guarded_step(svi, _static_structure(args, kwargs))
            arrays = []
            new_state, value, ok = guarded_update(state, temperature, arrays)
        value = float(value)
        if not bool(ok):
            params = svi.get_params(state)
            step_key = jax.random.split(state.rng_key)[1]
            sites = _non_finite_sites(model, guide, params, step_key, args, call_kwargs)
            bad_grads = _non_finite_gradients(svi, state, args, call_kwargs)
            message = _fit.non_finite_message(step, value, sites, bad_grads)
            message += _ode_failure(model, guide, params, step_key, args, call_kwargs)
            raise NonFiniteLossError(message, result(state), list(sites))
        state = new_state
        if average is not None:
            average.add(step, lambda s=state: svi.optim.get_params(s.optim_state))
        call.record(step, value, losses, bar, lambda s=state: _checkpoint_state(s, average))
    return result(state, average.mean() if average is not None else None)


fit = _fit.fit_function(
    _loop,
    "numpyro",
    optax.GradientTransformation,
    ELBO,
    optim="an optax transformation or NumPyro optimizer (default ``optax.adam(0.01)``).",
    temperature_note=(
        " as a traced argument of the one compiled step (no recompilation as it changes)"
    ),
    checkpoint="the whole SVI state, RNG key included, and the losses",
    seed="the PRNG seed of a fresh run.",
    returns="; ``state`` is the final SVI state",
    average_note=(
        "``state`` stays the last iterate's (to continue from); iterates of the "
        "multi-start phase are not averaged."
    ),
    num_starts=(
        "Default: 8 for a model that solves an ODE with ``ode.solve``, or when the loss "
        "is ``RelaxedControlVariateELBO`` (the default for discrete latent sites); their "
        "ELBOs have spurious optima that a single start falls into. 1 (none) for any other."
    ),
    extra="""
    The compiled step is cached (the last 16) per model, guide, optimizer and loss
    objects, shapes and dtypes of the array arguments and values of the other
    arguments: a second ``fit`` of the same structure, on data of the same shapes, does
    not recompile (pass the same optimizer and loss objects, or leave them out). Array
    arguments (``jax.Array``, NumPy arrays) are traced; anything else (numbers,
    strings, ``None``) is a static value of the compiled step. A model that needs its
    data as concrete values (NumPy operations on an argument) is compiled with the
    data as constants instead, for that call only.
""",
)


def _refreshed(svi: SVI, guide, state, args, kwargs):
    """``state`` with the guide's discrete sites at their conditional law given its
    other sites' medians (``AutoPathwiseGuide.refresh_discrete``); the optimizer's
    moments are kept (an optax optimizer) or set up afresh (any other)."""
    params = svi.get_params(state)
    new = guide.refresh_discrete(params, *args, **kwargs)
    if all(new[k] is params[k] for k in params):
        return state  # no site's conditional is plate-local
    i, inner = state.optim_state
    current = svi.optim.get_params(state.optim_state)
    # the logits' constraint is the real line: constrained and unconstrained agree
    updated = {**current, **{k: v for k, v in new.items() if v is not params[k]}}
    if isinstance(inner, tuple) and len(inner) == 2 and inner[0] is current:
        inner = (updated, inner[1])  # optax's state: (params, its own state)
    else:
        inner = svi.optim.init(updated)[1]
    return state._replace(optim_state=(i, inner))


def _non_finite_gradients(svi: SVI, state, args, kwargs) -> list[str]:
    """Names of parameters whose value after the failing step would be non-finite; a
    leaf of a nested parameter (a module's pytree, as AutoIAFNormal's) is named by its
    path, ``param/leaf``."""
    with numpyro.validation_enabled(False):
        new_state, _ = svi.update(state, *args, **kwargs)
    leaves = jax.tree_util.tree_flatten_with_path(svi.get_params(new_state))[0]
    return sorted(
        jax.tree_util.keystr(path, simple=True, separator="/")
        for path, value in leaves
        if not np.all(np.isfinite(np.asarray(value)))
    )
