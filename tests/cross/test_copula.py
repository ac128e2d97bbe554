"""AutoPathwiseGuide(correlation=...): the Gaussian copula's density against quadrature and
exact formulas, its reduction to the backends' AutoMultivariateNormal and
AutoLowRankMultivariateNormal, fits of correlated targets, agreement across backends and
finite gradients at the kinks."""

import numpy as np
import pytest
import scipy.special as sps
from numpy.polynomial.legendre import leggauss
from scipy import stats

from examples import models

# site -> (distribution name, args[, batch size of a vector site]); with KUMARASWAMY
# their families are normal, kumaraswamy, softplus
SITES = {"mu": ("Normal", (0.0, 1.0)), "p": ("Beta", (2.0, 2.0)), "s": ("HalfNormal", (1.0,))}
KUMARASWAMY = {"p": "kumaraswamy"}
MARGINALS = {
    ("mu", "loc"): 0.3,
    ("mu", "scale"): 0.7,
    ("p", "concentration1"): 2.0,
    ("p", "concentration0"): 3.0,
    ("s", "loc"): 0.2,
    ("s", "scale"): 0.5,
}
MODULES = {
    "loc": "locs",
    "scale": "scales",
    "concentration1": "concentration1",
    "concentration0": "concentration0",
}


class Case:
    """A guide of one backend on a model of independent prior sites, its parameters set
    from ``(site, param)`` values (``("copula", name)`` for the copula's), and the
    guide's value and log density for a given copula draw ``z``."""

    def __init__(self, backend: str, sites: dict, correlation, dtype="float64", families=None):
        self.backend, self.dtype = backend, dtype
        if backend == "pyro":
            import pyro
            import pyro.distributions as dist
            import torch

            from ppl_reparam.pyro.guides import AutoPathwiseGuide

            def model():
                for name, (cls, args, *batch) in sites.items():
                    args = [torch.tensor(a, dtype=getattr(torch, dtype)) for a in args]
                    fn = getattr(dist, cls)(*args)
                    pyro.sample(name, fn.expand(batch).to_event(1) if batch else fn)

            pyro.clear_param_store()
            self.guide = AutoPathwiseGuide(model, correlation=correlation, families=families)
            self.guide()
        else:
            import numpyro
            import numpyro.distributions as dist
            from numpyro import handlers

            from ppl_reparam.numpyro.guides import AutoPathwiseGuide

            def model():
                for name, (cls, args, *batch) in sites.items():
                    args = [np.asarray(a, dtype=dtype) for a in args]
                    fn = getattr(dist, cls)(*args)
                    numpyro.sample(name, fn.expand(batch).to_event(1) if batch else fn)

            self.guide = AutoPathwiseGuide(model, correlation=correlation, families=families)
            # set-up only: every draw is jitted (eager JAX compiles each operation)
            handlers.seed(self.guide._setup_prototype, 0)()
        self.params = {}

    def set(self, values: dict) -> None:
        for (site, param), value in values.items():
            value = np.asarray(value, dtype=self.dtype)
            if self.backend == "pyro":
                import torch

                module = self.guide if site == "copula" else getattr(self.guide, MODULES[param])
                setattr(module, param if site == "copula" else site, torch.as_tensor(value))
            else:
                name = f"auto_{param}" if site == "copula" else f"{site}_auto_{param}"
                self.params[name] = value

    def run(self, z):
        """``({site: value}, log q)`` of the guide with its copula draw set to ``z``."""
        if self.backend == "pyro":
            import torch
            from pyro import poutine

            z = torch.as_tensor(np.asarray(z, dtype=self.dtype))
            guide = poutine.condition(self.guide, data={self.guide._latent_name: z})
            trace = poutine.trace(guide).get_trace()
            trace.compute_log_prob()
            sites = [s for s in trace.nodes.values() if s["type"] == "sample"]
            log_q = sum(s["log_prob"] for s in sites)
            return {s["name"]: s["value"] for s in sites}, log_q
        return _numpyro_run(self.guide, self.params, np.asarray(z, dtype=self.dtype))

    def numpy_run(self, z):
        values, log_q = self.run(z)
        as_np = (lambda x: x.detach().numpy()) if self.backend == "pyro" else np.asarray
        return {k: as_np(v) for k, v in values.items()}, as_np(log_q)


