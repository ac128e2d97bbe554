r"""Backend-neutral REBAR / RELAX estimator of the discrete ELBO's gradient (no torch or
jax import): the conditional Gumbel and logistic draws, the relaxed values, the per-site
costs, and the assembly of the surrogate loss. Each backend supplies an :class:`Ops`
record (traces, log densities, gradients) and keeps only its ELBO protocol.

For a guide site :math:`b \sim q_\theta(b)` (Categorical or Bernoulli with logits
:math:`\theta`) the estimator of Tucker et al. (2017, REBAR), with the variance-tuned
temperature and scale of Grathwohl et al. (2018, RELAX), is

.. math::
    \hat g = \big[f(b) - \eta f(\sigma_\lambda(\tilde z))\big]\nabla_\theta \log q_\theta(b)
        + \nabla_\theta f(b)
        + \eta \nabla_\theta f(\sigma_\lambda(z)) - \eta \nabla_\theta f(\sigma_\lambda(\tilde z)),

with :math:`z = \theta + g` (Gumbel, or logistic for a bit), :math:`b = H(z)` its argmax
(its sign), :math:`\tilde z \sim p(z \mid b)` drawn by the conditional Gumbel (truncated
logistic) reparameterisation, and :math:`\sigma_\lambda(z) = \operatorname{softmax}(z /
\lambda)` (:math:`\operatorname{sigmoid}(z / \lambda)`). :math:`f` is the ELBO integrand;
at a relaxed value the discrete site's prior and guide log-masses are extended linearly
(:func:`log_mass`), exact at every vertex. The two relaxed terms have equal expectations
(:math:`\tilde z` has the law of :math:`z`), so :math:`\hat g` is unbiased for any
:math:`\eta, \lambda`; they are tuned by gradient descent on :math:`\|\hat g\|^2`, whose
expectation is the variance plus a term that does not depend on them.

Three reductions of variance that keep it unbiased: the score coefficient of each element
of a site keeps only the terms that can depend on it (sites at or after it in program
order, in the same slice of each of its plates: Pyro's conditional independence); the
explicit derivative of :math:`-\log q_\theta(b)` in :math:`\nabla_\theta f(b)` (the
score itself, of mean 0) is left out; and the relaxed terms reach the guide logits only
(the continuous sites and the model's parameters get the pathwise gradient of
:math:`f(b)` alone). The guide's draw of
:math:`b` stays the guide's own: :math:`z` is then drawn from :math:`p(z \mid b)`, which
with :math:`b \sim q` has the law of :math:`z \sim p(z)`, and differentiated as
:math:`\theta + g` with :math:`g = z - \theta` held fixed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ppl_reparam.math.namespace import Array, ArrayNamespace
from ppl_reparam.math.relaxed import sigmoid, simplex_point
from ppl_reparam.math.special import log1mexp

CATEGORICAL = "categorical"
BERNOULLI = "bernoulli"
ESTIMATORS = ("rebar", "score", "relaxed")

# frames whose name starts so are a scan's time axis, not a plate (see :func:`_costs`)
SCAN_FRAME = "_scan_time"

CV_SCALE = "cv_scale"
CV_LOG_TEMPERATURE = "cv_log_temperature"


def cv_param_names(site: str) -> tuple[str, str]:
    """The names of the control-variate scale and log-temperature params of ``site``."""
    return f"{site}_{CV_SCALE}", f"{site}_{CV_LOG_TEMPERATURE}"


# ---------------------------------------------------------------- math


def log_mass(xp: ArrayNamespace, kind: str, x: Array, logits: Array) -> Array:
    r"""The log-mass of a one-hot vector (a bit) ``x``, extended linearly to relaxed ones:
    :math:`\sum_k x_k \log\pi_k`, or :math:`x \log p + (1 - x)\log(1 - p)` in softplus
    form. Shape: ``x``'s without the category axis."""
    if kind == CATEGORICAL:
        return xp.sum(x * xp.log_softmax(logits, -1), -1)
    return -(x * xp.softplus(-logits) + (1.0 - x) * xp.softplus(logits))


