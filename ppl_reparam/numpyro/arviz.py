"""Export an SVI fit to ArviZ (NumPyro)."""

import jax
import numpy as np
from numpyro import handlers
from numpyro.primitives import Messenger

from ppl_reparam import _arviz
from ppl_reparam._fit import FitResult

__all__ = ["to_inference_data"]


def to_inference_data(
    result: FitResult,
    num_samples: int = 1000,
    *,
    chains: int = 4,
    seed: int = 0,
    coords: dict | None = None,
    dims: dict | None = None,
):
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

    _arviz.check_export_args(num_samples, chains)
    return _arviz.export(
        run,
        lambda draw, _single: jax.jit(jax.vmap(draw)),
        jax.random.split(jax.random.PRNGKey(seed), num_samples),
        np.asarray,
        num_samples,
        chains,
        coords,
        dims,
    )


to_inference_data.__doc__ = _arviz.EXPORT_DOC.format(
    how=": ``jax.vmap`` of guide and model over the draws' random keys",
    backend="numpyro",
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
