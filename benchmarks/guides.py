"""The model suite that decides AutoPathwiseGuide's defaults by measurement.

Every guide option is fitted with ``fit`` to every suite model and its posterior is
compared with a reference: long NUTS runs (``data/nuts_reference.json``, made by
``scripts/nuts_reference.py``; ``data/nuts_reference_mixture.json``, made by this script
with ``--make-mixture-reference``; ``data/nuts_reference_ode.json``) or the exact
posterior. Printed per backend, model and option: the worst ``|mean - ref mean| / ref
sd`` over every latent element, the worst ``sd / ref sd`` (the one farthest from 1),
both over the seeds, and the cost per step.

Models:

- ``eight_schools``: non-centred eight schools (``mu`` real, ``tau`` positive,
  ``theta_raw`` real[8]).
- ``rat_tumors``: the hierarchical Beta-Binomial (``m`` unit interval, ``kappa`` on
  ``[1, inf)``, ``theta`` unit interval[71]).
- ``beta_bernoulli``: ``p ~ Beta(2, 2)``, 15 successes in 50 trials; the posterior is
  ``Beta(17, 37)`` exactly.
- ``mixture_2d``: the K = 4, 2-D Gaussian mixture of ``tests/mixture_reference.py``
  (1000 points; Dirichlet weights, Normal(0, 5) means), its labels relaxed with
  ``relax(model, ExponentialDecay(1, 1e-3, floor=0.1), density=...)``.
- ``mixture_1d``: two 1-D components with a learned weight ``w ~ Beta(2, 2)`` (a unit
  interval site), ``z ~ Bernoulli(w)`` relaxed, 300 points, means -1.5 and 1.5, unit
  scale.

The mixtures' guides start their component means where the NUTS reference chains
started (``INIT_MEANS`` of the tests, and (-1, 1)): from the default start, all
components at the prior's centre, no option separates them (40-80 sd off).
- with ``--ode``: the ``lotka_volterra`` and ``sir`` examples. They are slow (an ODE
  solve per step; tens of ms per step in Pyro), so they are left out by default.

Options, one changed at a time from the defaults: every family of every support kind
the model has (``FAMILIES`` in ``ppl_reparam._guides``), each ``relax`` density (the
mixtures), each ``correlation`` the guide offers (:data:`CORRELATIONS`, when
``AutoPathwiseGuide`` takes the keyword), and the backends' own ``AutoNormal``,
``AutoLowRankMultivariateNormal``, ``AutoMultivariateNormal`` and ``AutoIAFNormal``
(not on the relaxed mixtures, whose relaxed sites need the relaxed family). Mixture
components are matched to the reference's by their means before comparing.

Every fit: Adam with the learning rate decaying exponentially from ``lr`` to
``lr / 20`` over the steps, the Polyak average of the last fifth of the iterates
(``average_last``), float64, 4000 posterior draws. The cost per step: Pyro, the fit's
wall time over its steps; NumPyro, 1000 steps of the compiled step, timed after the fit.

After the tables, the decisions: per support kind, the family with the best worst case
over the models having that kind; the same for ``density`` and ``correlation``; and
which options miss the 0.3 sd bar where another option meets it.

Run: ``python benchmarks/guides.py [--backend pyro|numpyro|both] [--seeds 0 1]
[--steps N] [--models ...] [--ode]``; the whole default run takes about 10-15 minutes
per backend on one core.
"""

import argparse
import inspect
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ppl_reparam import _guides  # noqa: E402
from ppl_reparam._relax import RelaxedModel  # noqa: E402
from ppl_reparam._validation import RELAXED_DENSITIES  # noqa: E402
from tests import mixture_reference as mix  # noqa: E402
from tests.datasets import eight_schools, rat_tumors  # noqa: E402

BAR = 0.3  # the project's accuracy bar: posterior means within 0.3 reference sd
DRAWS = 4000
TIMED_STEPS = 1000  # NumPyro: steps timed after compiling
CORRELATIONS = (None, 2, "full")  # k = 2: a rank-2 copula
AUTOGUIDES = (
    "AutoNormal",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
    "AutoIAFNormal",
)
DEFAULT_DENSITY = inspect.signature(RelaxedModel.__init__).parameters["density"].default
MIXTURE_REFERENCE = ROOT / "data" / "nuts_reference_mixture.json"
BERNOULLI_DATA = np.array([1.0] * 15 + [0.0] * 35)
BERNOULLI_PRIOR = (2.0, 2.0)
MIX1_N, MIX1_W, MIX1_LOCS = 300, 0.3, (-1.5, 1.5)


