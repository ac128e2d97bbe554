"""The PyTorch / Pyro backend of ppl_reparam."""

from ppl_reparam.pyro import distributions, kl, transforms

__all__ = ["distributions", "kl", "transforms"]