def score(xp: ArrayNamespace, kind: str, x: Array, logits: Array) -> Array:
    r"""The score :math:`\nabla_\theta \log q_\theta(x)` at a vertex ``x`` (one-hot, or a
    bit): ``x - softmax(logits)`` or ``x - sigmoid(logits)``, shape of ``logits``."""
    if kind == CATEGORICAL:
        return x - xp.exp(xp.log_softmax(logits, -1))
    return x - sigmoid(xp, logits)


def conditional_gumbel(xp: ArrayNamespace, u: Array, logits: Array, onehot: Array) -> Array:
    r"""A draw of :math:`z = \log\pi + g` (Gumbel :math:`g`) conditioned on
    :math:`\operatorname{argmax} z` being the category of ``onehot``, from uniforms ``u``
    (shape ``(..., K)``).

    With :math:`e = -\log u` (Exp(1)), the maximum of the normalised perturbed logits is
    standard Gumbel, :math:`z_b = -\log e_b`, and every other component is a Gumbel of
    location :math:`\log\pi_k` truncated below it: :math:`z_k = -\log(e_k/\pi_k + e_b)`,
    here :math:`-\log e_b - \operatorname{softplus}(\log e_k - \log\pi_k - \log e_b)`
    so that a tiny :math:`\pi_k` cannot overflow :math:`1/\pi_k`.
    """
    log_pi = xp.log_softmax(logits, -1)
    log_e = xp.log(-xp.log(u))
    log_e_b = xp.sum(onehot * log_e, -1)[..., None]
    others = -log_e_b - xp.softplus(log_e - log_pi - log_e_b)
    return xp.where(onehot > 0, -log_e_b, others)


def conditional_logistic(xp: ArrayNamespace, u: Array, logits: Array, bit: Array) -> Array:
    r"""A draw of :math:`z = \ell + L` (logistic :math:`L`) conditioned on
    :math:`[z > 0]` being ``bit``, from uniforms ``u``, by the inverse CDF of the
    truncated logistic. With :math:`a` the log of the tail mass beyond the draw
    (:math:`\log(p(1-u))` above 0, :math:`\log(u(1-p))` below),
    :math:`z = \ell \pm (\log(1 - e^a) - a)`; :math:`\log p = -\operatorname{softplus}
    (-\ell)` keeps every term finite for logits of any size."""
    above = bit > 0
    a = xp.where(above, -xp.softplus(-logits) + xp.log1p(-u), xp.log(u) - xp.softplus(logits))
    # the clip keeps log(1 - e^a) finite where a rounds to 0 (u at its ends, |logits| huge)
    a = xp.clip(a, -1e30, -xp.finfo(a).tiny)
    t = log1mexp(xp, a) - a
    return logits + xp.where(above, t, -t)


def conditional_draw(xp: ArrayNamespace, kind: str, u: Array, logits: Array, x: Array) -> Array:
    """:func:`conditional_gumbel` or :func:`conditional_logistic`, by ``kind``."""
    if kind == CATEGORICAL:
        return conditional_gumbel(xp, u, logits, x)
    return conditional_logistic(xp, u, logits, x)


def relaxed_value(xp: ArrayNamespace, kind: str, z: Array, temperature: Array) -> Array:
    r""":math:`\sigma_\lambda(z)`: ``softmax(z / temperature)`` on the simplex, or
    ``sigmoid(z / temperature)``."""
    if kind == CATEGORICAL:
        return simplex_point(xp, xp.log_softmax(z / temperature, -1))
    return sigmoid(xp, z / temperature)


def local_axes(ndim: int, term_frames: dict, site_frames: dict) -> tuple[int, ...]:
    """The axes (negative) of a log-density term of ``ndim`` batch dims to sum over for
    the cost of one element of a site: all but those of the plates the two share."""
    shared = {dim for name, dim in term_frames.items() if name in site_frames}
    return tuple(d for d in range(-ndim, 0) if d not in shared)


