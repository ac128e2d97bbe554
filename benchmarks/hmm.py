"""Discrete latent states in a sequential model: the two-state Gaussian HMM of
posteriordb's ``hmm_example`` (100 steps), written with NumPyro's ``scan`` or as a
Python loop, and in Pyro as a ``pyro.markov`` loop or vectorised.

The model: ``theta[k] ~ Dirichlet(1, 1)``, ``mu = sort(mu_raw)`` with ``mu_raw ~
Normal((3, 10), 1)``, ``z[0]`` uniform, ``z[t] ~ Categorical(theta[z[t-1]])``, ``y[t] ~
Normal(mu[z[t]], 1)``. The reference (``data/nuts_reference_hmm.json``, made by
``scripts/nuts_reference_hmm.py``: NUTS with the states marginalised) is posteriordb's
model, ``mu`` positive and ordered with those Normal priors: the same posterior up to the
prior of the swapped order, ~exp(-36) times smaller where the posterior is. Sorting (as
the ordering) keeps the fits from the mode with the labels swapped, a local optimum
where a fit from the default start can otherwise stay.

``--part speed``: the time to compile one SVI step (NumPyro) and the time per step, for
the relaxed model (``relax``, ``Trace_ELBO``) and the discrete one
(``RelaxedControlVariateELBO``), with ``AutoPathwiseGuide``: NumPyro loop vs scan, Pyro
loop vs vectorised. ``--part accuracy``: ``fit`` with ``AutoPathwiseGuide`` and its
defaults, per backend and seed, for the default discrete path and for ``relax``
(temperature ``ExponentialDecay(1.0, 1e-3, floor=0.1)``): the error of the posterior
means of ``mu[0], mu[1], theta[0, 0], theta[1, 1]`` in reference sds and the ratios of
posterior sds (targets: |error| < 0.3, ratios in [0.8, 1.25]).

The vectorised Pyro model draws the 100 states as one site in a plate (a uniform
placeholder prior, independent across steps) and adds the chain's transitions as a
factor outside the plate, ``sum_t sum_k x[t, k] log
theta[z[t-1], k]``: the same log joint as the loop for integer states and, under
``relax`` (whose relaxed categorical density is the log-mass extended linearly), for
relaxed ones (checked at start).

Usage: ``PYTHONPATH=. python benchmarks/hmm.py [--part speed|accuracy|all]
[--backend numpyro pyro] [--steps 5000] [--seeds 0 1 2] [--no-numpyro-loop]
[--numpyro-loop-discrete]`` (the NumPyro loop takes minutes to compile: the relaxed one
is timed unless ``--no-numpyro-loop``, the discrete one only with
``--numpyro-loop-discrete``).
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
K = 2
PARAMS = ("mu[0]", "mu[1]", "theta[0,0]", "theta[1,1]")
SCHEDULE = (1.0, 1e-3, 0.1)  # ExponentialDecay(start, rate, floor=...)
MU_PRIOR = [3.0, 10.0]  # the prior means of mu_raw


def load_y() -> np.ndarray:
    data = json.loads((ROOT / "data" / "hmm_example-hmm_example.data.json").read_text())
    return np.asarray(data["y"])


def reference() -> tuple[np.ndarray, np.ndarray]:
    """Reference posterior means and sds of ``PARAMS``."""
    sites = json.loads((ROOT / "data/nuts_reference_hmm.json").read_text())["sites"]
    pick = [lambda s, k=k: np.asarray(s[k]) for k in ("mean", "sd")]
    return tuple(
        np.array([*get(sites["mu"]), get(sites["theta"])[0, 0], get(sites["theta"])[1, 1]])
        for get in pick
    )


def summarise(mu: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.sort(mu, -1)  # the model's mu is the sorted mu_raw
    draws = np.stack([mu[:, 0], mu[:, 1], theta[:, 0, 0], theta[:, 1, 1]], -1)
    return draws.mean(0), draws.std(0)


# ---------------------------------------------------------------- NumPyro


def numpyro_model(y, loop: bool = False):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.contrib.control_flow import scan

    from ppl_reparam.numpyro.relax import choose

    theta = numpyro.sample("theta", dist.Dirichlet(jnp.ones((K, K))).to_event(1))
    mu = jnp.sort(numpyro.sample("mu_raw", dist.Normal(jnp.asarray(MU_PRIOR), 1.0).to_event(1)))

    def step(probs, y_t, name=""):
        # logits: a Python loop runs eagerly, where NumPyro validates `probs`, and the
        # guide's set-up draws the relaxed states off the simplex
        z = numpyro.sample(f"z{name}", dist.Categorical(logits=jnp.log(probs)))
        numpyro.sample(f"y{name}", dist.Normal(choose(z, mu), 1.0), obs=y_t)
        return choose(z, theta), None  # carry what z selects: one type, relaxed or not

    probs = jnp.full(K, 1.0 / K)
    if not loop:
        scan(step, probs, y)
        return
    for t in range(len(y)):
        probs, _ = step(probs, y[t], f"_{t}")


def numpyro_loop_model(y):
    numpyro_model(y, loop=True)


def numpyro_timing(model, y, relaxed: bool, steps: int) -> tuple[float, float]:
    """(seconds to compile and run the first SVI step, seconds per later step)."""
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import SVI, Trace_ELBO

    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import relax
    from ppl_reparam.schedules import ExponentialDecay

    if relaxed:
        model = relax(model, ExponentialDecay(SCHEDULE[0], SCHEDULE[1], floor=SCHEDULE[2]))
    kwargs = {"relax_temperature": 0.5} if relaxed else {}
    loss = Trace_ELBO() if relaxed else RelaxedControlVariateELBO()
    y = jnp.asarray(y)
    start = time.perf_counter()
    svi = SVI(model, AutoPathwiseGuide(model), optax.adam(0.01), loss)
    state = svi.init(jax.random.key(0), y, **kwargs)
    update = jax.jit(svi.update)
    state, value = update(state, y, **kwargs)
    value.block_until_ready()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        state, value = update(state, y, **kwargs)
    value.block_until_ready()
    return compile_s, (time.perf_counter() - start) / steps


def numpyro_accuracy(y, relaxed: bool, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import jax
    import jax.numpy as jnp

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit
    from ppl_reparam.numpyro.relax import relax
    from ppl_reparam.schedules import ExponentialDecay

    model = numpyro_model
    if relaxed:
        model = relax(model, ExponentialDecay(SCHEDULE[0], SCHEDULE[1], floor=SCHEDULE[2]))
    guide = AutoPathwiseGuide(model)
    result = fit(model, guide, jnp.asarray(y), num_steps=steps, seed=seed, progress_bar=False)
    draws = guide.sample_posterior(jax.random.key(seed), result.params, sample_shape=(4000,))
    return summarise(np.asarray(draws["mu_raw"]), np.asarray(draws["theta"]))


# ---------------------------------------------------------------- Pyro


def pyro_parameters():
    import pyro
    import pyro.distributions as dist
    import torch

    theta = pyro.sample("theta", dist.Dirichlet(torch.ones(K, K)).to_event(1))
    mu_raw = pyro.sample("mu_raw", dist.Normal(torch.tensor(MU_PRIOR), 1.0).to_event(1))
    return theta, mu_raw.sort(-1).values


def pyro_loop_model(y):
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.relax import choose

    theta, mu = pyro_parameters()
    probs = torch.full((K,), 1.0 / K)
    for t in pyro.markov(range(len(y))):
        z = pyro.sample(f"z_{t}", dist.Categorical(probs))
        pyro.sample(f"y_{t}", dist.Normal(choose(z, mu), 1.0), obs=y[t])
        probs = choose(z, theta)


def pyro_vectorised_model(y):
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.relax import choose

    theta, mu = pyro_parameters()
    T = len(y)
    # all states at once, under a uniform placeholder prior (the initial state's own): in
    # a plate, as that prior is; the factor below, outside it, couples the steps
    with pyro.plate("time", T):
        z = pyro.sample("z", dist.Categorical(torch.full((T, K), 1.0 / K)))
        pyro.sample("y", dist.Normal(choose(z, mu), 1.0), obs=y)
    x = z if z.is_floating_point() else torch.nn.functional.one_hot(z, K).to(mu)
    # the transitions replace the placeholder's log(1/K) at steps 1..T-1
    transitions = (x[1:] * torch.log(choose(z[:-1], theta))).sum() + (T - 1) * math.log(K)
    pyro.factor("transitions", transitions)


def check_pyro_vectorised(y) -> None:
    """The vectorised model's log joint is the loop's, for integer and relaxed states."""
    import pyro
    import torch
    from pyro import poutine

    from ppl_reparam.pyro.relax import relax

    rng = np.random.default_rng(0)
    values = {"theta": torch.tensor([[0.7, 0.3], [0.2, 0.8]]), "mu_raw": torch.tensor([9.2, 3.1])}
    states = torch.as_tensor(rng.integers(0, K, len(y)))
    relaxed = torch.log_softmax(torch.as_tensor(rng.normal(size=(len(y), K))), -1).float()
    cases = [
        (pyro_loop_model, {f"z_{t}": states[t] for t in range(len(y))}, lambda m: m),
        (pyro_vectorised_model, {"z": states}, lambda m: m),
        (pyro_loop_model, {f"z_{t}_relaxed": relaxed[t] for t in range(len(y))}, relax),
        (pyro_vectorised_model, {"z_relaxed": relaxed}, relax),
    ]
    log_joints = []
    for model, data, wrap in cases:
        conditioned = poutine.condition(wrap(model), data={**values, **data})
        with pyro.validation_enabled(False):
            trace = poutine.trace(conditioned).get_trace(torch.as_tensor(y).float())
        log_joints.append(float(trace.log_prob_sum()))
    np.testing.assert_allclose(log_joints[0], log_joints[1], rtol=1e-5)
    np.testing.assert_allclose(log_joints[2], log_joints[3], rtol=1e-5)


def pyro_timing(model, y, relaxed: bool, steps: int) -> float:
    """Seconds per SVI step (after a first one)."""
    import pyro
    import torch
    from pyro.infer import SVI, Trace_ELBO

    from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.relax import relax
    from ppl_reparam.schedules import ExponentialDecay

    pyro.clear_param_store()
    if relaxed:
        model = relax(model, ExponentialDecay(SCHEDULE[0], SCHEDULE[1], floor=SCHEDULE[2]))
    kwargs = {"relax_temperature": 0.5} if relaxed else {}
    loss = Trace_ELBO() if relaxed else RelaxedControlVariateELBO()
    y = torch.as_tensor(y).float()
    svi = SVI(model, AutoPathwiseGuide(model), pyro.optim.Adam({"lr": 0.01}), loss)
    svi.step(y, **kwargs)
    start = time.perf_counter()
    for _ in range(steps):
        svi.step(y, **kwargs)
    return (time.perf_counter() - start) / steps


def pyro_accuracy(y, relaxed: bool, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import pyro
    import torch

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit
    from ppl_reparam.pyro.relax import relax
    from ppl_reparam.schedules import ExponentialDecay

    pyro.clear_param_store()
    model = pyro_vectorised_model
    if relaxed:
        model = relax(model, ExponentialDecay(SCHEDULE[0], SCHEDULE[1], floor=SCHEDULE[2]))
    guide = AutoPathwiseGuide(model)
    y = torch.as_tensor(y).float()
    result = fit(model, guide, y, num_steps=steps, seed=seed, progress_bar=False)
    with torch.no_grad():
        draws = [guide(y, **result.kwargs) for _ in range(2000)]
    return summarise(
        np.stack([d["mu_raw"].numpy() for d in draws]),
        np.stack([d["theta"].numpy() for d in draws]),
    )


# ---------------------------------------------------------------- main


def speed(args, y) -> None:
    print("time per SVI step, AutoPathwiseGuide, 100 steps of the chain")
    print(f"{'backend':8} {'model':11} {'path':9} {'compile s':>10} {'ms/step':>8}")
    for backend in args.backend:
        for relaxed in (True, False):
            path = "relax" if relaxed else "discrete"
            if backend == "numpyro":
                models = [("scan", numpyro_model)]
                if args.numpyro_loop and (relaxed or args.numpyro_loop_discrete):
                    models.append(("loop", numpyro_loop_model))
                for name, model in models:
                    compile_s, step = numpyro_timing(model, y, relaxed, 200)
                    print(f"numpyro  {name:11} {path:9} {compile_s:10.1f} {1e3 * step:8.2f}")
            else:
                for name, model, steps in [
                    ("loop", pyro_loop_model, 5),
                    ("vectorised", pyro_vectorised_model, 50),
                ]:
                    step = pyro_timing(model, y, relaxed, steps)
                    print(f"pyro     {name:11} {path:9} {'-':>10} {1e3 * step:8.2f}")


def accuracy(args, y) -> None:
    ref_mean, ref_sd = reference()
    print(f"fit, AutoPathwiseGuide defaults, {args.steps} steps; error = (mean - ref) / ref sd")
    print(f"params: {', '.join(PARAMS)}")
    for backend in args.backend:
        run = numpyro_accuracy if backend == "numpyro" else pyro_accuracy
        for relaxed in (False, True):
            path = "relax" if relaxed else "discrete"
            for seed in args.seeds:
                start = time.perf_counter()
                mean, sd = run(y, relaxed, args.steps, seed)
                errors, ratios = (mean - ref_mean) / ref_sd, sd / ref_sd
                print(
                    f"{backend:8} {path:9} seed {seed}: worst |error| "
                    f"{np.abs(errors).max():.2f}, sd ratios {ratios.min():.2f}-{ratios.max():.2f}"
                    f"  errors {np.round(errors, 2)} ratios {np.round(ratios, 2)}"
                    f"  ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="all", choices=["speed", "accuracy", "all"])
    parser.add_argument("--backend", nargs="+", default=["numpyro", "pyro"])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-numpyro-loop", dest="numpyro_loop", action="store_false")
    parser.add_argument(
        "--numpyro-loop-discrete",
        action="store_true",
        help="also time the NumPyro loop with RelaxedControlVariateELBO (over 7 min to compile)",
    )
    args = parser.parse_args()
    y = load_y()
    if "pyro" in args.backend:
        check_pyro_vectorised(y)
    if args.part in ("speed", "all"):
        speed(args, y)
    if args.part in ("accuracy", "all"):
        accuracy(args, y)


if __name__ == "__main__":
    main()
