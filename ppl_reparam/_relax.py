"""Backend-neutral relaxation strategy (no torch or jax import): which sites relax, the
rewrite of one site, the strategy, the relaxed model and its temperature, ``choose``, and
the docstrings of all of them. Each backend supplies a :class:`Backend` record and
keeps only its reparameterizer protocol (Pyro's ``apply(msg)``, NumPyro's
``__call__(name, fn, obs)``)."""

from collections.abc import Callable
from numbers import Real
from typing import Any, ClassVar

from ppl_reparam._backend import Backend
from ppl_reparam._docs import fill
from ppl_reparam._validation import check_relaxed_density
from ppl_reparam.schedules import Schedule

RELAXED_SUFFIX = "_relaxed"
TEMPERATURE_KWARG = "relax_temperature"


def relaxed_site_name(name: str) -> str:
    """The name of the log-space latent site that replaces discrete site ``name``."""
    return name + RELAXED_SUFFIX


def unwrap(b: Backend, fn) -> tuple[Any, tuple[int, ...], int]:
    """Peel ``Independent`` and ``ExpandedDistribution`` wrappers: (base distribution,
    batch shape under the ``Independent`` wrappers, number of reinterpreted dims)."""
    reinterpreted = 0
    while isinstance(fn, b.independent):
        reinterpreted += fn.reinterpreted_batch_ndims
        fn = fn.base_dist
    batch_shape = tuple(fn.batch_shape)
    while isinstance(fn, b.expanded):
        fn = fn.base_dist
    return fn, batch_shape, reinterpreted


def is_relaxable(b: Backend, msg: dict) -> bool:
    """Whether a sample site is one :func:`relax` rewrites: an unobserved {discrete}
    site not marked for enumeration."""
    if msg["type"] != "sample" or b.is_observed(msg):
        return False
    if (msg.get("infer") or {}).get("enumerate"):
        return False
    return isinstance(unwrap(b, msg["fn"])[0], b.categorical + b.bernoulli)


# measured by benchmarks/guides.py: with "concrete" the K = 4 mixture's weights end 12
# posterior sd off (a component lost), with "categorical" 0.3
DEFAULT_DENSITY = "categorical"


class RelaxReparam:
    """Reparameterizer replacing a discrete site by its Concrete relaxation.

    :param temperature: a positive number or {array} (broadcastable to the site's batch
        shape){relax_traced}.
    :param density: ``"categorical"`` (default: the discrete log-mass extended linearly
        to the relaxed value) or ``"concrete"`` (the ExpConcrete / logistic density); see
        :func:`relax`.
    """

    _backend: ClassVar[Backend]

    def __init__(self, temperature: Any = 1.0, density: str = DEFAULT_DENSITY):
        self.temperature = temperature
        self.density = check_relaxed_density("RelaxReparam", density)

    @classmethod
    def handle(cls, model: Callable, config: "RelaxStrategy") -> Callable:
        """``model`` under the backend's reparam handler with ``config``."""
        return cls._backend.reparam(model, config=config)

    def _relax(self, name: str, fn, observed: bool) -> tuple[Any, int]:
        """Sample ``f"{name}_relaxed"`` from the relaxation of ``fn``: (the relaxed value
        the model sees, its event dim)."""
        b = self._backend
        if observed:
            raise ValueError(f"RelaxReparam: site {name!r} is observed; only latent sites relax")
        base, batch_shape, reinterpreted = unwrap(b, fn)
        if not isinstance(base, b.categorical + b.bernoulli):
            raise TypeError(
                f"RelaxReparam: site {name!r} has a {type(base).__name__}; only "
                f"{b.docs['discrete_names']} sites can be relaxed"
            )
        logits = base.logits
        temperature = b.as_array(self.temperature, logits)
        if isinstance(base, b.bernoulli):
            family, to_value, event_dim = b.ours.LogitRelaxedBernoulli, b.sigmoid, reinterpreted
        else:
            family, to_value = b.ours.ExpRelaxedOneHotCategorical, b.xp.exp
            event_dim = reinterpreted + 1
        relaxed_fn = family(temperature, logits=logits, density=self.density)
        if tuple(relaxed_fn.batch_shape) != batch_shape:
            relaxed_fn = relaxed_fn.expand(batch_shape)
        if reinterpreted:
            relaxed_fn = relaxed_fn.to_event(reinterpreted)
        return to_value(b.sample(relaxed_site_name(name), relaxed_fn)), event_dim


