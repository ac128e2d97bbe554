"""An autoguide choosing a reparameterizable family per latent site (NumPyro)."""

from collections.abc import Callable, Mapping
from contextlib import ExitStack

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform, SoftplusTransform, biject_to
from numpyro.infer.autoguide import AutoNormal
from numpyro.infer.initialization import init_to_uniform

from ppl_reparam import _guides as _g
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.numpyro.distributions import (
    ExpRelaxedOneHotCategorical,
    Kumaraswamy,
    LogitRelaxedBernoulli,
)

__all__ = ["AutoPathwiseGuide"]


def _unwrap(fn):
    """Peel ``Independent`` and ``ExpandedDistribution`` wrappers off a distribution."""
    while isinstance(fn, dist.Independent | dist.ExpandedDistribution):
        fn = fn.base_dist
    return fn


def _base_constraint(support):
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support


def _all_equal(x, value: float) -> bool:
    return bool(np.all(np.asarray(x) == value))


def support_kind(fn) -> str:
    """The kind of latent site (see :data:`ppl_reparam._guides.FAMILIES`) of a model
    distribution ``fn``."""
    if isinstance(_unwrap(fn), ExpRelaxedOneHotCategorical | LogitRelaxedBernoulli):
        return _g.RELAXED
    support = _base_constraint(fn.support)
    if support is constraints.real:
        return _g.REAL
    if isinstance(support, constraints._GreaterThan) and _all_equal(support.lower_bound, 0.0):
        return _g.POSITIVE  # positive, nonnegative, softplus_positive
    if isinstance(support, constraints._Interval):
        unit = _all_equal(support.lower_bound, 0.0) and _all_equal(support.upper_bound, 1.0)
        return _g.UNIT_INTERVAL if unit else _g.INTERVAL
    if isinstance(support, constraints._Simplex):
        return _g.SIMPLEX
    return _g.OTHER


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
        self.temperature = None
        if kind == _g.RELAXED:
            t = relaxed.temperature
            # relax() gives one temperature to all of a site's batch: keep it a scalar,
            # so it also serves the full-size parameters of a subsampled site
            flat = np.asarray(t).reshape(-1)
            self.temperature = flat[0] if np.all(flat == flat[0]) else t


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
    :class:`~ppl_reparam.numpyro.distributions.ExpRelaxedOneHotCategorical` or a
    :class:`~ppl_reparam.numpyro.distributions.LogitRelaxedBernoulli` (the
    ``f"{name}_relaxed"`` sites :func:`~ppl_reparam.numpyro.relax.relax` creates); the
    guide scores its draws with the model's ``density``. The guide's temperature is the
    ``relax_temperature`` keyword it receives (traced under ``jax.jit``: no
    recompilation as it anneals), else the prior's temperature.

    Initialisation: ``init_loc_fn`` picks a value per site, as for
    :class:`~numpyro.infer.autoguide.AutoNormal`. Normal families start at that value
    (mapped to their unconstrained space) with scale ``init_scale``; Kumaraswamy sites
    start with that value (clipped into the open interval) as their *median* and the
    concentrations of :func:`ppl_reparam._guides.kumaraswamy_init` (``concentration1 =
    1 / (2 init_scale)``, clipped so that ``concentration0`` lies in [k, 100 k]);
    relaxed sites start with ``logits = log_softmax(value)`` (binary: the value, a logit).

    Parameters are named ``f"{site}_{prefix}_{param}"`` (AutoNormal's scheme, ``param``
    from the table). Local sites in a subsampled plate get parameters of the full plate
    size, indexed by the subsample at every step.

    :param model: a NumPyro model.
    :param families: per-site overrides, e.g. ``{"sigma": "lognormal", "p": "normal"}``;
        a family that does not fit the site's support is a ``ValueError`` naming the
        site and the allowed families.
    :param prefix, init_loc_fn, init_scale, create_plates, forward_mode_differentiation:
        as for :class:`~numpyro.infer.autoguide.AutoNormal`.

    Example::

        guide = AutoPathwiseGuide(relax(model, 0.5))
        result = fit(relax(model, 0.5), guide, data, num_steps=2000)
        guide.median(result.params)
    """

    def __init__(
        self,
        model: Callable,
        *,
        families: Mapping[str, str] | None = None,
        prefix: str = "auto",
        init_loc_fn: Callable = init_to_uniform,
        init_scale: float = 0.1,
        create_plates: Callable | None = None,
        forward_mode_differentiation: bool = False,
    ):
        self._families = _g.check_families(families)
        super().__init__(
            model,
            prefix=prefix,
            init_loc_fn=init_loc_fn,
            init_scale=_g.check_init_scale(init_scale),
            create_plates=create_plates,
            forward_mode_differentiation=forward_mode_differentiation,
        )
        self._sites: dict[str, _Site] = {}
        self._init_params: dict[str, dict[str, jax.Array]] = {}

    @property
    def site_families(self) -> dict[str, str]:
        """The family of each latent site (known once the guide has run)."""
        return {name: site.family for name, site in self._sites.items()}

    def _setup_prototype(self, *args, **kwargs):
        # AutoNormal's setup: prototype trace, plates, init values repeated to full size
        super()._setup_prototype(*args, **kwargs)
        latent = [
            name
            for name, site in self.prototype_trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        _g.check_override_sites(self._families, latent)
        for name in latent:
            fn = self.prototype_trace[name]["fn"]
            kind = support_kind(fn)
            family = _g.choose_family(name, kind, self._families)
            event_dim = self._event_dims[name] if family == _g.NORMAL else fn.event_dim
            self._sites[name] = site = _Site(name, fn, kind, family, event_dim)
            self._init_params[name] = self._initial_params(site, self._init_locs[name])

    def _initial_params(self, site: _Site, init_loc: jax.Array) -> dict[str, jax.Array]:
        """Initial values of a site's parameters from its (full-size) unconstrained init."""
        if site.family == _g.NORMAL:
            return {"loc": init_loc, "scale": jnp.full(jnp.shape(init_loc), self._init_scale)}
        value = biject_to(site.support)(init_loc)
        dtype = jnp.result_type(value)
        if site.family in (_g.LOGNORMAL, _g.SOFTPLUS):
            to_loc = jnp.log if site.family == _g.LOGNORMAL else SoftplusTransform().inv
            loc = to_loc(value)
            return {"loc": loc, "scale": jnp.full(jnp.shape(loc), self._init_scale, dtype)}
        if site.family == _g.KUMARASWAMY:
            if site.bounds is not None:
                low, high = site.bounds
                value = (value - low) / (high - low)
            a, b = _g.kumaraswamy_init(np.asarray(value), self._init_scale)
            return {
                "concentration1": jnp.asarray(a, dtype),
                "concentration0": jnp.asarray(b, dtype),
            }
        if site.relaxed_family is LogitRelaxedBernoulli:
            return {"logits": value}  # the logit of the relaxed bit
        return {"logits": jax.nn.log_softmax(value, axis=-1)}  # relaxed categorical

    def _param(self, site: _Site, param: str):
        constraint = {
            "scale": self.scale_constraint,
            "concentration1": constraints.positive,
            "concentration0": constraints.positive,
        }.get(param, constraints.real)
        return numpyro.param(
            f"{site.name}_{self.prefix}_{param}",
            self._init_params[site.name][param],
            constraint=constraint,
            event_dim=site.event_dim,
        )

    def _site_params(self, params: dict, site: _Site) -> dict:
        """A site's parameters from a dict of all parameters (full size)."""
        prefix = f"{site.name}_{self.prefix}_"
        return {p: params[prefix + p] for p in self._init_params[site.name]}

    def _temperature(self, site: _Site, temperature):
        return site.temperature if temperature is None else temperature

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
                # domain=unit_interval makes the guide's support (low, high), not R
                affine = AffineTransform(low, high - low, domain=constraints.unit_interval)
                fn = dist.TransformedDistribution(fn, affine)
        else:
            t = self._temperature(site, temperature)
            fn = site.relaxed_family(t, logits=p["logits"], density=site.density)
        return fn.to_event(site.extra_event_dims) if site.extra_event_dims else fn

    def __call__(self, *args, **kwargs):
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        temperature = kwargs.get(TEMPERATURE_KWARG)
        result = {}
        for name, site in self._sites.items():
            with ExitStack() as stack:
                for frame in self.prototype_trace[name]["cond_indep_stack"]:
                    stack.enter_context(plates[frame.name])
                p = {param: self._param(site, param) for param in self._init_params[name]}
                result[name] = numpyro.sample(name, self._distribution(site, p, temperature))
        return result

    def sample_posterior(self, rng_key, params, *args, sample_shape=(), **kwargs):
        """Draws of every latent site from the fitted guide, of shape ``sample_shape +
        site shape`` (full size for subsampled sites). Pass ``relax_temperature=`` to
        draw relaxed sites at a temperature other than the prior's. Deterministic sites
        of the model are not included: use :class:`numpyro.infer.Predictive` for those.
        """
        temperature = kwargs.get(TEMPERATURE_KWARG)
        keys = jax.random.split(rng_key, max(len(self._sites), 1))
        return {
            name: self._distribution(site, self._site_params(params, site), temperature).sample(
                key, tuple(sample_shape)
            )
            for key, (name, site) in zip(keys, self._sites.items(), strict=False)
        }

    def median(self, params, *, relax_temperature=None) -> dict:
        """The posterior median of each latent site, full size.

        Exact for scalar supports (a monotone map of the family's median; for a
        Kumaraswamy :math:`(1 - 2^{-1/b})^{1/a}`). For a simplex site it is
        ``biject_to(simplex)(loc)``, as in AutoNormal; for a relaxed site the draw at the
        median Gumbel noise, ``log_softmax(logits / temperature)``.
        """
        result = {}
        for name, site in self._sites.items():
            p = self._site_params(params, site)
            if site.family == _g.EXP_RELAXED:
                t = jnp.asarray(self._temperature(site, relax_temperature))
                if site.relaxed_family is LogitRelaxedBernoulli:
                    result[name] = p["logits"] / t
                else:
                    result[name] = jax.nn.log_softmax(p["logits"] / t[..., None], axis=-1)
            else:
                result[name] = self._quantile(site, p, jnp.asarray(0.5))
        return result

    def quantiles(self, params, quantiles) -> dict:
        """Posterior quantiles of each latent site: arrays of shape ``(len(quantiles),) +
        site shape``. Per coordinate of the unconstrained Normal for vector supports
        (AutoNormal's convention). Relaxed sites have no closed-form marginal quantiles
        and are left out: sample them with :meth:`sample_posterior`."""
        q = jnp.asarray(quantiles)
        result = {}
        for name, site in self._sites.items():
            if site.family == _g.EXP_RELAXED:
                continue
            p = self._site_params(params, site)
            ndim = jnp.ndim(next(iter(p.values())))
            result[name] = self._quantile(site, p, q.reshape((-1,) + (1,) * ndim))
        return result

    def _quantile(self, site: _Site, p: dict, q: jax.Array) -> jax.Array:
        if site.family == _g.KUMARASWAMY:
            x = Kumaraswamy(p["concentration1"], p["concentration0"]).icdf(q)
            if site.bounds is not None:
                low, high = site.bounds
                x = low + (high - low) * x
            return x
        z = dist.Normal(p["loc"], p["scale"]).icdf(q)
        if site.family == _g.LOGNORMAL:
            return jnp.exp(z)
        if site.family == _g.SOFTPLUS:
            return jax.nn.softplus(z)
        return biject_to(site.support)(z)
