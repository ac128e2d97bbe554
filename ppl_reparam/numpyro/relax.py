"""Relaxing discrete latent sites so a model trains with pathwise gradients (NumPyro).

A :class:`RelaxReparam` rewrites one unobserved ``Categorical`` or ``Bernoulli`` sample
site (NumPyro has no ``OneHotCategorical``) ``name`` into

- an auxiliary latent site ``f"{name}_relaxed"`` in *log space*: an
  :class:`~ppl_reparam.numpyro.distributions.ExpRelaxedOneHotCategorical` (the
  ExpConcrete) for categorical sites, a
  :class:`~ppl_reparam.numpyro.distributions.LogitRelaxedBernoulli` (the logit of a
  binary Concrete, ``Logistic(logits / temperature, 1 / temperature)``) for Bernoulli
  sites; and
- a deterministic site ``name`` whose value the model sees: the relaxed one-hot vector
  ``exp(y)`` (use :func:`choose` to index with it) or the relaxed bit ``sigmoid(y)``.

Prior and guide densities are both evaluated on the log-space value, as Maddison, Mnih
and Teh (2017) recommend. With ``density="categorical"`` both are scored instead by the
categorical (Bernoulli) log-mass extended linearly to the relaxed value; use it when
the prior probabilities are learned, as for mixture weights (see :func:`relax`). The
temperature reaches the model as an ordinary argument (``relax_temperature=``), so a
jitted SVI step is compiled once for all temperatures.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import reparam
from numpyro.infer.reparam import Reparam

from ppl_reparam._relax import TEMPERATURE_KWARG, TemperatureSpec, relaxed_site_name
from ppl_reparam._validation import check_relaxed_density
from ppl_reparam.numpyro.distributions import ExpRelaxedOneHotCategorical, LogitRelaxedBernoulli
from ppl_reparam.schedules import Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]

# NumPyro has no OneHotCategorical; its Categorical and Bernoulli come in two classes each.
_DISCRETE = (
    dist.CategoricalLogits,
    dist.CategoricalProbs,
    dist.BernoulliLogits,
    dist.BernoulliProbs,
)
_BERNOULLI = (dist.BernoulliLogits, dist.BernoulliProbs)


def _unwrap(fn):
    """Peel ``Independent`` and ``ExpandedDistribution`` wrappers: (base distribution,
    batch shape under the ``Independent`` wrappers, number of reinterpreted dims)."""
    reinterpreted = 0
    while isinstance(fn, dist.Independent):
        reinterpreted += fn.reinterpreted_batch_ndims
        fn = fn.base_dist
    batch_shape = fn.batch_shape
    while isinstance(fn, dist.ExpandedDistribution):
        fn = fn.base_dist
    return fn, batch_shape, reinterpreted


def is_relaxable(msg: dict) -> bool:
    """Whether a sample site is one :func:`relax` rewrites: an unobserved Categorical or
    Bernoulli site not marked for enumeration."""
    if msg["type"] != "sample" or msg.get("is_observed") or msg.get("value") is not None:
        return False
    if (msg.get("infer") or {}).get("enumerate"):
        return False
    return isinstance(_unwrap(msg["fn"])[0], _DISCRETE)


class RelaxReparam(Reparam):
    """Reparameterizer replacing a discrete site by its Concrete relaxation.

    :param temperature: a positive number or array (broadcastable to the site's batch
        shape); may be a traced value inside ``jax.jit``.
    :param density: ``"concrete"`` (the ExpConcrete / logistic density) or
        ``"categorical"`` (the discrete log-mass extended linearly to the relaxed value);
        see :func:`relax`.
    """

    def __init__(self, temperature=1.0, density="concrete"):
        self.temperature = temperature
        self.density = check_relaxed_density("RelaxReparam", density)

    def __call__(self, name, fn, obs):
        if obs is not None:
            raise ValueError(f"RelaxReparam: site {name!r} is observed; only latent sites relax")
        base, batch_shape, reinterpreted = _unwrap(fn)
        if not isinstance(base, _DISCRETE):
            raise TypeError(
                f"RelaxReparam: site {name!r} has a {type(base).__name__}; only Categorical "
                "and Bernoulli sites can be relaxed"
            )
        logits = base.logits
        temperature = jnp.asarray(self.temperature, dtype=jnp.result_type(logits))
        if isinstance(base, _BERNOULLI):
            family, to_value = LogitRelaxedBernoulli, jax.nn.sigmoid
        else:
            family, to_value = ExpRelaxedOneHotCategorical, jnp.exp
        relaxed_fn = family(temperature, logits=logits, density=self.density)
        relaxed_fn = relaxed_fn.expand(batch_shape)
        if reinterpreted:
            relaxed_fn = relaxed_fn.to_event(reinterpreted)
        value = to_value(numpyro.sample(relaxed_site_name(name), relaxed_fn))
        return None, value


class RelaxStrategy:
    """A reparameterization config relaxing every site :func:`is_relaxable` accepts.

    Use as ``numpyro.handlers.reparam(model, config=RelaxStrategy(temperature))``.
    """

    def __init__(self, temperature=1.0, density="concrete"):
        self._reparam = RelaxReparam(temperature, density)

    def __call__(self, msg: dict) -> RelaxReparam | None:
        return self._reparam if is_relaxable(msg) else None


class RelaxedModel:
    """A model whose discrete latent sites are relaxed; returned by :func:`relax`.

    Call it like the model, optionally with ``relax_temperature=`` (required when the
    temperature is a schedule: pass ``temperature_at(step)``; the guide receives the same
    keyword from SVI). Passing it as an argument of a jitted step means no recompilation
    when it changes.
    """

    def __init__(
        self,
        model: Callable,
        temperature: "float | jax.Array | Schedule",
        density: str = "concrete",
    ):
        self.model = model
        self._spec = TemperatureSpec(temperature, jax.Array)
        self.density = check_relaxed_density("relax", density)

    def temperature_at(self, step: int):
        """The temperature at training step ``step``."""
        return self._spec.at(step)

    def __call__(self, *args, **kwargs):
        temperature = self._spec.resolve(kwargs.pop(TEMPERATURE_KWARG, None))
        config = RelaxStrategy(temperature, self.density)
        return reparam(self.model, config=config)(*args, **kwargs)


def relax(
    model: Callable,
    temperature: "float | jax.Array | Schedule" = 1.0,
    density: str = "concrete",
) -> RelaxedModel:
    r"""Relax every unobserved Categorical / Bernoulli site of ``model``.

    Observed sites and sites marked for enumeration are left alone. Each relaxed site
    ``name`` becomes a latent site ``f"{name}_relaxed"`` in log space; the guide samples
    it from ``ExpRelaxedOneHotCategorical(t, logits=...)`` (categorical sites) or
    ``LogitRelaxedBernoulli(t, logits=...)`` (Bernoulli sites), with ``t`` the
    temperature the guide receives as ``relax_temperature`` and the same ``density``
    as the model::

        relaxed = relax(model, temperature=ExponentialDecay(1.0, 1e-3, floor=0.3))

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

    ``density`` says how prior and guide score a relaxed draw. ``"concrete"`` (the
    default) is the ExpConcrete density of Maddison, Mnih and Teh (2017).
    ``"categorical"`` is the discrete log-mass extended linearly to the relaxed value,
    :math:`\sum_k x_k \log \pi_k`: its ELBO tends to the discrete ELBO as the
    temperature falls, which the Concrete one does not (the KL divergence between two
    ExpConcrete laws of one temperature is the same at every temperature, and is not the
    categorical KL divergence). Choose ``"categorical"`` when the prior probabilities are
    learned (mixture weights, a Dirichlet prior): with ``"concrete"`` they are biased
    towards the largest component. The guide must use the same ``density``
    (:class:`~ppl_reparam.numpyro.guides.AutoPathwiseGuide` copies it from the model).
    """
    return RelaxedModel(model, temperature, density)


def choose(z, options):
    """``options[z]`` for an integer ``z``; the matching convex combination for a
    relaxed one-hot ``z``.

    ``options`` has the K alternatives along its first axis. An integer ``z`` of shape
    ``B`` gives ``options[z]`` of shape ``B + options.shape[1:]`` (what exact enumeration
    and NUTS over enumerated sites feed the model). A floating ``z`` of shape ``B + (K,)``
    on the simplex (a relaxed or one-hot sample) gives ``sum_k z[..., k] * options[k]``,
    of the same shape. One model body thus serves enumeration, NUTS and relaxed SVI.
    """
    z = jnp.asarray(z)
    options = jnp.asarray(options)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        return options[z]
    if z.shape[-1] != options.shape[0]:
        raise ValueError(
            f"choose: relaxed z has {z.shape[-1]} categories on its last axis but options "
            f"has {options.shape[0]} along its first"
        )
    return jnp.tensordot(z, options, axes=([-1], [0]))