class RelaxStrategy:
    """A reparameterization strategy relaxing every site :func:`is_relaxable` accepts.

    Use as ``{handler}(model, config=RelaxStrategy(temperature))``.
    """

    _reparam_class: ClassVar[type[RelaxReparam]]

    def __init__(self, temperature: Any = 1.0, density: str = DEFAULT_DENSITY):
        self._reparam = self._reparam_class(temperature, density)

    def __call__(self, msg: dict) -> RelaxReparam | None:
        return self._reparam if is_relaxable(self._reparam._backend, msg) else None


def check_temperature(temperature, array_type: type):
    """``temperature`` if it is a positive number, an array or a Schedule; else an error
    naming the argument."""
    if isinstance(temperature, Real) and not isinstance(temperature, bool):
        if not temperature > 0:
            raise ValueError(f"relax: temperature must be > 0, got {temperature!r}")
    elif not isinstance(temperature, (Schedule, array_type)):
        raise TypeError(
            "relax: temperature must be a positive number, an array or a "
            f"ppl_reparam.schedules.Schedule, got {type(temperature).__name__}"
        )
    return temperature


class RelaxedModel:
    """A model whose discrete latent sites are relaxed; returned by :func:`relax`.

    Call it like the model, optionally with ``relax_temperature=`` (required when the
    temperature is a schedule: pass ``temperature_at(step)``; the guide receives the same
    keyword from SVI).{jit_note}

    :attr:`temperature` is what was given to :func:`relax` (a number, an array or a
    :class:`~ppl_reparam.schedules.Schedule`), the one source of the temperature: ``fit``
    and :class:`~ppl_reparam.{backend}.guides.AutoPathwiseGuide` read it from here (the
    guide through the relaxed sites' distributions).
    """

    _strategy_class: ClassVar[type[RelaxStrategy]]

    def __init__(self, model: Callable, temperature: Any, density: str = DEFAULT_DENSITY):
        self.model = model
        array_type = self._strategy_class._reparam_class._backend.array_type
        self._temperature = check_temperature(temperature, array_type)
        self.density = check_relaxed_density("relax", density)

    @property
    def temperature(self) -> Any:
        """The temperature as given: a number, an array or a Schedule (read-only)."""
        return self._temperature

    def temperature_at(self, step: int) -> Any:
        """The temperature at training step ``step``: the schedule's value there, or the
        fixed temperature."""
        if isinstance(self._temperature, Schedule):
            return self._temperature(step)
        return self._temperature

    def __call__(self, *args, **kwargs):
        temperature = kwargs.pop(TEMPERATURE_KWARG, None)
        if temperature is None:
            if isinstance(self._temperature, Schedule):
                raise ValueError(
                    f"relax: the temperature is a schedule; pass {TEMPERATURE_KWARG}="
                    "relaxed.temperature_at(step) to the model and guide at every step"
                )
            temperature = self._temperature
        config = self._strategy_class(temperature, self.density)
        return self._strategy_class._reparam_class.handle(self.model, config)(*args, **kwargs)