# ---------------------------------------------------------------- the estimator


@dataclass(frozen=True)
class Ops:
    """What :func:`estimate` needs of a backend.

    ``log_prob(msg)``: the scaled and masked log density of a sample site at its value.
    ``mask(msg)``: the site's mask (``None`` if unmasked), and ``masked``, the class of
    a masked distribution, peeled off to find a discrete family. ``frames(msg)``:
    ``{plate name: dim}`` of its vectorised plates. ``is_term(msg)``: whether a trace
    node is a sample site to score. ``sum_keepdims(x, axes)``. ``one_hot(b, k, like)``.
    ``reshape(x, shape)``. ``grad_with_aux(fn, xs)``: the gradient (kept differentiable)
    of the scalar ``fn(xs)[0]`` with respect to the dict ``xs``, and ``fn(xs)[1]``.
    ``variance_grads(fn, etas, log_temps)``: ``fn(etas, log_temps)`` (a dict of arrays)
    and the gradient of the sum of their squares with respect to both dicts.
    """

    backend: Any
    log_prob: Callable
    mask: Callable
    masked: type
    frames: Callable
    is_term: Callable
    sum_keepdims: Callable
    one_hot: Callable
    grad_with_aux: Callable
    variance_grads: Callable


@dataclass
class DiscreteSite:
    """A Categorical or Bernoulli site of the guide, at its draw."""

    name: str
    kind: str
    logits: Any  # the guide family's logits (broadcastable to the site, + (K,))
    x: Any  # the draw, one-hot (categorical) or a 0/1 bit, floating
    scale: Any
    mask: Any
    frames: dict
    index: int  # position among the guide's scored sites
    noise: tuple = ()  # the uniforms of z and of z~


def discrete_family(ops: Ops, name: str, fn) -> tuple[Any, str | None, Any]:
    """A site's family under Expanded / Masked wrappers, its kind (``None`` if not
    Categorical or Bernoulli) and the wrappers' mask (``None`` if none); a discrete
    family with event dims is an error."""
    b, mask, event = ops.backend, None, False
    while isinstance(fn, (ops.masked, b.expanded, b.independent)):
        event = event or isinstance(fn, b.independent) and fn.reinterpreted_batch_ndims > 0
        if isinstance(fn, ops.masked) and fn._mask is not True:
            mask = fn._mask if mask is None else mask & fn._mask
        fn = fn.base_dist
    kind = (
        CATEGORICAL
        if isinstance(fn, b.categorical)
        else BERNOULLI
        if isinstance(fn, b.bernoulli)
        else None
    )
    if kind is not None and event:
        raise NotImplementedError(
            f"RelaxedControlVariateELBO: discrete site {name!r} reinterprets batch dims as "
            "event dims (to_event); declare its batch dims with plates instead"
        )
    return fn, kind, mask


def _site_mask(ops: Ops, msg: dict, fn_mask) -> Any:
    mask = ops.mask(msg)
    if fn_mask is None or mask is None:
        return fn_mask if mask is None else mask
    return mask & fn_mask


def scale_and_mask(xp: ArrayNamespace, x: Array, scale, mask) -> Array:
    """``x`` zeroed where ``mask`` is False and multiplied by ``scale`` (each optional)."""
    if mask is not None:
        x = xp.where(mask, x, 0.0)
    return x if scale is None else x * scale


def _total(xp: ArrayNamespace, terms: list) -> Array:
    total = 0.0
    for _, x, _ in terms:
        total = total + (xp.sum(x.reshape(-1), 0) if x.ndim else x)
    return total


