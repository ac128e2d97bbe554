"""Relaxing discrete latent sites so a model trains with pathwise gradients (Pyro)."""

import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer.reparam.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.pyro._backend import BACKEND

__all__ = [
    "RelaxReparam",
    "RelaxStrategy",
    "RelaxedModel",
    "assignments",
    "choose",
    "relax",
    "relaxed_site_name",
]
__doc__ += fill(_relax.MODULE_DOC, **BACKEND.docs)


@copy_docs_from(_relax.RelaxReparam, **BACKEND.docs)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = BACKEND

    def apply(self, msg: dict) -> dict:
        value, event_dim = self._relax(msg["name"], msg["fn"], msg["is_observed"])
        # Simulate a pyro.deterministic() site carrying the relaxed value.
        new_fn = dist.Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}


is_relaxable, RelaxStrategy, RelaxedModel, relax, choose = _relax.backend_api(
    RelaxReparam, __name__
)


@copy_docs_from(
    _relax.ASSIGNMENTS_DOC,
    params_how=" (under ``torch.no_grad``)",
    params_doc=(
        "``None`` to read the global param store (where ``fit`` leaves the fitted\n"
        "        values), or a dict ``{name: tensor}`` of parameter values to use instead\n"
        "        (``FitResult.params``)."
    ),
    **BACKEND.docs,
)
def assignments(guide, params: dict | None = None, *args, **kwargs) -> dict:
    if params is not None:
        guide = poutine.substitute(guide, data=params)
    with torch.no_grad():
        trace = poutine.trace(guide).get_trace(*args, **kwargs)
    found = _relax.assignments(
        BACKEND, ((name, site["fn"]) for name, site in trace.iter_stochastic_nodes())
    )
    # torch computes a distribution's lazy `probs` with gradients enabled, whatever the context
    return {site: (probs.detach(), labels) for site, (probs, labels) in found.items()}
