"""Relaxing discrete latent sites so a model trains with pathwise gradients (Pyro).

A :class:`RelaxReparam` rewrites one unobserved ``Categorical``, ``OneHotCategorical`` or
``Bernoulli`` sample site ``name`` into

- an auxiliary latent site ``f"{name}_relaxed"`` in *log space*: an
  :class:`~ppl_reparam.pyro.distributions.ExpRelaxedOneHotCategorical` (the ExpConcrete)
  for categorical sites, a :class:`~ppl_reparam.pyro.distributions.LogitRelaxedBernoulli`
  (the logit of a binary Concrete, ``Logistic(logits / temperature, 1 / temperature)``)
  for Bernoulli sites; and
- a deterministic site ``name`` whose value the model sees: the relaxed one-hot vector
  ``exp(y)`` (use :func:`choose` to index with it) or the relaxed bit ``sigmoid(y)``.

Prior and guide densities are both evaluated on the log-space value, as Maddison, Mnih
and Teh (2017) recommend: the ELBO never takes the log of a rounded simplex point.
With ``density="categorical"`` both are scored instead by the categorical (Bernoulli)
log-mass extended linearly to the relaxed value; use it when the prior probabilities
are learned, as for mixture weights (see :func:`relax`). A guide provides
``f"{name}_relaxed"`` with the same family, the same ``density`` and learnable logits.
"""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer.reparam.reparam import Reparam

from ppl_reparam._relax import TEMPERATURE_KWARG, TemperatureSpec, relaxed_site_name
from ppl_reparam._validation import check_relaxed_density
from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical, LogitRelaxedBernoulli
from ppl_reparam.schedules import Schedule

__all__ = ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "choose", "relax", "relaxed_site_name"]


def _unwrap(fn):
    """Peel ``Independent`` wrappers: (base distribution, number of peeled event dims)."""
    reinterpreted = 0
    while isinstance(fn, torch.distributions.Independent):
        reinterpreted += fn.reinterpreted_batch_ndims
        fn = fn.base_dist
    return fn, reinterpreted


def is_relaxable(msg: dict) -> bool:
    """Whether a sample site is one :func:`relax` rewrites: an unobserved Categorical,
    OneHotCategorical or Bernoulli site not marked for enumeration."""
    if msg["type"] != "sample" or msg["is_observed"]:
        return False
    if msg.get("infer", {}).get("enumerate"):
        return False
    base, _ = _unwrap(msg["fn"])
    return isinstance(base, (dist.Categorical, dist.OneHotCategorical, dist.Bernoulli))


class RelaxReparam(Reparam):
    """Reparameterizer replacing a discrete site by its Concrete relaxation.

    :param temperature: a positive number or tensor (broadcastable to the site's batch
        shape).
    :param density: ``"concrete"`` (the ExpConcrete / logistic density) or
        ``"categorical"`` (the discrete log-mass extended linearly to the relaxed value);
        see :func:`relax`.
    """

    def __init__(self, temperature: "float | torch.Tensor" = 1.0, density: str = "concrete"):
        self.temperature = temperature
        self.density = check_relaxed_density("RelaxReparam", density)

    def apply(self, msg: dict) -> dict:
        name, fn = msg["name"], msg["fn"]
        if msg["is_observed"]:
            raise ValueError(f"RelaxReparam: site {name!r} is observed; only latent sites relax")
        base, reinterpreted = _unwrap(fn)
        if not isinstance(base, (dist.Categorical, dist.OneHotCategorical, dist.Bernoulli)):
            raise TypeError(
                f"RelaxReparam: site {name!r} has a {type(base).__name__}; only Categorical, "
                "OneHotCategorical and Bernoulli sites can be relaxed"
            )
        logits = base.logits
        temperature = torch.as_tensor(self.temperature, dtype=logits.dtype, device=logits.device)
        if isinstance(base, dist.Bernoulli):
            family, to_value, event_dim = LogitRelaxedBernoulli, torch.sigmoid, reinterpreted
        else:
            family, to_value = ExpRelaxedOneHotCategorical, torch.exp
            event_dim = reinterpreted + 1
        relaxed_fn = family(temperature, logits=logits, density=self.density)
        if reinterpreted:
            relaxed_fn = relaxed_fn.to_event(reinterpreted)
        value = to_value(pyro.sample(relaxed_site_name(name), relaxed_fn))
        # Simulate a pyro.deterministic() site carrying the relaxed value.
        new_fn = dist.Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}


