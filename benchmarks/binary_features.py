"""Relaxed SVI against score-function SVI where enumeration is infeasible.

Each of N points has K = 20 binary latent features (2^20 joint configurations per point),
x_n ~ Normal(z_n W, 0.5) with W fixed. The guide has one logit per (point, feature).
Score-function: Bernoulli guide under TraceGraph_ELBO. Relaxed: the same model through
``relax`` (temperature 0.5) with the matching logistic guide under Trace_ELBO. Both run the
same number of Adam steps from the same start. Printed per backend: the variance of the
gradient estimate (mean over the N*K logits) at the start, and the *discrete* ELBO (the
same Bernoulli guide, logits as learned, 500 particles) at the end.
Run: ``python benchmarks/binary_features.py [--steps 2000]``.
"""

import argparse
import time

import numpy as np

N, D, K, TAU, LR = 200, 10, 20, 0.5, 0.05


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, D))
    z = rng.random((N, K)) < 0.3
    return w, z @ w + 0.5 * rng.normal(size=(N, D))


def numpyro_rows(steps: int) -> list:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer import SVI, Trace_ELBO, TraceGraph_ELBO

    from ppl_reparam.numpyro.relax import relax

    jax.config.update("jax_enable_x64", True)
    w, x = (jnp.asarray(a) for a in _problem())

    def model(x):
        with numpyro.plate("data", N):
            z = numpyro.sample("z", dist.Bernoulli(0.3 * jnp.ones(K)).to_event(1))
            numpyro.sample("x", dist.Normal(z @ w, 0.5).to_event(1), obs=x)

    def guide_discrete(x, relax_temperature=None):
        logits = numpyro.param("logits", jnp.zeros((N, K)))
        with numpyro.plate("data", N):
            numpyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def guide_relaxed(x, relax_temperature):
        logits = numpyro.param("logits", jnp.zeros((N, K)))
        t = relax_temperature
        with numpyro.plate("data", N):
            numpyro.sample("z_relaxed", dist.Logistic(logits / t, 1 / t).to_event(1))

    def discrete_elbo(logits):
        loss = Trace_ELBO(num_particles=500).loss(
            jax.random.PRNGKey(9), {"logits": logits}, model, guide_discrete, x
        )
        return -float(loss)

    rows = []
    methods = [
        ("score-function", model, guide_discrete, TraceGraph_ELBO(), {}),
        ("relaxed", relax(model, TAU), guide_relaxed, Trace_ELBO(), {"relax_temperature": TAU}),
    ]
    for name, m, g, elbo, kw in methods:
        svi = SVI(m, g, optax.adam(LR), elbo)
        state = svi.init(jax.random.PRNGKey(0), x, **kw)
        start_logits = svi.get_params(state)["logits"]

        def loss_at(logits, key, m=m, g=g, elbo=elbo, kw=kw):
            return elbo.loss(key, {"logits": logits}, m, g, x, **kw)

        keys = jax.random.split(jax.random.PRNGKey(3), 200)
        grads = jax.jit(jax.vmap(jax.grad(loss_at), (None, 0)))(start_logits, keys)
        variance = float(jnp.mean(jnp.var(grads, 0)))
        update = jax.jit(lambda s, svi=svi, kw=kw: svi.update(s, x, **kw))
        state, _ = update(state)
        begin = time.perf_counter()
        for _ in range(steps):
            state, _ = update(state)
        per_step = (time.perf_counter() - begin) / steps
        rows.append((name, variance, discrete_elbo(svi.get_params(state)["logits"]), per_step))
    return rows


def pyro_rows(steps: int) -> list:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO, TraceGraph_ELBO
    from pyro.optim import Adam

    from ppl_reparam.pyro.relax import relax

    w, x = (torch.tensor(a) for a in _problem())

    def model(x):
        with pyro.plate("data", N):
            z = pyro.sample("z", dist.Bernoulli(0.3 * torch.ones(K, dtype=x.dtype)).to_event(1))
            pyro.sample("x", dist.Normal(z @ w, 0.5).to_event(1), obs=x)

    def guide_discrete(x, relax_temperature=None):
        logits = pyro.param("logits", torch.zeros(N, K, dtype=x.dtype))
        with pyro.plate("data", N):
            pyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def guide_relaxed(x, relax_temperature):
        logits = pyro.param("logits", torch.zeros(N, K, dtype=x.dtype))
        t = relax_temperature
        with pyro.plate("data", N):
            pyro.sample("z_relaxed", dist.Logistic(logits / t, 1 / t).to_event(1))

    def discrete_elbo():
        pyro.set_rng_seed(9)
        elbo = Trace_ELBO(num_particles=500, vectorize_particles=True, max_plate_nesting=1)
        with torch.no_grad():
            return -elbo.loss(model, guide_discrete, x)

    rows = []
    methods = [
        ("score-function", model, guide_discrete, TraceGraph_ELBO(), {}),
        ("relaxed", relax(model, TAU), guide_relaxed, Trace_ELBO(), {"relax_temperature": TAU}),
    ]
    for name, m, g, elbo, kw in methods:
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        g(x, **kw)
        logits = pyro.param("logits").unconstrained()
        grads = []
        for _ in range(200):
            elbo.loss_and_grads(m, g, x, **kw)
            grads.append(logits.grad.detach().clone())
            logits.grad.zero_()
        variance = float(torch.stack(grads).var(0).mean())
        svi = SVI(m, g, Adam({"lr": LR}), elbo)
        begin = time.perf_counter()
        for _ in range(steps):
            svi.step(x, **kw)
        per_step = (time.perf_counter() - begin) / steps
        rows.append((name, variance, discrete_elbo(), per_step))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    print(f"{N} points x {K} binary features, {args.steps} Adam steps (lr {LR}), tau {TAU}")
    print(
        f"{'backend':<9}{'estimator':<16}{'grad variance':>15}{'discrete ELBO':>15}{'ms/step':>9}"
    )
    for backend, rows in (("numpyro", numpyro_rows(args.steps)), ("pyro", pyro_rows(args.steps))):
        for name, variance, elbo, per_step in rows:
            print(f"{backend:<9}{name:<16}{variance:>15.3e}{elbo:>15.1f}{1e3 * per_step:>9.2f}")


if __name__ == "__main__":
    main()
