"""Relaxing discrete latent sites so a model trains with pathwise gradients (Pyro)."""

from collections.abc import Callable

import pyro.distributions as dist
import torch
from pyro.infer.reparam.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.pyro._backend import BACKEND
from ppl_reparam.schedules import Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]
__doc__ += fill(_relax.MODULE_DOC, **BACKEND.docs)


@copy_docs_from(_relax.is_relaxable, **BACKEND.docs)
def is_relaxable(msg: dict) -> bool:
    return _relax.is_relaxable(BACKEND, msg)


@copy_docs_from(_relax.RelaxReparam, **BACKEND.docs)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = BACKEND

    def apply(self, msg: dict) -> dict:
        value, event_dim = self._relax(msg["name"], msg["fn"], msg["is_observed"])
        # Simulate a pyro.deterministic() site carrying the relaxed value.
        new_fn = dist.Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}


@copy_docs_from(_relax.RelaxStrategy, **BACKEND.docs)
class RelaxStrategy(_relax.RelaxStrategy):
    _reparam_class = RelaxReparam


@copy_docs_from(_relax.RelaxedModel, **BACKEND.docs)
class RelaxedModel(_relax.RelaxedModel):
    _strategy_class = RelaxStrategy


@copy_docs_from(_relax.RELAX_DOC, **BACKEND.docs)
def relax(
    model: Callable,
    temperature: float | torch.Tensor | Schedule = 1.0,
    density: str = "concrete",
) -> RelaxedModel:
    return RelaxedModel(model, temperature, density)


@copy_docs_from(_relax.choose, **BACKEND.docs)
def choose(z: torch.Tensor, options: torch.Tensor) -> torch.Tensor:
    return _relax.choose(BACKEND, z, options)
