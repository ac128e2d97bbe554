"""Reparameterizable distributions for NumPyro; importing this registers their KL rules."""

from ppl_reparam.numpyro import kl as _kl  # noqa: E402, F401, I001  (registers KL rules)
from ppl_reparam.numpyro.distributions.kumaraswamy import Kumaraswamy
from ppl_reparam.numpyro.distributions.relaxed import (
    ExpRelaxedOneHotCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategorical,
    RelaxedOneHotCategoricalStraightThrough,
)
from ppl_reparam.numpyro.distributions.truncated import (
    GenericTruncated,
    SoftTruncated,
    Truncated,
    TruncatedGumbel,
    TruncatedLaplace,
    TruncatedLogistic,
    TruncatedNormal,
)
from ppl_reparam.numpyro.distributions.transforms import SoftClipTransform

__all__ = [
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
