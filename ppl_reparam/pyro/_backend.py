"""The PyTorch :class:`~ppl_reparam._backend.Backend`: what the shared guide and
relaxation use of this backend."""

import pyro
import pyro.distributions
import pyro.distributions.constraints
import pyro.distributions.transforms
import torch
from pyro import poutine
from pyro.distributions.torch_distribution import ExpandedDistribution
from pyro.poutine.runtime import get_plates
from torch.distributions import constraints as torch_constraints

import ppl_reparam.pyro.distributions
from ppl_reparam._backend import Backend
from ppl_reparam.pyro import _xp


def _as_array(x, like=None) -> torch.Tensor:
    if like is None:
        return torch.as_tensor(x)
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


BACKEND = Backend(
    dist=pyro.distributions,
    constraints=pyro.distributions.constraints,
    transforms=pyro.distributions.transforms,
    ours=ppl_reparam.pyro.distributions,
    xp=_xp,
    # torch's AffineTransform has no domain: TransformedDistribution keeps the base support
    affine=lambda loc, scale, domain: pyro.distributions.transforms.AffineTransform(loc, scale),
    greater_than=(torch_constraints._GreaterThan, torch_constraints._GreaterThanEq),
    less_than=(torch_constraints._LessThan,),
    interval=(torch_constraints._Interval, torch_constraints._HalfOpenInterval),
    simplex=torch_constraints._Simplex,
    independent=torch.distributions.Independent,
    expanded=ExpandedDistribution,
    categorical=(pyro.distributions.Categorical, pyro.distributions.OneHotCategorical),
    bernoulli=(pyro.distributions.Bernoulli,),
    array_type=torch.Tensor,
    as_array=_as_array,
    full_like=torch.full_like,
    to_numpy=lambda x: torch.as_tensor(x).detach().cpu().numpy(),
    is_floating=torch.is_floating_point,
    sigmoid=torch.sigmoid,
    tensordot=lambda a, b: torch.tensordot(a, b, dims=([-1], [0])),
    sample=pyro.sample,
    reparam=poutine.reparam,
    is_observed=lambda msg: msg["is_observed"],
    plates=lambda: tuple(
        (frame.dim, frame.size) for frame in get_plates() if frame.vectorized and frame.dim
    ),
    docs={
        "backend": "pyro",
        "framework": "Pyro",
        "discrete": "Categorical / OneHotCategorical / Bernoulli",
        "discrete_names": "Categorical, OneHotCategorical and Bernoulli",
        "array": "tensor",
        "handler": "poutine.reparam",
        "relax_traced": "",
        "guide_traced": "",
        "jit_note": "",
        "relax_example": """
        def guide(data, relax_temperature):
            with pyro.plate("data", len(data)):
                logits = pyro.param("q_logits", torch.zeros(len(data), K))
                pyro.sample("z_relaxed",
                            ExpRelaxedOneHotCategorical(relax_temperature, logits=logits))

        svi = SVI(relaxed, guide, Adam({"lr": 0.05}), Trace_ELBO())
        for step in range(num_steps):
            svi.step(data, relax_temperature=relaxed.temperature_at(step))
""",
        "autonormal": ":class:`~pyro.infer.autoguide.AutoNormal`",
        "autonormal_params": "init_loc_fn, init_scale, create_plates",
        "storage": (
            "Parameters live in sub-modules named after their kind (``locs``, ``scales``,\n"
            "    ``concentration1``, ``concentration0``, ``logits``), so the param store holds\n"
            '    ``"AutoPathwiseGuide.locs.x"`` etc. (AutoNormal\'s scheme).'
        ),
        "draws": "Posterior draws: call the guide, or use :class:`pyro.infer.Predictive`.",
        "guide_example": """guide = AutoPathwiseGuide(relax(model, 0.5))
        fit(relax(model, 0.5), guide, data, num_steps=2000)
        guide.median()""",
        "sample_how": "by calling the guide",
    },
)
