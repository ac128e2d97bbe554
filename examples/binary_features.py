"""Binary latent features, 2^20 configurations per point: relaxed SVI against the
score-function estimator, in either backend.

Each of 200 points has K = 20 binary features ``z_nk ~ Bernoulli(0.3)`` and ``x_n ~
Normal(z_n W, 0.5)`` (W fixed, D = 10): enumeration would sum over 2^20 configurations
per point. Two ways to fit one Bernoulli logit per (point, feature), the same Adam steps
from the same start, both through ``fit``:

- score function: a ``Bernoulli(logits)`` guide under ``TraceGraph_ELBO``;
- relaxed: ``relax(model, 0.5)`` with ``AutoPathwiseGuide`` (a
  ``LogitRelaxedBernoulli`` per bit) under ``Trace_ELBO``; ``relax.assignments`` gives
  the fitted probability of each bit.

Compared: the variance of the gradient estimate with respect to the logits at the start
(mean over the 4000 logits, 100 estimates each), and the *discrete* ELBO of each fit's
Bernoulli probabilities (NumPy Monte Carlo, 200 draws), with the share of bits whose MAP
value equals the truth. Run: ``ppl-reparam examples run binary_features --backend
pyro|numpyro [--steps N]``. Writes ``binary_features_<backend>_gradients.png`` and
``..._summary.json``.
"""

import importlib
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "binary_features"
DESCRIPTION = "20 binary features per point: relaxed vs score-function gradient variance and ELBO"
DEFAULT_STEPS = 2000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 89, "pyro": 238}

N, D, K, TAU, LR, PRIOR, NOISE = 200, 10, 20, 0.5, 0.05, 0.3, 0.5
GRADIENT_DRAWS = 100


