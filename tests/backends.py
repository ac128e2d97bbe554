"""One adapter per backend, so a test body is written once and run on both."""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import scipy.special as sps

BACKEND_NAMES = ["pyro", "numpyro"]

# NumPy/SciPy version of the array namespace, for testing ppl_reparam.math directly.
numpy_xp = SimpleNamespace(
    exp=np.exp,
    log=np.log,
    log1p=np.log1p,
    expm1=np.expm1,
    sqrt=np.sqrt,
    abs=np.abs,
    where=np.where,
    clip=np.clip,
    lgamma=sps.gammaln,
    digamma=sps.digamma,
    erfc=sps.erfc,
    erfcx=sps.erfcx,
    ndtri=sps.ndtri,
    finfo=lambda x: np.finfo(np.asarray(x).dtype),
    stop_gradient=lambda x: x,
    sum=lambda x, axis: np.sum(x, axis=axis),
    logsumexp=lambda x, axis: sps.logsumexp(x, axis=axis),
    log_softmax=lambda x, axis: sps.log_softmax(x, axis=axis),
    softplus=lambda x: np.logaddexp(0.0, x),
    one_hot_argmax=lambda x: np.eye(np.shape(x)[-1], dtype=np.asarray(x).dtype)[
        np.argmax(x, axis=-1)
    ],
    constant=lambda values, like: np.asarray(list(values), dtype=np.asarray(like).dtype).reshape(
        (-1,) + (1,) * np.ndim(like)
    ),
)


@dataclass
class Backend:
    """What a backend-agnostic test needs: arrays in and out, gradients, sampling."""

    name: str
    dist: ModuleType  # ppl_reparam.<backend>.distributions
    upstream: ModuleType  # pyro.distributions or numpyro.distributions
    xp: Any  # ppl_reparam.<backend>._xp
    array: Callable[..., Any]  # (values, dtype) -> backend array
    numpy: Callable[[Any], np.ndarray]
    grad: Callable[..., tuple]  # (f, *args) -> gradients of scalar f wrt each arg
    sample: Callable[..., Any]  # (distribution, sample_shape, seed) -> reparameterized draw
    kl_divergence: Callable[[Any, Any], Any]
    manual_seed: Callable[[int], None]


def _pyro_backend() -> Backend:
    import pyro
    import pyro.distributions as upstream
    import torch

    import ppl_reparam.pyro.distributions as dist
    from ppl_reparam.pyro import _xp

    def array(values, dtype="float64"):
        return torch.as_tensor(np.asarray(values), dtype=getattr(torch, dtype))

    def grad(f, *args):
        leaves = [a.detach().clone().requires_grad_(True) for a in args]
        out = f(*leaves)
        return torch.autograd.grad(out, leaves)

    def sample(d, sample_shape=(), seed=0):
        torch.manual_seed(seed)
        return d.rsample(torch.Size(sample_shape))

    return Backend(
        name="pyro",
        dist=dist,
        upstream=upstream,
        xp=_xp,
        array=array,
        numpy=lambda x: x.detach().cpu().numpy(),
        grad=grad,
        sample=sample,
        kl_divergence=torch.distributions.kl_divergence,
        manual_seed=pyro.set_rng_seed,
    )


def _numpyro_backend() -> Backend:
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as upstream

    import ppl_reparam.numpyro.distributions as dist
    from ppl_reparam.numpyro import _xp

    def array(values, dtype="float64"):
        return jnp.asarray(np.asarray(values), dtype=getattr(jnp, dtype))

    def grad(f, *args):
        return jax.grad(f, argnums=tuple(range(len(args))))(*args)

    def sample(d, sample_shape=(), seed=0):
        return d.rsample(jax.random.PRNGKey(seed), tuple(sample_shape))

    return Backend(
        name="numpyro",
        dist=dist,
        upstream=upstream,
        xp=_xp,
        array=array,
        numpy=lambda x: np.asarray(x),
        grad=grad,
        sample=sample,
        kl_divergence=upstream.kl_divergence,
        manual_seed=lambda seed: None,
    )


_FACTORIES = {"pyro": _pyro_backend, "numpyro": _numpyro_backend}
_CACHE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in _CACHE:
        _CACHE[name] = _FACTORIES[name]()
    return _CACHE[name]
