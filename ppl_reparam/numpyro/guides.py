"""An autoguide choosing a reparameterizable family per latent site (NumPyro)."""

import jax
import jax.numpy as jnp
import numpyro
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.distributions.util import periodic_repeat
from numpyro.infer.autoguide import AutoNormal
from numpyro.infer.initialization import init_to_uniform

from ppl_reparam import _copula, _guides, _rebar
from ppl_reparam._docs import copy_docs_from
from ppl_reparam._ode import STATUS_TYPE
from ppl_reparam._relax import TEMPERATURE_KWARG
from ppl_reparam.numpyro import _scan
from ppl_reparam.numpyro._backend import BACKEND
from ppl_reparam.numpyro.estimators import OPS, control_variate_params

__all__ = ["AutoPathwiseGuide"]


class _ObserveDiscrete(numpyro.primitives.Messenger):
    """Observes every discrete latent site not marked for enumeration at value 0, and
    records its name in :attr:`names`."""

    def __init__(self, fn):
        self.names: list[str] = []
        super().__init__(fn)

    def process_message(self, msg: dict) -> None:
        if (
            msg["type"] == "sample"
            and not msg["is_observed"]
            and msg["fn"].support.is_discrete
            and not (msg.get("infer") or {}).get("enumerate")
        ):
            msg["value"] = jnp.zeros(msg["fn"].shape(msg["kwargs"].get("sample_shape", ())), int)
            msg["is_observed"] = True
            self.names.append(msg["name"])


