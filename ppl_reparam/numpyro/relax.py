"""Relaxing discrete latent sites so a model trains with pathwise gradients (NumPyro)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import reparam
from numpyro.infer.reparam import Reparam

from ppl_reparam import _relax
from ppl_reparam._docs import copy_docs_from, fill
from ppl_reparam._relax import relaxed_site_name
from ppl_reparam.numpyro.distributions import ExpRelaxedOneHotCategorical, LogitRelaxedBernoulli
from ppl_reparam.schedules import Schedule

Temperature = float | jax.Array | Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]

_BACKEND = _relax.RelaxBackend(
    # NumPyro has no OneHotCategorical; its Categorical and Bernoulli are two classes each
    categorical=(dist.CategoricalLogits, dist.CategoricalProbs),
    bernoulli=(dist.BernoulliLogits, dist.BernoulliProbs),
    discrete_names="Categorical and Bernoulli",
    independent=dist.Independent,
    expanded=dist.ExpandedDistribution,
    exp_relaxed_categorical=ExpRelaxedOneHotCategorical,
    logit_relaxed_bernoulli=LogitRelaxedBernoulli,
    array_type=jax.Array,
    as_array=lambda x, like: jnp.asarray(x, None if like is None else jnp.result_type(like)),
    exp=jnp.exp,
    sigmoid=jax.nn.sigmoid,
    is_floating=lambda x: jnp.issubdtype(x.dtype, jnp.floating),
    tensordot=lambda a, b: jnp.tensordot(a, b, axes=([-1], [0])),
    sample=numpyro.sample,
    # the reparam handler passes a site's value as `obs` (also one set by substitute)
    is_observed=lambda msg: bool(msg.get("is_observed")) or msg.get("value") is not None,
    reparam=reparam,
)

_DOCS = {
    "backend": "numpyro",
    "discrete": "Categorical / Bernoulli",
    "array": "array",
    "traced": "; may be a traced value inside ``jax.jit``",
    "handler": "numpyro.handlers.reparam",
    "jit_note": (
        " The temperature reaches the model as an ordinary argument, so a jitted SVI"
        " step is compiled once for all temperatures."
    ),
    "example": """
        def guide(data, relax_temperature):
            with numpyro.plate("data", len(data)):
                logits = numpyro.param("q_logits", jnp.zeros((len(data), K)))
                numpyro.sample("z_relaxed",
                               ExpRelaxedOneHotCategorical(relax_temperature, logits=logits))

        svi = SVI(relaxed, guide, optax.adam(0.05), Trace_ELBO())
        state = svi.init(key, data, relax_temperature=relaxed.temperature_at(0))
        update = jax.jit(svi.update)
        for step in range(num_steps):
            state, loss = update(state, data, relax_temperature=relaxed.temperature_at(step))
""",
}

__doc__ += fill(_relax.MODULE_DOC, **_DOCS)


@copy_docs_from(_relax.is_relaxable, **_DOCS)
def is_relaxable(msg: dict) -> bool:
    return _relax.is_relaxable(_BACKEND, msg)


@copy_docs_from(_relax.RelaxReparam, **_DOCS)
class RelaxReparam(_relax.RelaxReparam, Reparam):
    _backend = _BACKEND

    def __call__(self, name, fn, obs):
        value, _ = self._relax(name, fn, obs is not None)
        return None, value


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
def choose(z: jax.Array, options: jax.Array) -> jax.Array:
    return _relax.choose(_BACKEND, z, options)
