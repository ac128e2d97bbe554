"""Independent draws of the gradient estimates of ``RelaxedControlVariateELBO`` on the
models of :mod:`tests.discrete_reference`, in each backend (float64).

The model is replicated ``reps`` times in an outer plate, each replicate with its own
copy of the guide logits: the per-element costs make the replicates' gradients
independent, so one call gives ``reps`` draws. ``tune_steps`` Adam steps on the
control-variate parameters alone (the logits fixed) come first. ``logits``: one set for
all replicates, or one per replicate (a leading axis of size ``reps``); ``options`` go to
the ELBO.
"""

import numpy as np

from tests.discrete_reference import BERNOULLI_X, MEANS, MIXTURE_X, P1, WEIGHTS


def _per_replicate(model_name: str, logits, reps: int) -> np.ndarray:
    """``logits`` (one set, or one per replicate) as one set per replicate."""
    shape = () if model_name == "bernoulli" else MIXTURE_X.shape + MEANS.shape
    return np.broadcast_to(logits, (reps,) + shape).copy()


def _pyro_bit(reps: int, init):
    """The Bernoulli model replicated ``reps`` times, and its guide (logits ``init``)."""
    import pyro
    import pyro.distributions as dist
    import torch

    x = torch.as_tensor(BERNOULLI_X, dtype=torch.float64)

    def model():
        with pyro.plate("rep", reps, dim=-1):
            b = pyro.sample("b", dist.Bernoulli(torch.tensor(P1, dtype=x.dtype)))
            with pyro.plate("obs", len(x), dim=-2):
                pyro.sample("x", dist.Normal(2 * b - 1, 1.0), obs=x[:, None])

    def guide():
        theta = pyro.param("theta", init)
        with pyro.plate("rep", reps, dim=-1):
            pyro.sample("b", dist.Bernoulli(logits=theta))

    return model, guide


def pyro_draws(
    model_name,
    logits,
    estimator,
    reps,
    seed=0,
    tune_steps=0,
    lr=0.05,
    subsample_size=None,
    **options,
):
    """``(reps,) + logits.shape`` draws of the estimate of the gradient (ascent);
    ``subsample_size``: of the mixture's data plate (the replicates share the batch)."""
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.pyro.relax import choose

    f64 = torch.float64
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    init = torch.as_tensor(_per_replicate(model_name, logits, reps), dtype=f64)
    if model_name == "bernoulli":
        model, guide = _pyro_bit(reps, init)
    else:
        x, means = (torch.as_tensor(a, dtype=f64) for a in (MIXTURE_X, MEANS))

        def model():
            with pyro.plate("rep", reps, dim=-2):
                with pyro.plate("data", len(x), subsample_size=subsample_size, dim=-1) as i:
                    z = pyro.sample("z", dist.Categorical(torch.as_tensor(WEIGHTS, dtype=f64)))
                    pyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x[i])

        def guide():
            theta = pyro.param("theta", init)
            with pyro.plate("rep", reps, dim=-2):
                with pyro.plate("data", len(x), subsample_size=subsample_size, dim=-1) as i:
                    pyro.sample("z", dist.Categorical(logits=theta[:, i]))

    elbo = RelaxedControlVariateELBO(estimator=estimator, **options)
    store = pyro.get_param_store()
    for step in range(tune_steps + 1):
        elbo.loss_and_grads(model, guide)
        theta = store["theta"].unconstrained()
        grad = -theta.grad.numpy().copy()
        theta.grad = None
        cv = [store[n].unconstrained() for n in store.keys() if "_cv_" in n]
        if step == 0 and tune_steps:
            optim = torch.optim.Adam(cv, lr=lr)
        if step < tune_steps:
            optim.step()
        for p in cv:
            p.grad = None
    return grad