def problem(seed: int = 0):
    """``(W (K, D), true z (N, K), x (N, D))``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, D))
    z = rng.random((N, K)) < PRIOR
    return w, z, z @ w + NOISE * rng.normal(size=(N, D))


def discrete_elbo(probs: np.ndarray, w: np.ndarray, x: np.ndarray, draws: int = 200) -> float:
    """E_q[log p(x, z) - log q(z)] for independent Bernoulli(probs) bits, by Monte Carlo."""
    rng = np.random.default_rng(9)
    probs = np.clip(probs, 1e-12, 1 - 1e-12)
    z = rng.random((draws, *probs.shape)) < probs
    log_q = np.where(z, np.log(probs), np.log1p(-probs)).sum((-1, -2))
    log_prior = np.where(z, math.log(PRIOR), math.log1p(-PRIOR)).sum((-1, -2))
    resid = (x - z @ w) / NOISE
    log_lik = (-0.5 * resid**2 - math.log(NOISE) - 0.5 * math.log(2 * math.pi)).sum((-1, -2))
    return float(np.mean(log_prior + log_lik - log_q))


def numpyro_parts(w):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer import Trace_ELBO, TraceGraph_ELBO

    jax.config.update("jax_enable_x64", True)
    w = jnp.asarray(w)

    def model(x):
        with numpyro.plate("data", N):
            z = numpyro.sample("z", dist.Bernoulli(PRIOR * jnp.ones(K)).to_event(1))
            numpyro.sample("x", dist.Normal(z @ w, NOISE).to_event(1), obs=x)

    def score_guide(x):
        logits = numpyro.param("logits", jnp.zeros((N, K)))
        with numpyro.plate("data", N):
            numpyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def variance(elbo, m, g, params, x, **kwargs):
        """Mean variance of d loss / d params[name] over GRADIENT_DRAWS estimates."""
        name = next(iter(params))

        def loss(value, key):
            return elbo.loss(key, {**params, name: value}, m, g, x, **kwargs)

        keys = jax.random.split(jax.random.PRNGKey(3), GRADIENT_DRAWS)
        grads = jax.jit(jax.vmap(jax.grad(loss), (None, 0)))(params[name], keys)
        return float(jnp.mean(jnp.var(grads, 0)))

    def initial_params(guide, x, **kwargs):
        from numpyro import handlers

        trace = handlers.trace(handlers.seed(guide, 0)).get_trace(x, **kwargs)
        return {k: s["value"] for k, s in trace.items() if s["type"] == "param"}

    return {
        "model": model,
        "score_guide": score_guide,
        "x": jnp.asarray,
        "variance": variance,
        "initial_params": initial_params,
        "optim": lambda: optax.adam(LR),
        "elbos": (Trace_ELBO, TraceGraph_ELBO),
    }


def pyro_parts(w):
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import Trace_ELBO, TraceGraph_ELBO
    from pyro.optim import Adam

    w = torch.as_tensor(w)

    def model(x):
        with pyro.plate("data", N):
            z = pyro.sample("z", dist.Bernoulli(PRIOR * torch.ones(K, dtype=x.dtype)).to_event(1))
            pyro.sample("x", dist.Normal(z @ w, NOISE).to_event(1), obs=x)

    def score_guide(x):
        logits = pyro.param("logits", lambda: torch.zeros(N, K, dtype=x.dtype))
        with pyro.plate("data", N):
            pyro.sample("z", dist.Bernoulli(logits=logits).to_event(1))

    def variance(elbo, m, g, params, x, **kwargs):
        """Mean variance of d loss / d (the first parameter) over GRADIENT_DRAWS estimates."""
        name = next(iter(params))
        pyro.set_rng_seed(3)
        grads = []
        for _ in range(GRADIENT_DRAWS):
            elbo.loss_and_grads(m, g, x, **kwargs)
            p = pyro.get_param_store()[name].unconstrained()
            grads.append(p.grad.detach().clone())
            p.grad.zero_()
        return float(torch.stack(grads).var(0).mean())

    def initial_params(guide, x, **kwargs):
        pyro.clear_param_store()
        guide(x, **kwargs)
        store = pyro.get_param_store()
        return {k: store[k].detach() for k in store.keys()}

    return {
        "model": model,
        "score_guide": score_guide,
        "x": torch.as_tensor,
        "variance": variance,
        "initial_params": initial_params,
        "optim": lambda: Adam({"lr": LR}),
        "elbos": (Trace_ELBO, TraceGraph_ELBO),
    }


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figure under ``out``, return the summary (see examples/_common.py)."""
    from examples._common import pyplot, save, to_numpy

    relax = importlib.import_module(f"ppl_reparam.{backend}.relax")
    guides = importlib.import_module(f"ppl_reparam.{backend}.guides")
    fit = importlib.import_module(f"ppl_reparam.{backend}.infer").fit
    w, z_true, x = problem()
    parts = (numpyro_parts if backend == "numpyro" else pyro_parts)(w)
    x = parts["x"](x)
    trace_elbo, tracegraph_elbo = parts["elbos"]
    relaxed = relax.relax(parts["model"], TAU)
    auto = guides.AutoPathwiseGuide(relaxed, init_loc_fn=_zero_logits(backend))
    methods = {
        "score function": (parts["model"], parts["score_guide"], tracegraph_elbo()),
        "relaxed": (relaxed, auto, trace_elbo()),
    }
    rows = {}
    for label, (m, g, elbo) in methods.items():
        params = parts["initial_params"](g, x)
        variance = parts["variance"](elbo, m, g, params, x)
        result = fit(m, g, x, num_steps=steps, optim=parts["optim"](), loss=elbo, seed=seed)
        if label == "relaxed":
            probs = to_numpy(relax.assignments(g, result.params, x)["z"][0])
        else:
            probs = 1 / (1 + np.exp(-to_numpy(result.params["logits"]).astype(float)))
        rows[label] = {
            "gradient_variance_at_start": variance,
            "discrete_elbo": discrete_elbo(probs, w, to_numpy(x)),
            "map_bits_equal_to_truth": float(np.mean((probs > 0.5) == z_true)),
            "losses": result.losses,
        }
    figure = f"{NAME}_{backend}_gradients.png"
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = list(rows)
    left.bar(labels, [rows[k]["gradient_variance_at_start"] for k in labels], color=["C1", "C0"])
    left.set_yscale("log")
    left.set_title("variance of d loss / d logits at the start", fontsize=9)
    for k, colour in zip(labels, ["C1", "C0"], strict=True):
        losses = np.asarray(rows[k]["losses"])
        right.plot(
            losses,
            colour,
            lw=0.6,
            label=f"{k} (final discrete ELBO {rows[k]['discrete_elbo']:.0f})",
        )
    right.set_yscale("symlog")
    right.set_xlabel("step")
    right.set_ylabel("loss (each its own negative ELBO)")
    right.legend(fontsize=8)
    fig.suptitle(f"{N} points x {K} binary features, {backend}, {steps} Adam steps", fontsize=10)
    save(fig, out / figure)
    for row in rows.values():
        row["final_loss"] = float(np.mean(row.pop("losses")[-100:]))
    score, relaxed_row = rows["score function"], rows["relaxed"]
    return {
        "figures": [figure],
        "temperature": TAU,
        "methods": rows,
        "variance_ratio_score_over_relaxed": score["gradient_variance_at_start"]
        / relaxed_row["gradient_variance_at_start"],
    }


def _zero_logits(backend: str):
    """AutoPathwiseGuide's init: every relaxed bit at logit 0, the score guide's start."""
    if backend == "numpyro":
        import jax.numpy as jnp
        from numpyro.infer import init_to_value

        return init_to_value(values={"z_relaxed": jnp.zeros((N, K))})
    import torch
    from pyro.infer.autoguide import init_to_value

    return init_to_value(values={"z_relaxed": torch.zeros(N, K, dtype=torch.float64)})


if __name__ == "__main__":
    from examples._common import main

    main(sys.modules[__name__])