def _element_cost(
    ops: Ops, terms: list, site_frames: dict, ndim: int, tail: Callable | None = None
) -> Any:
    """The sum of ``terms`` in each element's slice of the plates in ``site_frames``,
    shape of a site with ``ndim`` batch dims; ``tail(i, x, frames)``, if given, first
    maps the ``i``-th term (summing it along a scan's time axis, :func:`time_tail`)."""
    cost = 0.0
    for i, (_, x, frames) in enumerate(terms):
        if tail is not None:
            x = tail(i, x, frames)
        axes = local_axes(x.ndim, frames, site_frames)
        x = ops.sum_keepdims(x, axes) if axes else x
        if x.ndim > ndim:  # the extra leading axes were summed to size 1
            x = x.reshape(tuple(x.shape)[x.ndim - ndim :])
        cost = cost + x
    return cost


def time_tail(ops: Ops, x: Array, axis: int, inclusive: bool) -> Array:
    """``x`` summed along a scan's time ``axis`` over the times at or after (after, if
    not ``inclusive``) each time: the terms a draw at that time can reach."""
    after = ops.sum_keepdims(x, (axis,)) - x.cumsum(axis)
    return after + x if inclusive else after


def _costs(ops: Ops, sites: list, model_terms: list, guide_terms: list) -> dict:
    """The score coefficient of every element of each discrete site: the terms at or
    after it in program order, in its slice of each of its plates. In a scan (a frame
    named ``SCAN_FRAME...``, its time axis) that order runs through time: the element at
    time t sees every site of the scan at later times, and those at or after it in the
    body at time t."""
    model_order = [name for name, _, _ in model_terms]
    costs = {}
    for site in sites:
        ndim = site.x.ndim - (1 if site.kind == CATEGORICAL else 0)
        position = model_order.index(site.name)
        scans = {k: d for k, d in model_terms[position][2].items() if k.startswith(SCAN_FRAME)}
        start = min(
            (i for i, (_, _, f) in enumerate(model_terms) if scans.keys() & f.keys()),
            default=position,
        )
        later = model_terms[start:] + guide_terms[site.index :]

        def tail(i, x, frames, scans=scans, start=start, position=position):
            for scan in scans.keys() & frames.keys():
                x = time_tail(ops, x, frames[scan], inclusive=start + i >= position)
            return x

        costs[site.name] = _element_cost(ops, later, {**site.frames, **scans}, ndim, tail)
    return costs


def family_kind(b: Any, family: type) -> str | None:
    """:data:`CATEGORICAL` or :data:`BERNOULLI` for the backend's Categorical or
    Bernoulli class ``family``, else ``None``."""
    return {b.dist.Categorical: CATEGORICAL, b.dist.Bernoulli: BERNOULLI}.get(family)


def plate_local(terms: list, i: int) -> bool:
    """Whether :func:`conditional_logits` is exact for the site of ``terms[i]`` (terms of a
    model trace, :func:`_model_terms`): it is in at least one plate, every batch axis of
    its term is one of its plates (none a scan's time axis), and every later term lies
    in all of its plates, so an element's slice holds every term that depends on it
    (a mixture's labels). A factor or site outside the plates that couples the elements
    (an HMM's transitions), a time axis, or a batch axis that is no plate break it."""
    _, x, frames = terms[i]
    if not frames or any(name.startswith(SCAN_FRAME) for name in frames):
        return False
    if sorted(frames.values()) != list(range(-x.ndim, 0)):
        return False
    return all(set(frames) <= set(later) for _, _, later in terms[i + 1 :])


