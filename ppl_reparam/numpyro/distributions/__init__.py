"""Reparameterizable distributions for NumPyro; importing this registers their KL rules."""

from ppl_reparam.numpyro.distributions import kl
from ppl_reparam.numpyro.distributions.kumaraswamy import Kumaraswamy
from ppl_reparam.numpyro.distributions.relaxed import (
    ExpRelaxedOneHotCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategorical,
    RelaxedOneHotCategoricalStraightThrough,
)
from ppl_reparam.numpyro.distributions.transforms import SoftClipTransform
from ppl_reparam.numpyro.distributions.truncated import (
    GenericTruncated,
    SoftTruncated,
    Truncated,
    TruncatedGumbel,
    TruncatedLaplace,
    TruncatedLogistic,
    TruncatedNormal,
)

__all__ = [
    "kl",
    "Kumaraswamy",
    "ExpRelaxedOneHotCategorical",
    "LogitRelaxedBernoulli",
    "RelaxedBernoulli",
    "RelaxedBernoulliStraightThrough",
    "RelaxedOneHotCategorical",
    "RelaxedOneHotCategoricalStraightThrough",
    "GenericTruncated",
    "SoftClipTransform",
    "SoftTruncated",
    "Truncated",
    "TruncatedGumbel",
    "TruncatedLaplace",
    "TruncatedLogistic",
    "TruncatedNormal",
]