class RelaxStrategy:
    """A reparameterization strategy relaxing every site :func:`is_relaxable` accepts.

    Use as ``poutine.reparam(model, config=RelaxStrategy(temperature))``.
    """

    def __init__(self, temperature: "float | torch.Tensor" = 1.0, density: str = "concrete"):
        self._reparam = RelaxReparam(temperature, density)

    def __call__(self, msg: dict) -> RelaxReparam | None:
        return self._reparam if is_relaxable(msg) else None


class RelaxedModel:
    """A model whose discrete latent sites are relaxed; returned by :func:`relax`.

    Call it like the model, optionally with ``relax_temperature=`` (required when the
    temperature is a schedule: pass ``temperature_at(step)``; the guide receives the same
    keyword from SVI).
    """

    def __init__(
        self,
        model: Callable,
        temperature: "float | torch.Tensor | Schedule",
        density: str = "concrete",
    ):
        self.model = model
        self._spec = TemperatureSpec(temperature, torch.Tensor)
        self.density = check_relaxed_density("relax", density)

    def temperature_at(self, step: int):
        """The temperature at training step ``step``."""
        return self._spec.at(step)

    def __call__(self, *args, **kwargs):
        temperature = self._spec.resolve(kwargs.pop(TEMPERATURE_KWARG, None))
        config = RelaxStrategy(temperature, self.density)
        return poutine.reparam(self.model, config=config)(*args, **kwargs)


def relax(
    model: Callable,
    temperature: "float | torch.Tensor | Schedule" = 1.0,
    density: str = "concrete",
) -> RelaxedModel:
    r"""Relax every unobserved Categorical / OneHotCategorical / Bernoulli site of ``model``.

    Observed sites and sites marked for enumeration are left alone. Each relaxed site
    ``name`` becomes a latent site ``f"{name}_relaxed"`` in log space; the guide samples
    it from ``ExpRelaxedOneHotCategorical(t, logits=...)`` (categorical sites) or
    ``LogitRelaxedBernoulli(t, logits=...)`` (Bernoulli sites), with ``t`` the
    temperature the guide receives as ``relax_temperature`` and the same ``density``
    as the model::

        relaxed = relax(model, temperature=ExponentialDecay(1.0, 1e-3, floor=0.3))

        def guide(data, relax_temperature):
            with pyro.plate("data", len(data)):
                logits = pyro.param("q_logits", torch.zeros(len(data), K))
                pyro.sample("z_relaxed",
                            ExpRelaxedOneHotCategorical(relax_temperature, logits=logits))

        svi = SVI(relaxed, guide, Adam({"lr": 0.05}), Trace_ELBO())
        for step in range(num_steps):
            svi.step(data, relax_temperature=relaxed.temperature_at(step))

    ``density`` says how prior and guide score a relaxed draw. ``"concrete"`` (the
    default) is the ExpConcrete density of Maddison, Mnih and Teh (2017).
    ``"categorical"`` is the discrete log-mass extended linearly to the relaxed value,
    :math:`\sum_k x_k \log \pi_k`: its ELBO tends to the discrete ELBO as the
    temperature falls, which the Concrete one does not (the KL divergence between two
    ExpConcrete laws of one temperature is the same at every temperature, and is not the
    categorical KL divergence). Choose ``"categorical"`` when the prior probabilities are
    learned (mixture weights, a Dirichlet prior): with ``"concrete"`` they are biased
    towards the largest component. The guide must use the same ``density``
    (:class:`~ppl_reparam.pyro.guides.AutoPathwiseGuide` copies it from the model).
    """
    return RelaxedModel(model, temperature, density)


def choose(z: torch.Tensor, options: torch.Tensor) -> torch.Tensor:
    """``options[z]`` for an integer ``z``; the matching convex combination for a
    relaxed one-hot ``z``.

    ``options`` has the K alternatives along its first axis. An integer ``z`` of shape
    ``B`` gives ``options[z]`` of shape ``B + options.shape[1:]`` (this is what exact
    enumeration feeds the model). A floating ``z`` of shape ``B + (K,)`` on the simplex
    (a relaxed or one-hot sample) gives ``sum_k z[..., k] * options[k]``, of the same
    shape. One model body thus serves enumeration, NUTS and relaxed SVI.
    """
    if not torch.is_floating_point(z):
        return options[z]
    if z.shape[-1] != options.shape[0]:
        raise ValueError(
            f"choose: relaxed z has {z.shape[-1]} categories on its last axis but options "
            f"has {options.shape[0]} along its first"
        )
    return torch.tensordot(z, options, dims=([-1], [0]))
