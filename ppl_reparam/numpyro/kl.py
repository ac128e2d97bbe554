"""The KL rules' old import path; they live in :mod:`ppl_reparam.numpyro.distributions.kl`."""

from ppl_reparam.numpyro.distributions.kl import kl_divergence

__all__ = ["kl_divergence"]
