"""Relaxed SVI against exact enumeration and score-function SVI on a mixture whose
likelihood is a neural network of the mixture label (the semi-supervised-VAE situation).

Each of N points has a covariate c_n (dim C) and an observation x_n (dim D);
z_n ~ Categorical(softmax(w_logits)) and x_n ~ Normal(NN(c_n, onehot(z_n)), SIGMA) with
NN a one-hidden-layer tanh MLP of width H, ``tanh(c W1c + onehot(z) W1z + b1) W2 + b2``
(the first layer on the concatenation ``[c, onehot(z)]``, split in two). The network
weights and ``w_logits`` are model ``param`` s (point estimates), SIGMA is fixed at its
true value. Data (N training and N held-out points) come from a random network of the
same form with known weights. Enumeration evaluates the hidden and output layers K times
per point; a relaxed or sampled z evaluates them once.

Four ways to train the same parameters, all from the same initial values with the
same number of full-batch Adam steps and the same learning rate:

- relaxed, two ways: ``relax(model, ExponentialDecay(...), density=...)`` under
  Trace_ELBO, with a per-point ``ExpRelaxedOneHotCategorical(relax_temperature,
  logits=q_logits, density=...)`` guide for ``"z_relaxed"``, scored with the categorical
  mass (``density="categorical"``, the choice for learned mixture weights) and with the
  ExpConcrete density (``"concrete"``); the temperature is read from the schedule every
  step and passed as an argument (NumPyro: a traced argument of the jitted step,
  compiled once);
- enumerated: ``config_enumerate(model)`` under TraceEnum_ELBO, no z in the guide;
- score-function: a per-point ``Categorical(logits=q_logits)`` guide for ``"z"`` under
  TraceGraph_ELBO (no baseline);
- rebar: the same guide under ``RelaxedControlVariateELBO()`` (unbiased gradients of the
  discrete ELBO, the relaxation as a control variate with its scale and temperature
  tuned online; ``fit``'s default loss for such a model).

Printed per backend, K and method: the median milliseconds of one SVI step (NumPyro: a
jitted ``svi.update``, blocked on; Pyro: ``SVI.step``) over all training steps after
WARMUP, the ratio of the enumerated step time to it, and the exact log likelihood per point,
``mean_n logsumexp_k [log w_k + log Normal(x_n | NN(c_n, e_k), SIGMA)]``, under the
learned parameters (float64 NumPy, the same metric for all methods): on the held-out
points, next to its value under the true parameters, and on the training points (which
tells under-fitting from over-fitting: the network weights are point estimates, so
train LL above the true value is over-fitting). A method that raises is printed as
failed with its error.

Reference: Jang, Gu and Poole (2017, Gumbel-Softmax) report relaxed training of a
semi-supervised VAE 2x (K=10) and 9.9x (K=100) faster per step than marginalizing the
label. Their networks are far larger than this MLP, so fixed per-step overhead weighs
more here.

Pyro on a machine whose cores are busy with other work: torch's default intra-op thread
pool (one thread per core) can make these small steps 10-50x slower and erratic; pass
``--torch-threads 1`` for meaningful Pyro timings there.
Run: ``python benchmarks/mixture.py [--backend numpyro|pyro|both] [--K 3 10 30 100]
[--steps 1000] [--lr 0.05] [--torch-threads 1] [--methods rebar ...]``.
"""

import argparse
import functools
import math
import statistics
import time

import numpy as np

N, C, D, H, SIGMA = 1000, 2, 8, 64, 0.3
WARMUP = 20  # steps not timed (NumPyro compiles on the first)
METHODS = ("relaxed (categorical)", "relaxed (concrete)", "enum", "score", "rebar")
DENSITY = {"relaxed (categorical)": "categorical", "relaxed (concrete)": "concrete"}
MODEL_PARAMS = ("w_logits", "W1c", "W1z", "b1", "W2", "b2")


def _true_params(K: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "w_logits": rng.normal(size=K),
        "W1c": rng.normal(size=(C, H)),
        "W1z": 1.5 * rng.normal(size=(K, H)),
        "b1": 0.5 * rng.normal(size=H),
        "W2": 1.5 * rng.normal(size=(H, D)) / math.sqrt(H),
        "b2": np.zeros(D),
    }


