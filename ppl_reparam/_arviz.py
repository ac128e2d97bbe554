"""Backend-neutral export of an SVI fit to ArviZ (no torch or jax import).

A backend supplies one function that draws once from the fitted guide and runs the
model on that draw (:data:`Run`), and a way to run it for many draws at once
(:data:`Vectorise`: a plate in Pyro, ``vmap`` in NumPyro). Everything else, from which
sites are data to the layout of the draws in chains, lives here once.

Works with ArviZ 0.x (one keyword per group) and ArviZ 1.x (``from_dict`` taking one
mapping of groups); the installed version is detected from ``from_dict``'s signature.
"""

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ppl_reparam._fit import FitResult, innermost

EXPORT_DOC = r"""Posterior draws from the fitted guide, the posterior predictive, the pointwise
    log likelihood of every observed site and the observed data, as ArviZ data.

    The ``num_samples`` independent draws are laid out as ``chains`` chains of
    ``num_samples // chains`` draws each (shape ``(chains, draws, *site_shape)``), so
    ``az.summary`` computes every column it prints: for independent draws ``r_hat`` is
    1 up to sampling noise and ``ess_bulk`` is about ``num_samples``; a larger ``r_hat``
    flags a guide whose draws are not what the export assumes. ``chains=1`` gives one
    chain, for which ArviZ cannot compute ``r_hat``.

    Model and guide run once for all draws (vectorised{how}); a model that cannot
    run vectorised (Python control flow on sampled values) is run once per draw, with
    a warning.

    :param result: what :func:`ppl_reparam.{backend}.infer.fit` returned{params}.
    :param num_samples: posterior draws in all, a multiple of ``chains``.
    :param chains: pseudo-chains to split the draws into (at least 4 draws each are
        needed for ArviZ's diagnostics).
    :param seed: {seed}
    :param coords, dims: as in ``arviz.from_dict``; name the dimensions of observed sites
        (e.g. ``dims={{"y": ["school"]}}``) so ``az.loo`` and the plots label them.
    :returns: an ``arviz.InferenceData`` (ArviZ 0.x) or ``xarray.DataTree`` (ArviZ 1.x)
        with groups ``posterior`` (the guide's latent sites), ``posterior_predictive``
        and ``log_likelihood`` (one variable per observed site) and ``observed_data``.

    Discrete sites the guide draws (e.g. the ``"discrete"`` family of
    :class:`~ppl_reparam.{backend}.guides.AutoPathwiseGuide`, trained with
    ``RelaxedControlVariateELBO``): ``posterior`` holds the sampled labels ``site`` and,
    beside them, the guide's class probabilities ``f"{{site}}_probs"`` (a Categorical
    site: shape ``site_shape + (K,)``, ``softmax(logits)``; a Bernoulli site: shape
    ``site_shape``, ``sigmoid(logits)``, the probability of a 1). They are read from the
    guide's distribution at each draw, so they are the same in every draw unless the
    guide's logits depend on other draws; constant, they get no ``r_hat`` in
    ``az.summary`` (leave them out with ``var_names``).

    Enumerated sites (marked ``infer={{"enumerate": "parallel"}}``, e.g. by
    ``config_enumerate``, fitted with ``TraceEnum_ELBO`` and a guide over the other
    sites): the model is run under enumeration
    {enum_how}, and ``log_likelihood`` holds, per datum, the log-likelihood with the
    enumerated sites summed out,
    :math:`\log \sum_z p(z \mid \theta)\, p(x_n \mid z, \theta)` (a log-sum-exp over
    the labels of every enumerated site the datum depends on, directly or through other
    enumerated sites), which is what ``az.loo`` needs. The enumerated labels are not in
    ``posterior`` (the guide does not draw them); ``posterior_predictive`` draws them
    from the model given the guide's draw.

    {speed}
    """

# (guide sites, model sites, model sites with data resampled): name -> site message
Traces = tuple[Mapping[str, dict], Mapping[str, dict], Mapping[str, dict]]
# one draw: (draw key, names of the observed sites to resample) -> its traces
Run = Callable[[Any, frozenset], Traces]
# (traces of one draw, latent names, observed names) -> the function of all draw keys
# giving the groups of every draw at once (see groups)
Vectorise = Callable[[Traces, tuple, tuple], Callable[[Any], tuple]]
# (array, axes) -> log-sum-exp over those axes (the backend's _xp.logsumexp)
LogSumExp = Callable[[Any, Any], Any]


def check_export_args(num_samples: int, chains: int) -> None:
    for name, value in (("num_samples", num_samples), ("chains", chains)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"to_inference_data: {name} must be an integer >= 1, got {value!r}")
    if num_samples % chains:
        raise ValueError(
            f"to_inference_data: num_samples ({num_samples}) must be a multiple of chains "
            f"({chains})"
        )


def _is_data(site: dict) -> bool:
    """An observed sample site holding data (not a deterministic value passed on as an
    observed Delta, as Pyro's reparameterizers do)."""
    return (
        site["type"] == "sample"
        and bool(site.get("is_observed"))
        and type(innermost(site["fn"])).__name__ != "Delta"
    )


