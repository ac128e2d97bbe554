"""An autoguide choosing a reparameterizable family per latent site (Pyro)."""

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from operator import attrgetter

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import ExpandedDistribution
from pyro.distributions.transforms import AffineTransform, SoftplusTransform, biject_to
from pyro.infer.autoguide import AutoNormal
from pyro.infer.autoguide.guides import AutoGuide
from pyro.infer.autoguide.initialization import init_to_feasible
from pyro.infer.autoguide.utils import deep_setattr, helpful_support_errors
from pyro.nn.module import PyroModule, PyroParam
from pyro.ops.tensor_utils import periodic_repeat
from torch.distributions import constraints as torch_constraints

from ppl_reparam import _guides as _g
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.pyro.distributions import (
    ExpRelaxedOneHotCategorical,
    Kumaraswamy,
    LogitRelaxedBernoulli,
)

__all__ = ["AutoPathwiseGuide"]

# each parameter kind lives in a PyroModule of this name (param "AutoPathwiseGuide.locs.x")
_MODULES = {
    "loc": "locs",
    "scale": "scales",
    "concentration1": "concentration1",
    "concentration0": "concentration0",
    "logits": "logits",
}


def _unwrap(fn):
    """Peel ``Independent`` and ``ExpandedDistribution`` wrappers off a distribution."""
    while isinstance(fn, torch.distributions.Independent | ExpandedDistribution):
        fn = fn.base_dist
    return fn


def _base_constraint(support):
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support


def _all_equal(x, value: float) -> bool:
    return bool(torch.all(torch.as_tensor(x) == value))


def support_kind(fn) -> str:
    """The kind of latent site (see :data:`ppl_reparam._guides.FAMILIES`) of a model
    distribution ``fn``."""
    if isinstance(_unwrap(fn), ExpRelaxedOneHotCategorical | LogitRelaxedBernoulli):
        return _g.RELAXED
    support = _base_constraint(fn.support)
    if support is constraints.real:
        return _g.REAL
    positive = (torch_constraints._GreaterThan, torch_constraints._GreaterThanEq)
    if isinstance(support, positive) and _all_equal(support.lower_bound, 0.0):
        return _g.POSITIVE  # positive, nonnegative (torch's Gamma), softplus_positive
    if isinstance(support, torch_constraints._Interval | torch_constraints._HalfOpenInterval):
        unit = _all_equal(support.lower_bound, 0.0) and _all_equal(support.upper_bound, 1.0)
        return _g.UNIT_INTERVAL if unit else _g.INTERVAL
    if isinstance(support, torch_constraints._Simplex):
        return _g.SIMPLEX
    return _g.OTHER


def _skip_discrete(init_loc_fn: Callable) -> Callable:
    """``init_loc_fn``, leaving discrete sites uninitialised.

    Pyro's reparam handler applies the enclosing init handler to a site *before*
    rewriting it (pyro issue 2878), so a site that :func:`relax` turns into a relaxed one
    would reach ``init_loc_fn`` as a discrete site, which it rejects. A ``None`` init
    value leaves such a site as it is; a discrete site nothing rewrites still fails at
    setup, with AutoNormal's message.
    """

    def init(site):
        return None if site["fn"].support.is_discrete else init_loc_fn(site)

    return init


class _Site:
    """What the guide knows of one latent site: its family and how to build it."""

    def __init__(self, name: str, fn, kind: str, family: str, event_dim: int):
        self.name = name
        self.support = fn.support
        self.kind = kind
        self.family = family
        self.event_dim = event_dim  # of the parameters (unconstrained for "normal")
        base = _base_constraint(fn.support)
        self.bounds = (base.lower_bound, base.upper_bound) if kind == _g.INTERVAL else None
        # the dims to reinterpret as event dims on top of the family's own event dim
        relaxed = _unwrap(fn) if kind == _g.RELAXED else None
        # the relaxed family of the model (categorical or binary) and how it scores draws
        self.relaxed_family = type(relaxed) if relaxed is not None else None
        self.density = getattr(relaxed, "density", None)
        vector = kind == _g.SIMPLEX or self.relaxed_family is ExpRelaxedOneHotCategorical
        self.extra_event_dims = fn.event_dim - (1 if vector else 0)
        self.params: tuple[str, ...] = ()  # the parameter kinds, filled in at setup
        self.temperature = None
        if kind == _g.RELAXED:
            t = relaxed.temperature.detach()
            # relax() gives one temperature to all of a site's batch: keep it a scalar,
            # so it also serves the full-size parameters of a subsampled site
            flat = t.reshape(-1)
            self.temperature = flat[0] if bool(torch.all(flat == flat[0])) else t