def conditional_logits(
    ops: Ops,
    name: str,
    kind: str,
    prior_logits: Array,
    value: Array,
    run_model: Callable,
    exact_only: bool = False,
) -> Array | None:
    r"""The logits of the conditional law of each element of discrete site ``name`` given
    the values of the other sites: ``run_model(v)`` is the model's trace (its nodes)
    with the site at ``v`` and the other sites at their values, ``value`` an integer
    array of the site's shape and ``prior_logits`` the model's (their last axis: the
    categories). Element :math:`i`'s logit of category :math:`k` is the sum
    of the log densities of the site and of every later site in element :math:`i`'s
    slice of each of its plates, with every element at :math:`k`: :math:`\log p(b_i = k
    \mid \dots)` up to a constant where the site's elements are independent given the
    other sites and no later site outside its plates depends on them (a mixture's
    labels); an approximation otherwise. Shape: the site's, ``+ (K,)`` for a Categorical
    (normalised); the log-odds for a Bernoulli. ``exact_only``: ``None`` where it would
    be an approximation (see :func:`plate_local`)."""
    xp, b = ops.backend.xp, ops.backend
    costs = []
    for k in range(2 if kind == BERNOULLI else prior_logits.shape[-1]):
        terms = _model_terms(ops, run_model(0 * value + k), [], {})  # keeps value's dtype
        i = [term[0] for term in terms].index(name)
        if exact_only and not plate_local(terms, i):
            return None
        costs.append(_element_cost(ops, terms[i:], terms[i][2], terms[i][1].ndim))
    if kind == BERNOULLI:
        return costs[1] - costs[0]
    k = len(costs)
    logits = sum(c[..., None] * ops.one_hot(b.as_array(i, c), k, c) for i, c in enumerate(costs))
    return xp.log_softmax(logits, -1)


def _model_terms(ops: Ops, msgs: list, sites: list, values: dict) -> list:
    """``(name, scaled log density, plates)`` of every sample site of a model trace; a
    discrete site set to a relaxed value in ``values`` is scored by :func:`log_mass`."""
    xp = ops.backend.xp
    kinds = {site.name: site.kind for site in sites}
    terms = []
    for msg in msgs:
        if not ops.is_term(msg):
            continue
        name = msg["name"]
        if name in kinds:
            base, kind, fn_mask = discrete_family(ops, name, msg["fn"])
            if kind != kinds[name]:
                raise ValueError(
                    f"RelaxedControlVariateELBO: guide site {name!r} is {kinds[name]} but the "
                    f"model's is a {type(base).__name__}"
                )
        if name in values:
            mass = log_mass(xp, kinds[name], values[name], base.logits)
            lp = scale_and_mask(xp, mass, msg["scale"], _site_mask(ops, msg, fn_mask))
        else:
            lp = ops.log_prob(msg)
        terms.append((name, lp, ops.frames(msg)))
    return terms