def _latent_names(guide_sites: Mapping[str, dict], model_sites: Mapping[str, dict]) -> list:
    return [
        name
        for name, site in guide_sites.items()
        if site["type"] == "sample"
        # a Pyro plate is a sample site of a _Subsample (pyro.poutine.util.site_is_subsample)
        and type(site["fn"]).__name__ != "_Subsample"
        and name in model_sites
        and not model_sites[name].get("is_observed")
    ]


def is_enumerated(site: dict) -> bool:
    """A latent sample site marked for parallel enumeration."""
    return (
        site["type"] == "sample"
        and not site.get("is_observed")
        and (site.get("infer") or {}).get("enumerate") == "parallel"
    )


def max_plate_nesting(sites: Mapping[str, dict]) -> int:
    """How many batch dims the vectorised plates of traced ``sites`` take."""
    return max(
        (
            -frame.dim
            for site in sites.values()
            if site["type"] == "sample"
            for frame in site["cond_indep_stack"]
            # Pyro marks sequential plates; NumPyro has only vectorised ones
            if getattr(frame, "vectorized", True) and frame.dim is not None
        ),
        default=0,
    )


def model_traces(
    plain: Callable[[], Mapping[str, dict]],
    resampled: Callable[[], Mapping[str, dict]] | None,
    enumerated: Callable[[int], Mapping[str, dict]],
) -> tuple[Mapping[str, dict], Mapping[str, dict]]:
    """(model sites for the log likelihood, model sites with data resampled) of one draw,
    from a backend's runs of the model replayed on the guide's draw: ``plain()``,
    ``resampled()`` (None: nothing to resample) and ``enumerated(first_available_dim)``,
    run instead of the plain model when it has enumerated sites."""
    resampled_sites = None if resampled is None else resampled()
    # one run tells whether the model enumerates (then the plain run is not needed)
    probe = plain() if resampled_sites is None else resampled_sites
    if any(is_enumerated(site) for site in probe.values()):
        # enumeration dims left of every plate (in Pyro the draws plate too)
        model_sites = enumerated(-1 - max_plate_nesting(probe))
    elif resampled_sites is None:
        model_sites = probe
    else:
        model_sites = plain()
    return model_sites, model_sites if resampled_sites is None else resampled_sites


def _marginal_log_likelihood(sites: Mapping[str, dict], name: str, logsumexp: LogSumExp):
    """Pointwise log p(x | continuous draw) of observed site ``name`` with the
    enumerated sites it depends on summed out.

    Under enumeration a site's own labels run along one batch dim left of the plates (its
    value's leftmost dim); a log-probability depends on the sites whose dims it is not
    flat along. Adding the log-probabilities of those sites, and of the sites theirs
    depend on, gives log p(x, z | theta) on a grid of labels, which a log-sum-exp over
    the enumeration dims marginalises, datum by datum (plate dims are kept)."""
    own_dims = {}
    for site in sites.values():
        if is_enumerated(site):
            own_dims[len(site["fn"].event_shape) - len(np.shape(site["value"]))] = site
    total = sites[name]["fn"].log_prob(sites[name]["value"])
    added: set = set()
    while True:
        shape = np.shape(total)
        needed = {d for d in own_dims if -d <= len(shape) and shape[d] > 1} - added
        if not needed:
            break
        for dim in needed:
            site = own_dims[dim]
            total = total + site["fn"].log_prob(site["value"])
        added |= needed
    axes = tuple(d for d in own_dims if -d <= len(np.shape(total)))
    return logsumexp(total, axes) if axes else total


# label families whose `probs` are class probabilities (not, e.g., a Binomial's)
_CLASS_FAMILIES = frozenset(
    name + kind
    for name in ("Categorical", "Bernoulli", "OneHotCategorical")
    for kind in ("", "Logits", "Probs")  # NumPyro's classes per parameterisation
)


def _class_probs(site: dict):
    """The class probabilities of a discrete guide site at its draw's shape: ``batch +
    (K,)`` for a Categorical, ``batch`` for a Bernoulli (the probability of a 1) and a
    one-hot; None for a site that is not discrete."""
    base = innermost(site["fn"])
    if type(base).__name__ not in _CLASS_FAMILIES:
        return None
    probs, value = base.probs, site["value"]
    if len(np.shape(probs)) - len(base.batch_shape) > len(base.event_shape):
        value = value[..., None]  # the class axis a label lacks
    return probs + 0 * value  # broadcast to the draw's shape (plates, vectorised draws)


def groups(traces: Traces, latent: tuple, observed: tuple, logsumexp: LogSumExp) -> tuple:
    """(latent draws with discrete sites' class probabilities, posterior predictive,
    pointwise log likelihood) of traced draws."""
    guide_sites, model_sites, resampled = traces
    posterior = {name: guide_sites[name]["value"] for name in latent}
    for name in latent:
        probs = _class_probs(guide_sites[name])
        if probs is not None and f"{name}_probs" not in posterior:
            posterior[f"{name}_probs"] = probs
    if any(is_enumerated(site) for site in model_sites.values()):
        log_likelihood = {
            name: _marginal_log_likelihood(model_sites, name, logsumexp) for name in observed
        }
    else:
        log_likelihood = {
            name: model_sites[name]["fn"].log_prob(model_sites[name]["value"]) for name in observed
        }
    return posterior, {name: resampled[name]["value"] for name in observed}, log_likelihood


