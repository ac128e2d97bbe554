"""Relaxing discrete latent sites so a model trains with pathwise gradients (NumPyro)."""

from numpyro.infer.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.numpyro._backend import BACKEND

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]
__doc__ += fill(_relax.MODULE_DOC, **BACKEND.docs)


@copy_docs_from(_relax.RelaxReparam, **BACKEND.docs)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = BACKEND

    def __call__(self, name: str, fn, obs):
        # the site becomes deterministic: no distribution of its own, the relaxed value
        return None, self._relax(name, fn, obs is not None)[0]


is_relaxable, RelaxStrategy, RelaxedModel, relax, choose = _relax.backend_api(
    RelaxReparam, __name__
)