def estimate(
    ops: Ops,
    guide_msgs: list,
    run_model: Callable[[dict], list],
    cv_params: Callable[[str, Any], tuple[Any, Any]],
    uniform: Callable[[Any], Any],
    estimator: str = "rebar",
) -> tuple[Any, Any]:
    """One draw of the ELBO and a surrogate whose gradient is the estimator's.

    ``guide_msgs``: the guide's trace nodes, in program order. ``run_model(values)``:
    the model's trace nodes, replayed against the guide with the discrete sites in
    ``values`` set to those values. ``cv_params(site, like)``: the site's ``(eta,
    log_temperature)``. ``uniform(like)``: uniforms in ``[tiny, 1)`` of ``like``'s shape.
    ``estimator``: ``"rebar"``, ``"score"`` (no control variate) or ``"relaxed"`` (the
    biased pathwise gradient of the relaxed ELBO, for comparison).

    Returns ``(elbo, surrogate)``: ``elbo`` is the discrete ELBO at the guide's draw;
    the gradient of ``surrogate`` is the estimate of the ELBO's gradient for every
    parameter but the control variates', and minus the gradient of the squared estimate
    (of the discrete sites' logits) for those, so that ascent on it tunes them.
    """
    xp, b = ops.backend.xp, ops.backend
    stop = xp.stop_gradient
    sites, guide_terms = [], []
    for msg in guide_msgs:
        if not ops.is_term(msg) or msg["is_observed"]:
            continue
        name = msg["name"]
        base, kind, fn_mask = discrete_family(ops, name, msg["fn"])
        if kind is None:
            if not msg["fn"].has_rsample:
                raise ValueError(
                    f"RelaxedControlVariateELBO: guide site {name!r} is neither "
                    "reparameterizable nor Categorical / Bernoulli"
                )
            guide_terms.append((name, -ops.log_prob(msg), ops.frames(msg)))
            continue
        logits, value = base.logits, msg["value"]
        if kind == BERNOULLI or b.is_floating(value):  # a bit, or a one-hot vector
            x = b.as_array(value, logits)
        else:
            x = ops.one_hot(value, logits.shape[-1], logits)
        site = DiscreteSite(
            name,
            kind,
            logits,
            x,
            msg["scale"],
            _site_mask(ops, msg, fn_mask),
            ops.frames(msg),
            len(guide_terms),
        )
        sites.append(site)
        hard = scale_and_mask(xp, log_mass(xp, kind, x, logits), site.scale, site.mask)
        guide_terms.append((name, -hard, site.frames))

    names = {site.name for site in sites}
    model_terms = _model_terms(ops, run_model({}), sites, {})
    continuous = [term for term in guide_terms if term[0] not in names]
    f_rest = _total(xp, model_terms) + _total(xp, continuous)
    elbo = _total(xp, model_terms) + _total(xp, guide_terms)
    if not sites:
        return elbo, f_rest

    cost_hard = _costs(ops, sites, model_terms, [(n, stop(x), f) for n, x, f in guide_terms])
    z_cond = {}
    for site in sites:
        site.noise = (uniform(site.x), uniform(site.x))
        z_cond[site.name] = conditional_draw(
            xp, site.kind, site.noise[0], stop(site.logits), site.x
        )

    def relaxed(logits: dict, log_temps: dict, conditional: bool) -> tuple[Any, dict]:
        """The ELBO integrand at the relaxed draws (z, or z~ if ``conditional``), with
        the costs of the sites there."""
        values = {}
        for site in sites:
            theta = logits[site.name]
            if conditional:
                z = conditional_draw(xp, site.kind, site.noise[1], theta, site.x)
            else:  # z = theta + g with g = z - theta held fixed: the pathwise derivative
                if site.kind == CATEGORICAL:
                    theta = xp.log_softmax(theta, -1)
                z = theta + stop(z_cond[site.name] - theta)
            values[site.name] = relaxed_value(xp, site.kind, z, xp.exp(log_temps[site.name]))
        terms = _model_terms(ops, run_model(values), sites, values)
        guide = []
        for name, x, frames in guide_terms:
            if name in names:
                site = next(s for s in sites if s.name == name)
                mass = log_mass(xp, site.kind, values[name], logits[name])
                x = -scale_and_mask(xp, mass, site.scale, site.mask)
            guide.append((name, stop(x) if name not in names else x, frames))
        costs = _costs(ops, sites, terms, guide) if conditional else {}
        return _total(xp, terms) + _total(xp, guide), costs

    logits0 = {site.name: stop(site.logits) for site in sites}
    cv = {site.name: cv_params(site.name, site.logits) for site in sites}

    def estimate_grads(etas: dict, log_temps: dict) -> dict:
        """The estimate of the gradient with respect to each site's logits."""
        if estimator == "relaxed":
            grads, _ = ops.grad_with_aux(
                lambda lg: (relaxed(lg, log_temps, False)[0], 0.0), logits0
            )
            return grads
        if estimator == "rebar":

            def difference(lg: dict) -> tuple[Any, dict]:
                f_zt, cost_zt = relaxed(lg, log_temps, True)
                return relaxed(lg, log_temps, False)[0] - f_zt, cost_zt

            d_relaxed, cost_zt = ops.grad_with_aux(difference, logits0)
        grads = {}
        for site in sites:
            # the score term; the explicit derivative of -scale * log q(b), -scale * score,
            # has mean 0 and is left out (as Pyro's Trace_ELBO does): 10-30% less variance
            coef = cost_hard[site.name]
            if estimator == "rebar":
                coef = coef - etas[site.name] * cost_zt[site.name]
            coef = scale_and_mask(xp, coef, None, site.mask)
            if site.kind == CATEGORICAL:
                coef = coef[..., None]
            grad = coef * score(xp, site.kind, site.x, logits0[site.name])
            if estimator == "rebar":
                grad = grad + etas[site.name] * d_relaxed[site.name]
            grads[site.name] = grad
        return grads

    etas = {name: eta for name, (eta, _) in cv.items()}
    log_temps = {name: log_temp for name, (_, log_temp) in cv.items()}
    if estimator == "rebar":
        grads, g_etas, g_log_temps = ops.variance_grads(estimate_grads, etas, log_temps)
    else:
        grads, g_etas, g_log_temps = estimate_grads(etas, log_temps), {}, {}
    surrogate = f_rest
    for site in sites:
        surrogate = surrogate + _total(xp, [(None, stop(grads[site.name]) * site.logits, None)])
    for name in g_etas:
        surrogate = (
            surrogate - stop(g_etas[name]) * etas[name] - stop(g_log_temps[name]) * log_temps[name]
        )
    return elbo, surrogate