# ------------------------------------------------------------------------------ models


def _numpyro_beta_bernoulli(y):
    import numpyro
    import numpyro.distributions as dist

    p = numpyro.sample("p", dist.Beta(*BERNOULLI_PRIOR))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def _pyro_beta_bernoulli(y):
    import pyro
    import pyro.distributions as dist
    import torch

    prior = torch.tensor(BERNOULLI_PRIOR, dtype=y.dtype)
    p = pyro.sample("p", dist.Beta(prior[0], prior[1]))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Bernoulli(probs=p), obs=y)


def _mixture_2d(backend: str):
    """The K = 4 mixture model of the relaxation acceptance tests (one body per backend,
    written once, in ``tests/<backend>/test_relax.py``)."""
    import importlib

    return importlib.import_module(f"tests.{backend}.test_relax")._mixture_2d


def _numpyro_mixture_1d(x):
    import numpyro
    import numpyro.distributions as dist

    w = numpyro.sample("w", dist.Beta(2.0, 2.0))
    locs = numpyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
    with numpyro.plate("data", x.shape[0]):
        z = numpyro.sample("z", dist.Bernoulli(w))  # an integer 0/1 or a relaxed bit
        numpyro.sample("x", dist.Normal(locs[0] + (locs[1] - locs[0]) * z, 1.0), obs=x)


def _pyro_mixture_1d(x):
    import pyro
    import pyro.distributions as dist
    import torch

    w = pyro.sample("w", dist.Beta(torch.tensor(2.0, dtype=x.dtype), 2.0))
    prior = dist.Normal(torch.zeros((), dtype=x.dtype), 5.0).expand([2])
    locs = pyro.sample("locs", prior.to_event(1))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Bernoulli(w))  # 0/1 or a relaxed bit
        pyro.sample("x", dist.Normal(locs[..., 0] + (locs[..., 1] - locs[..., 0]) * z, 1.0), obs=x)


def _mixture_1d_data() -> np.ndarray:
    rng = np.random.default_rng(0)
    z = rng.random(MIX1_N) < MIX1_W
    return np.where(z, MIX1_LOCS[1], MIX1_LOCS[0]) + rng.normal(size=MIX1_N)


# --------------------------------------------------------------------------- references


def _nuts_reference(name: str, path: Path) -> dict:
    sites = json.loads(path.read_text())[name]["sites"]
    return {s: (np.asarray(r["mean"]), np.asarray(r["sd"])) for s, r in sites.items()}


def _beta_bernoulli_reference() -> dict:
    a = BERNOULLI_PRIOR[0] + BERNOULLI_DATA.sum()
    b = BERNOULLI_PRIOR[1] + len(BERNOULLI_DATA) - BERNOULLI_DATA.sum()
    mean = a / (a + b)
    return {"p": (np.asarray(mean), np.asarray(math.sqrt(mean * (1 - mean) / (a + b + 1))))}


def _align_2d(draws: dict) -> dict:
    """Relabel the components so that their means are closest to the true ones."""
    perm = mix.match_labels(draws["means"].mean(0))
    return {"w": draws["w"][:, perm], "means": draws["means"][:, perm]}


def _align_1d(draws: dict) -> dict:
    """Component 0 is the one with the lower mean."""
    if draws["locs"][:, 0].mean() <= draws["locs"][:, 1].mean():
        return draws
    return {"w": 1.0 - draws["w"], "locs": draws["locs"][:, ::-1]}