RELAX_DOC = r"""Relax every unobserved {discrete} site of ``model``.

    Observed sites and sites marked for enumeration are left alone. Each relaxed site
    ``name`` becomes a latent site ``f"{name}_relaxed"`` in log space; the guide samples
    it from ``ExpRelaxedOneHotCategorical(t, logits=...)`` (categorical sites) or
    ``LogitRelaxedBernoulli(t, logits=...)`` (Bernoulli sites), with ``t`` the
    temperature the guide receives as ``relax_temperature`` and the same ``density``
    as the model::

        relaxed = relax(model, temperature=ExponentialDecay(1.0, 1e-3, floor=0.3))
{relax_example}
    ``density`` says how prior and guide score a relaxed draw. ``"categorical"`` (the
    default) is the discrete log-mass extended linearly to the relaxed value,
    :math:`\sum_k x_k \log \pi_k`: its ELBO tends to the discrete ELBO as the
    temperature falls, which the Concrete one does not (the KL divergence between two
    ExpConcrete laws of one temperature is the same at every temperature, and is not the
    categorical KL divergence). ``"concrete"`` is the ExpConcrete density of Maddison,
    Mnih and Teh (2017); with it, learned prior probabilities (mixture weights, a
    Dirichlet prior) are biased towards the largest component: on the K = 4 mixture of
    ``benchmarks/guides.py`` a component is lost and the weights end 12 posterior sd
    off, against 0.3 with ``"categorical"``. The guide must use the same ``density``
    (:class:`~ppl_reparam.{backend}.guides.AutoPathwiseGuide` copies it from the model;
    the relaxed distributions themselves default to ``"concrete"``, so a hand-written
    guide passes ``density=`` explicitly).
    """

MODULE_DOC = """

A :class:`RelaxReparam` rewrites one unobserved {discrete} sample site ``name`` into

- an auxiliary latent site ``f"{name}_relaxed"`` in *log space*: an
  :class:`~ppl_reparam.{backend}.distributions.ExpRelaxedOneHotCategorical` (the
  ExpConcrete) for categorical sites, a
  :class:`~ppl_reparam.{backend}.distributions.LogitRelaxedBernoulli` (the logit of a
  binary Concrete, ``Logistic(logits / temperature, 1 / temperature)``) for Bernoulli
  sites; and
- a deterministic site ``name`` whose value the model sees: the relaxed one-hot vector
  ``exp(y)`` (use :func:`choose` to index with it) or the relaxed bit ``sigmoid(y)``.

Prior and guide densities are both evaluated on the log-space value, as Maddison, Mnih
and Teh (2017) recommend: the ELBO never takes the log of a rounded simplex point. By
default (``density="categorical"``) both are scored by the categorical (Bernoulli)
log-mass extended linearly to the relaxed value, which keeps learned prior probabilities
such as mixture weights unbiased; ``density="concrete"`` scores them by the ExpConcrete
(logistic) density instead (see :func:`relax`). A guide provides
``f"{name}_relaxed"`` with the same family, the same ``density`` and learnable logits.{jit_note}
"""


def _reads_as_one_hot(shape: tuple, num_options: int, plates) -> bool:
    """Whether ``choose`` reads a floating ``z`` of ``shape`` as one-hot vectors (the
    last axis holds the classes) rather than as bits; ``plates`` are the ``(dim, size)``
    of the active vectorised plates."""
    if num_options != 2:
        return True  # a bit chooses between exactly two options
    if not shape or shape[-1] != 2:
        return False  # a one-hot of two classes has a last axis of length 2
    # a last axis of 2 is either the classes of a one-hot or a plate of size 2 at dim -1;
    # bits drawn in that plate have no axis beyond the plates' batch dims
    nesting = max((-dim for dim, _ in plates), default=0)
    return not (dict(plates).get(-1) == 2 and len(shape) <= nesting)


