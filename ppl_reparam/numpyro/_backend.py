"""The JAX :class:`~ppl_reparam._backend.Backend`: what the shared guide and
relaxation use of this backend."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions
import numpyro.distributions.transforms
from numpyro.distributions import constraints
from numpyro.handlers import reparam

import ppl_reparam.numpyro.distributions
from ppl_reparam._backend import Backend
from ppl_reparam.numpyro import _xp

_dist = numpyro.distributions


def _is_observed(msg: dict) -> bool:
    # the reparam handler passes a site's value as `obs`, also one set by substitute
    return bool(msg.get("is_observed")) or msg.get("value") is not None


def _active_plates() -> tuple[tuple[int, int], ...]:
    # NumPyro has no public query of the enclosing plates (Pyro's get_plates)
    return tuple(
        (handler.dim, handler.subsample_size)
        for handler in numpyro.primitives._PYRO_STACK
        if isinstance(handler, numpyro.plate)
    )


BACKEND = Backend(
    dist=_dist,
    constraints=constraints,
    transforms=numpyro.distributions.transforms,
    ours=ppl_reparam.numpyro.distributions,
    xp=_xp,
    affine=lambda loc, scale, domain: _dist.transforms.AffineTransform(loc, scale, domain=domain),
    # the subclasses: positive, nonnegative, softplus_positive, greater_than_eq;
    # less_than_eq; unit_interval, open_interval, circular
    greater_than=(constraints._GreaterThan,),
    less_than=(constraints._LessThan,),
    interval=(constraints._Interval,),
    simplex=constraints._Simplex,
    independent=_dist.Independent,
    expanded=_dist.ExpandedDistribution,
    # NumPyro has no OneHotCategorical; its Categorical and Bernoulli are two classes each
    categorical=(_dist.CategoricalLogits, _dist.CategoricalProbs),
    bernoulli=(_dist.BernoulliLogits, _dist.BernoulliProbs),
    array_type=jax.Array,
    as_array=lambda x, like=None: jnp.asarray(x, None if like is None else jnp.result_type(like)),
    full_like=jnp.full_like,
    to_numpy=np.asarray,
    is_floating=lambda x: jnp.issubdtype(x.dtype, jnp.floating),
    sigmoid=jax.nn.sigmoid,
    tensordot=lambda a, b: jnp.tensordot(a, b, axes=([-1], [0])),
    sample=numpyro.sample,
    reparam=reparam,
    is_observed=_is_observed,
    plates=_active_plates,
    docs={
        "backend": "numpyro",
        "framework": "NumPyro",
        "discrete": "Categorical / Bernoulli",
        "discrete_names": "Categorical and Bernoulli",
        "array": "array",
        "handler": "numpyro.handlers.reparam",
        "relax_traced": "; may be a traced value inside ``jax.jit``",
        "guide_traced": " (traced under ``jax.jit``: no recompilation as it anneals)",
        "jit_note": (
            " The temperature reaches the model as an ordinary argument, so a jitted SVI"
            " step is compiled once for all temperatures."
        ),
        "relax_example": """
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
        "autonormal": ":class:`~numpyro.infer.autoguide.AutoNormal`",
        "autonormal_params": (
            "prefix, init_loc_fn, init_scale, create_plates,\n        forward_mode_differentiation"
        ),
        "storage": (
            'Parameters are named ``f"{site}_{prefix}_{param}"`` (AutoNormal\'s scheme,\n'
            "    ``param`` from the table)."
        ),
        "draws": (
            "Posterior draws: :meth:`sample_posterior`, or :class:`numpyro.infer.Predictive`."
        ),
        "guide_example": """guide = AutoPathwiseGuide(relax(model, 0.5))
        result = fit(relax(model, 0.5), guide, data, num_steps=2000)
        guide.median(result.params)""",
        "sample_how": "with :meth:`sample_posterior`",
    },
)