def make_mixture_reference(num_warmup: int = 1000, num_samples: int = 4000) -> None:
    """NUTS with the labels enumerated (NumPyro, float64, one chain per model, started
    at the true component means) for both mixtures; writes :data:`MIXTURE_REFERENCE`."""
    import jax
    import jax.numpy as jnp
    from numpyro.contrib.funsor import config_enumerate
    from numpyro.infer import MCMC, NUTS, init_to_value

    jax.config.update("jax_enable_x64", True)
    out = {
        "settings": {
            "sampler": "NumPyro NUTS, labels enumerated (config_enumerate)",
            "num_warmup": num_warmup,
            "num_samples": num_samples,
            "num_chains": 1,
            "seed": 0,
            "dtype": "float64",
        }
    }
    runs = {
        "mixture_2d": (_mixture_2d("numpyro"), mix.draw(1000, 0), {"means": mix.MEANS}, _align_2d),
        "mixture_1d": (
            _numpyro_mixture_1d,
            _mixture_1d_data(),
            {"locs": np.asarray(MIX1_LOCS)},
            _align_1d,
        ),
    }
    for name, (model, x, init, align) in runs.items():
        start = time.perf_counter()
        init = init_to_value(values={k: jnp.asarray(v) for k, v in init.items()})
        kernel = NUTS(config_enumerate(model), init_strategy=init)
        mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(0), jnp.asarray(x))
        draws = align({k: np.asarray(v) for k, v in mcmc.get_samples().items()})
        out[name] = {
            "sites": {
                k: {"mean": v.mean(0).tolist(), "sd": v.std(0).tolist()} for k, v in draws.items()
            },
            "wall_time_s": time.perf_counter() - start,
        }
        print(f"{name}: NUTS {out[name]['wall_time_s']:.0f} s", flush=True)
    MIXTURE_REFERENCE.write_text(json.dumps(out, indent=1) + "\n")


# ------------------------------------------------------------------------------- suite


@dataclass
class Problem:
    """A suite model: ``model(backend)`` the model function, ``data()`` its NumPy
    ``(args, kwargs)``, ``reference()`` ``site -> (mean, sd)``; ``steps`` and ``lr`` its
    default fit; ``relaxed``: its discrete sites are relaxed (``density`` applies);
    ``align``: relabels posterior draws (mixtures); ``init``: start values of latent
    sites (``init_to_value``), as the NUTS reference had."""

    name: str
    model: Callable[[str], Callable]
    data: Callable[[], tuple[tuple, dict]]
    reference: Callable[[], dict]
    steps: int
    lr: float
    relaxed: bool = False
    align: Callable[[dict], dict] | None = None
    ode: bool = False
    init: dict | None = None  # start values of latent sites (the mixtures' means)


def _examples(name: str):
    from examples import models

    return lambda backend: getattr(models, f"{backend}_{name}")


def _ode_problem(module: str, steps: int) -> Problem:
    import importlib

    example = importlib.import_module(f"examples.{module}")
    return Problem(
        module,
        lambda backend: getattr(example, f"{backend}_model"),
        lambda: ((), example.model_args(example.load_data())),
        lambda: _nuts_reference(module, ROOT / "data" / "nuts_reference_ode.json"),
        steps,
        0.02,
        ode=True,
    )


def problems(ode: bool) -> list[Problem]:
    y, sigma = eight_schools()
    tumors, rats = rat_tumors()
    nuts = ROOT / "data" / "nuts_reference.json"
    suite = [
        Problem(
            "eight_schools",
            _examples("eight_schools"),
            lambda: ((sigma,), {"y": y}),
            lambda: _nuts_reference("eight_schools", nuts),
            4000,
            0.02,
        ),
        Problem(
            "rat_tumors",
            _examples("rat_tumors"),
            lambda: ((rats.astype(float),), {"tumors": tumors.astype(float)}),
            lambda: _nuts_reference("rat_tumors", nuts),
            6000,
            0.02,
        ),
        Problem(
            "beta_bernoulli",
            lambda b: {"numpyro": _numpyro_beta_bernoulli, "pyro": _pyro_beta_bernoulli}[b],
            lambda: ((BERNOULLI_DATA,), {}),
            _beta_bernoulli_reference,
            2000,
            0.02,
        ),
        Problem(
            "mixture_2d",
            _mixture_2d,
            lambda: ((mix.draw(1000, 0),), {}),
            lambda: _nuts_reference("mixture_2d", MIXTURE_REFERENCE),
            3000,
            0.05,
            relaxed=True,
            align=_align_2d,
            init={"means": mix.INIT_MEANS},
        ),
        Problem(
            "mixture_1d",
            lambda b: {"numpyro": _numpyro_mixture_1d, "pyro": _pyro_mixture_1d}[b],
            lambda: ((_mixture_1d_data(),), {}),
            lambda: _nuts_reference("mixture_1d", MIXTURE_REFERENCE),
            3000,
            0.05,
            relaxed=True,
            align=_align_1d,
            init={"locs": np.array([-1.0, 1.0])},
        ),
    ]
    if ode:
        suite += [_ode_problem("lotka_volterra", 4000), _ode_problem("sir", 4000)]
    return suite


