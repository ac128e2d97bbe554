"""Unbiased, low-variance gradients of the discrete ELBO: the relaxation as a control
variate (REBAR / RELAX), as a Pyro ELBO."""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer import ELBO, Trace_ELBO
from pyro.poutine.util import site_is_subsample

from ppl_reparam import _rebar
from ppl_reparam._docs import copy_docs_from
from ppl_reparam.pyro._backend import BACKEND
from ppl_reparam.pyro._multistart import probe

__all__ = ["RelaxedControlVariateELBO", "control_variate_params", "default_loss"]

_DOCS = {
    **BACKEND.docs,
    "cv_params_note": (
        " The ELBO declares them itself (in the global param store) at its first step."
    ),
    "rebar_example": """svi = SVI(model, AutoPathwiseGuide(model), Adam({"lr": 0.05}),
                  RelaxedControlVariateELBO())
        for step in range(2000):
            svi.step(data)""",
}


def _mask(msg: dict):
    mask = msg["mask"]
    if mask is None or mask is True:
        return None
    return torch.as_tensor(mask)


def _grad_with_aux(fn, xs: dict) -> tuple[dict, object]:
    leaves = {name: x.detach().requires_grad_() for name, x in xs.items()}
    out, aux = fn(leaves)
    grads = torch.autograd.grad(out, list(leaves.values()), create_graph=True)
    return dict(zip(leaves, grads, strict=True)), aux


def _variance_grads(fn, etas: dict, log_temps: dict) -> tuple[dict, dict, dict]:
    grads = fn(etas, log_temps)
    square = sum((g**2).sum() for g in grads.values())
    inputs = list(etas.values()) + list(log_temps.values())
    d = torch.autograd.grad(square, inputs, allow_unused=True)
    d = [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, d, strict=True)]
    n = len(etas)
    return grads, dict(zip(etas, d[:n], strict=True)), dict(zip(log_temps, d[n:], strict=True))


OPS = _rebar.Ops(
    backend=BACKEND,
    log_prob=lambda msg: scale_and_mask(
        msg["fn"].log_prob(msg["value"]), msg["scale"], msg["mask"]
    ),
    mask=_mask,
    masked=dist.MaskedDistribution,
    frames=lambda msg: {f.name: f.dim for f in msg["cond_indep_stack"] if f.vectorized},
    is_term=lambda msg: msg["type"] == "sample" and not site_is_subsample(msg),
    sum_keepdims=lambda x, axes: x.sum(dim=axes, keepdim=True),
    one_hot=lambda b, k, like: torch.nn.functional.one_hot(b.long(), k).to(like),
    grad_with_aux=_grad_with_aux,
    variance_grads=_variance_grads,
)


@copy_docs_from(_rebar.CV_PARAMS_DOC, **_DOCS)
def control_variate_params(
    site: str, cv_scale: float = 1.0, temperature: float = 0.5, like: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    eta_name, log_temp_name = _rebar.cv_param_names(site)
    like = torch.zeros(()) if like is None else like
    options = {"dtype": like.dtype, "device": like.device}
    eta = pyro.param(eta_name, lambda: torch.tensor(float(cv_scale), **options))
    log_temp = pyro.param(log_temp_name, lambda: torch.tensor(math.log(temperature), **options))
    return eta, log_temp


def _uniform(like: torch.Tensor) -> torch.Tensor:
    return torch.rand_like(like).clamp(min=torch.finfo(like.dtype).tiny)


@copy_docs_from(_rebar.ELBO_DOC, **_DOCS)
class RelaxedControlVariateELBO(ELBO):
    def __init__(self, estimator: str = "rebar", cv_scale: float = 1.0, temperature: float = 0.5):
        super().__init__(num_particles=1)
        self.estimator, self.cv_scale, self.temperature = _rebar.check_options(
            estimator, cv_scale, temperature
        )

    def _estimate(self, model, guide, args, kwargs, estimator: str, uniform=_uniform):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)

        def run_model(values: dict) -> list:
            trace = guide_trace.copy()
            for name, value in values.items():
                trace.nodes[name] = {**trace.nodes[name], "value": value}
            replayed = poutine.trace(poutine.replay(model, trace=trace))
            return list(replayed.get_trace(*args, **kwargs).nodes.values())

        def cv_params(site: str, like: torch.Tensor):
            return control_variate_params(site, self.cv_scale, self.temperature, like)

        return _rebar.estimate(
            OPS, list(guide_trace.nodes.values()), run_model, cv_params, uniform, estimator
        )

    def _get_trace(self, model, guide, args, kwargs):
        raise NotImplementedError("RelaxedControlVariateELBO traces model and guide itself")

    def loss(self, model, guide, *args, **kwargs) -> float:
        """Minus the discrete ELBO at one draw of the guide."""
        with torch.no_grad():
            elbo, _ = self._estimate(model, guide, args, kwargs, "score")
        return -float(elbo)

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """Minus the ELBO at one draw, with the estimator's gradient (and, for the
        control-variate parameters, the gradient of the squared estimate)."""
        elbo, surrogate = self._estimate(model, guide, args, kwargs, self.estimator)
        return -elbo.detach() - (surrogate - surrogate.detach())

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


def default_loss(model, args: tuple, kwargs: dict) -> ELBO:
    """``fit``'s loss when none is given: :class:`RelaxedControlVariateELBO` if the model
    has unobserved discrete sites neither enumerated nor relaxed, else ``Trace_ELBO()``
    (one draw of the model decides; the RNG state is restored after it; a model that
    fails to run gets ``Trace_ELBO()``, and fit's first step reports the failure)."""
    return loss_for_trace(probe(model, args, kwargs)[0])


def loss_for_trace(trace) -> ELBO:
    """:func:`default_loss` for a prior run's ``trace`` (``None``: a run that failed)."""
    if trace is not None and _rebar.has_discrete_latents(BACKEND, trace.nodes.values()):
        return RelaxedControlVariateELBO()
    return Trace_ELBO()
