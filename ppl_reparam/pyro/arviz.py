"""Export an SVI fit to ArviZ (Pyro)."""

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger

from ppl_reparam import _arviz
from ppl_reparam._fit import FitResult
from ppl_reparam.pyro import _xp

__all__ = ["to_inference_data"]

_DRAWS_PLATE = "_ppl_reparam_draws"


def _prepare(result: FitResult, num_samples: int, seed: int):
    """The hooks of :func:`ppl_reparam._arviz.export` for a Pyro fit."""
    args, kwargs = result.args, result.kwargs
    store = pyro.get_param_store()
    for name, value in result.params.items():
        store[name] = value
    pyro.set_rng_seed(seed)

    @torch.no_grad()
    def run(_key, resample: frozenset) -> _arviz.Traces:
        guide_trace = poutine.trace(result.guide).get_trace(*args, **kwargs)
        model = poutine.replay(result.model, trace=guide_trace)

        def traced(fn):
            return lambda: poutine.trace(fn).get_trace(*args, **kwargs).nodes

        def enumerated(first: int):
            return traced(poutine.enum(model, first_available_dim=first))()

        model_sites, resampled = _arviz.model_traces(
            traced(model), traced(_Resample(model, resample)) if resample else None, enumerated
        )
        return guide_trace.nodes, model_sites, resampled

    def vectorise(single: _arviz.Traces, latent: tuple, observed: tuple):
        # one plate of all draws, left of every plate of model and guide
        dim = -1 - max(_arviz.max_plate_nesting(sites) for sites in single)

        def drawn(keys):
            with pyro.plate(_DRAWS_PLATE, len(keys), dim=dim):
                traces = run(None, frozenset(observed))
                return _arviz.groups(traces, latent, observed, _xp.logsumexp)

        return drawn

    # Pyro draws from its global RNG: the keys only count the draws
    return run, vectorise, [None] * num_samples, _numpy, _xp.logsumexp


def _numpy(x) -> np.ndarray:
    return torch.as_tensor(x).detach().cpu().numpy()


to_inference_data = _arviz.export_function(
    _prepare,
    "pyro",
    how=": the guide and the model under one ``pyro.plate`` of all draws",
    params=" (its parameters are loaded into the param store)",
    seed="seeds Pyro's RNGs before drawing.",
    enum_how="(``poutine.enum``)",
    speed=(
        "Pyro runs eagerly: nothing is compiled, and the one vectorised run takes time\n"
        "    linear in ``num_samples``."
    ),
)


class _Resample(Messenger):
    """Draw the named observed sites afresh instead of returning the observation.

    Unlike ``poutine.uncondition`` it leaves every other site alone, in particular the
    observed Delta sites through which ``relax`` passes relaxed values to the model.
    """

    def __init__(self, fn, names: frozenset):
        super().__init__()
        self.names = names
        self._fn = fn

    def __call__(self, *args, **kwargs):
        with self:
            return self._fn(*args, **kwargs)

    def _pyro_sample(self, msg):
        if msg["name"] in self.names and msg["is_observed"]:
            msg["value"] = None
            msg["is_observed"] = False
