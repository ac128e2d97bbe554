"""The KL rules' old import path; they live in :mod:`ppl_reparam.pyro.distributions.kl`."""

from ppl_reparam.pyro.distributions.kl import kl_divergence

__all__ = ["kl_divergence"]
