"""Reparameterizable distributions for Pyro; importing this registers their KL rules."""

from ppl_reparam.pyro.distributions import kl
from ppl_reparam.pyro.distributions.kumaraswamy import Kumaraswamy
from ppl_reparam.pyro.distributions.relaxed import (
    ExpRelaxedOneHotCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategorical,
    RelaxedOneHotCategoricalStraightThrough,
)
from ppl_reparam.pyro.distributions.transforms import SoftClipTransform
from ppl_reparam.pyro.distributions.truncated import (
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
