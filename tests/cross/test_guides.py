"""AutoPathwiseGuide agrees across backends: the same family for the same support, and
the same medians and quantiles for the same parameter values."""

import numpy as np
import pytest

Q = [0.1, 0.5, 0.9]
# site -> (distribution name, args): one site per kind of support
SITES = {
    "mu": ("Normal", (0.0, 1.0)),
    "sigma": ("HalfNormal", (1.0,)),
    "rate": ("Gamma", (2.0, 2.0)),
    "p": ("Beta", (2.0, 2.0)),
    "u": ("Uniform", (-1.0, 3.0)),
    "w": ("Dirichlet", None),
    "x_min": ("Pareto", (1.0, 2.0)),
    "c": ("Categorical", None),
}
# (site, param) -> value, float64
PARAMS = {
    ("mu", "loc"): 0.3,
    ("mu", "scale"): 0.7,
    ("sigma", "loc"): -0.2,
    ("sigma", "scale"): 0.4,
    ("rate", "loc"): 0.5,
    ("rate", "scale"): 0.9,
    ("p", "concentration1"): 2.0,
    ("p", "concentration0"): 3.0,
    ("u", "concentration1"): 0.7,
    ("u", "concentration0"): 4.0,
    ("p", "loc"): -0.3,  # used where the family is overridden to "normal"
    ("p", "scale"): 0.5,
    ("u", "loc"): 0.4,
    ("u", "scale"): 0.6,
    ("w", "loc"): [0.2, -0.4],
    ("w", "scale"): [0.3, 0.5],
    ("x_min", "loc"): 0.1,
    ("x_min", "scale"): 0.2,
    ("c_relaxed", "logits"): [0.5, -1.0, 2.0],
}
MODULES = {
    "loc": "locs",
    "scale": "scales",
    "concentration1": "concentration1",
    "concentration0": "concentration0",
    "logits": "logits",
}


def _pyro(families):
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.relax import relax

    def model():
        for name, (cls, args) in SITES.items():
            if name == "w":
                fn = dist.Dirichlet(torch.ones(3))
            elif name == "c":
                fn = dist.Categorical(torch.ones(3) / 3)
            else:
                fn = getattr(dist, cls)(*args)
            pyro.sample(name, fn)

    pyro.clear_param_store()
    guide = AutoPathwiseGuide(relax(model, 0.5), families=families)
    guide()
    for (site, param), value in PARAMS.items():
        if param in guide._sites[site].params:
            module = getattr(guide, MODULES[param])
            setattr(module, site, torch.tensor(value, dtype=torch.float64))
    median = {k: v.numpy() for k, v in guide.median().items()}
    quantiles = {k: v.numpy() for k, v in guide.quantiles(Q).items()}
    pyro.clear_param_store()
    return guide.site_families, median, quantiles


def _numpyro(families):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro import handlers

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import relax

    def model():
        for name, (cls, args) in SITES.items():
            if name == "w":
                fn = dist.Dirichlet(jnp.ones(3))
            elif name == "c":
                fn = dist.Categorical(jnp.ones(3) / 3)
            else:
                fn = getattr(dist, cls)(*args)
            numpyro.sample(name, fn)

    guide = AutoPathwiseGuide(relax(model, 0.5), families=families)
    tr = handlers.trace(handlers.seed(guide, jax.random.PRNGKey(0))).get_trace()
    params = {name: site["value"] for name, site in tr.items() if site["type"] == "param"}
    for (site, param), value in PARAMS.items():
        if f"{site}_auto_{param}" in params:
            params[f"{site}_auto_{param}"] = jnp.asarray(value, dtype=jnp.float64)
    median = {k: np.asarray(v) for k, v in guide.median(params).items()}
    quantiles = {k: np.asarray(v) for k, v in guide.quantiles(params, Q).items()}
    return guide.site_families, median, quantiles


@pytest.mark.parametrize(
    "families", [None, {"sigma": "lognormal", "rate": "normal", "p": "normal", "u": "normal"}]
)
def test_backends_choose_the_same_families_and_agree_on_medians_and_quantiles(families):
    pyro_families, pyro_median, pyro_quantiles = _pyro(families)
    numpyro_families, numpyro_median, numpyro_quantiles = _numpyro(families)
    assert pyro_families == numpyro_families
    assert set(pyro_families) == set(SITES) - {"c"} | {"c_relaxed"}
    assert pyro_median.keys() == numpyro_median.keys()
    assert pyro_quantiles.keys() == numpyro_quantiles.keys()
    for name in pyro_median:
        np.testing.assert_allclose(pyro_median[name], numpyro_median[name], rtol=1e-12)
    for name in pyro_quantiles:
        np.testing.assert_allclose(pyro_quantiles[name], numpyro_quantiles[name], rtol=1e-12)
