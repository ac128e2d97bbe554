"""An autoguide choosing a reparameterizable family per latent site (Pyro)."""

from collections.abc import Callable
from operator import attrgetter

import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.infer.autoguide import AutoNormal
from pyro.infer.autoguide.guides import AutoGuide
from pyro.infer.autoguide.initialization import init_to_feasible
from pyro.infer.autoguide.utils import deep_setattr, helpful_support_errors
from pyro.nn.module import PyroModule, PyroParam
from pyro.ops.tensor_utils import periodic_repeat

from ppl_reparam import _copula, _guides, _rebar
from ppl_reparam._docs import copy_docs_from
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.pyro._backend import BACKEND
from ppl_reparam.pyro._multistart import collect_status, rerun
from ppl_reparam.pyro.estimators import OPS

__all__ = ["AutoPathwiseGuide"]

# each parameter kind lives in a PyroModule of this name (param "AutoPathwiseGuide.locs.x")
_MODULES = {
    "loc": "locs",
    "scale": "scales",
    "concentration1": "concentration1",
    "concentration0": "concentration0",
    "logits": "logits",
}


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


@copy_docs_from(_guides.PathwiseGuide, **BACKEND.docs)
class AutoPathwiseGuide(_guides.PathwiseGuide, AutoNormal):
    _backend = BACKEND

    _default_init_loc_fn = staticmethod(init_to_feasible)
    _adapt_init_loc_fn = staticmethod(_skip_discrete)

    def _setup_prototype(self, *args, **kwargs):
        # the prototype trace and plates of AutoGuide; AutoNormal's own setup would
        # create a loc and a scale for every site, whatever its family
        # the model runs under a status collector, to see whether it solves an ODE
        # (correlation="auto"); inside the prototype's block, so the collector sees it
        model, collector = self._model, collect_status()
        self._model = (collector(self.model),)
        try:
            AutoGuide._setup_prototype(self, *args, **kwargs)
        finally:
            self._model = model
        _guides.check_override_sites(self._families, self.prototype_trace.stochastic_nodes)
        for module in _MODULES.values():
            setattr(self, module, PyroModule())
        self._event_dims = {}
        self._sites = {}
        shapes = {}  # of the sites outside subsampled plates, which the copula may couple
        for name, proto in self.prototype_trace.iter_stochastic_nodes():
            fn, value = proto["fn"], proto["value"].detach()
            site = self._sites[name] = _guides.Site(BACKEND, name, fn, self._families)
            unconstrained = None
            if site.family == _guides.NORMAL:
                with helpful_support_errors(proto):
                    unconstrained = biject_to(fn.support).inv(value).detach()
                # unconstrained event dims may differ from constrained ones
                site.event_dim += unconstrained.dim() - value.dim()
            self._event_dims[name] = site.event_dim
            initial = self._initial_params(site, value, unconstrained)
            if site.family == _guides.DISCRETE_FAMILY:
                initial = self._discrete_init(site, value, initial, args, kwargs)
            site.params = tuple(initial)
            frames = proto["cond_indep_stack"]
            if all((frame.full_size or frame.size) == frame.size for frame in frames):
                shapes[name] = tuple(next(iter(initial.values())).shape)
            for param, init in initial.items():
                # If subsampling, repeat the init value to full size, as AutoNormal does.
                for frame in proto["cond_indep_stack"]:
                    full_size = frame.full_size or frame.size
                    if full_size != frame.size:
                        init = periodic_repeat(init, full_size, frame.dim - site.event_dim)
                constraint = self._param_constraint(param)
                deep_setattr(
                    getattr(self, _MODULES[param]),
                    name,
                    PyroParam(init.contiguous(), constraint, site.event_dim),
                )
        like = self.prototype_trace.nodes[next(iter(shapes))]["value"] if shapes else None
        for param, init in self._copula_layout(shapes, like, bool(collector.records)).items():
            setattr(self, param, PyroParam(init))

    def _discrete_init(self, site: _guides.Site, value, initial: dict, args, kwargs) -> dict:
        """A discrete site's initial logits: its conditional given the other sites'
        initial values (see :func:`ppl_reparam._rebar.conditional_logits`); the prior's
        (``initial``) under a subsampled plate and for a OneHotCategorical."""
        kind = _rebar.family_kind(BACKEND, site.discrete_family)
        if kind is None or not self._full_size(site):
            return initial
        logits = self._conditional_logits(site, {site.name: value}, args, kwargs)
        return {"logits": logits.to(initial["logits"])}

    @torch.no_grad()
    def _conditional_logits(
        self, site: _guides.Site, values: dict, args, kwargs, exact_only: bool = False
    ):
        """The logits of discrete ``site``'s conditional law given ``values`` (the sites
        not in it at their prototype values; :func:`ppl_reparam._rebar.conditional_logits`)."""
        kind = _rebar.family_kind(BACKEND, site.discrete_family)

        def run_model(value):
            with poutine.block():  # hidden from the handlers the guide runs under
                changed = {**values, site.name: value}
                trace = rerun(self.model, self.prototype_trace, changed, args, kwargs)
            return list(trace.nodes.values())

        return _rebar.conditional_logits(
            OPS, site.name, kind, site.prior_logits, values[site.name], run_model, exact_only
        )

    def _full_size(self, site: _guides.Site) -> bool:
        frames = self.prototype_trace.nodes[site.name]["cond_indep_stack"]
        return all((f.full_size or f.size) == f.size for f in frames)

    @torch.no_grad()
    def refresh_discrete(self, *args, **kwargs) -> None:
        """Set the logits of every discrete site outside subsampled plates whose
        elements' conditional laws are plate-local (a mixture's labels, not an HMM's
        states) to them, given the other sites at the guide's medians, in place: the
        coordinate-ascent update of its factor. ``fit`` does it once in a fit with
        ``RelaxedControlVariateELBO``, at the start of its averaging window. Torch's
        random state is left as it was (the model runs it makes draw from it)."""
        with torch.random.fork_rng():
            logits = self._refreshed_logits(self.median(*args, **kwargs), args, kwargs)
        module = getattr(self, _MODULES["logits"])
        for name, value in logits.items():
            param = attrgetter(f"{name}_unconstrained")(module)  # PyroModule's storage
            param.copy_(value.to(param))

    @property
    def _latent_name(self) -> str:
        return f"_{self._pyro_name}_latent"

    def _copula_params(self) -> dict:
        return {
            param: getattr(self, param)
            for param in (_copula.TRIL, _copula.FACTOR)
            if hasattr(self, param)
        }

    def _site_params(self, site: _guides.Site) -> dict:
        """A site's parameters: subsampled inside its plates, full size outside."""
        return {
            param: attrgetter(site.name)(getattr(self, _MODULES[param])) for param in site.params
        }

    def forward(self, *args, **kwargs):
        """Sample every latent site from its family; returns ``{site: value}``."""
        return self._sample_sites(args, kwargs)

    def _plate_frames(self, name: str) -> list:
        return [f for f in self.prototype_trace.nodes[name]["cond_indep_stack"] if f.vectorized]

    _call_params = _site_params

    @copy_docs_from(_guides.MEDIAN_DOC)
    @torch.no_grad()
    def median(self, *args, **kwargs) -> dict:
        return self._medians(self._site_params, kwargs.get(TEMPERATURE_KWARG))

    @copy_docs_from(_guides.QUANTILES_DOC, **BACKEND.docs)
    @torch.no_grad()
    def quantiles(self, quantiles, *args, **kwargs) -> dict:
        return self._quantiles(self._site_params, quantiles)
