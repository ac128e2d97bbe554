"""Export an SVI fit to ArviZ (NumPyro)."""

from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.primitives import Messenger

from ppl_reparam import _arviz
from ppl_reparam._fit import FitResult
from ppl_reparam.numpyro import _xp
from ppl_reparam.numpyro.infer import _join_arrays, _split_arrays, _static_structure

__all__ = ["to_inference_data"]

# draws per compiled call: the largest chunk; fewer draws take the next power of two, so
# a handful of sizes are ever compiled and export time is linear in the number of draws
_CHUNK = 512
_CACHE_SIZE = 16
_compiled: OrderedDict = OrderedDict()


def _run(model, guide, params, args, kwargs, key, resample: frozenset) -> _arviz.Traces:
    """One draw of the fitted guide and the model run on it."""
    key_guide, key_model, key_data = jax.random.split(key, 3)
    guide = handlers.substitute(guide, data=params)
    guide_trace = handlers.trace(handlers.seed(guide, key_guide)).get_trace(*args, **kwargs)
    model = handlers.replay(model, guide_trace)

    def traced(fn, key):
        return lambda: handlers.trace(handlers.seed(fn, key)).get_trace(*args, **kwargs)

    def enumerated(first: int):
        from numpyro.contrib.funsor import enum
        from numpyro.contrib.funsor.infer_util import plate_to_enum_plate

        with plate_to_enum_plate():
            return traced(enum(model, first_available_dim=first), key_model)()

    # the seed handler outside _Resample, so that the sites it frees get a key
    resampled = traced(_Resample(model, resample), key_data) if resample else None
    return guide_trace, *_arviz.model_traces(traced(model, key_model), resampled, enumerated)


def _draws_function(model, guide, structure: tuple, latent: tuple, observed: tuple) -> Callable:
    """``(params, arrays, keys) -> groups`` of every draw, jitted once per model, guide,
    argument structure and site names (an unhashable structure compiles per call)."""
    cache_key = (model, guide, structure, latent, observed)
    try:
        hash(cache_key)
    except TypeError:
        return _compile_draws(*cache_key)
    if cache_key not in _compiled:
        _compiled[cache_key] = _compile_draws(*cache_key)
        if len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
    _compiled.move_to_end(cache_key)
    return _compiled[cache_key]


def _compile_draws(model, guide, structure, latent, observed) -> Callable:
    def one(params, arrays, key):
        args, kwargs = _join_arrays(arrays, structure)
        traces = _run(model, guide, params, args, kwargs, key, frozenset(observed))
        return _arviz.groups(traces, latent, observed, _xp.logsumexp)

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


def _prepare(result: FitResult, num_samples: int, seed: int):
    """The hooks of :func:`ppl_reparam._arviz.export` for a NumPyro fit."""
    args, kwargs, params = result.args, result.kwargs, result.params

    def run(key, resample: frozenset) -> _arviz.Traces:
        return _run(result.model, result.guide, params, args, kwargs, key, resample)

    def vectorise(_single: _arviz.Traces, latent: tuple, observed: tuple):
        def in_chunks(keys, arrays: list, structure: tuple):
            draws = _draws_function(result.model, result.guide, structure, latent, observed)
            chunk = min(_CHUNK, 1 << (len(keys) - 1).bit_length())
            padded = -len(keys) % chunk  # repeat the last key: those draws are cut off
            keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], padded, axis=0)])
            parts = [draws(params, arrays, keys[i : i + chunk]) for i in range(0, len(keys), chunk)]
            return jax.tree_util.tree_map(
                lambda *xs: np.concatenate([np.asarray(x) for x in xs])[:num_samples], *parts
            )

        def drawn(keys):
            try:
                return in_chunks(keys, *_split_arrays(args, kwargs))
            except jax.errors.JAXTypeError:
                # the model needs concrete data (a size computed from it): close over them
                return in_chunks(keys, [], _static_structure(args, kwargs))

        return drawn

    keys = jax.random.split(jax.random.PRNGKey(seed), num_samples)
    return run, vectorise, keys, np.asarray, _xp.logsumexp


to_inference_data = _arviz.export_function(
    _prepare,
    "numpyro",
    how=": ``jax.vmap`` of guide and model over the draws' random keys, compiled once",
    params="",
    seed="the PRNG seed of the draws.",
    enum_how="(``numpyro.contrib.funsor.enum``; needs ``funsor``)",
    speed=(
        "The vectorised draw is compiled once per model, guide, argument structure and\n"
        "    chunk size (at most 512 draws a call; smaller exports round up to a power of\n"
        "    two) and cached, so a second export of a fit does not recompile and export\n"
        "    time is linear in ``num_samples``."
    ),
)


class _Resample(Messenger):
    """Draw the named observed sites afresh instead of returning the observation."""

    def __init__(self, fn, names: frozenset):
        super().__init__(fn)
        self.names = names

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] in self.names and msg.get("is_observed"):
            msg["value"] = None
            msg["is_observed"] = False