def discrete_latents(b: Any, msgs) -> list[tuple[dict, str, Any]]:
    """``(msg, kind, base distribution)`` of every unobserved Categorical or Bernoulli
    site of a model trace not marked for enumeration: the sites
    :class:`RelaxedControlVariateELBO` is for."""
    found = []
    for msg in msgs:
        if msg["type"] != "sample" or msg["is_observed"]:
            continue
        if (msg.get("infer") or {}).get("enumerate"):
            continue
        fn = msg["fn"]
        while isinstance(fn, (b.independent, b.expanded)) or hasattr(fn, "_mask"):
            fn = fn.base_dist
        if isinstance(fn, b.categorical + b.bernoulli):
            found.append((msg, BERNOULLI if isinstance(fn, b.bernoulli) else CATEGORICAL, fn))
    return found


def has_discrete_latents(b: Any, msgs) -> bool:
    """Whether a model trace has an unobserved Categorical or Bernoulli site not marked
    for enumeration (see :func:`discrete_latents`)."""
    return bool(discrete_latents(b, msgs))


def conditional_modes(ops: Ops, msgs: list, run_model: Callable[[dict], list]) -> dict:
    """The discrete latent sites of a model trace ``msgs`` (:func:`discrete_latents`),
    each set in program order to the most probable value of its conditional law given
    the other sites' values (:func:`conditional_logits`, elementwise): ``{name:
    value}``. ``run_model(values)`` is the model's trace (its nodes) with the sites in
    ``values`` set to them and every other site at its value in ``msgs``. ``fit``'s
    multi-start screen scores a prior draw with its labels at these values: the prior's
    own labels are random, and their log density would rank the draws by the labels'
    luck rather than by how well the continuous values explain the data."""
    xp = ops.backend.xp
    modes: dict = {}
    for msg, kind, fn in discrete_latents(ops.backend, msgs):
        name, value = msg["name"], msg["value"]
        logits = conditional_logits(
            ops, name, kind, fn.logits, value, lambda v, name=name: run_model({**modes, name: v})
        )
        mode = logits > 0 if kind == BERNOULLI else xp.argmax(logits, -1)
        modes[name] = 0 * value + mode  # the value's dtype
    return modes