@dataclass(frozen=True)
class Option:
    """One guide option: ``guide`` is ``"AutoPathwiseGuide"`` or a backend autoguide's
    name; ``families`` per support kind; ``density`` of ``relax``; ``correlation``."""

    guide: str = "AutoPathwiseGuide"
    families: tuple = ()  # ((kind, family), ...)
    density: str | None = None  # None: relax's default
    correlation: object = None
    label: str = "defaults"


def correlation_supported() -> bool:
    """Whether AutoPathwiseGuide takes ``correlation`` (the shared guide's __init__)."""
    return "correlation" in inspect.signature(_guides.PathwiseGuide.__init__).parameters


def options(kinds: set[str], relaxed: bool, correlations, autoguides=True) -> list[Option]:
    """The defaults, then one change at a time: each other family of each kind present,
    each density (relaxed models), each correlation, each backend autoguide (unless
    ``autoguides`` is false)."""
    out = [Option()]
    for kind in sorted(kinds):
        for family in _guides.FAMILIES[kind][1:]:
            out.append(Option(families=((kind, family),), label=f"{kind}: {family}"))
    if relaxed:
        for density in RELAXED_DENSITIES:
            if density == DEFAULT_DENSITY:
                continue
            out.append(Option(density=density, label=f"density: {density}"))
    for correlation in correlations:
        if correlation is not None:
            out.append(Option(correlation=correlation, label=f"correlation: {correlation}"))
    if autoguides and not relaxed:
        out += [Option(guide=name, label=name) for name in AUTOGUIDES]
    return out


def site_kinds(problem: Problem) -> dict[str, str]:
    """The support kind of each latent site of the model (a NumPyro trace of the guide)."""
    import jax
    import jax.numpy as jnp
    from numpyro import handlers

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import relax

    model = problem.model("numpyro")
    model = relax(model, 1.0) if problem.relaxed else model
    args, kwargs = _as_jax(*problem.data(), jnp)
    guide = AutoPathwiseGuide(model)
    handlers.seed(guide, jax.random.PRNGKey(0))(*args, **kwargs)
    return {name: site.kind for name, site in guide._sites.items()}


def _as_jax(args, kwargs, jnp):
    def convert(v):
        return None if v is None else jnp.asarray(v)

    return tuple(convert(a) for a in args), {k: convert(v) for k, v in kwargs.items()}


def _families(option: Option, kinds: dict[str, str]) -> dict | None:
    chosen = dict(option.families)
    families = {site: chosen[kind] for site, kind in kinds.items() if kind in chosen}
    return families or None


def _guide_kwargs(option: Option, kinds: dict[str, str]) -> dict:
    kwargs = {"families": _families(option, kinds)}
    if option.correlation is not None:
        kwargs["correlation"] = option.correlation
    return kwargs


def _schedule():
    from ppl_reparam.schedules import ExponentialDecay

    return ExponentialDecay(1.0, 1e-3, floor=0.1)


def _relaxed(relax, model, option: Option):
    if option.density is None:
        return relax(model, _schedule())
    return relax(model, _schedule(), density=option.density)