def choose(b: Backend, z, options, one_hot: bool | None = None):
    """``options[z]`` for an integer ``z``; the matching convex combination for a
    relaxed (or hard, floating) one-hot ``z`` or bit ``z``.

    ``options`` has the K alternatives along its first axis. Whatever ``z`` is, the
    result has shape ``B + options.shape[1:]``, with ``B`` the batch shape of ``z``, so
    one model body serves enumeration, NUTS and relaxed SVI:

    - an integer (or boolean) ``z`` of shape ``B`` gives ``options[z]`` (what exact
      enumeration, NUTS over enumerated sites and NumPyro's ``Bernoulli`` feed the model);
    - a floating one-hot ``z`` of shape ``B + (K,)`` on the simplex (a relaxed or hard
      one-hot sample) gives ``sum_k z[..., k] * options[k]``;
    - a floating bit ``z`` of shape ``B``, in [0, 1] (a relaxed Bernoulli value, or
      Pyro's floating 0/1 ``Bernoulli`` sample), chooses between ``K = 2`` options:
      ``(1 - z) * options[0] + z * options[1]``, which is ``options[z]`` for a hard bit.

    With ``one_hot=None`` (default) a floating ``z`` is a one-hot when ``K != 2``, and a
    bit when ``K = 2`` and its last axis is not of length 2. When ``K = 2`` and its last
    axis has length 2, the shape alone cannot tell a one-hot of two classes from bits
    in a plate of size 2; ``choose`` reads ``z`` as bits when a plate of size 2 is active
    at dim -1 and ``z`` has no more axes than the active plates have dims (bits drawn in
    those plates), else as a one-hot. Called outside the plate its bits were drawn in, or
    on a one-hot drawn outside an enclosing plate of size 2, pass ``one_hot=False`` or
    ``one_hot=True`` to say which ``z`` is.

    Example (a bit per datum selects one of two means, in a plate of any size)::

        with plate("data", len(x)):
            b = sample("b", Bernoulli(0.5))  # relaxed by relax(): a value in (0, 1)
            sample("x", Normal(choose(b, means), 1.0), obs=x)  # means of shape (2,)

    :param z: integer labels, or floating one-hots or bits, as described above.
    :param options: the K alternatives along the first axis.
    :param one_hot: whether a floating ``z`` holds one-hot vectors (``True``) or bits
        (``False``); ``None`` infers it from the shapes and the active plates.
    :raises ValueError: when a one-hot ``z``'s last axis is not of length K, or bits are
        given more or fewer than two options.
    """
    if one_hot not in (None, True, False):
        raise ValueError(f"choose: one_hot must be None, True or False, got {one_hot!r}")
    z, options = b.as_array(z, None), b.as_array(options, None)
    if not b.is_floating(z):
        return options[z * 1]  # a boolean z indexes as 0/1, not as a mask
    num_options = options.shape[0]
    if one_hot is None:
        one_hot = _reads_as_one_hot(tuple(z.shape), num_options, b.plates())
    if one_hot:
        if not z.shape or z.shape[-1] != num_options:
            raise ValueError(
                f"choose: one-hot z of shape {tuple(z.shape)} must have {num_options} "
                f"categories on its last axis, one per option (options has {num_options} "
                "along its first axis)"
            )
        return b.tensordot(z, options)
    if num_options != 2:
        raise ValueError(
            f"choose: a bit z chooses between 2 options, but options has {num_options} "
            "along its first axis"
        )
    z = z.reshape(tuple(z.shape) + (1,) * (len(options.shape) - 1))
    return (1 - z) * options[0] + z * options[1]


