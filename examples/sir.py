"""SIR epidemic ODE fitted to the 1978 influenza outbreak in an English boarding school
(763 pupils, pupils confined to bed on days 1-14), by SVI with AutoPathwiseGuide,
against a long NUTS reference.

The model is that of the Stan case study "Bayesian workflow for disease transmission
modeling in Stan" (Grinsztajn, Semenova, Margossian and Riou, 2021): susceptible,
infected and recovered pupils ``(S, I, R)`` with ``N = 763`` follow

    dS/dt = -beta S I / N,   dI/dt = beta S I / N - gamma I,   dR/dt = gamma I,

from ``(S, I, R) = (762, 1, 0)`` at t = 0; ``beta ~ normal(2, 1)`` and
``gamma ~ normal(0.4, 0.5)``, both truncated at 0, ``phi_inv ~ exponential(5)``, and
the pupils in bed on day t ~ negative-binomial with mean ``I(t)`` and dispersion
``phi = 1 / phi_inv``.

Run: ``python examples/sir.py --backend numpyro --out DIR [--steps N]``; writes the
same files as ``examples/lotka_volterra.py``.
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "sir"
DATA = ROOT / "data" / "influenza_england_1978_school.csv"
N_PUPILS = 763
SPECIES = ("in bed",)
PREDICTED = "cases"  # the observed site drawn for the posterior predictive bands
LATENTS = {"beta": ("beta",), "gamma": ("gamma",), "phi_inv": ("phi_inv",)}


def load_data() -> dict:
    """``ts`` (14,) days, ``cases`` (14,) pupils in bed on each day."""
    table = np.loadtxt(DATA, delimiter=",", skiprows=1)
    return {"ts": table[:, 0], "cases": table[:, 1]}


def model_args(data: dict, observed: bool = True) -> dict:
    """The keyword arguments of the models for ``data``; ``observed=False`` leaves the
    counts out (the models then draw them: the posterior predictive)."""
    return {"ts": data["ts"], "cases": data["cases"] if observed else None}


def observed(data: dict) -> np.ndarray:
    """The observations to draw the posterior predictive bands over, (T, 1)."""
    return data["cases"][:, None]


# ---------------------------------------------------------------------------- NumPyro


def numpyro_vector_field(t, y, beta_gamma):
    import jax.numpy as jnp

    s, i = y[..., 0], y[..., 1]
    beta, gamma = beta_gamma[..., 0], beta_gamma[..., 1]
    infection, recovery = beta * i * s / N_PUPILS, gamma * i
    return jnp.stack([-infection, infection - recovery, recovery], axis=-1)


def numpyro_model(ts, cases=None):
    """The model above; ``cases=None`` draws the counts (posterior predictive)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.ode import solve

    beta = numpyro.sample("beta", dist.TruncatedNormal(2.0, 1.0, low=0.0))
    gamma = numpyro.sample("gamma", dist.TruncatedNormal(0.4, 0.5, low=0.0))
    phi_inv = numpyro.sample("phi_inv", dist.Exponential(5.0))
    y0 = jnp.array([N_PUPILS - 1.0, 1.0, 0.0])
    y = solve(numpyro_vector_field, y0, ts, jnp.stack([beta, gamma]), t0=0.0, name="sir")
    # the infected count can undershoot 0 by the solver's tolerance near the end
    infected = jnp.clip(y[:, 1], 1e-6)
    numpyro.sample("cases", dist.NegativeBinomial2(infected, 1.0 / phi_inv), obs=cases)


# ------------------------------------------------------------------------------ Pyro


def pyro_vector_field(t, y, beta_gamma):
    import torch

    s, i, _ = y.unbind(-1)
    beta, gamma = beta_gamma.unbind(-1)
    infection, recovery = beta * i * s / N_PUPILS, gamma * i
    return torch.stack([-infection, infection - recovery, recovery], dim=-1)


def pyro_model(ts, cases=None):
    """The model above on Pyro, in the dtype of ``ts`` (float64 from NumPy); ``cases=None``
    draws the counts (posterior predictive)."""
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.distributions import TruncatedNormal
    from ppl_reparam.pyro.ode import solve

    ts = torch.as_tensor(ts)
    dtype = ts.dtype if ts.is_floating_point() else torch.get_default_dtype()

    def tensor(x):
        return torch.as_tensor(x, dtype=dtype)

    ts, cases = tensor(ts), None if cases is None else tensor(cases)
    beta = pyro.sample("beta", TruncatedNormal(tensor(2.0), tensor(1.0), low=0.0))
    gamma = pyro.sample("gamma", TruncatedNormal(tensor(0.4), tensor(0.5), low=0.0))
    phi_inv = pyro.sample("phi_inv", dist.Exponential(tensor(5.0)))
    y0 = tensor([N_PUPILS - 1.0, 1.0, 0.0])
    y = solve(pyro_vector_field, y0, ts, torch.stack([beta, gamma]), t0=0.0, name="sir")
    # the infected count can undershoot 0 by the solver's tolerance near the end
    infected = y[:, 1].clamp(min=1e-6)
    # negative binomial with mean `infected` and dispersion phi: Gamma-Poisson
    phi = 1.0 / phi_inv
    pyro.sample("cases", dist.GammaPoisson(phi, phi / infected).to_event(1), obs=cases)


# ----------------------------------------------------------------- command line

DESCRIPTION = (
    "SIR epidemic ODE on a 1978 school influenza outbreak: predictive bands, marginals vs NUTS"
)
DEFAULT_STEPS = 6000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 83}  # Pyro: not timed since the example fits both guides


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figures under ``out``, return the summary (see examples/_common.py)."""
    from examples._ode_runner import run as run_ode

    return run_ode(sys.modules[__name__], backend, out, steps, seed)


if __name__ == "__main__":
    from examples._ode_runner import main

    main(sys.modules[__name__])