@copy_docs_from(_guides.PathwiseGuide, **BACKEND.docs)
class AutoPathwiseGuide(_guides.PathwiseGuide, AutoNormal):
    _backend = BACKEND

    _default_init_loc_fn = staticmethod(init_to_uniform)

    def _setup_prototype(self, *args, **kwargs):
        # AutoNormal's setup: prototype trace, plates, init values repeated to full size;
        # it rejects discrete latent sites, so they are observed at 0 meanwhile
        model, self.model = self.model, _ObserveDiscrete(self.model)
        try:
            super()._setup_prototype(*args, **kwargs)
        finally:
            self.model, discrete = model, self.model.names
        for name in discrete:
            self.prototype_trace[name]["is_observed"] = False
            for frame in self.prototype_trace[name]["cond_indep_stack"]:
                self._prototype_frames.setdefault(frame.name, frame)
        self._init_params: dict[str, dict[str, jax.Array]] = {}
        latent = [
            name
            for name, site in self.prototype_trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        _guides.check_override_sites(self._families, latent)
        shapes = {}  # of the sites outside subsampled plates, which the copula may couple
        for name in latent:
            fn = self.prototype_trace[name]["fn"]
            site = self._sites[name] = _guides.Site(BACKEND, name, fn, self._families)
            if site.family == _guides.DISCRETE_FAMILY:
                self._init_params[name] = self._discrete_init(site, args, kwargs)
                site.params = ("logits",)
                continue
            if site.family == _guides.NORMAL:
                site.event_dim = self._event_dims[name]
            init_loc = self._init_locs[name]  # full size, unconstrained
            value = biject_to(site.support)(init_loc)
            self._init_params[name] = self._initial_params(site, value, init_loc)
            site.params = tuple(self._init_params[name])
            frames = self.prototype_trace[name]["cond_indep_stack"]
            if all(f.size == self._prototype_frame_full_sizes[f.name] for f in frames):
                shapes[name] = jax.numpy.shape(next(iter(self._init_params[name].values())))
        like = self._init_locs[next(iter(shapes))] if shapes else None
        solves_ode = any(site["type"] == STATUS_TYPE for site in self.prototype_trace.values())
        self._init_copula = self._copula_layout(shapes, like, solves_ode)

    @property
    def _latent_name(self) -> str:
        return f"_{self.prefix}_latent"

    def _copula_params(self) -> dict:
        return {
            param: numpyro.param(f"{self.prefix}_{param}", init)
            for param, init in self._init_copula.items()
        }

    def _discrete_init(self, site: _guides.Site, args: tuple, kwargs: dict) -> dict:
        """A discrete site's initial logits: its conditional given the other sites'
        initial values (see :func:`ppl_reparam._rebar.conditional_logits`); under a
        subsampled plate, the prior's, repeated to full size."""
        proto = self.prototype_trace[site.name]
        init = self._initial_params(site, proto["value"], None)
        if _rebar.family_kind(BACKEND, site.discrete_family) is not None and self._full_size(site):
            values = {
                name: msg["value"]
                for name, msg in self.prototype_trace.items()
                if msg["type"] == "sample" and not msg["is_observed"]
            }
            logits = self._conditional_logits(site, values, args, kwargs)
            return {"logits": logits.astype(jnp.result_type(init["logits"]))}
        for frame in proto["cond_indep_stack"]:
            full_size = self._prototype_frame_full_sizes[frame.name]
            if full_size != frame.size:
                init["logits"] = periodic_repeat(
                    init["logits"], full_size, frame.dim - site.event_dim
                )
        return init

    def _conditional_logits(
        self, site: _guides.Site, values: dict, args, kwargs, exact_only: bool = False
    ):
        """The logits of discrete ``site``'s conditional law given ``values`` of every
        latent site (:func:`ppl_reparam._rebar.conditional_logits`)."""
        kind = _rebar.family_kind(BACKEND, site.discrete_family)

        def run_model(value):
            model = handlers.substitute(self.model, data={**values, site.name: value})
            with handlers.block():  # hidden from the handlers the guide runs under
                return _scan.labelled_run(model, "AutoPathwiseGuide", args, kwargs)

        return _rebar.conditional_logits(
            OPS, site.name, kind, site.prior_logits, values[site.name], run_model, exact_only
        )

    def _full_size(self, site: _guides.Site) -> bool:
        frames = self.prototype_trace[site.name]["cond_indep_stack"]
        return all(self._prototype_frame_full_sizes[f.name] == f.size for f in frames)

    def refresh_discrete(self, params: dict, *args, **kwargs) -> dict:
        """``params`` with the logits of every discrete site outside subsampled plates
        whose elements' conditional laws are plate-local (a mixture's labels, not an
        HMM's states) set to them, given the other sites at the guide's medians: the
        coordinate-ascent update of its factor. ``fit`` does it once in a fit with
        ``RelaxedControlVariateELBO``, at the start of its averaging window."""
        logits = self._refreshed_logits(self.median(params), args, kwargs)
        new = {f"{name}_{self.prefix}_logits": value for name, value in logits.items()}
        return {**params, **{k: v.astype(jnp.result_type(params[k])) for k, v in new.items()}}

    def _param(self, site: _guides.Site, param: str):
        return numpyro.param(
            f"{site.name}_{self.prefix}_{param}",
            self._init_params[site.name][param],
            constraint=self._param_constraint(param),
            event_dim=site.event_dim,
        )

    def _site_params(self, params: dict, site: _guides.Site) -> dict:
        """A site's parameters from a dict of all parameters (full size)."""
        return {p: params[f"{site.name}_{self.prefix}_{p}"] for p in site.params}

    def __call__(self, *args, **kwargs):
        result = self._sample_sites(args, kwargs)
        for name, site in self._sites.items():
            if site.family == _guides.DISCRETE_FAMILY:  # tuned by RelaxedControlVariateELBO
                control_variate_params(name)
        return result

    def _plate_frames(self, name: str) -> list:
        return self.prototype_trace[name]["cond_indep_stack"]

    def _call_params(self, site: _guides.Site) -> dict:
        return {param: self._param(site, param) for param in site.params}

    def sample_posterior(self, rng_key, params, *args, sample_shape=(), **kwargs):
        """Draws of every latent site from the fitted guide, of shape ``sample_shape +
        site shape`` (full size for subsampled sites). Pass ``relax_temperature=`` to
        draw relaxed sites at a temperature other than the prior's. Deterministic sites
        of the model are not included: use :class:`numpyro.infer.Predictive` for those.
        """
        temperature = kwargs.get(TEMPERATURE_KWARG)
        keys = jax.random.split(rng_key, max(len(self._sites), 1))
        result = {
            name: self._distribution(site, self._site_params(params, site), temperature).sample(
                key, tuple(sample_shape)
            )
            for key, (name, site) in zip(keys, self._sites.items(), strict=False)
            if name not in self._slots
        }
        if self._slots:
            copula = {p: params[f"{self.prefix}_{p}"] for p in self._init_copula}
            key = jax.random.fold_in(rng_key, len(self._sites))
            z = _copula.distribution(BACKEND, copula).sample(key, tuple(sample_shape))
            result.update(self._correlated_draws(lambda s: self._site_params(params, s), z))
        return {name: result[name] for name in self._sites}

    @copy_docs_from(_guides.MEDIAN_DOC)
    def median(self, params: dict, *, relax_temperature=None) -> dict:
        return self._medians(lambda site: self._site_params(params, site), relax_temperature)

    @copy_docs_from(_guides.QUANTILES_DOC, **BACKEND.docs)
    def quantiles(self, params: dict, quantiles) -> dict:
        return self._quantiles(lambda site: self._site_params(params, site), quantiles)
