"""The PyTorch / Pyro backend of ppl_reparam."""

from ppl_reparam.pyro import distributions, kl

__all__ = ["distributions", "kl"]