def numpyro_draws(model_name, logits, estimator, reps, seed=0, tune_steps=0, lr=0.05, **options):
    """As :func:`pyro_draws`, in NumPyro (x64 must be enabled)."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax

    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.numpyro.relax import choose

    init = jnp.asarray(_per_replicate(model_name, logits, reps), jnp.float64)
    if model_name == "bernoulli":
        x, site = jnp.asarray(BERNOULLI_X), "b"

        def model():
            with numpyro.plate("rep", reps, dim=-1):
                b = numpyro.sample("b", dist.Bernoulli(P1))
                with numpyro.plate("obs", len(x), dim=-2):
                    numpyro.sample("x", dist.Normal(2 * b - 1, 1.0), obs=x[:, None])

        def guide(theta):
            with numpyro.plate("rep", reps, dim=-1):
                numpyro.sample("b", dist.Bernoulli(logits=theta))

    else:
        x, means, site = jnp.asarray(MIXTURE_X), jnp.asarray(MEANS), "z"

        def model():
            with numpyro.plate("rep", reps, dim=-2), numpyro.plate("data", len(x), dim=-1):
                z = numpyro.sample("z", dist.Categorical(jnp.asarray(WEIGHTS)))
                numpyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x)

        def guide(theta):
            with numpyro.plate("rep", reps, dim=-2), numpyro.plate("data", len(x), dim=-1):
                numpyro.sample("z", dist.Categorical(logits=theta))

    elbo = RelaxedControlVariateELBO(estimator=estimator, **options)
    params = {
        "theta": init,
        f"{site}_cv_scale": jnp.asarray(elbo.cv_scale),
        f"{site}_cv_log_temperature": jnp.log(jnp.asarray(elbo.temperature)),
    }

    def grads(params, key):
        return jax.grad(lambda p: elbo.loss(key, p, model, lambda: guide(p["theta"])))(params)

    keys = jax.random.split(jax.random.key(seed), tune_steps + 1)
    optim = optax.adam(lr)
    cv = {k: v for k, v in params.items() if k != "theta"}
    state = optim.init(cv)
    # compiled once for all steps; XLA's backend optimisations off halve the compile time
    step = jax.jit(grads, compiler_options={"xla_backend_optimization_level": 0})
    for key in keys[:-1]:
        g = step({**params, **cv}, key)
        updates, state = optim.update({k: g[k] for k in cv}, state)
        cv = optax.apply_updates(cv, updates)
    return -np.asarray(step({**params, **cv}, keys[-1])["theta"])


UPSTREAM_LOSSES = ("Trace_ELBO", "TraceGraph_ELBO")


def upstream_draws(backend, model_name, logits, loss, reps, seed=0, data_plate=True):
    """``(reps,) + logits.shape`` independent draws of the gradient (ascent) that the
    backend's own ``loss`` (``"Trace_ELBO"`` or ``"TraceGraph_ELBO"``) gives the guide
    logits, one model run per draw: the score-function estimator without this library.
    ``data_plate=False``: the mixture written without a data plate (labels and
    observations as sites with an event dim, ``to_event(1)``), so that no plate
    Rao-Blackwellises the learning signal: each label's is the whole run's ELBO."""
    if loss not in UPSTREAM_LOSSES:
        raise ValueError(f"loss must be one of {UPSTREAM_LOSSES}, got {loss!r}")
    shape = () if model_name == "bernoulli" else MIXTURE_X.shape + MEANS.shape
    init = np.broadcast_to(logits, shape)
    if backend == "pyro":
        return _pyro_upstream(model_name, init, loss, reps, seed, data_plate)
    return _numpyro_upstream(model_name, init, loss, reps, seed, data_plate)


def _pyro_upstream(model_name, init, loss, reps, seed, data_plate):
    # vectorised: Pyro sums a site's score-function cost to the site's plates, so the
    # copies of the model in an outer plate are independent runs
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.relax import choose

    f64 = torch.float64
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    init = torch.as_tensor(np.broadcast_to(init, (reps,) + init.shape).copy(), dtype=f64)
    if model_name == "bernoulli":
        model, guide = _pyro_bit(reps, init)
    elif data_plate:
        x, means = (torch.as_tensor(a, dtype=f64) for a in (MIXTURE_X, MEANS))

        def model():
            with pyro.plate("rep", reps, dim=-2), pyro.plate("data", len(x), dim=-1):
                z = pyro.sample("z", dist.Categorical(torch.as_tensor(WEIGHTS, dtype=f64)))
                pyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x)

        def guide():
            theta = pyro.param("theta", init)
            with pyro.plate("rep", reps, dim=-2), pyro.plate("data", len(x), dim=-1):
                pyro.sample("z", dist.Categorical(logits=theta))

    else:
        x, means = (torch.as_tensor(a, dtype=f64) for a in (MIXTURE_X, MEANS))
        prior = dist.Categorical(torch.as_tensor(WEIGHTS, dtype=f64))

        def model():
            with pyro.plate("rep", reps, dim=-1):
                z = pyro.sample("z", prior.expand([reps, len(x)]).to_event(1))
                pyro.sample("x", dist.Normal(choose(z, means), 1.0).to_event(1), obs=x)

        def guide():
            theta = pyro.param("theta", init)
            with pyro.plate("rep", reps, dim=-1):
                pyro.sample("z", dist.Categorical(logits=theta).to_event(1))

    getattr(pyro.infer, loss)().loss_and_grads(model, guide)
    return -pyro.param("theta").unconstrained().grad.numpy()


def _numpyro_upstream(model_name, init, loss, reps, seed, data_plate):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro import infer

    from ppl_reparam.numpyro.relax import choose

    if model_name == "bernoulli":
        x = jnp.asarray(BERNOULLI_X)

        def model():
            b = numpyro.sample("b", dist.Bernoulli(P1))
            with numpyro.plate("obs", len(x)):
                numpyro.sample("x", dist.Normal(2 * b - 1, 1.0), obs=x)

        def guide(theta):
            numpyro.sample("b", dist.Bernoulli(logits=theta))

    elif data_plate:
        x, means = jnp.asarray(MIXTURE_X), jnp.asarray(MEANS)

        def model():
            with numpyro.plate("data", len(x)):
                z = numpyro.sample("z", dist.Categorical(jnp.asarray(WEIGHTS)))
                numpyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x)

        def guide(theta):
            with numpyro.plate("data", len(x)):
                numpyro.sample("z", dist.Categorical(logits=theta))

    else:
        x, means = jnp.asarray(MIXTURE_X), jnp.asarray(MEANS)

        def model():
            prior = dist.Categorical(jnp.asarray(WEIGHTS)).expand([len(x)])
            z = numpyro.sample("z", prior.to_event(1))
            numpyro.sample("x", dist.Normal(choose(z, means), 1.0).to_event(1), obs=x)

        def guide(theta):
            numpyro.sample("z", dist.Categorical(logits=theta).to_event(1))

    elbo = getattr(infer, loss)()

    def draw(key):
        return -jax.grad(lambda t: elbo.loss(key, {}, model, lambda: guide(t)))(init)

    keys = jax.random.split(jax.random.key(seed), reps)
    return np.asarray(jax.jit(jax.vmap(draw))(keys))