def _leading_draws(value: np.ndarray, shape: tuple, num_samples: int) -> np.ndarray:
    """``value`` of shape ``(num_samples, 1, ..., 1, *shape)`` (a site's draws, padded
    by the plate or vmap that drew them) as ``(num_samples, *shape)``."""
    value_shape = value.shape
    tail = value_shape[len(value_shape) - len(shape) :] if shape else ()
    if (
        not value_shape
        or value_shape[0] != num_samples
        or tuple(tail) != tuple(shape)
        or value.size != num_samples * math.prod(shape)
    ):
        raise ValueError(
            f"draws of shape {value_shape} do not hold {num_samples} draws of shape {shape}"
        )
    return value.reshape((num_samples, *shape))


def export(
    run: Run,
    vectorise: Vectorise,
    keys: Any,
    to_numpy: Callable[[Any], np.ndarray],
    logsumexp: LogSumExp,
    num_samples: int,
    chains: int,
    coords: dict | None,
    dims: dict | None,
):
    """ArviZ data from ``num_samples`` draws, one per key in ``keys``."""
    single = run(keys[0], frozenset())
    guide_sites, model_sites, _ = single
    observed = tuple(name for name, site in model_sites.items() if _is_data(site))
    latent = tuple(_latent_names(guide_sites, model_sites))
    shapes = [
        {name: to_numpy(value).shape for name, value in group.items()}
        for group in groups(single, latent, observed, logsumexp)
    ]
    try:
        drawn = vectorise(single, latent, observed)(keys)
        found = [
            {name: _leading_draws(to_numpy(v), shape[name], num_samples) for name, v in g.items()}
            for g, shape in zip(drawn, shapes, strict=True)
        ]
    except Exception as err:  # any failure of the vectorised run: fall back, say why
        first_line = (str(err).splitlines() or [""])[0]
        warnings.warn(
            "to_inference_data: the model does not run vectorised over draws "
            f"({type(err).__name__}: {first_line}); drawing one at a time instead",
            stacklevel=3,
        )
        rows = [
            groups(run(keys[i], frozenset(observed)), latent, observed, logsumexp)
            for i in range(num_samples)
        ]
        found = [
            {name: np.stack([to_numpy(row[g][name]) for row in rows]) for name in shape}
            for g, shape in enumerate(shapes)
        ]
    data = {name: to_numpy(model_sites[name]["value"]) for name in observed}
    return build_inference_data(*found, data, coords, dims, chains)


def export_function(
    prepare: Callable[[FitResult, int, int], tuple[Run, Vectorise, Any, Callable, LogSumExp]],
    backend: str,
    **doc,
) -> Callable:
    """The public ``to_inference_data`` of a backend: one signature and docstring for
    both; ``prepare(result, num_samples, seed)`` gives the backend's ``(run, vectorise,
    keys, to_numpy, logsumexp)`` for :func:`export`, ``doc`` fills :data:`EXPORT_DOC`."""

    def to_inference_data(
        result: FitResult,
        num_samples: int = 1000,
        *,
        chains: int = 4,
        seed: int = 0,
        coords: dict | None = None,
        dims: dict | None = None,
    ):
        check_export_args(num_samples, chains)
        hooks = prepare(result, num_samples, seed)
        return export(*hooks, num_samples, chains, coords, dims)

    to_inference_data.__doc__ = EXPORT_DOC.format(backend=backend, **doc)
    to_inference_data.__module__ = f"ppl_reparam.{backend}.arviz"
    return to_inference_data


def _chains(samples: dict, chains: int) -> dict:
    """Split the leading draw axis into ``chains``: (draw, ...) -> (chain, draw, ...)."""
    return {
        name: np.asarray(value).reshape((chains, -1, *np.shape(value)[1:]))
        for name, value in samples.items()
    }


def build_inference_data(
    posterior: dict,
    posterior_predictive: dict,
    log_likelihood: dict,
    observed_data: dict,
    coords: dict | None,
    dims: dict | None,
    chains: int = 1,
):
    """An ``arviz.InferenceData`` (ArviZ 0.x) or ``xarray.DataTree`` (ArviZ 1.x)."""
    import arviz as az

    groups = {
        "posterior": _chains(posterior, chains),
        "posterior_predictive": _chains(posterior_predictive, chains),
        "log_likelihood": _chains(log_likelihood, chains),
        "observed_data": {name: np.asarray(v) for name, v in observed_data.items()},
    }
    groups = {name: group for name, group in groups.items() if group}
    if "posterior" in inspect.signature(az.from_dict).parameters:  # ArviZ 0.x
        return az.from_dict(**groups, coords=coords, dims=dims)
    return az.from_dict(groups, coords=coords, dims=dims)  # ArviZ 1.x
