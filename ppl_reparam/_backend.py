"""The record a backend gives the shared layer (no torch or jax import).

:mod:`ppl_reparam._guides` and :mod:`ppl_reparam._relax` are written once against a
:class:`Backend`; ``ppl_reparam.pyro._backend`` and ``ppl_reparam.numpyro._backend`` each
build one, from their framework's modules and the few operations that differ between
them, the way :mod:`ppl_reparam.math` is written against an array namespace.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Backend:
    """What the shared guide and relaxation need from a backend."""

    # modules: the framework's distributions (Normal, LogNormal, TransformedDistribution),
    # constraints (real, positive, unit_interval, independent), transforms (biject_to,
    # SoftplusTransform), ppl_reparam's own distributions, and the array namespace of
    # ppl_reparam.math (exp, log, softplus, log_softmax, constant)
    dist: Any
    constraints: Any
    transforms: Any
    ours: Any
    xp: Any
    # (loc, scale, domain) -> AffineTransform; the domain fixes the support where kept
    affine: Callable[[Any, Any, Any], Any]
    # constraint classes of [c, inf) and (c, inf); (-inf, c) and (-inf, c]; [a, b]; simplex
    greater_than: tuple[type, ...]
    less_than: tuple[type, ...]
    interval: tuple[type, ...]
    simplex: type
    # distribution wrappers peeled off to find a site's family
    independent: type
    expanded: type
    # discrete families relax() rewrites: to the ExpConcrete, to the logistic logit
    categorical: tuple[type, ...]
    bernoulli: tuple[type, ...]
    # arrays: what counts as one, x as an array with the dtype and device of `like`
    # (default ones for like=None), and the operations the namespace lacks
    array_type: type
    as_array: Callable[[Any, Any], Any]
    full_like: Callable[[Any, float], Any]
    to_numpy: Callable[[Any], np.ndarray]
    is_floating: Callable[[Any], bool]
    sigmoid: Callable[[Any], Any]
    tensordot: Callable[[Any, Any], Any]  # the last axis of a against the first of b
    # the framework: sample statement, the reparam handler, whether that handler passes a
    # site to a reparameterizer as observed
    sample: Callable[[str, Any], Any]
    reparam: Callable[..., Callable]
    is_observed: Callable[[dict], bool]
    # (dim, size) of the vectorised plates active where it is called
    plates: Callable[[], tuple[tuple[int, int], ...]]
    # backend-specific phrases of the shared docstrings (see ppl_reparam._docs.fill)
    docs: Mapping[str, str]
