"""Backend-neutral :class:`AutoPathwiseGuide` (no torch or jax import): the kind of each
latent site's support, the family chosen for it, validation of user overrides, initial
parameters, the guide's distributions, medians, quantiles and the docstrings.

Each backend supplies a :class:`~ppl_reparam._backend.Backend` record and subclasses
:class:`PathwiseGuide` together with its framework's ``AutoNormal``; it keeps only what
the framework forces: where parameters are stored (``PyroModule`` attributes,
``numpyro.param``), the plates, and the call.
"""

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np

from ppl_reparam import _copula, _rebar
from ppl_reparam._backend import Backend
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.math.copula import kumaraswamy_from_normal

GUIDE_NAME = "AutoPathwiseGuide"

# Kinds of latent site, from the support of the model's distribution at the site.
REAL = "real"
POSITIVE = "positive"
BOUNDED_BELOW = "bounded below"  # (c, inf) or [c, inf), c != 0
BOUNDED_ABOVE = "bounded above"  # (-inf, c) or (-inf, c]
UNIT_INTERVAL = "unit interval"
INTERVAL = "bounded interval"
SIMPLEX = "simplex"
RELAXED = "relaxed discrete"
DISCRETE = "discrete"  # Categorical / Bernoulli, for RelaxedControlVariateELBO
OTHER = "other"

# Families. "normal" is a Normal pushed through biject_to(support), AutoNormal's family.
NORMAL = "normal"
LOGNORMAL = "lognormal"
SOFTPLUS = "softplus"
KUMARASWAMY = "kumaraswamy"
EXP_RELAXED = "relaxed"
DISCRETE_FAMILY = "discrete"  # the model's family (Categorical, Bernoulli) with learnable logits

# kind -> (default family, every family allowed for it); the default comes first.
FAMILIES: dict[str, tuple[str, ...]] = {
    REAL: (NORMAL,),
    # softplus first: see AutoPathwiseGuide's docstring for why it beats exp (lognormal)
    POSITIVE: (SOFTPLUS, LOGNORMAL, NORMAL),
    # "normal" is c + exp or c - exp here; softplus and lognormal are shifted (reflected)
    BOUNDED_BELOW: (NORMAL, SOFTPLUS, LOGNORMAL),
    BOUNDED_ABOVE: (NORMAL, SOFTPLUS, LOGNORMAL),
    # logit-normal first: measured by benchmarks/guides.py (rat tumours: Kumaraswamy
    # puts kappa ~1 NUTS sd off, logit-normal 0.1); an interval is the same case, rescaled
    UNIT_INTERVAL: (NORMAL, KUMARASWAMY),
    INTERVAL: (NORMAL, KUMARASWAMY),
    SIMPLEX: (NORMAL,),
    # a Normal on R^K would leave the log-simplex the ExpConcrete density lives on
    RELAXED: (EXP_RELAXED,),
    DISCRETE: (DISCRETE_FAMILY,),
    OTHER: (NORMAL,),
}
ALL_FAMILIES = (NORMAL, LOGNORMAL, SOFTPLUS, KUMARASWAMY, EXP_RELAXED, DISCRETE_FAMILY)

# Kumaraswamy concentration0 is kept within [k, KUMARASWAMY_MAX_RATIO * k] at init.
KUMARASWAMY_MAX_RATIO = 100.0


def check_init_scale(init_scale: float) -> float:
    if isinstance(init_scale, bool) or not isinstance(init_scale, int | float):
        raise TypeError(f"{GUIDE_NAME}: init_scale must be a number, got {init_scale!r}")
    if not init_scale > 0:
        raise ValueError(f"{GUIDE_NAME}: init_scale must be > 0, got {init_scale!r}")
    return float(init_scale)


def _listed(names: Iterable[str]) -> str:
    return ", ".join(map(repr, names))


def check_families(families: Mapping[str, str] | None) -> dict[str, str]:
    """Validate the user's per-site overrides as far as possible before the model runs."""
    families = dict(families or {})
    for site, family in families.items():
        if family not in ALL_FAMILIES:
            raise ValueError(
                f"{GUIDE_NAME}: unknown family {family!r} for site {site!r}; choose one of "
                f"{_listed(ALL_FAMILIES)}"
            )
    return families


def choose_family(site: str, kind: str, families: Mapping[str, str]) -> str:
    """The family of latent site ``site`` of support kind ``kind``: the user's override if
    it suits the support, the default of the kind otherwise."""
    allowed = FAMILIES[kind]
    family = families.get(site, allowed[0])
    if family in allowed:
        return family
    raise ValueError(
        f"{GUIDE_NAME}: family {family!r} does not fit site {site!r} (support: {kind}); "
        f"allowed families: {_listed(allowed)}"
    )


