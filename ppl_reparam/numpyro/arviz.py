"""Export an SVI fit to ArviZ (NumPyro)."""

import jax
import numpy as np
from numpyro import handlers
from numpyro.primitives import Messenger

from ppl_reparam import _arviz
from ppl_reparam._fit import FitResult

__all__ = ["to_inference_data"]


def _prepare(result: FitResult, num_samples: int, seed: int):
    """The hooks of :func:`ppl_reparam._arviz.export` for a NumPyro fit."""
    args, kwargs = result.args, result.kwargs
    guide = handlers.substitute(result.guide, data=result.params)

    def run(key, resample: frozenset) -> _arviz.Traces:
        key_guide, key_model, key_data = jax.random.split(key, 3)
        guide_trace = handlers.trace(handlers.seed(guide, key_guide)).get_trace(*args, **kwargs)
        model = handlers.replay(result.model, guide_trace)
        model_trace = handlers.trace(handlers.seed(model, key_model)).get_trace(*args, **kwargs)
        resampled = model_trace
        if resample:
            # the seed handler outermost, so that the sites _Resample frees get a key
            resampling = handlers.seed(_Resample(model, resample), key_data)
            resampled = handlers.trace(resampling).get_trace(*args, **kwargs)
        return guide_trace, model_trace, resampled

    def vectorise(draw, _single: _arviz.Traces):
        return jax.jit(jax.vmap(draw))  # one compilation for all draws

    keys = jax.random.split(jax.random.PRNGKey(seed), num_samples)
    return run, vectorise, keys, np.asarray


to_inference_data = _arviz.export_function(
    _prepare,
    "numpyro",
    how=": ``jax.vmap`` of guide and model over the draws' random keys, compiled once",
    params="",
    seed="the PRNG seed of the draws.",
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