ASSIGNMENTS_DOC = r"""Posterior class probabilities and MAP labels of every relaxed site of a fitted
    guide: ``{site: (probs, labels)}``.

    The guide is run once{params_how}, and every sample site whose distribution is one
    of ppl_reparam's relaxed families (``ExpRelaxedOneHotCategorical``,
    ``RelaxedOneHotCategorical``, ``LogitRelaxedBernoulli``, ``RelaxedBernoulli`` and
    the straight-through variants) is read at its fitted logits:

    - categorical sites: ``probs = softmax(logits)``, shape ``batch + (K,)``, and
      ``labels = argmax(probs, -1)``, shape ``batch``;
    - binary sites: ``probs = sigmoid(logits)`` (the probability of a 1), shape
      ``batch``, and ``labels = 1`` where ``probs > 0.5``, else 0.

    ``probs[..., k]`` is exactly the probability that a draw of the guide's relaxed
    distribution rounds to class ``k`` (its argmax; for a bit, the relaxed value being
    above 1/2), at every temperature (the Gumbel-max property), so it does not depend on
    the temperature the guide was fitted at. Keys are the model's discrete site names
    (``"z"`` for the guide's ``"z_relaxed"``); a relaxed site whose name lacks the
    ``_relaxed`` suffix keeps its own name. Arrays are {array}s; in a subsampled plate
    they cover the subsample the guide draws.

    :param guide: a guide fitted to a model made by
        :func:`~ppl_reparam.{backend}.relax.relax`, e.g. an
        :class:`~ppl_reparam.{backend}.guides.AutoPathwiseGuide`.
    :param params: {params_doc}
    :param args, kwargs: the guide's arguments (``*result.args, **result.kwargs`` of a
        :class:`~ppl_reparam._fit.FitResult`, which carry the last temperature).
    :raises ValueError: when the guide has no relaxed site.

    Example::

        result = fit(relaxed, guide, data, num_steps=2000)
        probs, labels = assignments(guide, result.params, *result.args, **result.kwargs)["z"]
    """


def assignments(b: Backend, sites) -> dict:
    """The shared part of ``assignments``: ``{site: (probs, labels)}`` from the
    ``(name, distribution)`` pairs of a traced guide's sample sites."""
    relaxed = tuple(
        getattr(b.ours, name)
        for name in (
            "ExpRelaxedOneHotCategorical",
            "RelaxedOneHotCategorical",
            "LogitRelaxedBernoulli",
            "RelaxedBernoulli",
            "RelaxedBernoulliStraightThrough",
        )
    )
    found = {}
    for name, fn in sites:
        base = fn
        while isinstance(base, (b.independent, b.expanded)):
            base = base.base_dist
        if not isinstance(base, relaxed):
            continue
        probs = base.probs
        # a categorical family has the K classes as its event; a binary one has none
        labels = probs.argmax(-1) if len(base.event_shape) else (probs > 0.5) * 1
        key = name[: -len(RELAXED_SUFFIX)] if name.endswith(RELAXED_SUFFIX) else name
        found[key] = (probs, labels)
    if not found:
        raise ValueError(
            "assignments: the guide has no relaxed site (a sample site drawn from "
            "ExpRelaxedOneHotCategorical, RelaxedOneHotCategorical, LogitRelaxedBernoulli "
            "or RelaxedBernoulli); fit it to a model made by relax()"
        )
    return found


def backend_api(reparam_class: type[RelaxReparam], module: str) -> tuple:
    """The public names of a backend's ``relax`` module, built on its reparameterizer
    (the one piece that follows the framework's protocol): ``(is_relaxable,
    RelaxStrategy, RelaxedModel, relax, choose)``, each with the shared docstring filled
    in for the backend and ``__module__`` set to ``module``, where documentation tools
    list it."""
    b = reparam_class._backend

    def publish(obj, name: str, doc: str):
        obj.__name__ = obj.__qualname__ = name
        obj.__module__ = module
        obj.__doc__ = fill(doc, **b.docs)
        return obj

    strategy = publish(
        type("RelaxStrategy", (RelaxStrategy,), {"_reparam_class": reparam_class}),
        "RelaxStrategy",
        RelaxStrategy.__doc__,
    )
    model_class = publish(
        type("RelaxedModel", (RelaxedModel,), {"_strategy_class": strategy}),
        "RelaxedModel",
        RelaxedModel.__doc__,
    )

    def relax_(model: Callable, temperature: Any = 1.0, density: str = DEFAULT_DENSITY):
        return model_class(model, temperature, density)

    def choose_(z, options, one_hot: bool | None = None):
        return choose(b, z, options, one_hot)

    def is_relaxable_(msg: dict) -> bool:
        return is_relaxable(b, msg)

    return (
        publish(is_relaxable_, "is_relaxable", is_relaxable.__doc__),
        strategy,
        model_class,
        publish(relax_, "relax", RELAX_DOC),
        publish(choose_, "choose", choose.__doc__),
    )
