"""Relaxing discrete latent sites so a model trains with pathwise gradients (Pyro)."""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.torch_distribution import ExpandedDistribution
from pyro.infer.reparam.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical, LogitRelaxedBernoulli
from ppl_reparam.schedules import Schedule

Temperature = float | torch.Tensor | Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]

_BACKEND = _relax.RelaxBackend(
    categorical=(dist.Categorical, dist.OneHotCategorical),
    bernoulli=(dist.Bernoulli,),
    discrete_names="Categorical, OneHotCategorical and Bernoulli",
    independent=torch.distributions.Independent,
    expanded=ExpandedDistribution,
    exp_relaxed_categorical=ExpRelaxedOneHotCategorical,
    logit_relaxed_bernoulli=LogitRelaxedBernoulli,
    array_type=torch.Tensor,
    as_array=lambda x, like: torch.as_tensor(
        x, **({} if like is None else {"dtype": like.dtype, "device": like.device})
    ),
    exp=torch.exp,
    sigmoid=torch.sigmoid,
    is_floating=torch.is_floating_point,
    tensordot=lambda a, b: torch.tensordot(a, b, dims=([-1], [0])),
    sample=pyro.sample,
    is_observed=lambda msg: msg["is_observed"],
    reparam=poutine.reparam,
)

_DOCS = {
    "backend": "pyro",
    "discrete": "Categorical / OneHotCategorical / Bernoulli",
    "array": "tensor",
    "traced": "",
    "handler": "poutine.reparam",
    "jit_note": "",
    "example": """
        def guide(data, relax_temperature):
            with pyro.plate("data", len(data)):
                logits = pyro.param("q_logits", torch.zeros(len(data), K))
                pyro.sample("z_relaxed",
                            ExpRelaxedOneHotCategorical(relax_temperature, logits=logits))

        svi = SVI(relaxed, guide, Adam({"lr": 0.05}), Trace_ELBO())
        for step in range(num_steps):
            svi.step(data, relax_temperature=relaxed.temperature_at(step))
""",
}

__doc__ += fill(_relax.MODULE_DOC, **_DOCS)


@copy_docs_from(_relax.is_relaxable, **_DOCS)
def is_relaxable(msg: dict) -> bool:
    return _relax.is_relaxable(_BACKEND, msg)


@copy_docs_from(_relax.RelaxReparam, **_DOCS)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = _BACKEND

    def apply(self, msg: dict) -> dict:
        value, event_dim = self._relax(msg["name"], msg["fn"], msg["is_observed"])
        # Simulate a pyro.deterministic() site carrying the relaxed value.
        new_fn = dist.Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}


@copy_docs_from(_relax.RelaxStrategy, **_DOCS)
class RelaxStrategy(_relax.RelaxStrategy):
    _reparam_class = RelaxReparam


@copy_docs_from(_relax.RelaxedModel, **_DOCS)
class RelaxedModel(_relax.RelaxedModel):
    _strategy_class = RelaxStrategy


@copy_docs_from(_relax.RELAX_DOC, **_DOCS)
def relax(
    model: Callable, temperature: Temperature = 1.0, density: str = "concrete"
) -> RelaxedModel:
    return RelaxedModel(model, temperature, density)


@copy_docs_from(_relax.choose, **_DOCS)
def choose(z: torch.Tensor, options: torch.Tensor) -> torch.Tensor:
    return _relax.choose(_BACKEND, z, options)
