"""What every runnable example shares: its command line, the device, the figures and the
JSON summary.

An example module provides ``NAME``, ``DESCRIPTION`` (one line), ``DEFAULT_STEPS``,
``RUN_TIME_S`` (``{backend: seconds}`` of one run at the default steps, measured on a
shared 2-core CPU) and ``run(backend, out, steps, seed) -> dict``, which fits, writes its
figures (PNG) under ``out`` and returns the summary; :func:`main` parses the command
line, sets the device, calls ``run`` and writes ``out/<NAME>_<backend>_summary.json``.
``ppl-reparam examples run NAME ...`` and ``python examples/NAME.py ...`` take the same
arguments.
"""

import argparse
import json
import math
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from ppl_reparam.cli import add_run_arguments

EXTRA = {"pyro": "pip install 'ppl-reparam[pyro]'", "numpyro": "pip install 'ppl-reparam[numpyro]'"}


class ExampleError(Exception):
    """A problem the user can fix (a missing backend or GPU); printed without a traceback."""


def use_device(backend: str, device: str) -> None:
    """Check that ``backend`` is installed and ``device`` exists; make it the default."""
    import importlib.util

    needed = {"pyro": ("torch", "pyro"), "numpyro": ("jax", "numpyro")}[backend]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ExampleError(f"the {backend} backend needs {' and '.join(missing)}: {EXTRA[backend]}")
    for module in ("matplotlib", "arviz"):
        if importlib.util.find_spec(module) is None:
            raise ExampleError(
                f"the examples need {module} (figures, ArviZ export): "
                "pip install 'ppl-reparam[all]'"
            )
    if backend == "numpyro":
        import jax

        try:
            chosen = jax.devices("gpu" if device == "gpu" else "cpu")[0]
        except RuntimeError as err:
            raise ExampleError(
                f"--device {device}: JAX finds no such device ({str(err).splitlines()[0]}); "
                "install a CUDA build of jax (pip install 'jax[cuda12]') or use --device cpu"
            ) from None
        jax.config.update("jax_default_device", chosen)
    else:
        import torch

        if device == "gpu":
            if not torch.cuda.is_available():
                raise ExampleError(
                    "--device gpu: torch finds no CUDA device (torch.cuda.is_available() is "
                    "False); install a CUDA build of torch or use --device cpu"
                )
            torch.set_default_device("cuda")


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of a tensor (on any device) or a JAX array."""
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def jsonable(x):
    """``x`` with arrays as lists and non-finite numbers as None (valid JSON)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return jsonable(to_numpy(x).tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_example(example: ModuleType, opts: argparse.Namespace) -> Path:
    """Run ``example`` with the parsed ``opts``; returns the path of its JSON summary."""
    use_device(opts.backend, opts.device)
    steps = example.DEFAULT_STEPS if opts.steps is None else opts.steps
    opts.out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    summary = example.run(opts.backend, opts.out, steps, opts.seed)
    summary = {
        "example": example.NAME,
        "backend": opts.backend,
        "device": opts.device,
        "steps": steps,
        "seed": opts.seed,
        "wall_time_s": time.perf_counter() - begin,
        **summary,
    }
    path = opts.out / f"{example.NAME}_{opts.backend}_summary.json"
    path.write_text(json.dumps(jsonable(summary), indent=1) + "\n")
    return path


def main(example: ModuleType, argv: list[str] | None = None) -> None:
    """The command line of ``python examples/<NAME>.py``."""
    parser = argparse.ArgumentParser(
        prog=f"examples/{example.NAME}.py", description=example.DESCRIPTION
    )
    add_run_arguments(parser, example.DEFAULT_STEPS)
    opts = parser.parse_args(argv)
    try:
        path = run_example(example, opts)
    except ExampleError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"wrote {path} and the figures beside it")


def fit_autoguide(
    backend: str,
    model,
    args: tuple,
    kwargs: dict,
    steps: int,
    seed: int,
    lr: float = 0.02,
    init_values: dict | None = None,
    **guide,
):
    """``fit(model, AutoPathwiseGuide(model, **guide), *args, **kwargs)`` for ``steps``
    Adam steps, the learning rate decaying from ``lr`` to ``lr / 20``; ``(result, guide)``.
    ``init_values``: initial values of some sites (``init_to_value``), NumPy arrays.

    Data are float64 in Pyro; NumPyro keeps their dtypes (integer counts stay integers)
    in its x64 mode, which this switches on."""
    if backend == "numpyro":
        import jax
        import jax.numpy as jnp
        import optax
        from numpyro.infer import init_to_value

        from ppl_reparam.numpyro.guides import AutoPathwiseGuide
        from ppl_reparam.numpyro.infer import fit

        jax.config.update("jax_enable_x64", True)
        optim = optax.adam(optax.exponential_decay(lr, steps, 0.05))
        values = {k: jnp.asarray(v) for k, v in (init_values or {}).items()}
        args = tuple(jnp.asarray(a) for a in args)
        kwargs = {k: jnp.asarray(v) for k, v in kwargs.items()}
    else:
        import pyro
        import torch
        from pyro.infer.autoguide import init_to_value
        from pyro.optim import ClippedAdam

        from ppl_reparam.pyro.guides import AutoPathwiseGuide
        from ppl_reparam.pyro.infer import fit

        pyro.clear_param_store()
        optim = ClippedAdam({"lr": lr, "lrd": 0.05 ** (1 / steps), "clip_norm": 1e6})
        values = {
            k: torch.as_tensor(v, dtype=torch.float64) for k, v in (init_values or {}).items()
        }
        args = tuple(torch.as_tensor(a, dtype=torch.float64) for a in args)
        kwargs = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in kwargs.items()}
    if values:
        guide["init_loc_fn"] = init_to_value(values=values)
    auto = AutoPathwiseGuide(model, **guide)
    result = fit(model, auto, *args, num_steps=steps, optim=optim, seed=seed, **kwargs)
    return result, auto


def posterior_draws(backend: str, result, num_samples: int, seed: int) -> dict:
    """``{site: draws}`` of the guide's latent sites, ``(num_samples, *site shape)``, by
    the backend's ``to_inference_data`` (the ArviZ export)."""
    module = __import__(f"ppl_reparam.{backend}.arviz", fromlist=["to_inference_data"])
    data = module.to_inference_data(result, num_samples, seed=seed)
    posterior = data["posterior"]
    return {
        name: np.asarray(posterior[name].values).reshape(num_samples, *posterior[name].shape[2:])
        for name in posterior.data_vars
    }
