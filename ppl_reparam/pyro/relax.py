"""Relaxing discrete latent sites so a model trains with pathwise gradients (Pyro)."""

import pyro.distributions as dist
from pyro.infer.reparam.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.pyro._backend import BACKEND

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]
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
