"""Unbiased, low-variance gradients of the discrete ELBO: the relaxation as a control
variate (REBAR / RELAX), as a NumPyro ELBO."""

import itertools

import jax
import jax.numpy as jnp
import numpyro
from numpyro import handlers
from numpyro.distributions import MaskedDistribution
from numpyro.infer.elbo import ELBO

from ppl_reparam import _rebar
from ppl_reparam._docs import copy_docs_from
from ppl_reparam.numpyro import _scan
from ppl_reparam.numpyro._backend import BACKEND

__all__ = ["RelaxedControlVariateELBO", "control_variate_params", "default_loss"]

_DOCS = {
    **BACKEND.docs,
    "cv_params_note": (
        " :class:`~ppl_reparam.numpyro.guides.AutoPathwiseGuide` declares them for its"
        " discrete sites; a hand-written guide calls this function (params must exist"
        " when ``SVI.init`` traces the guide), else they stay at the ELBO's initial values."
    ),
    "rebar_example": """svi = SVI(model, AutoPathwiseGuide(model), optax.adam(0.05),
                  RelaxedControlVariateELBO())
        result = svi.run(jax.random.key(0), 2000, data)""",
}


def _log_prob(msg: dict) -> jax.Array:
    lp = msg["fn"].log_prob(msg["value"])
    return lp if msg["scale"] is None else lp * msg["scale"]


def _grad_with_aux(fn, xs: dict) -> tuple[dict, object]:
    return jax.grad(fn, has_aux=True)(xs)


def _variance_grads(fn, etas: dict, log_temps: dict) -> tuple[dict, dict, dict]:
    def square(etas, log_temps):
        grads = fn(etas, log_temps)
        return sum(jnp.sum(g**2) for g in grads.values()), grads

    (_, grads), (g_etas, g_log_temps) = jax.value_and_grad(square, (0, 1), has_aux=True)(
        etas, log_temps
    )
    return grads, g_etas, g_log_temps


OPS = _rebar.Ops(
    backend=BACKEND,
    log_prob=_log_prob,
    mask=lambda msg: None,  # NumPyro keeps a site's mask in its MaskedDistribution
    masked=MaskedDistribution,
    frames=_scan.frames,
    is_term=lambda msg: msg["type"] == "sample",
    sum_keepdims=lambda x, axes: jnp.sum(x, axis=axes, keepdims=True),
    one_hot=lambda b, k, like: jax.nn.one_hot(b, k, dtype=jnp.result_type(like)),
    grad_with_aux=_grad_with_aux,
    variance_grads=_variance_grads,
)


@copy_docs_from(_rebar.CV_PARAMS_DOC, **_DOCS)
def control_variate_params(
    site: str, cv_scale: float = 1.0, temperature: float = 0.5, like: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    eta_name, log_temp_name = _rebar.cv_param_names(site)
    dtype = jnp.result_type(float) if like is None else jnp.result_type(like)
    eta = numpyro.param(eta_name, jnp.asarray(cv_scale, dtype))
    log_temp = numpyro.param(log_temp_name, jnp.log(jnp.asarray(temperature, dtype)))
    return eta, log_temp


@copy_docs_from(_rebar.ELBO_DOC, **_DOCS)
class RelaxedControlVariateELBO(ELBO):
    can_infer_discrete = True

    def __init__(self, estimator: str = "rebar", cv_scale: float = 1.0, temperature: float = 0.5):
        super().__init__(num_particles=1)
        self.estimator, self.cv_scale, self.temperature = _rebar.check_options(
            estimator, cv_scale, temperature
        )

    def _estimate(self, rng_key, param_map: dict, model, guide, args, kwargs, uniform=None):
        """``(elbo, surrogate)`` at one draw (see :func:`ppl_reparam._rebar.estimate`);
        ``uniform(like)`` replaces the draws of the noise."""
        guide_key, model_key, noise_key = jax.random.split(rng_key, 3)
        guide = handlers.seed(handlers.substitute(guide, data=param_map), guide_key)
        guide_trace = handlers.trace(guide).get_trace(*args, **kwargs)
        model = handlers.seed(handlers.substitute(model, data=param_map), model_key)
        scans = _scan.ScanSites(model, "RelaxedControlVariateELBO")

        def run_model(values: dict) -> list:
            trace = {
                name: {**msg, "value": values[name]} if name in values else msg
                for name, msg in guide_trace.items()
            }
            replayed = handlers.trace(handlers.replay(scans.model, trace=trace))
            return scans.label(replayed.get_trace(*args, **kwargs).values())

        def cv_params(site: str, like: jax.Array):
            eta_name, log_temp_name = _rebar.cv_param_names(site)
            dtype = jnp.result_type(like)
            eta = param_map.get(eta_name, jnp.asarray(self.cv_scale, dtype))
            log_temp = param_map.get(log_temp_name, jnp.log(jnp.asarray(self.temperature, dtype)))
            return eta, log_temp

        counter = itertools.count()

        def draw_uniform(like: jax.Array) -> jax.Array:
            dtype = jnp.result_type(like)
            key = jax.random.fold_in(noise_key, next(counter))
            return jax.random.uniform(key, jnp.shape(like), dtype, jnp.finfo(dtype).tiny, 1.0)

        return _rebar.estimate(
            OPS,
            list(guide_trace.values()),
            run_model,
            cv_params,
            uniform or draw_uniform,
            self.estimator,
        )

    def loss(self, rng_key, param_map, model, guide, *args, **kwargs) -> jax.Array:
        """Minus the ELBO at one draw, with the estimator's gradient (and, for the
        control-variate parameters, the gradient of the squared estimate)."""
        elbo, surrogate = self._estimate(rng_key, param_map, model, guide, args, kwargs)
        stop = jax.lax.stop_gradient
        return -stop(elbo) - (surrogate - stop(surrogate))


_DEFAULT = RelaxedControlVariateELBO()  # one object: fit's compiled steps are cached by loss


def default_loss(model, args: tuple, kwargs: dict) -> "RelaxedControlVariateELBO | None":
    """``fit``'s loss when none is given: :class:`RelaxedControlVariateELBO` if the model
    has unobserved discrete sites neither enumerated nor relaxed, else ``None`` (for
    ``Trace_ELBO()``). The model is traced abstractly (``jax.eval_shape``): nothing runs;
    a model that fails to trace gets ``None``, and fit's first step reports the failure."""
    found = []

    def probe():
        trace = handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)
        found.append(_rebar.has_discrete_latents(BACKEND, trace.values()))

    try:
        jax.eval_shape(probe)
    except Exception:  # a model that cannot run: fit's first step reports it, site named
        return None
    return _DEFAULT if found[0] else None
