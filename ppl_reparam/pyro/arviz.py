"""Export an SVI fit to ArviZ (Pyro)."""

import pyro
import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger

from ppl_reparam._arviz import build_inference_data
from ppl_reparam._fit import FitResult

__all__ = ["to_inference_data"]


def to_inference_data(
    result: FitResult,
    num_samples: int = 1000,
    *,
    seed: int = 0,
    coords: dict | None = None,
    dims: dict | None = None,
):
    """Posterior draws from the fitted guide, the posterior predictive, the pointwise log
    likelihood of every observed site and the observed data, as ArviZ data (one chain).

    :param result: what :func:`ppl_reparam.pyro.infer.fit` returned (its parameters are
        loaded into the param store).
    :param num_samples: posterior draws.
    :param coords, dims: as in ``arviz.from_dict``; name the dimensions of observed sites
        (e.g. ``dims={"y": ["school"]}``) so ``az.loo`` and the plots label them.
    """
    args, kwargs = result.args, result.kwargs
    store = pyro.get_param_store()
    for name, value in result.params.items():
        store[name] = value
    pyro.set_rng_seed(seed)
    with torch.no_grad():
        guide_trace = poutine.trace(result.guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(result.model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
        observed = {
            name: site["value"]
            for name, site in model_trace.nodes.items()
            if site["type"] == "sample" and site["is_observed"]
        }
        latent_names = [
            name
            for name, site in guide_trace.nodes.items()
            if site["type"] == "sample"
            and name in model_trace.nodes
            and not model_trace.nodes[name]["is_observed"]
        ]
        draws = [_guide_draw(result.guide, args, kwargs) for _ in range(num_samples)]
        latent = {name: torch.stack([d[name] for d in draws]) for name in latent_names}
        # One pass per draw (rather than pyro.infer.Predictive, whose init-to-sample
        # step clashes with relax()ed sites): the model conditioned on the draw gives
        # the pointwise log likelihood, and once more with observed sites resampled,
        # the posterior predictive.
        loglik = {name: [] for name in observed}
        predictive = {name: [] for name in observed}
        for draw in draws:
            conditioned = poutine.condition(result.model, data={n: draw[n] for n in latent_names})
            tr = poutine.trace(conditioned).get_trace(*args, **kwargs)
            resampled = poutine.trace(_Resample(conditioned, set(observed))).get_trace(
                *args, **kwargs
            )
            for name in observed:
                site = tr.nodes[name]
                loglik[name].append(site["fn"].log_prob(site["value"]))
                predictive[name].append(resampled.nodes[name]["value"])
    return build_inference_data(
        {k: v.numpy() for k, v in latent.items()},
        {k: torch.stack(v).numpy() for k, v in predictive.items()},
        {k: torch.stack(v).numpy() for k, v in loglik.items()},
        {k: v.numpy() for k, v in observed.items()},
        coords,
        dims,
    )


def _guide_draw(guide, args, kwargs) -> dict:
    trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return {name: site["value"] for name, site in trace.nodes.items() if site["type"] == "sample"}


class _Resample(Messenger):
    """Draw the named observed sites afresh instead of returning the observation.

    Unlike ``poutine.uncondition`` it leaves every other site alone, in particular the
    observed Delta sites through which ``relax`` passes relaxed values to the model.
    """

    def __init__(self, fn, names: set[str]):
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
