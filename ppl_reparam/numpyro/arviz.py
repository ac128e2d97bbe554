"""Export an SVI fit to ArviZ (NumPyro)."""

import jax
import numpy as np
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_likelihood
from numpyro.primitives import Messenger

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

    :param result: what :func:`ppl_reparam.numpyro.infer.fit` returned.
    :param num_samples: posterior draws.
    :param coords, dims: as in ``arviz.from_dict``; name the dimensions of observed sites
        (e.g. ``dims={"y": ["school"]}``) so ``az.loo`` and the plots label them.
    """
    args, kwargs = result.args, result.kwargs
    key_post, key_pred = jax.random.split(jax.random.PRNGKey(seed))
    guide_draws = Predictive(result.guide, params=result.params, num_samples=num_samples)(
        key_post, *args, **kwargs
    )
    model_trace = _model_trace(result, args, kwargs)
    observed = {
        name: site["value"]
        for name, site in model_trace.items()
        if site["type"] == "sample" and site["is_observed"]
    }
    latent = {
        name: value
        for name, value in guide_draws.items()
        if name in model_trace and not model_trace[name].get("is_observed", False)
    }
    predictive = Predictive(
        _Resample(result.model, set(observed)),
        posterior_samples=latent,
        return_sites=list(observed),
    )
    posterior_predictive = predictive(key_pred, *args, **kwargs)
    loglik = log_likelihood(result.model, latent, *args, **kwargs)
    return build_inference_data(
        {k: np.asarray(v) for k, v in latent.items()},
        {k: np.asarray(v) for k, v in posterior_predictive.items() if k in observed},
        {k: np.asarray(v) for k, v in loglik.items()},
        {k: np.asarray(v) for k, v in observed.items()},
        coords,
        dims,
    )


def _model_trace(result: FitResult, args, kwargs):
    guide = handlers.substitute(result.guide, data=result.params)
    guide_trace = handlers.trace(handlers.seed(guide, 0)).get_trace(*args, **kwargs)
    model = handlers.replay(handlers.seed(result.model, 0), guide_trace)
    return handlers.trace(model).get_trace(*args, **kwargs)


class _Resample(Messenger):
    """Draw the named observed sites afresh instead of returning the observation."""

    def __init__(self, fn, names: set[str]):
        super().__init__(fn)
        self.names = names

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] in self.names and msg.get("is_observed"):
            msg["value"] = None
            msg["is_observed"] = False
