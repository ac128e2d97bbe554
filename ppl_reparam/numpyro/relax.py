"""Relaxing discrete latent sites so a model trains with pathwise gradients (NumPyro)."""

from collections.abc import Callable

import jax
from numpyro.infer.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.numpyro._backend import BACKEND
from ppl_reparam.schedules import Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]
__doc__ += fill(_relax.MODULE_DOC, **BACKEND.docs)


@copy_docs_from(_relax.is_relaxable, **BACKEND.docs)
def is_relaxable(msg: dict) -> bool:
    return _relax.is_relaxable(BACKEND, msg)


@copy_docs_from(_relax.RelaxReparam, **BACKEND.docs)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = BACKEND

    def __call__(self, name: str, fn, obs):
        # the site becomes deterministic: no distribution of its own, the relaxed value
        return None, self._relax(name, fn, obs is not None)[0]


@copy_docs_from(_relax.RelaxStrategy, **BACKEND.docs)
class RelaxStrategy(_relax.RelaxStrategy):
    _reparam_class = RelaxReparam


@copy_docs_from(_relax.RelaxedModel, **BACKEND.docs)
class RelaxedModel(_relax.RelaxedModel):
    _strategy_class = RelaxStrategy


@copy_docs_from(_relax.RELAX_DOC, **BACKEND.docs)
def relax(
    model: Callable,
    temperature: float | jax.Array | Schedule = 1.0,
    density: str = "concrete",
) -> RelaxedModel:
    return RelaxedModel(model, temperature, density)


@copy_docs_from(_relax.choose, **BACKEND.docs)
def choose(z: jax.Array, options: jax.Array) -> jax.Array:
    return _relax.choose(BACKEND, z, options)