def _numpyro_run(guide, params, z):
    import jax
    from numpyro import handlers

    @jax.jit  # one compilation instead of one per operation and shape
    def run(params, z):
        seeded = handlers.seed(handlers.substitute(guide, data=params), 0)
        conditioned = handlers.condition(seeded, data={guide._latent_name: z})
        trace = handlers.trace(conditioned).get_trace()
        sites = [s for s in trace.values() if s["type"] == "sample"]
        log_q = sum(s["fn"].log_prob(s["value"]) for s in sites)
        return {s["name"]: s["value"] for s in sites}, log_q

    return run(params, z)


def _correlation_full(tril: np.ndarray) -> np.ndarray:
    lower = np.tril(tril, -1) + np.eye(len(tril))
    lower /= np.linalg.norm(lower, axis=-1, keepdims=True)
    return lower @ lower.T


def _correlation_factor(w: np.ndarray) -> np.ndarray:
    cov = w @ w.T + np.eye(len(w))
    d = np.sqrt(np.diag(cov))
    return cov / np.outer(d, d)


# the families' marginals, independently of the library: log density and normal score
# Phi^-1(F(x)) on x (from the survival function in the upper half, where F rounds to 1)
def _score(cdf, sf):
    def score(x):
        return np.where(cdf(x) < 0.5, sps.ndtri(cdf(x)), -sps.ndtri(sf(x)))

    return score


def _softplus_normal(loc, scale):
    def inverse(x):
        return np.log(np.expm1(x))

    def log_pdf(x):
        u = inverse(x)
        return stats.norm.logpdf(u, loc, scale) - np.log(sps.expit(u))

    return log_pdf, lambda x: (inverse(x) - loc) / scale


def _kumaraswamy(a, b):
    def log_pdf(x):
        return np.log(a * b) + (a - 1) * np.log(x) + (b - 1) * np.log1p(-(x**a))

    def log_sf(x):
        return b * np.log1p(-(x**a))

    return log_pdf, _score(lambda x: -np.expm1(log_sf(x)), lambda x: np.exp(log_sf(x)))


FAMILY_REFS = {
    "mu": (lambda x: stats.norm.logpdf(x, 0.3, 0.7), lambda x: (x - 0.3) / 0.7),
    "p": _kumaraswamy(2.0, 3.0),
    "s": _softplus_normal(0.2, 0.5),
}


