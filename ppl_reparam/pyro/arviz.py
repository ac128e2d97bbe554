"""Export an SVI fit to ArviZ (Pyro)."""

import pyro
import torch
from pyro import poutine
from pyro.infer import Predictive

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
        posterior_predictive = Predictive(
            poutine.uncondition(result.model), posterior_samples=latent, return_sites=list(observed)
        )(*args, **kwargs)
        loglik = {name: [] for name in observed}
        for draw in draws:
            conditioned = poutine.condition(result.model, data={n: draw[n] for n in latent_names})
            tr = poutine.trace(conditioned).get_trace(*args, **kwargs)
            for name in observed:
                site = tr.nodes[name]
                loglik[name].append(site["fn"].log_prob(site["value"]))
    return build_inference_data(
        {k: v.numpy() for k, v in latent.items()},
        {k: v.numpy() for k, v in posterior_predictive.items() if k in observed},
        {k: torch.stack(v).numpy() for k, v in loglik.items()},
        {k: v.numpy() for k, v in observed.items()},
        coords,
        dims,
    )


def _guide_draw(guide, args, kwargs) -> dict:
    trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return {name: site["value"] for name, site in trace.nodes.items() if site["type"] == "sample"}