def _init_params(K: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    p = {
        "w_logits": np.zeros(K),
        "W1c": rng.normal(size=(C, H)) / math.sqrt(C),
        "W1z": rng.normal(size=(K, H)),
        "b1": np.zeros(H),
        "W2": rng.normal(size=(H, D)) / math.sqrt(H),
        "b2": np.zeros(D),
        "q_logits": np.zeros((N, K)),
    }
    return {k: v.astype(np.float32) for k, v in p.items()}


def _mlp_all_k(p: dict, c: np.ndarray) -> np.ndarray:
    """NN(c_n, e_k) for every point and label: shape (N, K, D)."""
    h = np.tanh((c @ p["W1c"])[:, None, :] + p["W1z"][None] + p["b1"])
    return h @ p["W2"] + p["b2"]


def _data(K: int, seed: int = 2):
    truth = _true_params(K)
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(2 * N, C))
    w = np.exp(truth["w_logits"] - truth["w_logits"].max())
    z = rng.choice(K, size=2 * N, p=w / w.sum())
    x = _mlp_all_k(truth, c)[np.arange(2 * N), z] + SIGMA * rng.normal(size=(2 * N, D))
    f32 = [a.astype(np.float32) for a in (c[:N], x[:N], c[N:], x[N:])]
    return truth, *f32