class AutoPathwiseGuide(AutoNormal):
    r"""A mean-field autoguide with a reparameterizable family chosen from each latent
    site's support, so every site gets pathwise ELBO gradients.

    ==================  ======================================================  =========
    support             families (the first is the default)                     params
    ==================  ======================================================  =========
    real                ``"normal"``                                            loc, scale
    positive            ``"softplus"`` (Normal through softplus),               loc, scale
                        ``"lognormal"`` (Normal through exp),
                        ``"normal"`` (Normal through ``biject_to(support)``)
    unit interval       ``"kumaraswamy"``, ``"normal"`` (logit-normal)          concentration1,
                                                                                concentration0
    (low, high)         ``"kumaraswamy"`` mapped affinely onto (low, high),     as above
                        ``"normal"``
    simplex             ``"normal"``: logistic-normal, a Normal through         loc, scale
                        ``biject_to(simplex)`` (stick-breaking)
    relaxed discrete    ``"relaxed"``: ExpRelaxedOneHotCategorical or           logits
                        LogitRelaxedBernoulli (as in the model) with
                        learnable logits and the model's ``density``
    anything else       ``"normal"`` through ``biject_to(support)``             loc, scale
    ==================  ======================================================  =========

    Why softplus is the default for positive sites: with the exp map a draw is
    :math:`x = e^{\mu + \sigma\epsilon}` and :math:`\partial x / \partial\mu = x`, so the
    pathwise gradient is multiplied by the sampled value itself; a tail draw of the
    Normal blows it up, and the gradient variance grows like :math:`e^{2\sigma^2}`. The
    softplus map is asymptotically linear (:math:`\partial x / \partial\mu =
    \operatorname{sigmoid}(\mu + \sigma\epsilon) \le 1`), so it never amplifies a draw.

    Relaxed discrete sites are those whose model distribution is an
    :class:`~ppl_reparam.pyro.distributions.ExpRelaxedOneHotCategorical` or a
    :class:`~ppl_reparam.pyro.distributions.LogitRelaxedBernoulli` (the
    ``f"{name}_relaxed"`` sites :func:`~ppl_reparam.pyro.relax.relax` creates); the
    guide scores its draws with the model's ``density``. The guide's temperature is the
    ``relax_temperature`` keyword it receives, else the prior's temperature.

    Initialisation: ``init_loc_fn`` picks a value per site, as for
    :class:`~pyro.infer.autoguide.AutoNormal`. Normal families start at that value
    (mapped to their unconstrained space) with scale ``init_scale``; Kumaraswamy sites
    start with that value (clipped into the open interval) as their *median* and the
    concentrations of :func:`ppl_reparam._guides.kumaraswamy_init` (``concentration1 =
    1 / (2 init_scale)``, clipped so that ``concentration0`` lies in [k, 100 k]);
    relaxed sites start with ``logits = log_softmax(value)`` (binary: the value, a logit).

    Parameters live in sub-modules named after their kind (``locs``, ``scales``,
    ``concentration1``, ``concentration0``, ``logits``), so the param store holds
    ``"AutoPathwiseGuide.locs.x"`` etc. (AutoNormal's scheme). Local sites in a
    subsampled plate get parameters of the full plate size, indexed by the subsample at
    every step. Posterior draws: call the guide, or use :class:`pyro.infer.Predictive`.

    :param model: a Pyro model.
    :param families: per-site overrides, e.g. ``{"sigma": "lognormal", "p": "normal"}``;
        a family that does not fit the site's support is a ``ValueError`` naming the
        site and the allowed families.
    :param init_loc_fn, init_scale, create_plates: as for
        :class:`~pyro.infer.autoguide.AutoNormal`.

    Example::

        guide = AutoPathwiseGuide(relax(model, 0.5))
        fit(relax(model, 0.5), guide, data, num_steps=2000)
        guide.median()
    """

    def __init__(
        self,
        model: Callable,
        *,
        families: Mapping[str, str] | None = None,
        init_loc_fn: Callable = init_to_feasible,
        init_scale: float = 0.1,
        create_plates: Callable | None = None,
    ):
        self._families = _g.check_families(families)
        super().__init__(
            model,
            init_loc_fn=_skip_discrete(init_loc_fn),
            init_scale=_g.check_init_scale(init_scale),
            create_plates=create_plates,
        )
        self._sites: dict[str, _Site] = {}

    @property
    def site_families(self) -> dict[str, str]:
        """The family of each latent site (known once the guide has run)."""
        return {name: site.family for name, site in self._sites.items()}

    def _setup_prototype(self, *args, **kwargs):
        # the prototype trace and plates of AutoGuide; AutoNormal's own setup would
        # create a loc and a scale for every site, whatever its family
        AutoGuide._setup_prototype(self, *args, **kwargs)
        _g.check_override_sites(self._families, self.prototype_trace.stochastic_nodes)
        for module in _MODULES.values():
            setattr(self, module, PyroModule())
        self._event_dims = {}
        self._sites = {}
        for name, proto in self.prototype_trace.iter_stochastic_nodes():
            fn, value = proto["fn"], proto["value"].detach()
            kind = support_kind(fn)
            family = _g.choose_family(name, kind, self._families)
            with helpful_support_errors(proto):
                transform = biject_to(fn.support)
            event_dim = fn.event_dim
            if family == _g.NORMAL:
                # unconstrained event dims may differ from constrained ones
                event_dim += transform.inv(value).dim() - value.dim()
            self._event_dims[name] = event_dim
            site = self._sites[name] = _Site(name, fn, kind, family, event_dim)
            initial = self._initial_params(site, value, transform)
            site.params = tuple(initial)
            for param, init in initial.items():
                # If subsampling, repeat the init value to full size, as AutoNormal does.
                for frame in proto["cond_indep_stack"]:
                    full_size = frame.full_size or frame.size
                    if full_size != frame.size:
                        init = periodic_repeat(init, full_size, frame.dim - event_dim)
                constraint = {
                    "scale": self.scale_constraint,
                    "concentration1": constraints.positive,
                    "concentration0": constraints.positive,
                }.get(param, constraints.real)
                deep_setattr(
                    getattr(self, _MODULES[param]),
                    name,
                    PyroParam(init.contiguous(), constraint, event_dim),
                )

    def _initial_params(self, site: _Site, value: torch.Tensor, transform) -> dict:
        """Initial values of a site's parameters from its constrained init value."""
        if site.family == _g.NORMAL:
            loc = transform.inv(value).detach()
            return {"loc": loc, "scale": torch.full_like(loc, self._init_scale)}
        if site.family in (_g.LOGNORMAL, _g.SOFTPLUS):
            loc = value.log() if site.family == _g.LOGNORMAL else SoftplusTransform().inv(value)
            return {"loc": loc, "scale": torch.full_like(loc, self._init_scale)}
        if site.family == _g.KUMARASWAMY:
            if site.bounds is not None:
                low, high = site.bounds
                value = (value - low) / (high - low)
            a, b = _g.kumaraswamy_init(value.detach().cpu().numpy(), self._init_scale)
            like = {"dtype": value.dtype, "device": value.device}
            return {
                "concentration1": torch.as_tensor(a, **like),
                "concentration0": torch.as_tensor(b, **like),
            }
        if site.relaxed_family is LogitRelaxedBernoulli:
            return {"logits": value}  # the logit of the relaxed bit
        return {"logits": torch.log_softmax(value, -1)}  # relaxed categorical

    def _site_params(self, site: _Site) -> dict:
        """A site's parameters: subsampled inside its plates, full size outside."""
        return {
            param: attrgetter(site.name)(getattr(self, _MODULES[param])) for param in site.params
        }

    def _temperature(self, site: _Site, temperature, like: torch.Tensor) -> torch.Tensor:
        t = site.temperature if temperature is None else temperature
        return torch.as_tensor(t, dtype=like.dtype, device=like.device)

    def _distribution(self, site: _Site, p: dict, temperature=None):
        """The guide's distribution at ``site`` with parameters ``p``."""
        if site.family == _g.NORMAL:
            fn = dist.Normal(p["loc"], p["scale"]).to_event(site.event_dim)
            if _base_constraint(site.support) is constraints.real:
                return fn
            return dist.TransformedDistribution(fn, biject_to(site.support))
        if site.family == _g.LOGNORMAL:
            fn = dist.LogNormal(p["loc"], p["scale"])
        elif site.family == _g.SOFTPLUS:
            fn = dist.TransformedDistribution(
                dist.Normal(p["loc"], p["scale"]), SoftplusTransform()
            )
        elif site.family == _g.KUMARASWAMY:
            fn = Kumaraswamy(p["concentration1"], p["concentration0"])
            if site.bounds is not None:
                low, high = site.bounds
                fn = dist.TransformedDistribution(fn, AffineTransform(low, high - low))
        else:
            logits = p["logits"]
            t = self._temperature(site, temperature, logits)
            fn = site.relaxed_family(t, logits=logits, density=site.density)
        return fn.to_event(site.extra_event_dims) if site.extra_event_dims else fn

    def forward(self, *args, **kwargs):
        """Sample every latent site from its family; returns ``{site: value}``."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        temperature = kwargs.get(TEMPERATURE_KWARG)
        result = {}
        for name, site in self._sites.items():
            with ExitStack() as stack:
                for frame in self.prototype_trace.nodes[name]["cond_indep_stack"]:
                    if frame.vectorized:
                        stack.enter_context(plates[frame.name])
                p = self._site_params(site)
                result[name] = pyro.sample(name, self._distribution(site, p, temperature))
        return result

    @torch.no_grad()
    def median(self, *args, **kwargs) -> dict:
        """The posterior median of each latent site, full size.

        Exact for scalar supports (a monotone map of the family's median; for a
        Kumaraswamy :math:`(1 - 2^{-1/b})^{1/a}`). For a simplex site it is
        ``biject_to(simplex)(loc)``, as in AutoNormal; for a relaxed site the draw at the
        median Gumbel noise, ``log_softmax(logits / temperature)`` (temperature from
        ``relax_temperature=`` if given, else the prior's).
        """
        temperature = kwargs.get(TEMPERATURE_KWARG)
        result = {}
        for name, site in self._sites.items():
            p = self._site_params(site)
            if site.family == _g.EXP_RELAXED:
                logits = p["logits"]
                t = self._temperature(site, temperature, logits)
                if site.relaxed_family is LogitRelaxedBernoulli:
                    result[name] = logits / t
                else:
                    result[name] = torch.log_softmax(logits / t.unsqueeze(-1), -1)
            else:
                loc = next(iter(p.values()))
                result[name] = self._quantile(site, p, loc.new_tensor(0.5))
        return result

    @torch.no_grad()
    def quantiles(self, quantiles, *args, **kwargs) -> dict:
        """Posterior quantiles of each latent site: tensors of shape ``(len(quantiles),)
        + site shape``. Per coordinate of the unconstrained Normal for vector supports
        (AutoNormal's convention). Relaxed sites have no closed-form marginal quantiles
        and are left out: sample them by calling the guide."""
        result = {}
        for name, site in self._sites.items():
            if site.family == _g.EXP_RELAXED:
                continue
            p = self._site_params(site)
            loc = next(iter(p.values()))
            q = torch.as_tensor(quantiles, dtype=loc.dtype, device=loc.device)
            result[name] = self._quantile(site, p, q.reshape((-1,) + (1,) * loc.dim()))
        return result

    def _quantile(self, site: _Site, p: dict, q: torch.Tensor) -> torch.Tensor:
        if site.family == _g.KUMARASWAMY:
            a, b = p["concentration1"], p["concentration0"]
            x = Kumaraswamy(a, b).icdf(q)
            if site.bounds is not None:
                low, high = site.bounds
                x = low + (high - low) * x
            return x
        z = dist.Normal(p["loc"], p["scale"]).icdf(q)
        if site.family == _g.LOGNORMAL:
            return z.exp()
        if site.family == _g.SOFTPLUS:
            return torch.nn.functional.softplus(z)
        return biject_to(site.support)(z)