def _nodes(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on the bulk of the site's marginal (the mass left
    out is below 1e-14)."""
    low, high = {
        "mu": (0.3 - 8.5 * 0.7, 0.3 + 8.5 * 0.7),
        "p": (0.0, 1.0),
        "s": (np.logaddexp(0, 0.2 - 8.5 * 0.5), np.logaddexp(0, 0.2 + 8.5 * 0.5)),
    }[name]
    t, w = leggauss(n)
    return low + (high - low) * (t + 1) / 2, w * (high - low) / 2


@pytest.mark.parametrize(
    "names, correlation, copula, nodes",
    [
        (("mu", "p"), 1, {("copula", "copula_factor"): [[0.9], [-0.7]]}, (60, 160)),
        (
            ("mu", "p", "s"),
            "full",
            {("copula", "copula_tril"): [[0, 0, 0], [0.8, 0, 0], [-0.5, 0.6, 0]]},
            (40, 120, 50),
        ),
    ],
)
def test_copula_density_is_exact_integrates_to_one_and_has_the_families_as_marginals(
    backend, names, correlation, copula, nodes
):
    case = Case(backend.name, {k: SITES[k] for k in names}, correlation, families=KUMARASWAMY)
    case.set({k: v for k, v in MARGINALS.items() if k[0] in names} | copula)
    ((key, value),) = copula.items()
    value = np.asarray(value, dtype=float)
    corr = _correlation_full(value) if correlation == "full" else _correlation_factor(value)

    grids = [_nodes(name, n) for name, n in zip(names, nodes, strict=True)]
    x = np.stack([g.ravel() for g in np.meshgrid(*[g[0] for g in grids], indexing="ij")], -1)
    weight = np.prod(np.meshgrid(*[g[1] for g in grids], indexing="ij"), axis=0).ravel()
    # the copula draw that gives x: z_i = Phi^-1(F_i(x_i)), by SciPy
    z = np.stack([FAMILY_REFS[n][1](x[:, i]) for i, n in enumerate(names)], -1)
    values, log_q = case.numpy_run(z)
    for i, name in enumerate(names):
        np.testing.assert_allclose(values[name], x[:, i], rtol=1e-9, atol=1e-12)

    # exact: log N(z; 0, C) + sum_i [log f_i(x_i) - log phi(z_i)]
    reference = stats.multivariate_normal(np.zeros(len(names)), corr).logpdf(z)
    for i, name in enumerate(names):
        reference += FAMILY_REFS[name][0](x[:, i]) - stats.norm.logpdf(z[:, i])
    np.testing.assert_allclose(log_q, reference, rtol=1e-9, atol=1e-9)

    density = np.exp(log_q).reshape(nodes)
    w = weight.reshape(nodes)
    assert abs(np.sum(w * density) - 1.0) < 2e-6
    for i, name in enumerate(names):
        others = tuple(j for j in range(len(names)) if j != i)
        marginal = np.sum(w * density, axis=others) / grids[i][1]
        np.testing.assert_allclose(
            marginal, np.exp(FAMILY_REFS[name][0](grids[i][0])), rtol=2e-5, atol=2e-6
        )


def test_correlation_must_be_auto_none_full_or_a_positive_rank(backend):
    guides = pytest.importorskip(f"ppl_reparam.{backend.name}.guides")
    for bad in (0, -2, 1.5, True, "diag", "Full", "Auto"):
        with pytest.raises(
            ValueError, match="correlation must be 'auto' .* None .* 'full' or an integer"
        ):
            guides.AutoPathwiseGuide(lambda: None, correlation=bad)


def _decay_model(backend_name: str, ode: bool, num_rates: int = 1):
    """A model with a rate (``num_rates`` of them) and a noise scale; with ``ode`` its
    mean comes from an ODE solve (an exponential decay), else from ``exp`` directly."""
    ts = np.linspace(0.1, 1.0, 5)
    if backend_name == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch

        def model():
            from ppl_reparam.pyro.ode import solve

            rate = pyro.sample("rate", dist.LogNormal(0.0, 1.0).expand([num_rates]).to_event(1))
            sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
            t = torch.as_tensor(ts)
            y0 = torch.ones(num_rates, dtype=t.dtype)
            if ode:
                mean = solve(lambda _, x, r: -r * x, y0, t, rate, t0=0.0)
            else:
                mean = torch.exp(-rate * t[:, None])
            pyro.sample("y", dist.Normal(mean, sigma).to_event(2), obs=torch.exp(-t)[:, None])

        return model
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def model():
        from ppl_reparam.numpyro.ode import solve

        rate = numpyro.sample("rate", dist.LogNormal(0.0, 1.0).expand([num_rates]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        t = jnp.asarray(ts)
        if ode:
            mean = solve(lambda _, x, r: -r * x, jnp.ones(num_rates), t, rate, t0=0.0)
        else:
            mean = jnp.exp(-rate * t[:, None])
        numpyro.sample("y", dist.Normal(mean, sigma).to_event(2), obs=jnp.exp(-t)[:, None])

    return model


def _set_up(backend_name: str, model, **kwargs):
    if backend_name == "pyro":
        import pyro

        from ppl_reparam.pyro.guides import AutoPathwiseGuide

        pyro.clear_param_store()
        guide = AutoPathwiseGuide(model, **kwargs)
        guide()
        return guide
    from numpyro import handlers

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide

    guide = AutoPathwiseGuide(model, **kwargs)
    handlers.seed(guide._setup_prototype, 0)()
    return guide


@pytest.mark.parametrize("backend_name", ["pyro", "numpyro"])
def test_default_correlation_is_full_for_an_ode_model_and_mean_field_otherwise(backend_name):
    pytest.importorskip(f"ppl_reparam.{backend_name}.ode")
    ode = _set_up(backend_name, _decay_model(backend_name, ode=True))
    assert ode.correlation == "full"
    assert ode.correlated_sites == ("rate", "sigma")
    # the same model without the solve, and an explicit choice, keep mean-field
    plain = _set_up(backend_name, _decay_model(backend_name, ode=False))
    assert plain.correlation is None and plain.correlated_sites == ()
    chosen = _set_up(backend_name, _decay_model(backend_name, ode=True), correlation=None)
    assert chosen.correlation is None and chosen.correlated_sites == ()
    ranked = _set_up(backend_name, _decay_model(backend_name, ode=True), correlation=1)
    assert ranked.correlation == 1 and ranked.correlated_sites == ("rate", "sigma")


@pytest.mark.parametrize("backend_name", ["pyro", "numpyro"])
def test_default_correlation_leaves_a_single_coordinate_mean_field(backend_name):
    pytest.importorskip(f"ppl_reparam.{backend_name}.ode")

    if backend_name == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch

        from ppl_reparam.pyro.ode import solve

        def model():
            rate = pyro.sample("rate", dist.LogNormal(0.0, 1.0))
            t = torch.linspace(0.1, 1.0, 5, dtype=torch.float64)
            mean = solve(lambda _, x, r: -r * x, torch.ones(1, dtype=t.dtype), t, rate, t0=0.0)
            pyro.sample("y", dist.Normal(mean[:, 0], 0.1).to_event(1), obs=torch.exp(-t))
    else:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        from ppl_reparam.numpyro.ode import solve

        def model():
            rate = numpyro.sample("rate", dist.LogNormal(0.0, 1.0))
            t = jnp.linspace(0.1, 1.0, 5)
            mean = solve(lambda _, x, r: -r * x, jnp.ones(1), t, rate, t0=0.0)
            numpyro.sample("y", dist.Normal(mean[:, 0], 0.1).to_event(1), obs=jnp.exp(-t))

    guide = _set_up(backend_name, model)
    assert guide.correlation is None and guide.correlated_sites == ()


# -- Normal families only: the backends' own multivariate normal guides -------------------


def _pyro_elbos(correlation: str | int, seeds) -> tuple[list, list]:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import Trace_ELBO
    from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal

    from ppl_reparam.pyro.guides import AutoPathwiseGuide

    def f64(x):
        return torch.tensor(x, dtype=torch.float64)

    def model():
        a = pyro.sample("a", dist.Normal(f64(0.0), 1.0))
        with pyro.plate("k", 2):
            b = pyro.sample("b", dist.Normal(f64(0.0), 1.0))
        c = pyro.sample("c", dist.HalfNormal(f64(1.0)))
        pyro.sample("y", dist.Normal(a + b.sum() + c, 1.0), obs=f64(0.3))

    theirs_params, ours_params = _matching_params(correlation)
    pyro.clear_param_store()
    if correlation == "full":
        theirs = AutoMultivariateNormal(model)
        theirs()
        theirs.loc = torch.nn.Parameter(f64(theirs_params["loc"]))
        theirs.scale = f64(theirs_params["scale"])
        theirs.scale_tril = f64(theirs_params["unit_tril"])
    else:
        theirs = AutoLowRankMultivariateNormal(model, rank=correlation)
        theirs()
        theirs.loc = torch.nn.Parameter(f64(theirs_params["loc"]))
        theirs.scale = f64(theirs_params["scale"])
        theirs.cov_factor = torch.nn.Parameter(f64(theirs_params["cov_factor"]))
    ours = AutoPathwiseGuide(model, correlation=correlation, families={"c": "normal"})
    ours()
    for (site, param), value in ours_params.items():
        module = ours if site == "copula" else getattr(ours, MODULES[param])
        setattr(module, param if site == "copula" else site, f64(value))
    losses = [], []
    for seed in seeds:
        for guide, out in zip((theirs, ours), losses, strict=True):
            pyro.set_rng_seed(seed)
            out.append(Trace_ELBO().loss(model, guide))
    return losses


def _numpyro_elbos(correlation: str | int, seeds) -> tuple[list, list]:
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import Trace_ELBO
    from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide

    def model():
        a = numpyro.sample("a", dist.Normal(0.0, 1.0))
        with numpyro.plate("k", 2):
            b = numpyro.sample("b", dist.Normal(0.0, 1.0))
        c = numpyro.sample("c", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(a + b.sum() + c, 1.0), obs=0.3)

    theirs_params, ours_params = _matching_params(correlation)
    if correlation == "full":
        theirs = AutoMultivariateNormal(model)
        # NumPyro stores diag(scale) @ unit_tril as one scaled unit lower-triangular factor
        scale_tril = theirs_params["scale"][:, None] * theirs_params["unit_tril"]
        p_theirs = {"auto_loc": theirs_params["loc"], "auto_scale_tril": scale_tril}
    else:
        theirs = AutoLowRankMultivariateNormal(model, rank=correlation)
        p_theirs = {
            "auto_loc": theirs_params["loc"],
            "auto_scale": theirs_params["scale"],
            "auto_cov_factor": theirs_params["cov_factor"],
        }
    ours = AutoPathwiseGuide(model, correlation=correlation, families={"c": "normal"})
    p_ours = {
        f"auto_{param}" if site == "copula" else f"{site}_auto_{param}": np.asarray(value)
        for (site, param), value in ours_params.items()
    }
    losses = [], []
    for guide, params, out in zip((theirs, ours), (p_theirs, p_ours), losses, strict=True):
        numpyro.handlers.seed(guide._setup_prototype, 0)()
        loss = jax.jit(lambda key, p, guide=guide: Trace_ELBO().loss(key, p, model, guide))
        out.extend(float(loss(jax.random.PRNGKey(seed), params)) for seed in seeds)
    return losses


def _matching_params(correlation: str | int) -> tuple[dict, dict]:
    """Random parameters of the backend's multivariate normal guide on (a, b[0], b[1], c)
    and ours for the same law: ``loc`` is shared; full: ``copula_tril`` is the unit
    lower-triangular factor, ``scale_i = s_i |L_i|``; rank k: ``copula_factor`` is the
    covariance factor ``W``, ``scale_i = s_i (1 + |W_i|^2)^(1/2)``."""
    rng = np.random.default_rng(1)
    loc, s = rng.normal(size=4), rng.uniform(0.3, 1.5, size=4)
    if correlation == "full":
        unit_tril = np.tril(rng.normal(size=(4, 4)), -1) + np.eye(4)
        theirs = {"loc": loc, "scale": s, "unit_tril": unit_tril}
        scale, copula = s * np.linalg.norm(unit_tril, axis=-1), ("copula_tril", unit_tril)
    else:
        w = rng.normal(size=(4, correlation))
        theirs = {"loc": loc, "scale": s, "cov_factor": w}
        scale, copula = s * np.sqrt(1.0 + np.sum(w * w, -1)), ("copula_factor", w)
    ours = {("copula", copula[0]): copula[1]}
    for site, index in (("a", 0), ("b", slice(1, 3)), ("c", 3)):
        ours[site, "loc"], ours[site, "scale"] = loc[index], scale[index]
    return theirs, ours


@pytest.mark.parametrize("correlation", ["full", 2])
def test_normal_families_equal_the_backends_multivariate_normal_guides(backend, correlation):
    """Same law, same noise: the ELBO estimates agree draw by draw."""
    run = _pyro_elbos if backend.name == "pyro" else _numpyro_elbos
    theirs, ours = run(correlation, seeds=range(3))
    assert len(set(np.round(theirs, 6))) == 3  # distinct draws, not one number three times
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


# -- fits of correlated targets ------------------------------------------------------------

RHO = 0.7  # the copula correlation of the positive / unit-interval target
S_LOC, S_SCALE = 0.5, 0.4  # its positive site: softplus(Normal(S_LOC, S_SCALE))
P_A, P_B = 2.0, 3.0  # its unit-interval site: Kumaraswamy(P_A, P_B)


def _pyro_targets():
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.distributions.transforms import SoftplusTransform

    from ppl_reparam.pyro.distributions import Kumaraswamy

    def f64(x):
        return torch.tensor(x, dtype=torch.float64)

    def gaussian():
        x1 = pyro.sample("x1", dist.Normal(f64(0.0), 1.0))
        pyro.sample("x2", dist.Normal(0.8 * x1, 0.6))

    def mixed():
        # the conditional law of a Gaussian copula given its unit-interval coordinate
        p = pyro.sample("p", Kumaraswamy(f64(P_A), f64(P_B)))
        z = torch.special.ndtri(Kumaraswamy(f64(P_A), f64(P_B)).cdf(p))
        base = dist.Normal(S_LOC + S_SCALE * RHO * z, S_SCALE * (1 - RHO**2) ** 0.5)
        pyro.sample("s", dist.TransformedDistribution(base, SoftplusTransform()))

    return gaussian, mixed


def _numpyro_targets():
    import jax.scipy.special as jsp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import SoftplusTransform

    from ppl_reparam.numpyro.distributions import Kumaraswamy

    def gaussian():
        x1 = numpyro.sample("x1", dist.Normal(0.0, 1.0))
        numpyro.sample("x2", dist.Normal(0.8 * x1, 0.6))

    def mixed():
        p = numpyro.sample("p", Kumaraswamy(P_A, P_B))
        z = jsp.ndtri(Kumaraswamy(P_A, P_B).cdf(p))
        base = dist.Normal(S_LOC + S_SCALE * RHO * z, S_SCALE * (1 - RHO**2) ** 0.5)
        numpyro.sample("s", dist.TransformedDistribution(base, SoftplusTransform()))

    return gaussian, mixed


def _fit(backend: str, model, correlation, num_steps: int, families=None) -> dict:
    """Fitted parameters as NumPy arrays, keyed as in :class:`Case` (site, param): 16
    particles a step, the average of the last 200 iterates."""
    if backend == "pyro":
        import pyro
        from pyro.infer import Trace_ELBO
        from pyro.optim import Adam

        from ppl_reparam.pyro.guides import AutoPathwiseGuide
        from ppl_reparam.pyro.infer import fit

        pyro.clear_param_store()
        optim, prefix = Adam({"lr": 0.05}), "AutoPathwiseGuide."
        loss = Trace_ELBO(num_particles=16, vectorize_particles=True, max_plate_nesting=0)
    else:
        import optax
        from numpyro.infer import Trace_ELBO

        from ppl_reparam.numpyro.guides import AutoPathwiseGuide
        from ppl_reparam.numpyro.infer import fit

        optim, prefix, loss = optax.adam(0.05), None, Trace_ELBO(num_particles=16)
    guide = AutoPathwiseGuide(model, correlation=correlation, families=families)
    result = fit(model, guide, num_steps=num_steps, optim=optim, loss=loss, average_last=200)
    out = {}
    for name, value in result.params.items():
        value = np.asarray(value.detach() if hasattr(value, "detach") else value)
        if prefix:  # "AutoPathwiseGuide.locs.x" / "AutoPathwiseGuide.copula_tril"
            parts = name[len(prefix) :].split(".")
            kind = {v: k for k, v in MODULES.items()}.get(parts[0], parts[0])
            key = ("copula", parts[0]) if len(parts) == 1 else (parts[1], kind)
        else:  # "x_auto_loc" / "auto_copula_tril"
            site, _, param = name.partition("_auto_") if "_auto_" in name else ("", "", name)
            key = ("copula", param[len("auto_") :]) if not site else (site, param)
        out[key] = value
    return out


def _fitted_correlation(params: dict) -> float:
    if ("copula", "copula_tril") in params:
        return _correlation_full(params["copula", "copula_tril"])[1, 0]
    return _correlation_factor(params["copula", "copula_factor"])[1, 0]


@pytest.mark.slow
@pytest.mark.parametrize("correlation", ["full", 1])
def test_fit_recovers_the_correlation_of_a_gaussian_target(backend, correlation):
    gaussian, _ = (_pyro_targets if backend.name == "pyro" else _numpyro_targets)()
    params = _fit(backend.name, gaussian, correlation, num_steps=400)
    assert abs(_fitted_correlation(params) - 0.8) < 0.05
    # the marginal of x2 is N(0, 1): scale 1, and the guide's x1 scale too
    np.testing.assert_allclose([params["x1", "scale"], params["x2", "scale"]], 1.0, atol=0.05)


@pytest.mark.slow
def test_fit_recovers_a_correlated_positive_and_unit_interval_target(backend):
    """The target is a Gaussian copula of a softplus-normal and a Kumaraswamy (written as
    a conditional law), so the guide's family holds it exactly: the fit recovers its
    correlation and marginals."""
    _, mixed = (_pyro_targets if backend.name == "pyro" else _numpyro_targets)()
    params = _fit(backend.name, mixed, "full", num_steps=400, families=KUMARASWAMY)
    assert abs(_fitted_correlation(params) - RHO) < 0.05
    np.testing.assert_allclose(params["s", "loc"], S_LOC, atol=0.05)
    np.testing.assert_allclose(params["s", "scale"], S_SCALE, atol=0.05)
    np.testing.assert_allclose(params["p", "concentration1"], P_A, rtol=0.1)
    np.testing.assert_allclose(params["p", "concentration0"], P_B, rtol=0.1)


# -- agreement across backends, gradients ------------------------------------------------

# one site per branch of the families' maps from the copula's noise
ALL_FAMILIES = {
    "mu": ("Normal", (0.0, 1.0)),
    "s": ("Gamma", (2.0, 2.0)),  # softplus
    "l": ("LogNormal", (0.0, 1.0)),  # overridden: lognormal
    "p": ("Beta", (2.0, 2.0), 2),  # overridden: kumaraswamy, a vector site
    "u": ("Uniform", (-1.0, 3.0)),  # overridden: kumaraswamy mapped onto (-1, 3)
    "w": ("Dirichlet", ([1.0, 1.0, 1.0],)),  # stick-breaking normal, 2 coordinates
    "x_min": ("Pareto", (1.0, 2.0)),  # overridden: 1 + softplus
    "q": ("Beta", (2.0, 2.0)),  # logit-normal
}
OVERRIDES = {"l": "lognormal", "p": "kumaraswamy", "u": "kumaraswamy", "x_min": "softplus"}


def test_backends_agree_on_draws_and_log_density_for_the_same_parameters():
    rng = np.random.default_rng(2)
    values = {("copula", "copula_tril"): rng.normal(size=(10, 10))}
    for site, shape in [("mu", ()), ("s", ()), ("l", ()), ("w", (2,)), ("x_min", ()), ("q", ())]:
        values[site, "loc"] = rng.normal(size=shape)
        values[site, "scale"] = rng.uniform(0.3, 1.0, size=shape)
    for site, shape in [("p", (2,)), ("u", ())]:
        values[site, "concentration1"] = rng.uniform(0.5, 3.0, size=shape)
        values[site, "concentration0"] = rng.uniform(0.5, 3.0, size=shape)
    z = rng.normal(size=(10,))
    results = []
    for name in ("pyro", "numpyro"):
        case = Case(name, ALL_FAMILIES, "full", families=OVERRIDES)
        assert case.guide.correlated_sites == tuple(ALL_FAMILIES)
        case.set(values)
        results.append(case.numpy_run(z))
    (pyro_x, pyro_log_q), (numpyro_x, numpyro_log_q) = results
    for site in ALL_FAMILIES:
        np.testing.assert_allclose(pyro_x[site], numpyro_x[site], rtol=1e-12, err_msg=site)
    np.testing.assert_allclose(pyro_log_q, numpyro_log_q, rtol=1e-12)


def _gradients(case: Case, z) -> list[np.ndarray]:
    """Gradients of the summed log q over the draws ``z`` with respect to every
    parameter (Pyro: unconstrained, as the optimizer sees them)."""
    if case.backend == "pyro":
        import torch

        _, log_q = case.run(z)
        # given z, a real site's log density does not involve its loc: allow_unused
        grads = torch.autograd.grad(log_q.sum(), list(case.guide.parameters()), allow_unused=True)
        return [g.numpy() for g in grads if g is not None]
    import jax

    z = np.asarray(z, dtype=case.dtype)
    grads = jax.grad(lambda p: _numpyro_run(case.guide, p, z)[1].sum())(case.params)
    return [np.asarray(g) for g in grads.values()]


def test_gradients_are_finite_at_identity_correlation_and_in_the_tails(backend, dtype):
    """At the initial (identity) copula, at z = 0, and where the Kumaraswamy's
    ``u = Phi(z)`` is within float eps of 0 or 1 (and beyond, where ``log(1 - u)``
    underflows)."""
    case = Case(backend.name, SITES, "full", dtype=dtype, families=KUMARASWAMY)
    case.set(MARGINALS | {("copula", "copula_tril"): np.zeros((3, 3))})
    far = 9.0 if dtype == "float32" else 30.0  # Phi(-far) far below eps
    beyond = 16.0 if dtype == "float32" else 40.0  # log Phi(-beyond) rounds to 0
    kumaraswamy_z = [0.0, -far, far, -beyond, beyond]
    z = np.array([[0.3, k, -0.2] for k in kumaraswamy_z])
    values, log_q = case.numpy_run(z)
    assert np.all(np.isfinite(log_q))
    assert np.all((values["p"] > 0) & (values["p"] < 1))
    assert values["p"][1] < 1e-3 and values["p"][2] > 1 - 1e-3
    for g in _gradients(case, z):
        assert np.all(np.isfinite(g))


# -- the correlated guide in the library's workflow ----------------------------------------


def _pyro_workflow(y, sigma):
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import Predictive

    from ppl_reparam.pyro.arviz import to_inference_data
    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit
    from ppl_reparam.pyro.relax import relax

    def mixed(data):
        g = pyro.sample("g", dist.Normal(0.0, 1.0))
        c = pyro.sample("c", dist.Bernoulli(0.3))
        with pyro.plate("data", len(data), subsample_size=5) as idx:
            local = pyro.sample("local", dist.Normal(g + c, 1.0))
            pyro.sample("obs", dist.Normal(local, 1.0), obs=data[idx])

    schools = models.pyro_eight_schools
    y, sigma = torch.tensor(y), torch.tensor(sigma)
    pyro.clear_param_store()
    guide = AutoPathwiseGuide(schools, correlation="full")
    result = fit(schools, guide, sigma, y=y, num_steps=30)
    draws = Predictive(schools, guide=guide, num_samples=10, parallel=True)(sigma)
    shapes = {k: tuple(v.shape) for k, v in draws.items()}
    median = {k: v.numpy() for k, v in guide.median(sigma).items()}
    idata = to_inference_data(result, num_samples=20, chains=2)
    other = AutoPathwiseGuide(relax(mixed, 0.5), correlation=2)
    other(torch.randn(20))
    return guide.correlated_sites, shapes, median, idata, other.correlated_sites


def _numpyro_workflow(y, sigma):
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import Predictive

    from ppl_reparam.numpyro.arviz import to_inference_data
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit
    from ppl_reparam.numpyro.relax import relax

    def mixed(data):
        g = numpyro.sample("g", dist.Normal(0.0, 1.0))
        c = numpyro.sample("c", dist.Bernoulli(0.3))
        with numpyro.plate("data", len(data), subsample_size=5) as idx:
            local = numpyro.sample("local", dist.Normal(g + c, 1.0))
            numpyro.sample("obs", dist.Normal(local, 1.0), obs=data[idx])

    schools = models.numpyro_eight_schools
    guide = AutoPathwiseGuide(schools, correlation="full")
    result = fit(schools, guide, sigma, y=y, num_steps=30)
    key = jax.random.PRNGKey(0)
    draws = Predictive(schools, guide=guide, params=result.params, num_samples=10)(key, sigma)
    posterior = guide.sample_posterior(key, result.params, sample_shape=(10,))
    shapes = {k: v.shape for k, v in draws.items()} | {k: v.shape for k, v in posterior.items()}
    median = {k: np.asarray(v) for k, v in guide.median(result.params).items()}
    idata = to_inference_data(result, num_samples=20, chains=2)
    other = AutoPathwiseGuide(relax(mixed, 0.5), correlation=2)
    numpyro.handlers.seed(other._setup_prototype, 0)(np.zeros(20))
    return guide.correlated_sites, shapes, median, idata, other.correlated_sites


@pytest.mark.slow
def test_correlated_guide_works_with_fit_predictive_and_arviz_export(backend):
    from tests.datasets import eight_schools

    y, sigma = eight_schools()
    run = _pyro_workflow if backend.name == "pyro" else _numpyro_workflow
    correlated, shapes, median, idata, mixed_correlated = run(y, sigma)
    assert correlated == ("mu", "tau", "theta_raw")
    assert shapes["y"] == (10, 8)
    # Pyro's parallel Predictive keeps the draws' plate dim: (10, 1), as for AutoNormal
    assert shapes["theta_raw"] == (10, 8) and np.prod(shapes["tau"]) == 10
    assert median["theta_raw"].shape == (8,) and median["tau"] > 0  # the marginals' medians
    assert set(idata.posterior.data_vars) == {"mu", "tau", "theta_raw"}
    assert idata.posterior["theta_raw"].shape == (2, 10, 8)
    assert np.all(idata.posterior["tau"].values > 0)
    # relaxed sites and sites in a subsampled plate stay mean-field
    assert mixed_correlated == ("g",)
