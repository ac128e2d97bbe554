"""Relaxing discrete latent sites so a model trains with pathwise gradients (NumPyro)."""

from numpyro import handlers
from numpyro.infer.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.numpyro import _scan
from ppl_reparam.numpyro._backend import BACKEND

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

    @classmethod
    def handle(cls, model, config):
        # a scan body is hidden from handlers outside it: relax inside each body too
        def wrap(body, k: int):
            return _scan.check_carry(handlers.reparam(body, config=config), "relax")

        return handlers.reparam(_scan.ScanBodies(model, wrap), config=config)

    def __call__(self, name: str, fn, obs):
        # the site becomes deterministic: no distribution of its own, the relaxed value
        return None, self._relax(name, fn, obs is not None)[0]


is_relaxable, RelaxStrategy, RelaxedModel, relax, choose = _relax.backend_api(
    RelaxReparam, __name__
)


@copy_docs_from(
    _relax.ASSIGNMENTS_DOC,
    params_how=" with ``params`` substituted",
    params_doc="the fitted parameters (``FitResult.params``, or ``svi.get_params(state)``).",
    **BACKEND.docs,
)
def assignments(guide, params: dict | None = None, *args, **kwargs) -> dict:
    if params is None:
        raise ValueError(
            "assignments: pass the fitted parameters as `params` (FitResult.params); "
            "NumPyro keeps no global parameter store"
        )
    guide = handlers.substitute(handlers.seed(guide, 0), data=params)
    trace = handlers.trace(guide).get_trace(*args, **kwargs)
    return _relax.assignments(
        BACKEND,
        (
            (name, site["fn"])
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ),
    )
