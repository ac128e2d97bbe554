r"""The Gaussian copula of :class:`AutoPathwiseGuide` (no torch or jax import): its
argument, the layout of the coupled sites in one vector, its parameters and its law.

A correlated guide draws ``z ~ N(0, C)`` (``C`` a correlation matrix) and maps
coordinate ``z_i`` through site ``i``'s family; its density is

.. math::
    \log q(x) = \log N(z; 0, C) + \sum_i \left[\log q_i(x_i) - \log\phi(z_i)\right],

the first term the log density of an auxiliary ``z`` site, each bracket the
``log_density`` of the site's ``Delta`` (as the frameworks' ``AutoContinuous`` guides
do), so that the ELBO is :math:`E[\log p(x) - \log q(x)]`. Each family's map from
``z_i`` is :meth:`ppl_reparam._guides.PathwiseGuide._from_noise`.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ppl_reparam._backend import Backend

GUIDE_NAME = "AutoPathwiseGuide"
FULL = "full"
#: the default: ``"full"`` for a model that solves an ODE, mean-field otherwise
AUTO = "auto"
# the copula's parameters: the strictly lower triangle of a unit lower-triangular L
# ("full"), or the (n, k) factor W (rank k)
TRIL = "copula_tril"
FACTOR = "copula_factor"


def check_correlation(correlation: Any) -> str | int | None:
    """``None``, ``"full"``, ``"auto"`` or an integer rank ``k >= 1``; anything else is
    an error."""
    if correlation is None or (isinstance(correlation, str) and correlation in (FULL, AUTO)):
        return correlation
    if isinstance(correlation, int | np.integer) and not isinstance(correlation, bool):
        if correlation >= 1:
            return int(correlation)
    raise ValueError(
        f"{GUIDE_NAME}: correlation must be 'auto' (the default), None (mean-field), 'full' "
        f"or an integer rank k >= 1, got {correlation!r}"
    )


def resolve_correlation(
    correlation: str | int | None, solves_ode: bool, size: int
) -> str | int | None:
    """The correlation a guide uses: ``"auto"`` is ``"full"`` for a model that solves an
    ODE (its parameters are strongly correlated, and the full copula reaches their
    posterior where the mean-field guide converges slowly; see the guides page) with at
    least two coordinates to couple (``size``), and ``None`` (mean-field) for any other
    model; every other value is itself."""
    if correlation != AUTO:
        return correlation
    return FULL if solves_ode and size >= 2 else None


class Slot(NamedTuple):
    """Where a correlated site's coordinates lie in the copula's vector ``z``."""

    start: int
    stop: int
    shape: tuple[int, ...]  # of the site's parameters (unconstrained for "normal")


def layout(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Slot]:
    """Consecutive slots, in the order of ``shapes`` (site -> parameter shape)."""
    slots, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        slots[name] = Slot(start, start + size, tuple(shape))
        start += size
    return slots


def initial_params(b: Backend, correlation: str | int, size: int, like) -> dict:
    """Identity correlation: every off-diagonal parameter zero."""
    shape = (size, size) if correlation == FULL else (size, correlation)
    name = TRIL if correlation == FULL else FACTOR
    return {name: b.as_array(np.zeros(shape), like)}


def distribution(b: Backend, p: Mapping[str, Any]):
    r"""``N(0, C)`` for the copula's parameters ``p``.

    Full: ``L`` unit lower-triangular with the strictly lower triangle of
    ``p["copula_tril"]``; ``C = D L L^T D`` with ``D`` normalising the rows of ``L`` to
    unit length, so ``D L`` is the Cholesky factor of ``C``. Rank k:
    ``C = D (W W^T + I) D``; a general diagonal ``diag(d)`` adds nothing, since rescaling
    row ``i`` of ``W`` by ``d_i^{-1/2}`` gives the same ``C``.
    """
    xp = b.xp
    if TRIL in p:
        m = p[TRIL]
        n = m.shape[-1]
        tril = m * b.as_array(np.tril(np.ones((n, n)), -1), m) + b.as_array(np.eye(n), m)
        # each row of L has a 1 on the diagonal: its norm is >= 1, never 0
        scale_tril = tril / xp.sqrt(xp.sum(tril * tril, -1))[..., None]
        return b.dist.MultivariateNormal(b.as_array(np.zeros(n), m), scale_tril=scale_tril)
    w = p[FACTOR]
    norm2 = 1.0 + xp.sum(w * w, -1)
    return b.dist.LowRankMultivariateNormal(
        b.full_like(norm2, 0.0), w / xp.sqrt(norm2)[..., None], 1.0 / norm2
    )


def site_noise(z, slot: Slot, event_dim: int | None = None):
    """Site coordinates of ``z`` (shape ``batch + (n,)``), shaped ``batch + slot.shape``;
    with ``event_dim``, shaped as inside the site's plates instead: ``batch`` aligned
    right against the site's ``event_dim`` rightmost dims, as a plate of draws or
    particles left of the site's own plates has it (Pyro's ``AutoContinuous``
    convention)."""
    batch = tuple(z.shape[:-1])
    if event_dim is None:
        shape = batch + slot.shape
    else:
        shape = np.broadcast_shapes(slot.shape, batch + (1,) * event_dim)
    return z[..., slot.start : slot.stop].reshape(shape)
