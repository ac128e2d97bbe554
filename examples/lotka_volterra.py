"""Lotka–Volterra predator–prey ODE fitted to the Hudson's Bay Company lynx and hare
pelts of 1900–1920, by SVI with AutoPathwiseGuide, against a long NUTS reference.

The model is that of Carpenter's Stan case study "Predator-Prey Population Dynamics"
(posteriordb ``hudson_lynx_hare-lotka_volterra``): populations ``z = (u, v)`` (hare,
lynx, thousands of pelts) follow

    du/dt = (alpha - beta v) u,    dv/dt = (-gamma + delta u) v,

``theta = (alpha, beta, gamma, delta)`` with ``alpha, gamma ~ normal(1, 0.5)`` and
``beta, delta ~ normal(0.05, 0.05)``, all truncated at 0; ``z_init ~ lognormal(log 10,
1)`` (per species), ``sigma ~ lognormal(-1, 1)`` (per species);
``y_init ~ lognormal(log z_init, sigma)`` at 1900 (t = 0) and
``y[t] ~ lognormal(log z(t), sigma)`` at t = 1..20.

Run: ``python examples/lotka_volterra.py --backend numpyro --out DIR [--steps N]``.
Writes ``DIR/lotka_volterra_<backend>_trajectories.png`` (posterior predictive bands
over the data), ``..._marginals.png`` (marginal posteriors against NUTS) and
``..._summary.json``.
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "lotka_volterra"
DATA = ROOT / "data" / "hudson_lynx_hare-lotka_volterra.data.json"
THETA_LOC = (1.0, 0.05, 1.0, 0.05)
THETA_SCALE = (0.5, 0.05, 0.5, 0.05)
SPECIES = ("hare", "lynx")
PREDICTED = "y"  # the observed site drawn for the posterior predictive bands
#: the latent sites, and the label of each element in tables and plots
LATENTS = {
    "theta": ("alpha", "beta", "gamma", "delta"),
    "z_init": ("z_init[hare]", "z_init[lynx]"),
    "sigma": ("sigma[hare]", "sigma[lynx]"),
}


def load_data() -> dict:
    """``ts`` (20,) years after 1900, ``y_init`` (2,) pelts in 1900, ``y`` (20, 2)
    pelts in 1901–1920 (hare, lynx; thousands)."""
    raw = json.loads(DATA.read_text())
    return {
        "ts": np.asarray(raw["ts"], dtype=float),
        "y_init": np.asarray(raw["y_init"], dtype=float),
        "y": np.asarray(raw["y"], dtype=float),
    }


def model_args(data: dict, observed: bool = True) -> dict:
    """The keyword arguments of the models for ``data``; ``observed=False`` leaves the
    pelts out (the models then draw them: the posterior predictive)."""
    if not observed:
        return {"ts": data["ts"], "y_init": None, "y": None}
    return {"ts": data["ts"], "y_init": data["y_init"], "y": data["y"]}


def observed(data: dict) -> np.ndarray:
    """The observations to draw the posterior predictive bands over, (T, 2)."""
    return data["y"]


# ---------------------------------------------------------------------------- NumPyro


def numpyro_vector_field(t, z, theta):
    import jax.numpy as jnp

    u, v = z[..., 0], z[..., 1]
    alpha, beta, gamma, delta = (theta[..., i] for i in range(4))
    return jnp.stack([(alpha - beta * v) * u, (-gamma + delta * u) * v], axis=-1)


def numpyro_model(ts, y_init, y=None):
    """The model above; ``y=None`` draws the pelts (posterior predictive)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.ode import solve

    theta = numpyro.sample(
        "theta",
        dist.TruncatedNormal(jnp.asarray(THETA_LOC), jnp.asarray(THETA_SCALE), low=0.0).to_event(1),
    )
    z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10.0), 1.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]).to_event(1))
    z = solve(numpyro_vector_field, z_init, ts, theta, t0=0.0, name="lotka_volterra")
    numpyro.sample("y_init", dist.LogNormal(jnp.log(z_init), sigma).to_event(1), obs=y_init)
    numpyro.sample("y", dist.LogNormal(jnp.log(z), sigma).to_event(2), obs=y)


# ------------------------------------------------------------------------------ Pyro


def pyro_vector_field(t, z, theta):
    import torch

    # unbind: one autograd node per tensor, where indexing makes one per element
    u, v = z.unbind(-1)
    alpha, beta, gamma, delta = theta.unbind(-1)
    return torch.stack([(alpha - beta * v) * u, (-gamma + delta * u) * v], dim=-1)


def pyro_model(ts, y_init, y=None):
    """The model above on Pyro, in the dtype of ``ts`` (float64 from NumPy); ``y=None`` draws
    the pelts (posterior predictive)."""
    import math

    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.distributions import TruncatedNormal
    from ppl_reparam.pyro.ode import solve

    ts = torch.as_tensor(ts)
    dtype = ts.dtype if ts.is_floating_point() else torch.get_default_dtype()

    def tensor(x):
        return torch.as_tensor(x, dtype=dtype)

    ts = tensor(ts)
    y_init = None if y_init is None else tensor(y_init)
    y = None if y is None else tensor(y)
    theta = pyro.sample(
        "theta", TruncatedNormal(tensor(THETA_LOC), tensor(THETA_SCALE), low=0.0).to_event(1)
    )
    z_init = pyro.sample("z_init", dist.LogNormal(math.log(10.0), 1.0).expand([2]).to_event(1))
    sigma = pyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]).to_event(1))
    z = solve(pyro_vector_field, z_init, ts, theta, t0=0.0, name="lotka_volterra")
    pyro.sample("y_init", dist.LogNormal(z_init.log(), sigma).to_event(1), obs=y_init)
    pyro.sample("y", dist.LogNormal(z.log(), sigma).to_event(2), obs=y)


# ----------------------------------------------------------------- command line

DESCRIPTION = (
    "Lotka-Volterra ODE on the lynx and hare pelts, 1900-1920: predictive bands, marginals vs NUTS"
)
DEFAULT_STEPS = 6000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 98}  # Pyro: not timed since the example fits both guides


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figures under ``out``, return the summary (see examples/_common.py)."""
    from examples._ode_runner import run as run_ode

    return run_ode(sys.modules[__name__], backend, out, steps, seed)


if __name__ == "__main__":
    from examples._ode_runner import main

    main(sys.modules[__name__])
