"""Direct versus adjoint gradients of an ODE solve: time and peak memory, both backends.

The gradient of ``sum(log z(t_i))`` with respect to the initial state and the four
parameters of the lynx-hare Lotka--Volterra solve (float64, dopri5, rtol = atol = 1e-6)
over its 20 years, reported at n = 10, 100 or 1000 equally spaced output times. The
solver's steps (about 60) are the same for every n; what grows with n is the work
at output times: interpolation (direct) and the intervals the adjoint solve restarts at.

- PyTorch: ``torchdiffeq.odeint`` (backpropagation through the steps) against
  ``odeint_adjoint`` (``adjoint=True``). Peak memory: the rise of the process's peak
  resident set (``getrusage`` ``ru_maxrss``) during one gradient evaluation, in a fresh
  subprocess per cell after a small warm-up solve (resolution about 1 MB).
- JAX: ``diffrax.RecursiveCheckpointAdjoint`` (the default) against
  ``BacksolveAdjoint`` (``adjoint=True``). Peak memory: XLA's temporary buffers of the
  compiled gradient (``memory_analysis().temp_size_in_bytes``), in a fresh subprocess
  per cell too.

Time: median of at least ``--repeats`` gradient evaluations, more while they take
under half a second in all (JAX: compiled, after a warm-up call); a cell whose first
evaluation takes over a second is not repeated. The last column compares each
adjoint gradient with the direct one (they differ by the solver tolerance).
Run: ``python benchmarks/ode_adjoint.py [--sizes 10 100 1000] [--repeats 3]``.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
THETA = [0.55, 0.028, 0.8, 0.024]
Z0 = [33.0, 6.0]
HORIZON = 20.0


def _times(n: int):
    return [HORIZON * (i + 1) / n for i in range(n)]


def _median_time(fn, repeats: int, first: float | None = None) -> float:
    """Median time of ``fn`` over at least ``repeats`` runs, more (up to 200) while
    they take under half a second in all; ``first`` is a run already timed. A run of
    over a second is not repeated."""
    times = [] if first is None else [first]
    while (len(times) < repeats or sum(times) < 0.5) and len(times) < 200:
        if times and times[0] > 1.0:
            break
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def pyro_cell(n: int, adjoint: bool, repeats: int) -> dict:
    """One PyTorch cell; call it in a fresh process so the peak RSS is its own."""
    import torch

    from ppl_reparam.pyro.ode import solve

    def field(t, z, theta):
        u, v = z.unbind(-1)
        a, b, c, d = theta.unbind(-1)
        return torch.stack([(a - b * v) * u, (d * u - c) * v], dim=-1)

    theta = torch.tensor(THETA, dtype=torch.float64, requires_grad=True)
    z0 = torch.tensor(Z0, dtype=torch.float64, requires_grad=True)

    def gradient(ts):
        ys = solve(field, z0, ts, theta, t0=0.0, adjoint=adjoint)
        return torch.autograd.grad(ys.log().sum(), (z0, theta))

    gradient(torch.tensor([0.5, 1.0], dtype=torch.float64))  # warm-up: kernels, allocator
    ts = torch.tensor(_times(n), dtype=torch.float64)
    before = _peak_rss_mb()
    start = time.perf_counter()
    gradient(ts)
    first = time.perf_counter() - start
    peak = _peak_rss_mb() - before
    seconds = _median_time(lambda: gradient(ts), repeats, first)
    grads = torch.cat([g.reshape(-1) for g in gradient(ts)])
    return {"time_s": seconds, "peak_mb": peak, "grad": grads.tolist()}


def numpyro_cell(n: int, adjoint: bool, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from ppl_reparam.numpyro.ode import solve

    def field(t, z, theta):
        u, v = z[..., 0], z[..., 1]
        a, b, c, d = theta[..., 0], theta[..., 1], theta[..., 2], theta[..., 3]
        return jnp.stack([(a - b * v) * u, (d * u - c) * v], axis=-1)

    ts = jnp.asarray(_times(n))

    def loss(z0, theta):
        ys = solve(field, z0, ts, theta, t0=0.0, adjoint=adjoint)
        return jnp.sum(jnp.log(ys))

    point = (jnp.asarray(Z0), jnp.asarray(THETA))
    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(*point).compile()
    peak = compiled.memory_analysis().temp_size_in_bytes / 2**20
    grads = jnp.concatenate([g.reshape(-1) for g in compiled(*point)])
    seconds = _median_time(lambda: jax.block_until_ready(compiled(*point)), repeats)
    return {"time_s": seconds, "peak_mb": peak, "grad": grads.tolist()}


CELLS = {"pyro": pyro_cell, "numpyro": numpyro_cell}
METHODS = {
    ("pyro", False): "torchdiffeq odeint",
    ("pyro", True): "torchdiffeq odeint_adjoint",
    ("numpyro", False): "diffrax RecursiveCheckpointAdjoint",
    ("numpyro", True): "diffrax BacksolveAdjoint",
}
MEMORY = {"pyro": "peak RSS rise", "numpyro": "XLA temp buffers"}


def _run_in_subprocess(backend: str, n: int, adjoint: bool, repeats: int) -> dict:
    code = (
        "import json; from benchmarks import ode_adjoint; "
        f"print(json.dumps(ode_adjoint.CELLS[{backend!r}]({n}, {adjoint}, {repeats})))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["pyro", "numpyro"])
    opts = parser.parse_args()
    print(
        "| backend | gradient method | output times | time (ms) | peak memory (MB) "
        "| memory measured as | gradient vs direct (max rel. diff.) |"
    )
    print("|---|---|---:|---:|---:|---|---:|")
    for backend in opts.backends:
        direct = {}
        for adjoint in (False, True):
            for n in opts.sizes:
                cell = _run_in_subprocess(backend, n, adjoint, opts.repeats)
                grad = np.asarray(cell["grad"])
                diff = np.max(np.abs(grad / direct.setdefault(n, grad) - 1))
                print(
                    f"| {backend} | {METHODS[backend, adjoint]} | {n} | "
                    f"{1000 * cell['time_s']:.2f} | {cell['peak_mb']:.2f} | {MEMORY[backend]} "
                    f"| {diff:.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