def numpyro_fit(
    problem: Problem, option: Option, kinds, steps: int, seed: int, timed: bool = True
) -> tuple:
    """``(draws, seconds)``: posterior draws of the reference's sites and the time of
    ``steps`` compiled steps (``nan`` unless ``timed``)."""
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import Predictive, autoguide, init_to_value

    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.infer import fit
    from ppl_reparam.numpyro.relax import relax

    model = problem.model("numpyro")
    if problem.relaxed:
        model = _relaxed(relax, model, option)
    init = {}
    if problem.init is not None:
        values = {k: jnp.asarray(v) for k, v in problem.init.items()}
        init = {"init_loc_fn": init_to_value(values=values)}
    if option.guide == "AutoPathwiseGuide":
        guide = AutoPathwiseGuide(model, **_guide_kwargs(option, kinds), **init)
    else:
        guide = getattr(autoguide, option.guide)(model, **init)
    args, kwargs = _as_jax(*problem.data(), jnp)
    optim = optax.adam(optax.exponential_decay(problem.lr, steps, 0.05))

    def run(n: int, **more):
        return fit(
            model,
            guide,
            *args,
            num_steps=n,
            optim=optim,
            seed=seed,
            progress_bar=False,
            **more,
            **kwargs,
        )

    result = run(steps, average_last=max(1, steps // 5))
    seconds = math.nan
    if timed:  # the step is compiled now and cached: time it without compiling
        seconds = _time_compiled(run) * steps
    predictive = Predictive(guide, params=result.params, num_samples=DRAWS)
    draws = predictive(jax.random.PRNGKey(seed + 1), *args, **result.kwargs)
    return {k: np.asarray(v) for k, v in draws.items()}, seconds


def _time_compiled(run: Callable) -> float:
    """Seconds per step of NumPyro's cached compiled step (``run(n)`` fits ``n`` steps),
    the start-up of a fit taken out."""
    start = time.perf_counter()
    run(1)
    once = time.perf_counter() - start
    start = time.perf_counter()
    run(TIMED_STEPS + 1)
    return (time.perf_counter() - start - once) / TIMED_STEPS


def pyro_fit(
    problem: Problem, option: Option, kinds, steps: int, seed: int, timed: bool = True
) -> tuple:
    """As :func:`numpyro_fit`, in Pyro."""
    import pyro
    import torch
    from pyro.infer import Predictive, autoguide
    from pyro.optim import ClippedAdam

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit
    from ppl_reparam.pyro.relax import relax

    pyro.clear_param_store()
    model = problem.model("pyro")
    if problem.relaxed:
        model = _relaxed(relax, model, option)
    init = {}
    if problem.init is not None:
        values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in problem.init.items()}
        init = {"init_loc_fn": autoguide.init_to_value(values=values)}
    if option.guide == "AutoPathwiseGuide":
        guide = AutoPathwiseGuide(model, **_guide_kwargs(option, kinds), **init)
    else:
        guide = getattr(autoguide, option.guide)(model, **init)
    args, kwargs = problem.data()

    def tensor(v):
        return None if v is None else torch.as_tensor(v, dtype=torch.float64)

    args = tuple(tensor(a) for a in args)
    kwargs = {k: tensor(v) for k, v in kwargs.items()}
    optim = ClippedAdam({"lr": problem.lr, "lrd": 0.05 ** (1 / steps), "clip_norm": 1e6})
    start = time.perf_counter()
    result = fit(
        model,
        guide,
        *args,
        num_steps=steps,
        optim=optim,
        seed=seed,
        average_last=max(1, steps // 5),
        progress_bar=False,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        try:  # vectorized draws where the guide allows it
            draws = Predictive(guide, num_samples=DRAWS, parallel=True)(*args, **result.kwargs)
        except Exception:  # noqa: BLE001
            draws = Predictive(guide, num_samples=DRAWS)(*args, **result.kwargs)
    return {k: v.detach().numpy() for k, v in draws.items()}, seconds


@dataclass
class Score:
    """The worst mean error (in reference sd) and sd ratio of one fit, and its cost."""

    mean_error: float
    sd_ratio: float
    ms_per_step: float
    worst_site: str = ""
    error: str = ""
    seeds: list = field(default_factory=list)


def score(problem: Problem, draws: dict, reference: dict) -> tuple[float, float, str]:
    # Pyro's vectorized draws carry an extra dim of size 1: shape them like the reference
    draws = {
        k: np.asarray(draws[k], dtype=float).reshape((-1,) + np.shape(ref[0]))
        for k, ref in reference.items()
    }
    if problem.align is not None:
        draws = problem.align(draws)
    worst, ratio, where = 0.0, 1.0, ""
    for site, (ref_mean, ref_sd) in reference.items():
        x = draws[site]
        errors = np.abs(x.mean(0) - ref_mean) / ref_sd
        ratios = np.ravel(x.std(0) / ref_sd)
        if np.max(errors) > worst:
            worst, where = float(np.max(errors)), site
        far = ratios[np.argmax(np.abs(np.log(ratios)))]
        if abs(math.log(far)) > abs(math.log(ratio)):
            ratio = float(far)
    return worst, ratio, where


def run_option(
    backend: str, problem: Problem, option: Option, kinds, steps, seeds, timed: bool = True
) -> Score:
    run = {"numpyro": numpyro_fit, "pyro": pyro_fit}[backend]
    reference = problem.reference()
    results = []
    try:
        for seed in seeds:
            draws, seconds = run(problem, option, kinds, steps, seed, timed)
            results.append((*score(problem, draws, reference), 1e3 * seconds / steps))
    except Exception as err:  # noqa: BLE001  a failing option is a row of the table
        message = f"{type(err).__name__}: {str(err).splitlines()[0][:70]}" if str(err) else ""
        return Score(math.nan, math.nan, math.nan, error=message or type(err).__name__)
    worst = max(results, key=lambda r: r[0])
    ratio = max((r[1] for r in results), key=lambda r: abs(math.log(r)))
    ms = float(np.median([r[3] for r in results]))
    return Score(worst[0], ratio, ms, worst[2], seeds=[r[0] for r in results])


def _row(label: str, s: Score) -> str:
    if s.error:
        return f"  {label:<34} failed: {s.error}"
    flag = "" if s.mean_error <= BAR else "  > 0.3"
    return (
        f"  {label:<34} {s.mean_error:8.3f} {s.worst_site:<9} {s.sd_ratio:8.2f} "
        f"{s.ms_per_step:9.2f}{flag}"
    )


def run_backend(
    backend: str, suite: list[Problem], steps, seeds, correlations, autoguides=True
) -> dict:
    if backend == "numpyro":
        import jax

        jax.config.update("jax_enable_x64", True)
    else:
        import torch

        torch.set_num_threads(1)
    table = {}
    for problem in suite:
        kinds = site_kinds(problem)
        n = steps or problem.steps
        print(
            f"\n{backend} / {problem.name}: {n} steps, lr {problem.lr}, seeds {list(seeds)}; "
            f"sites {kinds}",
            flush=True,
        )
        print(f"  {'option':<34} {'|dmean|/sd':>8} {'(site)':<9} {'sd ratio':>8} {'ms/step':>9}")
        for option in options(set(kinds.values()), problem.relaxed, correlations, autoguides):
            s = run_option(backend, problem, option, kinds, n, seeds)
            table[problem.name, option] = s
            print(_row(option.label, s), flush=True)
        table[problem.name, "kinds"] = kinds
    return table


def decisions(table: dict, suite: list[Problem], correlations) -> list[str]:
    """Per setting: the worst mean error over the suite models it applies to, of each
    choice; the best; and the choices missing the bar where another meets it."""
    lines = []

    def worst(rows: list[Score]) -> float:
        errors = [r.mean_error for r in rows]
        return math.inf if any(not r < math.inf for r in errors) else max(errors)

    def decide(setting: str, choices: dict) -> None:
        # choices: choice -> {problem: Score}
        lines.append(f"\n{setting}")
        for choice, by_problem in choices.items():
            cells = ", ".join(
                f"{p} {s.mean_error:.3f}" if not s.error else f"{p} failed"
                for p, s in by_problem.items()
            )
            lines.append(
                f"  {choice!s:<14} worst {worst(list(by_problem.values())):7.3f}  ({cells})"
            )
        best = min(choices, key=lambda c: worst(list(choices[c].values())))
        lines.append(f"  best worst case: {best}")
        problems_ = {p for by_problem in choices.values() for p in by_problem}
        for p in sorted(problems_):
            meets = [c for c in choices if p in choices[c] and choices[c][p].mean_error <= BAR]
            misses = [c for c in choices if p in choices[c] and c not in meets]
            if meets and misses:
                lines.append(
                    f"  {p}: {', '.join(map(str, misses))} miss the bar, "
                    f"{', '.join(map(str, meets))} meet it"
                )

    names = [p.name for p in suite]
    kinds_of = {p: table[p, "kinds"] for p in names if (p, "kinds") in table}
    for kind in _guides.FAMILIES:
        if len(_guides.FAMILIES[kind]) < 2:
            continue
        choices = {}
        for family in _guides.FAMILIES[kind]:
            by_problem = {}
            for p in names:
                if kind not in kinds_of.get(p, {}).values():
                    continue
                option = (
                    Option()
                    if family == _guides.FAMILIES[kind][0]
                    else Option(families=((kind, family),), label=f"{kind}: {family}")
                )
                if (p, option) in table:
                    by_problem[p] = table[p, option]
            if by_problem:
                choices[family] = by_problem
        if choices:
            decide(f"family for {kind} sites (default now: {_guides.FAMILIES[kind][0]})", choices)
    relaxed = [p.name for p in suite if p.relaxed]
    if relaxed:
        choices = {}
        for d in RELAXED_DENSITIES:
            option = Option() if d == DEFAULT_DENSITY else Option(density=d, label=f"density: {d}")
            choices[d] = {p: table[p, option] for p in relaxed if (p, option) in table}
        decide(f"relax density (default now: {DEFAULT_DENSITY})", choices)
    if len(correlations) > 1:
        choices = {}
        for c in correlations:
            option = Option() if c is None else Option(correlation=c, label=f"correlation: {c}")
            choices[c] = {p: table[p, option] for p in names if (p, option) in table}
        decide("correlation", choices)
    return lines


# model -> (worst mean error in ref sd, largest |sd ratio - 1|) the acceptance bars ask for
ACCEPTANCE = {
    "rat_tumors": (0.15, 0.2),
    "eight_schools": (0.1, 0.15),
    "beta_bernoulli": (0.1, 0.15),
}


def acceptance(table: dict, correlations) -> list[str]:
    """The acceptance bars at the default families, for each correlation measured."""
    lines = ["\nacceptance bars (default families): mean within a sd, sd within b"]
    for name, (mean_bar, sd_bar) in ACCEPTANCE.items():
        for c in correlations:
            option = Option() if c is None else Option(correlation=c, label=f"correlation: {c}")
            s = table.get((name, option))
            if s is None or s.error:
                continue
            ok = s.mean_error <= mean_bar and abs(s.sd_ratio - 1) <= sd_bar
            lines.append(
                f"  {name:<15} correlation {c!s:<5} mean {s.mean_error:.3f} (bar {mean_bar}) "
                f"sd ratio {s.sd_ratio:.2f} (bar 1 +- {sd_bar}): {'meets' if ok else 'misses'}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("numpyro", "pyro", "both"), default="both")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps for every model (default: each model's own, 2000-6000)",
    )
    parser.add_argument("--models", nargs="+", default=None, help="only these models")
    parser.add_argument("--ode", action="store_true", help="add the (slow) ODE models")
    parser.add_argument(
        "--pathwise-only", action="store_true", help="leave out the backends' autoguides"
    )
    parser.add_argument(
        "--make-mixture-reference",
        action="store_true",
        help=f"run NUTS for the mixtures and write {MIXTURE_REFERENCE.name}",
    )
    opts = parser.parse_args()
    if opts.make_mixture_reference:
        make_mixture_reference()
        return
    suite = [p for p in problems(opts.ode) if opts.models is None or p.name in opts.models]
    correlations = CORRELATIONS if correlation_supported() else (None,)
    if len(correlations) == 1:
        print("AutoPathwiseGuide takes no `correlation` here: mean-field only")
    begin = time.perf_counter()
    backends = ("numpyro", "pyro") if opts.backend == "both" else (opts.backend,)
    for backend in backends:
        table = run_backend(
            backend, suite, opts.steps, opts.seeds, correlations, not opts.pathwise_only
        )
        print(f"\n{backend}: decisions (worst |dmean|/sd over the models; bar {BAR})")
        print("\n".join(decisions(table, suite, correlations)), flush=True)
        print("\n".join(acceptance(table, correlations)), flush=True)
    print(f"\ntotal {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