def check_options(estimator: str, cv_scale: float, temperature: float) -> tuple[str, float, float]:
    """The ELBO's options, or an error naming the argument and its allowed values."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"RelaxedControlVariateELBO: estimator must be one of {ESTIMATORS}, got {estimator!r}"
        )
    if isinstance(cv_scale, bool) or not isinstance(cv_scale, int | float):
        raise TypeError(f"RelaxedControlVariateELBO: cv_scale must be a number, got {cv_scale!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise TypeError(
            f"RelaxedControlVariateELBO: temperature must be a number, got {temperature!r}"
        )
    if not temperature > 0:
        raise ValueError(f"RelaxedControlVariateELBO: temperature must be > 0, got {temperature!r}")
    return estimator, float(cv_scale), float(temperature)


CV_PARAMS_DOC = """Declare the control-variate parameters of discrete guide site ``site``:
    the scale :math:`\\eta` (``f"{site}_cv_scale"``, initially ``cv_scale``) and the log
    temperature :math:`\\log\\lambda` (``f"{site}_cv_log_temperature"``, initially
    ``log(temperature)``), as {framework} params; returns ``(eta, log_temperature)``.

    :class:`RelaxedControlVariateELBO` tunes them by gradient descent on the variance of
    its estimate, with the optimizer of the other parameters.{cv_params_note}
    """

ELBO_DOC = r"""The ELBO with unbiased, low-variance gradients for discrete latent sites:
    the Concrete relaxation as a control variate for the score-function estimator
    (REBAR, Tucker et al. 2017), with its temperature and scale tuned online to minimise
    the variance of the estimate (RELAX, Grathwohl et al. 2018).

    For each Categorical or Bernoulli site :math:`b` of the guide (logits
    :math:`\theta`), with :math:`f` the ELBO integrand (model log joint minus guide log
    density at one draw),

    .. math::
        \hat g = \big[f(b) - \eta f(\sigma_\lambda(\tilde z))\big]\nabla_\theta\log q(b)
            + \nabla_\theta f(b) + \eta\nabla_\theta f(\sigma_\lambda(z))
            - \eta\nabla_\theta f(\sigma_\lambda(\tilde z)),

    where :math:`z` are the Gumbel-perturbed logits with :math:`b = \operatorname{argmax}
    z` (for a bit: logistic noise, :math:`b = [z > 0]`), :math:`\tilde z \sim p(z \mid
    b)` (conditional Gumbel), and :math:`\sigma_\lambda` the softmax (sigmoid) at
    temperature :math:`\lambda`. It is unbiased for every :math:`\eta` and
    :math:`\lambda`; both are params (see :func:`control_variate_params`) descending the
    squared estimate, whose expectation is the variance plus a constant. Continuous guide
    sites and model parameters get the pathwise gradient of :math:`f(b)`.

    The score term of each element of a site sees only the terms that can depend on it:
    sites at or after it in program order, in its slice of every plate it is in. The
    explicit derivative of :math:`-\log q(b)` in :math:`\nabla_\theta f(b)` (minus the
    score, of mean zero) is left out, as in Pyro's ``Trace_ELBO``.

    What the model must allow: at the relaxed evaluations the discrete site's value is a
    relaxed one-hot vector (a bit in (0, 1)) instead of an integer (a 0/1 bit), and its
    prior and guide log-masses are extended linearly (:math:`\sum_k x_k\log\pi_k`), exact
    at a vertex. The model must use the value through a function defined on the simplex,
    as :func:`~ppl_reparam.{backend}.relax.choose` (``choose(z, locs)`` is ``locs[z]``
    for an integer ``z`` and the convex combination for a relaxed one) or arithmetic on
    a bit (``b * x``); indexing (``locs[z]``) fails there. Discrete sites must be
    unobserved, not enumerated, without ``to_event`` (batch dims in plates), and each
    guide site must be a Categorical or Bernoulli with logits; every other guide site
    must be reparameterizable. One draw per step (``num_particles=1``).

    Use it when the discrete ELBO itself is wanted and enumeration is too costly (many
    sites, no plate-wise factorisation); prefer exact enumeration (``TraceEnum_ELBO``)
    when it is affordable, and :func:`~ppl_reparam.{backend}.relax.relax` when the relaxed
    model is itself the object of interest.

    :param estimator: ``"rebar"`` (the default); ``"score"``, the score-function
        estimator with the same per-element costs and no control variate; or
        ``"relaxed"``, the biased pathwise gradient of the relaxed ELBO at the current
        temperature (the last two for comparison).
    :param cv_scale: initial :math:`\eta`.
    :param temperature: initial :math:`\lambda`.

    Example::

        {rebar_example}
    """
