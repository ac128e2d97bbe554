"""Backend-neutral pieces of :class:`AutoPathwiseGuide` (no torch or jax import): the
family chosen for each kind of support, validation of user overrides, and the
Kumaraswamy initialisation rule."""

from collections.abc import Iterable, Mapping

import numpy as np

GUIDE_NAME = "AutoPathwiseGuide"

# Kinds of latent site, from the support of the model's distribution at the site.
REAL = "real"
POSITIVE = "positive"
UNIT_INTERVAL = "unit interval"
INTERVAL = "bounded interval"
SIMPLEX = "simplex"
RELAXED = "relaxed discrete"
OTHER = "other"

# Families. "normal" is a Normal pushed through biject_to(support), AutoNormal's family.
NORMAL = "normal"
LOGNORMAL = "lognormal"
SOFTPLUS = "softplus"
KUMARASWAMY = "kumaraswamy"
EXP_RELAXED = "relaxed"

# kind -> (default family, every family allowed for it); the default comes first.
FAMILIES: dict[str, tuple[str, ...]] = {
    REAL: (NORMAL,),
    # softplus first: see AutoPathwiseGuide's docstring for why it beats exp (lognormal)
    POSITIVE: (SOFTPLUS, LOGNORMAL, NORMAL),
    UNIT_INTERVAL: (KUMARASWAMY, NORMAL),
    INTERVAL: (KUMARASWAMY, NORMAL),
    SIMPLEX: (NORMAL,),
    # a Normal on R^K would leave the log-simplex the ExpConcrete density lives on
    RELAXED: (EXP_RELAXED,),
    OTHER: (NORMAL,),
}
ALL_FAMILIES = (NORMAL, LOGNORMAL, SOFTPLUS, KUMARASWAMY, EXP_RELAXED)

# Kumaraswamy concentration0 is kept within [k, KUMARASWAMY_MAX_RATIO * k] at init.
KUMARASWAMY_MAX_RATIO = 100.0


def check_init_scale(init_scale: float) -> float:
    if isinstance(init_scale, bool) or not isinstance(init_scale, int | float):
        raise TypeError(f"{GUIDE_NAME}: init_scale must be a number, got {init_scale!r}")
    if not init_scale > 0:
        raise ValueError(f"{GUIDE_NAME}: init_scale must be > 0, got {init_scale!r}")
    return float(init_scale)


def check_families(families: Mapping[str, str] | None) -> dict[str, str]:
    """Validate the user's per-site overrides as far as possible before the model runs."""
    families = dict(families or {})
    for site, family in families.items():
        if family not in ALL_FAMILIES:
            allowed = ", ".join(repr(f) for f in ALL_FAMILIES)
            raise ValueError(
                f"{GUIDE_NAME}: unknown family {family!r} for site {site!r}; choose one of "
                f"{allowed}"
            )
    return families


def choose_family(site: str, kind: str, families: Mapping[str, str]) -> str:
    """The family of latent site ``site`` of support kind ``kind``: the user's override if
    it suits the support, the default of the kind otherwise."""
    allowed = FAMILIES[kind]
    family = families.get(site, allowed[0])
    if family not in allowed:
        listed = ", ".join(repr(f) for f in allowed)
        raise ValueError(
            f"{GUIDE_NAME}: family {family!r} does not fit site {site!r} (support: {kind}); "
            f"allowed families: {listed}"
        )
    return family


def check_override_sites(families: Mapping[str, str], latent_sites: Iterable[str]) -> None:
    """An override naming no latent site of the model is a typo: say so."""
    latent_sites = list(latent_sites)
    unknown = sorted(set(families) - set(latent_sites))
    if unknown:
        raise ValueError(
            f"{GUIDE_NAME}: families names {', '.join(map(repr, unknown))}, which "
            f"{'is not a latent site' if len(unknown) == 1 else 'are not latent sites'} of "
            f"the model; latent sites: {', '.join(map(repr, latent_sites))}"
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
