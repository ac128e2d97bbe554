"""Backend-neutral assembly of ArviZ InferenceData from NumPy draws.

Works with ArviZ 0.x (one keyword per group) and ArviZ 1.x (``from_dict`` taking one
mapping of groups); the installed version is detected from ``from_dict``'s signature.
"""

import inspect

import numpy as np


def _chain_draw(samples: dict) -> dict:
    """Add the leading ``chain`` axis ArviZ expects: (draw, ...) -> (1, draw, ...)."""
    return {name: np.asarray(value)[None] for name, value in samples.items()}


def build_inference_data(
    posterior: dict,
    posterior_predictive: dict,
    log_likelihood: dict,
    observed_data: dict,
    coords: dict | None,
    dims: dict | None,
):
    """An ``arviz.InferenceData`` (ArviZ 0.x) or ``xarray.DataTree`` (ArviZ 1.x)."""
    import arviz as az

    groups = {
        "posterior": _chain_draw(posterior),
        "posterior_predictive": _chain_draw(posterior_predictive),
        "log_likelihood": _chain_draw(log_likelihood),
        "observed_data": {name: np.asarray(v) for name, v in observed_data.items()},
    }
    groups = {name: group for name, group in groups.items() if group}
    if "posterior" in inspect.signature(az.from_dict).parameters:  # ArviZ 0.x
        return az.from_dict(**groups, coords=coords, dims=dims)
    return az.from_dict(groups, coords=coords, dims=dims)  # ArviZ 1.x