def marginal_ll(params: dict, c: np.ndarray, x: np.ndarray) -> float:
    """Exact marginal log p(x | c) per point (mean over the points), in float64."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    c, x = np.asarray(c, np.float64), np.asarray(x, np.float64)
    log_w = p["w_logits"] - np.logaddexp.reduce(p["w_logits"])
    resid = (x[:, None, :] - _mlp_all_k(p, c)) / SIGMA
    log_lik = -0.5 * (resid**2).sum(-1) - D * (math.log(SIGMA) + 0.5 * math.log(2 * math.pi))
    return float(np.logaddexp.reduce(log_w + log_lik, axis=-1).mean())


def _schedule(steps: int):
    from ppl_reparam.schedules import ExponentialDecay

    # Jang et al.'s schedule (start 1, floor 0.5), the rate scaled so that the floor is
    # reached half-way through training.
    return ExponentialDecay(1.0, math.log(2) / (steps / 2), floor=0.5, update_every=50)


def _run(method: str, build, steps: int):
    """Train with ``build(method)`` -> (step(t), params()); return (median ms per step
    after WARMUP, learned params) or an error message."""
    try:
        step, params = build(method)
        times = []
        for t in range(steps):
            begin = time.perf_counter()
            step(t)
            times.append(time.perf_counter() - begin)
        return 1e3 * statistics.median(times[WARMUP:] or times), params()
    except Exception as e:  # report a failing method in the table instead of aborting
        return f"{type(e).__name__}: {str(e).splitlines()[0][:60]}"


def _row(K: int, build, steps: int, truth: dict, c, x, c_test, x_test, methods) -> dict:
    """Train every method, print and return the row of K: per method (ms per step,
    held-out LL, train LL) or an error message."""
    row = {"K": K, "true": marginal_ll(truth, c_test, x_test)}
    for method in methods:
        result = _run(method, build, steps)
        if isinstance(result, tuple):
            ms, p = result
            result = (ms, marginal_ll(p, c_test, x_test), marginal_ll(p, c, x))
        row[method] = result
    _print_row(row)
    return row


def numpyro_rows(Ks, steps: int, lr: float, methods=METHODS) -> list:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.contrib.funsor import config_enumerate
    from numpyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO

    from ppl_reparam.numpyro.distributions import ExpRelaxedOneHotCategorical
    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO, control_variate_params
    from ppl_reparam.numpyro.relax import relax

    def one_hot(z, K):
        """A relaxed (float) z as is; an integer z from sampling or enumeration one-hot."""
        return z if jnp.issubdtype(z.dtype, jnp.floating) else jax.nn.one_hot(z, K)

    rows = []
    for K in Ks:
        truth, c, x, c_test, x_test = _data(K)
        init = _init_params(K)
        c, x = jnp.asarray(c), jnp.asarray(x)

        def model(c, x, K=K, init=init):
            p = {k: numpyro.param(k, jnp.asarray(v)) for k, v in init.items() if k != "q_logits"}
            with numpyro.plate("data", N):
                z = numpyro.sample("z", dist.Categorical(logits=p["w_logits"]))
                h = jnp.tanh(c @ p["W1c"] + one_hot(z, K) @ p["W1z"] + p["b1"])
                loc = h @ p["W2"] + p["b2"]
                numpyro.sample("x", dist.Normal(loc, SIGMA).to_event(1), obs=x)

        def guide_relaxed(c, x, relax_temperature, density, init=init):
            q = numpyro.param("q_logits", jnp.asarray(init["q_logits"]))
            with numpyro.plate("data", N):
                t = relax_temperature
                fn = ExpRelaxedOneHotCategorical(t, logits=q, density=density)
                numpyro.sample("z_relaxed", fn)

        def guide_score(c, x, init=init):
            q = numpyro.param("q_logits", jnp.asarray(init["q_logits"]))
            with numpyro.plate("data", N):
                numpyro.sample("z", dist.Categorical(logits=q))

        def guide_rebar(c, x):
            control_variate_params("z")  # the control variate's tuned scale and temperature
            guide_score(c, x)

        def guide_enum(c, x):
            pass

        def build(method, c=c, x=x, model=model, guide_relaxed=guide_relaxed):
            if method in DENSITY:
                density = DENSITY[method]
                relaxed = relax(model, _schedule(steps), density=density)
                guide = functools.partial(guide_relaxed, density=density)
                svi = SVI(relaxed, guide, optax.adam(lr), Trace_ELBO())
                state = [svi.init(jax.random.PRNGKey(0), c, x, relax_temperature=1.0)]
                update = jax.jit(lambda s, t: svi.update(s, c, x, relax_temperature=t))
                args = lambda t: (relaxed.temperature_at(t),)  # noqa: E731
            else:
                m, g, elbo = {
                    "enum": (config_enumerate(model), guide_enum, TraceEnum_ELBO()),
                    "score": (model, guide_score, TraceGraph_ELBO()),
                    "rebar": (model, guide_rebar, RelaxedControlVariateELBO()),
                }[method]
                svi = SVI(m, g, optax.adam(lr), elbo)
                state = [svi.init(jax.random.PRNGKey(0), c, x)]
                update = jax.jit(lambda s: svi.update(s, c, x))
                args = lambda t: ()  # noqa: E731

            def step(t):
                state[0], loss = update(state[0], *args(t))
                loss.block_until_ready()

            return step, lambda: svi.get_params(state[0])

        rows.append(_row(K, build, steps, truth, c, x, c_test, x_test, methods))
    return rows


def pyro_rows(Ks, steps: int, lr: float, methods=METHODS) -> list:
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO, config_enumerate
    from pyro.optim import Adam

    from ppl_reparam.pyro.distributions import ExpRelaxedOneHotCategorical
    from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.pyro.relax import relax

    def one_hot(z, K):
        """A relaxed (float) z as is; an integer z from sampling or enumeration one-hot."""
        if z.is_floating_point():
            return z
        return torch.nn.functional.one_hot(z, K).to(torch.float32)

    rows = []
    for K in Ks:
        truth, c, x, c_test, x_test = _data(K)
        init = _init_params(K)
        c, x = torch.as_tensor(c), torch.as_tensor(x)

        def model(c, x, K=K, init=init):
            p = {
                k: pyro.param(k, lambda v=v: torch.as_tensor(v).clone())
                for k, v in init.items()
                if k != "q_logits"
            }
            with pyro.plate("data", N):
                z = pyro.sample("z", dist.Categorical(logits=p["w_logits"]))
                h = torch.tanh(c @ p["W1c"] + one_hot(z, K) @ p["W1z"] + p["b1"])
                loc = h @ p["W2"] + p["b2"]
                pyro.sample("x", dist.Normal(loc, SIGMA).to_event(1), obs=x)

        def guide_relaxed(c, x, relax_temperature, density, init=init):
            q = pyro.param("q_logits", lambda: torch.as_tensor(init["q_logits"]).clone())
            with pyro.plate("data", N):
                t = torch.as_tensor(relax_temperature, dtype=torch.float32)
                fn = ExpRelaxedOneHotCategorical(t, logits=q, density=density)
                pyro.sample("z_relaxed", fn)

        def guide_score(c, x, init=init):
            q = pyro.param("q_logits", lambda: torch.as_tensor(init["q_logits"]).clone())
            with pyro.plate("data", N):
                pyro.sample("z", dist.Categorical(logits=q))

        def guide_enum(c, x):
            pass

        def build(method, c=c, x=x, model=model, guide_relaxed=guide_relaxed):
            pyro.clear_param_store()
            pyro.set_rng_seed(0)
            if method in DENSITY:
                density = DENSITY[method]
                relaxed = relax(model, _schedule(steps), density=density)
                guide = functools.partial(guide_relaxed, density=density)
                svi = SVI(relaxed, guide, Adam({"lr": lr}), Trace_ELBO())
                kwargs = lambda t: {"relax_temperature": relaxed.temperature_at(t)}  # noqa: E731
            else:
                m, g, elbo = {
                    "enum": (
                        config_enumerate(model),
                        guide_enum,
                        TraceEnum_ELBO(max_plate_nesting=1),
                    ),
                    "score": (model, guide_score, TraceGraph_ELBO()),
                    "rebar": (model, guide_score, RelaxedControlVariateELBO()),
                }[method]
                svi = SVI(m, g, Adam({"lr": lr}), elbo)
                kwargs = lambda t: {}  # noqa: E731

            def params():
                store = pyro.get_param_store()
                return {k: store[k].detach().numpy() for k in MODEL_PARAMS}

            return lambda t: svi.step(c, x, **kwargs(t)), params

        rows.append(_row(K, build, steps, truth, c, x, c_test, x_test, methods))
    return rows


def _header(backend: str, steps: int, lr: float) -> None:
    print(f"\n{backend}: N={N} train / {N} held-out, C={C}, D={D}, H={H}, sigma={SIGMA};")
    print(f"{steps} full-batch Adam steps (lr {lr}); temperature {_schedule(steps)!r}")
    print("LL = exact log p(x | c) per point under the learned parameters")
    print(
        f"{'K':>4}  {'method':<21} {'step [ms]':>9} {'enum/this':>9} "
        f"{'held-out LL':>11} {'true':>7} {'train LL':>9}"
    )


def _print_row(row: dict) -> None:
    enum = row.get("enum", "not run")
    for m in [m for m in METHODS if m in row]:
        result = row[m]
        if isinstance(result, str):
            print(f"{row['K']:>4}  {m:<21} failed: {result}")
            continue
        ms, heldout, train = result
        ratio = f"{enum[0] / ms:9.2f}" if not isinstance(enum, str) else f"{'-':>9}"
        print(
            f"{row['K']:>4}  {m:<21} {ms:9.2f} {ratio} {heldout:11.2f} "
            f"{row['true']:7.2f} {train:9.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("numpyro", "pyro", "both"), default="both")
    parser.add_argument("--K", type=int, nargs="+", default=[3, 10, 30, 100])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the Pyro runs (default: leave torch's default)",
    )
    args = parser.parse_args()
    begin = time.perf_counter()
    backends = ("numpyro", "pyro") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "numpyro":
            _header("numpyro", args.steps, args.lr)
            numpyro_rows(args.K, args.steps, args.lr, args.methods)
        else:
            import torch

            if args.torch_threads is not None:
                torch.set_num_threads(args.torch_threads)
            _header(f"pyro ({torch.get_num_threads()} torch threads)", args.steps, args.lr)
            pyro_rows(args.K, args.steps, args.lr, args.methods)
    print(f"\ntotal {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