def check_override_sites(families: Mapping[str, str], latent_sites: Iterable[str]) -> None:
    """An override naming no latent site of the model is a typo: say so."""
    latent_sites = list(latent_sites)
    unknown = sorted(set(families) - set(latent_sites))
    if unknown:
        raise ValueError(
            f"{GUIDE_NAME}: families names {_listed(unknown)}, which "
            f"{'is not a latent site' if len(unknown) == 1 else 'are not latent sites'} of "
            f"the model; latent sites: {_listed(latent_sites)}"
        )


def kumaraswamy_init(median, init_scale: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Concentrations ``(a, b)`` of a Kumaraswamy with median ``median`` (in (0, 1),
    clipped into the open interval) and a moderately tight spread.

    The median is :math:`(1 - 2^{-1/b})^{1/a}`, so for any ``a`` the concentration0
    :math:`b = \log 2 / -\log(1 - m^a)` puts it at ``m``. Near 0 the draw behaves like
    :math:`(E / b)^{1/a}` with :math:`E \sim` Exp(1), so ``a`` alone sets the spread of
    :math:`\log x` (standard deviation :math:`\pi / (\sqrt 6 a)`). We take
    :math:`a = k = 1 / (2\,\text{init\_scale})` (5 at the default 0.1: the logit of a draw
    then has a standard deviation of about 0.5 for medians from 0.1 to 0.999, widening
    towards 0, e.g. 0.9 at 0.01, where the clip bites), and clip ``a`` so that ``b`` stays
    within ``[k, 100 k]``: near 1 a fixed ``a`` would drive ``b`` to 0 (a wide, U-shaped
    law), near 0 to astronomically large values that Adam would take thousands of
    steps to move.

    Computed in float64 NumPy; the caller casts to the site's dtype.
    """
    k = 0.5 / init_scale
    m = np.asarray(median, dtype=np.float64)
    eps = np.finfo(np.float32).eps  # clip for the float32 the parameters may live in
    log_m = np.log(np.clip(m, eps, 1.0 - eps))

    def a_for(b: float) -> np.ndarray:
        # m^a = 1 - 2^(-1/b)  <=>  a = log(1 - 2^(-1/b)) / log(m)
        return np.log(-np.expm1(-np.log(2.0) / b)) / log_m

    a = np.clip(k, a_for(k), a_for(KUMARASWAMY_MAX_RATIO * k))
    b = np.log(2.0) / -np.log1p(-np.exp(a * log_m))
    return a, b


def _unwrap(b: Backend, fn):
    """Peel ``Independent`` and ``ExpandedDistribution`` wrappers off a distribution."""
    while isinstance(fn, (b.independent, b.expanded)):
        fn = fn.base_dist
    return fn


def _base_constraint(b: Backend, support):
    while isinstance(support, b.constraints.independent):
        support = support.base_constraint
    return support


def _sum_rightmost(xp, x, dims: int):
    for _ in range(dims):
        x = xp.sum(x, -1)
    return x


def _all_equal(b: Backend, x, value: float) -> bool:
    return bool(np.all(b.to_numpy(x) == value))


def support_kind(b: Backend, fn) -> tuple[str, Any, Any]:
    """The kind of latent site (see :data:`FAMILIES`) of a model distribution ``fn``, with
    its lower and upper bound (``None`` where unbounded or not a scalar support).

    One-sided supports ``[c, inf)``, ``(c, inf)``, ``(-inf, c)``, ``(-inf, c]`` are
    recognised whatever ``c`` (also written as an interval with an infinite end); ``c = 0``
    below is "positive".
    """
    if isinstance(
        _unwrap(b, fn), (b.ours.ExpRelaxedOneHotCategorical, b.ours.LogitRelaxedBernoulli)
    ):
        return RELAXED, None, None
    if isinstance(_unwrap(b, fn), b.categorical + b.bernoulli):
        return DISCRETE, None, None
    support = _base_constraint(b, fn.support)
    if support is b.constraints.real:
        return REAL, None, None
    if isinstance(support, b.simplex):
        return SIMPLEX, None, None
    if isinstance(support, b.greater_than):
        low, high = support.lower_bound, None
    elif isinstance(support, b.less_than):
        low, high = None, support.upper_bound
    elif isinstance(support, b.interval):
        low, high = support.lower_bound, support.upper_bound
        low = None if _all_equal(b, low, -np.inf) else low
        high = None if _all_equal(b, high, np.inf) else high
    else:
        return OTHER, None, None
    if low is not None and high is not None:
        unit = _all_equal(b, low, 0.0) and _all_equal(b, high, 1.0)
        return (UNIT_INTERVAL if unit else INTERVAL), low, high
    if low is not None:
        return (POSITIVE if _all_equal(b, low, 0.0) else BOUNDED_BELOW), low, None
    if high is not None:
        return BOUNDED_ABOVE, None, high
    return OTHER, None, None


def _discrete_family(b: Backend, fn, kind: str) -> tuple[Any, Any]:
    """The guide family of a discrete site (the model's, with logits) and the model's
    logits, normalised; ``(None, None)`` for other sites."""
    if kind != DISCRETE:
        return None, None
    base = _unwrap(b, fn)
    if isinstance(base, b.bernoulli):
        return b.dist.Bernoulli, base.logits
    family = type(base) if isinstance(base, getattr(b.dist, "OneHotCategorical", ())) else None
    return family or b.dist.Categorical, b.xp.log_softmax(base.logits, -1)


def _mode(b: Backend, site: "Site", logits):
    """The most probable value of a discrete guide site with ``logits``."""
    if site.discrete_family is b.dist.Bernoulli:
        return b.as_array(b.to_numpy(logits) > 0, logits)
    if site.discrete_family is b.dist.Categorical:
        return b.as_array(np.argmax(b.to_numpy(logits), -1), None)
    return b.xp.one_hot_argmax(logits)


class Site:
    """What the guide knows of one latent site: its family and how to build it."""

    def __init__(self, b: Backend, name: str, fn, families: Mapping[str, str]):
        self.name = name
        self.support = fn.support
        self.kind, low, high = support_kind(b, fn)
        self.family = choose_family(name, self.kind, families)
        self.event_dim = fn.event_dim  # of the parameters; the caller sets it for "normal"
        self.value_event_dim = fn.event_dim
        self.bounds = (low, high) if self.kind == INTERVAL else None
        # one-sided: x = shift + sign * (a positive family's draw); None for (0, inf)
        self.shift = {BOUNDED_BELOW: low, BOUNDED_ABOVE: high}.get(self.kind)
        self.sign = -1.0 if self.kind == BOUNDED_ABOVE else 1.0
        relaxed = _unwrap(b, fn) if self.kind == RELAXED else None
        # the relaxed family of the model (categorical or binary) and how it scores draws
        self.relaxed_family = type(relaxed) if relaxed is not None else None
        self.density = getattr(relaxed, "density", None)
        self.discrete_family, self.prior_logits = _discrete_family(b, fn, self.kind)
        if self.discrete_family in (b.dist.Categorical, b.dist.Bernoulli) and fn.event_dim:
            raise NotImplementedError(
                f"{GUIDE_NAME}: discrete site {name!r} reinterprets batch dims as event dims "
                "(to_event); declare its batch dims with plates instead"
            )
        one_hot = getattr(b.dist, "OneHotCategorical", ())
        vector = (
            self.kind == SIMPLEX
            or self.relaxed_family is b.ours.ExpRelaxedOneHotCategorical
            or self.discrete_family is one_hot
        )
        if self.discrete_family is b.dist.Categorical:
            self.event_dim += 1  # the logits' category axis
        # the dims to reinterpret as event dims on top of the family's own event dim
        self.extra_event_dims = fn.event_dim - (1 if vector else 0)
        self.params: tuple[str, ...] = ()  # the parameter kinds, filled in at setup
        self.temperature = None
        if self.kind == RELAXED:
            t = relaxed.temperature
            # relax() gives one temperature to all of a site's batch: keep it a scalar,
            # so it also serves the full-size parameters of a subsampled site
            flat = b.to_numpy(t).reshape(-1)
            self.temperature = flat[0] if np.all(flat == flat[0]) else t


class PathwiseGuide:
    r"""An autoguide with a reparameterizable family chosen from each latent site's
    support, so every site gets pathwise ELBO gradients; mean-field, or with the sites
    coupled by a Gaussian copula (``correlation=``).

    ==================  ======================================================  =========
    support             families (the first is the default)                     params
    ==================  ======================================================  =========
    real                ``"normal"``                                            loc, scale
    positive            ``"softplus"`` (Normal through softplus),               loc, scale
                        ``"lognormal"`` (Normal through exp),
                        ``"normal"`` (Normal through ``biject_to(support)``)
    (c, inf),           ``"normal"`` (Normal through ``biject_to(support)``:    loc, scale
    (-inf, c)           ``c + exp``, ``c - exp``), ``"softplus"``
                        (``c + softplus``, ``c - softplus``), ``"lognormal"``
    unit interval       ``"normal"`` (logit-normal: a Normal through            loc, scale;
                        ``biject_to(support)``), ``"kumaraswamy"``              Kumaraswamy:
                                                                                concentration1,
                                                                                concentration0
    (low, high)         ``"normal"`` (a Normal through                          as above
                        ``biject_to(support)``), ``"kumaraswamy"`` mapped
                        affinely onto (low, high)
    simplex             ``"normal"``: logistic-normal, a Normal through         loc, scale
                        ``biject_to(simplex)`` (stick-breaking)
    relaxed discrete    ``"relaxed"``: ExpRelaxedOneHotCategorical or           logits
                        LogitRelaxedBernoulli (as in the model) with
                        learnable logits and the model's ``density``
    discrete            ``"discrete"``: the model's Categorical or Bernoulli    logits
                        with learnable logits (for RelaxedControlVariateELBO)
    anything else       ``"normal"`` through ``biject_to(support)``             loc, scale
    ==================  ======================================================  =========

    Why softplus is the default for positive sites: with the exp map a draw is
    :math:`x = e^{\mu + \sigma\epsilon}` and :math:`\partial x / \partial\mu = x`, so the
    pathwise gradient is multiplied by the sampled value itself; a tail draw of the
    Normal blows it up, and the gradient variance grows like :math:`e^{2\sigma^2}`. The
    softplus map is asymptotically linear (:math:`\partial x / \partial\mu =
    \operatorname{sigmoid}(\mu + \sigma\epsilon) \le 1`), so it never amplifies a draw.
    One-sided supports with another bound ``c`` (``[c, inf)`` as for a Pareto, or a
    truncation at ``c``, either end, ``c`` a number or an array) keep ``biject_to``'s
    shifted exp by default: such sites are often scale-like with a long right tail (the
    Pareto concentration of the rat-tumour model is 0.10 NUTS sd off with it, 0.24 with
    the shifted softplus); ``"softplus"`` shifts (or reflects) the positive family onto
    them.

    Relaxed discrete sites are those whose model distribution is an
    :class:`~ppl_reparam.{backend}.distributions.ExpRelaxedOneHotCategorical` or a
    :class:`~ppl_reparam.{backend}.distributions.LogitRelaxedBernoulli` (the
    ``f"{name}_relaxed"`` sites :func:`~ppl_reparam.{backend}.relax.relax` creates); the
    guide scores its draws with the model's ``density``. The guide's temperature is the
    ``relax_temperature`` keyword it receives{guide_traced}, else the temperature of the
    model's relaxed distribution, which :func:`~ppl_reparam.{backend}.relax.relax` set.
    Discrete sites nothing relaxes keep their family, with one set of logits per
    element, started at the prior's; their median is their mode.

    Initialisation: ``init_loc_fn`` picks a value per site, as for {autonormal}. Normal
    families start at that value (mapped to their unconstrained space) with scale
    ``init_scale``; Kumaraswamy sites start with that value (clipped into the open
    interval) as their *median* and the concentrations of
    :func:`ppl_reparam._guides.kumaraswamy_init` (``concentration1 = 1 / (2 init_scale)``,
    clipped so that ``concentration0`` lies in [k, 100 k]); relaxed sites start with
    ``logits = log_softmax(value)`` (binary: the value, a logit).

    Correlation: with ``correlation="full"`` or an integer rank ``k``, the sites are
    coupled by a Gaussian copula on the standard-normal noise that drives each family's
    sampler, and each family stays the *marginal* of its site. The guide draws
    :math:`z \sim N(0, C)`, :math:`C` a correlation matrix, and maps coordinate
    :math:`z_i` through site :math:`i`'s family: ``T(loc + scale * z_i)`` for the
    Normal families (``T`` their map onto the support), the inverse CDF at
    :math:`\Phi(z_i)` for a Kumaraswamy (computed from ``log_ndtr(-z_i)``, so no tail
    rounds to 0 or 1). Its density is exact,

    .. math::
        \log q(x) = \log N(z; 0, C) + \sum_i \left[\log q_i(x_i) - \log\phi(z_i)\right],

    carried by an auxiliary site ``z`` (named as in the framework's
    ``AutoMultivariateNormal``, ``infer={"is_auxiliary": True}``) and one ``Delta``
    per site whose ``log_density`` is the bracket. ``"full"``: :math:`C = D L L^T D`,
    ``L`` unit lower-triangular (its strictly lower triangle is the parameter
    ``copula_tril``, shape ``(n, n)``, the rest unused) and ``D`` normalising its rows;
    rank ``k``: :math:`C = D (W W^T + I) D` with ``W`` the parameter ``copula_factor``,
    shape ``(n, k)`` (a free diagonal would add nothing: ``D`` absorbs it). ``n`` counts
    the coordinates of the coupled sites (:attr:`correlated_sites`, flattened in model
    order; a site of the ``"normal"`` family counts its unconstrained size). Both start
    at zero, the identity correlation: a correlated guide starts where the mean-field
    one does. Relaxed and discrete sites and sites inside a subsampled plate stay
    mean-field, outside the copula; sites in plates without subsampling join it.
    Medians and quantiles are the families' marginal ones, as without correlation.

    The default ``correlation="auto"`` is ``"full"`` for a model that solves an ODE (and
    has at least two coordinates to couple) and mean-field otherwise, as measured: on the
    Lotka--Volterra example the mean-field guide's standard deviations are 0.14--0.17 of
    NUTS's and its slowest direction converges in only some seeds (3 of 5 in Pyro), where
    ``"full"`` gets 0.80--0.86 of NUTS's sds and every mean within the 0.3 sd bar in every
    seed measured, in both backends; on the hierarchical and mixture models of the guide
    suite no correlation beats mean-field's worst case, and mean-field costs least
    (``docs/guide/guides.md``). A model whose ODE parameters are many (a plate of
    subjects outside any subsampling) pays the full copula's :math:`O(n^2)` parameters
    and :math:`O(n^3)` Cholesky per step; pass ``correlation=k`` or ``None`` there.

    With Normal families only (real sites, or sites overridden to ``"normal"``) the law
    is that of the framework's ``AutoMultivariateNormal`` (``"full"``) or
    ``AutoLowRankMultivariateNormal`` (rank ``k``), ELBO included: their ``(loc, s,
    L)`` (``L`` unit lower-triangular) is our ``loc``, ``scale_i = s_i |L_i|``,
    ``copula_tril = L``; their ``(loc, s, W)`` is our ``loc``,
    ``scale_i = s_i (1 + |W_i|^2)^{1/2}``, ``copula_factor = W``. With the default
    families a step costs 1.05 to 1.4 times theirs on eight schools and rat tumours
    (``benchmarks/copula_cost.py``); a Kumaraswamy family costs more per coordinate.

    {storage}
    The copula's parameter is ``copula_tril`` or ``copula_factor`` beside them
    (``"AutoPathwiseGuide.copula_tril"`` in Pyro, ``f"{prefix}_copula_tril"`` in
    NumPyro).
    Local sites in a subsampled plate get parameters of the full plate size, indexed by
    the subsample at every step. Bounds of a support are read once, from the
    first run of the model: a bound that varies along a subsampled plate is not supported.
    {draws}

    :param model: a {framework} model.
    :param families: per-site overrides, e.g. ``{"sigma": "lognormal", "p": "normal"}``;
        a family that does not fit the site's support is a ``ValueError`` naming the
        site and the allowed families.
    :param correlation: ``"auto"`` (default: ``"full"`` for a model that solves an ODE
        with :func:`~ppl_reparam.{backend}.ode.solve`, mean-field for any other model),
        ``None`` (mean-field), ``"full"`` (a full-rank Gaussian copula) or an integer
        ``k >= 1`` (rank-``k``-plus-diagonal); anything else is a ``ValueError``. The
        choice is read off the model's first run; :attr:`correlation` says which it was.
    :param {autonormal_params}: as for {autonormal}.

    Example::

        {guide_example}
    """

    _backend: ClassVar[Backend]
    _default_init_loc_fn: ClassVar[Callable]  # the framework AutoNormal's default
    _init_scale: float
    scale_constraint: Any

    def __init__(
        self,
        model: Callable,
        *,
        families: Mapping[str, str] | None = None,
        correlation: str | int | None = _copula.AUTO,
        init_loc_fn: Callable | None = None,
        init_scale: float = 0.1,
        create_plates: Callable | None = None,
        **kwargs,
    ):
        self._families = check_families(families)
        self._correlation_arg = _copula.check_correlation(correlation)
        self._correlation = None  # resolved at setup (see correlation)
        self._slots: dict[str, _copula.Slot] = {}
        super().__init__(
            model,
            init_loc_fn=self._adapt_init_loc_fn(init_loc_fn or self._default_init_loc_fn),
            init_scale=check_init_scale(init_scale),
            create_plates=create_plates,
            **kwargs,
        )
        self._sites: dict[str, Site] = {}

    @staticmethod
    def _adapt_init_loc_fn(init_loc_fn: Callable) -> Callable:
        return init_loc_fn

    @property
    def site_families(self) -> dict[str, str]:
        """The family of each latent site (known once the guide has run)."""
        return {name: site.family for name, site in self._sites.items()}

    @property
    def correlation(self) -> str | int | None:
        """The correlation in use, ``"auto"`` resolved (known once the guide has run):
        ``None`` (mean-field), ``"full"`` or a rank ``k``."""
        return self._correlation

    @property
    def correlated_sites(self) -> tuple[str, ...]:
        """The sites the copula couples, in the order of its vector (known once the guide
        has run; empty for a mean-field guide)."""
        return tuple(self._slots)

    def _sample_sites(self, args: tuple, kwargs: dict) -> dict:
        """Sample every latent site from its family, inside its plates; returns
        ``{site: value}``. The backend says which plates (``_plate_frames(name)``) and
        where the parameters come from (``_call_params(site)``)."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        temperature = kwargs.get(TEMPERATURE_KWARG)
        b = self._backend
        # the copula's draw comes first, so its noise is that of AutoMultivariateNormal's
        z = self._sample_copula() if self._slots else None
        result = {}
        for name, site in self._sites.items():
            with ExitStack() as stack:
                for frame in self._plate_frames(name):
                    stack.enter_context(plates[frame.name])
                params = self._call_params(site)
                if name in self._slots:
                    noise = _copula.site_noise(z, self._slots[name], site.event_dim)
                    x, log_density = self._from_noise(site, params, noise)
                    fn = b.dist.Delta(x, log_density, event_dim=site.value_event_dim)
                else:
                    fn = self._distribution(site, params, temperature)
                result[name] = b.sample(name, fn)
        return result

    def _sample_copula(self):
        """Sample the auxiliary site of the copula's ``z ~ N(0, C)`` (outside all plates)."""
        fn = _copula.distribution(self._backend, self._copula_params())
        return self._backend.sample(self._latent_name, fn, infer={"is_auxiliary": True})

    def _copula_layout(self, shapes: Mapping[str, tuple[int, ...]], like, solves_ode: bool) -> dict:
        """Place the sites the copula couples (``shapes``: every site with its parameter
        shape; those in a subsampled plate are left out by the caller) in its vector;
        returns the copula's initial parameters, ``{}`` for a mean-field guide.
        ``solves_ode``: whether the model's prototype run solved an ODE (for ``"auto"``)."""
        shapes = {
            name: shape
            for name, shape in shapes.items()
            if self._sites[name].family not in (EXP_RELAXED, DISCRETE_FAMILY)
        }
        slots = _copula.layout(shapes)
        size = max((slot.stop for slot in slots.values()), default=0)
        self._correlation = _copula.resolve_correlation(self._correlation_arg, solves_ode, size)
        if self._correlation is None or not shapes:
            self._slots = {}
            return {}
        self._slots = slots
        return _copula.initial_params(self._backend, self._correlation, size, like)

    def _correlated_draws(self, params_of: Callable[[Site], dict], z) -> dict:
        """The coupled sites' values from the copula's draw ``z`` (shape ``batch + (n,)``)."""
        return {
            name: self._from_noise(
                self._sites[name], params_of(self._sites[name]), _copula.site_noise(z, slot)
            )[0]
            for name, slot in self._slots.items()
        }

    def _from_noise(self, site: Site, p: dict, z) -> tuple[Any, Any]:
        r"""Site ``site``'s draw ``x`` from its standard-normal coordinates ``z`` (shaped
        ``batch + `` its parameters' shape) and :math:`\log q_i(x) - \log\phi(z) =
        -\log|dx/dz|`, summed over the site's event dims: the ``log_density`` of its
        ``Delta`` in the copula. Normal families: ``x = T(loc + scale z)`` with ``T`` the
        family's map; Kumaraswamy: the inverse CDF at :math:`\Phi(z)` (see
        :func:`ppl_reparam.math.copula.kumaraswamy_from_normal`), mapped affinely onto a
        bounded interval.
        """
        b = self._backend
        xp = b.xp
        if site.family == KUMARASWAMY:
            a, c = p["concentration1"], p["concentration0"]
            x, log_density = kumaraswamy_from_normal(xp, z, a, c)
            if site.bounds is not None:
                low, high = site.bounds
                x = low + (high - low) * x
                log_density = log_density - xp.log(b.as_array(high - low, x))
            return x, _sum_rightmost(xp, log_density, site.extra_event_dims)
        u = p["loc"] + p["scale"] * z
        log_density = b.full_like(u, 0.0) - xp.log(p["scale"])
        if site.family == NORMAL:
            if _base_constraint(b, site.support) is b.constraints.real:
                return u, _sum_rightmost(xp, log_density, site.event_dim)
            transform = b.transforms.biject_to(site.support)
            x = transform(u)
            log_jacobian = transform.log_abs_det_jacobian(u, x)
            log_density = _sum_rightmost(xp, log_density, site.event_dim) - _sum_rightmost(
                xp, log_jacobian, site.event_dim - transform.domain.event_dim
            )
            return x, log_density
        if site.family == LOGNORMAL:
            x, log_density = xp.exp(u), log_density - u
        else:  # softplus: log softplus'(u) = log sigmoid(u) = -softplus(-u)
            x, log_density = xp.softplus(u), log_density + xp.softplus(-u)
        if site.shift is not None:
            x = site.shift + site.sign * x
        return x, _sum_rightmost(xp, log_density, site.extra_event_dims)

    def _param_constraint(self, param: str):
        positive = self._backend.constraints.positive
        return {
            "scale": self.scale_constraint,
            "concentration1": positive,
            "concentration0": positive,
        }.get(param, self._backend.constraints.real)

    def _initial_params(self, site: Site, value, unconstrained) -> dict:
        """Initial values of a site's parameters from its constrained init ``value`` and
        the same value in the unconstrained space of ``biject_to(support)``."""
        b = self._backend
        if site.family == NORMAL:
            return {"loc": unconstrained, "scale": b.full_like(unconstrained, self._init_scale)}
        if site.family in (LOGNORMAL, SOFTPLUS):
            if site.shift is not None:
                value = site.sign * (value - site.shift)
            loc = (
                b.xp.log(value)
                if site.family == LOGNORMAL
                else b.transforms.SoftplusTransform().inv(value)
            )
            return {"loc": loc, "scale": b.full_like(loc, self._init_scale)}
        if site.family == KUMARASWAMY:
            if site.bounds is not None:
                low, high = site.bounds
                value = (value - low) / (high - low)
            a, c = kumaraswamy_init(b.to_numpy(value), self._init_scale)
            return {"concentration1": b.as_array(a, value), "concentration0": b.as_array(c, value)}
        if site.family == DISCRETE_FAMILY:  # the prior's logits, one set per element
            shape = b.as_array(value, site.prior_logits)
            if site.discrete_family is b.dist.Categorical:
                shape = shape[..., None]
            return {"logits": 0.0 * shape + site.prior_logits}
        if site.relaxed_family is b.ours.LogitRelaxedBernoulli:
            return {"logits": value}  # the logit of the relaxed bit
        return {"logits": b.xp.log_softmax(value, -1)}  # relaxed categorical

    def _temperature(self, site: Site, temperature, like):
        t = site.temperature if temperature is None else temperature
        return self._backend.as_array(t, like)

    def _distribution(self, site: Site, p: dict, temperature=None):
        """The guide's distribution at ``site`` with parameters ``p``."""
        b = self._backend
        if site.family == NORMAL:
            fn = b.dist.Normal(p["loc"], p["scale"]).to_event(site.event_dim)
            if _base_constraint(b, site.support) is b.constraints.real:
                return fn
            return b.dist.TransformedDistribution(fn, b.transforms.biject_to(site.support))
        if site.family in (LOGNORMAL, SOFTPLUS):
            if site.family == LOGNORMAL:
                fn = b.dist.LogNormal(p["loc"], p["scale"])
            else:
                fn = b.dist.TransformedDistribution(
                    b.dist.Normal(p["loc"], p["scale"]), b.transforms.SoftplusTransform()
                )
            if site.shift is not None:
                shift = b.affine(site.shift, site.sign, b.constraints.positive)
                fn = b.dist.TransformedDistribution(fn, shift)
        elif site.family == KUMARASWAMY:
            fn = b.ours.Kumaraswamy(p["concentration1"], p["concentration0"])
            if site.bounds is not None:
                low, high = site.bounds
                # domain=unit_interval makes the guide's support (low, high), not R
                affine = b.affine(low, high - low, b.constraints.unit_interval)
                fn = b.dist.TransformedDistribution(fn, affine)
        elif site.family == DISCRETE_FAMILY:
            fn = site.discrete_family(logits=p["logits"])
        else:
            logits = p["logits"]
            t = self._temperature(site, temperature, logits)
            fn = site.relaxed_family(t, logits=logits, density=site.density)
        return fn.to_event(site.extra_event_dims) if site.extra_event_dims else fn

    def _refreshed_logits(self, values: dict, args: tuple, kwargs: dict) -> dict:
        """``{site: logits}``: every discrete site (Categorical or Bernoulli) outside
        subsampled plates whose elements' conditional laws are plate-local
        (:func:`ppl_reparam._rebar.plate_local`: a mixture's labels, not an HMM's
        states), at its conditional law given ``values`` of every latent site
        (:func:`ppl_reparam._rebar.conditional_logits`, all from the same ``values``).

        ``fit`` sets a discrete site's logits to these once, given the guide's medians,
        at :func:`ppl_reparam._fit.refresh_step` of a fit with
        ``RelaxedControlVariateELBO``: a label that went confidently wrong early (logits
        of size 10 or more on a category its cluster has since left) has a vanishing
        gradient and stays wrong; its conditional law, given where the continuous sites
        are now, is the coordinate-ascent update of its mean-field factor with the
        other sites at their medians. Where the conditional is not plate-local it would
        be a guess (an HMM state's given its neighbours' modes, all changed at once):
        measured on the Pyro HMM of benchmarks/hmm.py, setting those left the fit
        7-9 sd off, so they keep their logits."""
        found = {}
        for name, site in self._sites.items():
            if site.family != DISCRETE_FAMILY or not self._full_size(site):
                continue
            if _rebar.family_kind(self._backend, site.discrete_family) is None:
                continue
            logits = self._conditional_logits(site, values, args, kwargs, exact_only=True)
            if logits is not None:
                found[name] = logits
        return found

    def _medians(self, params_of: Callable[[Site], dict], temperature) -> dict:
        """The median of every site, with parameters ``params_of(site)``."""
        xp = self._backend.xp
        result = {}
        for name, site in self._sites.items():
            p = params_of(site)
            if site.family == DISCRETE_FAMILY:
                result[name] = _mode(self._backend, site, p["logits"])
            elif site.family == EXP_RELAXED:
                logits = p["logits"]
                t = self._temperature(site, temperature, logits)
                if site.relaxed_family is self._backend.ours.LogitRelaxedBernoulli:
                    result[name] = logits / t
                else:
                    result[name] = xp.log_softmax(logits / t[..., None], -1)
            else:
                loc = next(iter(p.values()))
                result[name] = self._quantile(site, p, xp.constant([0.5], loc)[0])
        return result

    def _quantiles(self, params_of: Callable[[Site], dict], quantiles) -> dict:
        """The ``quantiles`` of every non-relaxed site, stacked along a new first axis."""
        result = {}
        for name, site in self._sites.items():
            if site.family in (EXP_RELAXED, DISCRETE_FAMILY):
                continue
            p = params_of(site)
            q = self._backend.xp.constant(quantiles, next(iter(p.values())))
            result[name] = self._quantile(site, p, q)
        return result

    def _quantile(self, site: Site, p: dict, q):
        b = self._backend
        if site.family == KUMARASWAMY:
            x = b.ours.Kumaraswamy(p["concentration1"], p["concentration0"]).icdf(q)
            if site.bounds is not None:
                low, high = site.bounds
                x = low + (high - low) * x
            return x
        if site.kind == BOUNDED_ABOVE:
            q = 1.0 - q  # every family's map onto (-inf, c) decreases
        z = b.dist.Normal(p["loc"], p["scale"]).icdf(q)
        if site.family == NORMAL:
            return b.transforms.biject_to(site.support)(z)
        x = b.xp.exp(z) if site.family == LOGNORMAL else b.xp.softplus(z)
        return x if site.shift is None else site.shift + site.sign * x


MEDIAN_DOC = r"""The posterior median of each latent site, full size.

        Exact for scalar supports (a monotone map of the family's median; for a
        Kumaraswamy :math:`(1 - 2^{-1/b})^{1/a}`). For a simplex site it is
        ``biject_to(simplex)(loc)``, as in AutoNormal; for a relaxed site the draw at the
        median Gumbel noise, ``log_softmax(logits / temperature)`` (the temperature is
        ``relax_temperature=`` if given, else the prior's).
        """

QUANTILES_DOC = """Posterior quantiles of each latent site: {array}s of shape
        ``(len(quantiles),) + site shape``. Per coordinate of the unconstrained Normal for
        vector supports (AutoNormal's convention). Relaxed sites have no closed-form
        marginal quantiles and are left out: sample them {sample_how}."""
